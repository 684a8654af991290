"""statistics.json and constraints.json: what `baseline` writes, and reading
AWS's files."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from container.monitoring.constraints import parse_constraints, suggest_constraints
from container.monitoring.errors import MonitoringInputError
from container.monitoring.profile import profile_column
from container.monitoring.statistics import (
    parse_statistics,
    profile_batches,
    statistics_document,
)

# Written from the documented schema, with the quirks of files AWS's analyzer
# writes: version 0 (an int), counts as floats, a feature with no statistics,
# k as a float, a string feature without a distribution, override spelling of
# the docs.
AWS_STATISTICS = {
    "version": 0,
    "dataset": {"item_count": 4.0},
    "features": [
        {
            "name": "length",
            "inferred_type": "Fractional",
            "numerical_statistics": {
                "common": {"num_present": 4.0, "num_missing": 0.0},
                "mean": 2.5,
                "sum": 10.0,
                "std_dev": 1.118,
                "min": 1.0,
                "max": 4.0,
                "distribution": {
                    "kll": {
                        "buckets": [
                            {"lower_bound": 1.0, "upper_bound": 1.3, "count": 1.0}
                        ],
                        "sketch": {
                            "parameters": {"c": 0.64, "k": 2048.0},
                            "data": [[1.0, 2.0, 3.0, 4.0]],
                        },
                    }
                },
            },
        },
        {
            "name": "colour",
            "inferred_type": "String",
            "string_statistics": {
                "common": {"num_present": 4.0, "num_missing": 0.0},
                "distinct_count": 2.0,
                "distribution": {
                    "categorical": {
                        "buckets": [
                            {"value": "red", "count": 3.0},
                            {"value": "blue", "count": 1.0},
                        ]
                    }
                },
            },
        },
        {
            "name": "note",
            "inferred_type": "String",
            "string_statistics": {
                "common": {"num_present": 1.0, "num_missing": 3.0},
                "distinct_count": 1.0,
            },
        },
        {"name": "empty", "inferred_type": "Unknown"},
    ],
}

AWS_CONSTRAINTS = {
    "version": 0.0,
    "features": [
        {
            "name": "length",
            "inferred_type": "Fractional",
            "completeness": 1.0,
            "num_constraints": {"is_non_negative": True},
            "monitoringConfigOverrides": {"comparison_threshold": 0.3},
        },
        {
            "name": "colour",
            "inferred_type": "String",
            "completeness": 1.0,
            "string_constraints": {"domains": ["blue", "red"]},
            "monitoring_config_overrides": {
                "distribution_constraints": {"categorical_drift_method": "ChiSquared"}
            },
        },
        {"name": "note", "inferred_type": "String", "completeness": 0.25},
        {"name": "empty", "inferred_type": "Unknown", "completeness": 0.0},
    ],
    "monitoring_config": {
        "evaluate_constraints": "Enabled",
        "emit_metrics": "Enabled",
        "datatype_check_threshold": 0.1,
        "domain_content_threshold": 0.1,
        "distribution_constraints": {
            "perform_comparison": "Enabled",
            "comparison_threshold": 0.1,
            "comparison_method": "Simple",
            "categorical_comparison_threshold": 0.1,
            "categorical_drift_method": "LInfinity",
        },
    },
}


def test_reads_aws_statistics_with_its_quirks():
    stats = parse_statistics(AWS_STATISTICS)
    assert stats.item_count == 4
    assert stats.features["length"].sketch.count == 4
    assert stats.features["colour"].categories == {"red": 3.0, "blue": 1.0}
    assert stats.features["note"].categories == {}
    assert stats.features["empty"].inferred_type == "Unknown"


def test_reads_aws_constraints_with_both_override_spellings():
    constraints = parse_constraints(AWS_CONSTRAINTS)
    assert constraints.config.comparison_method == "Simple"
    assert constraints.features["length"].config.comparison_threshold == 0.3
    assert (
        constraints.features["colour"].config.categorical_drift_method == "ChiSquared"
    )
    assert constraints.features["colour"].config.comparison_threshold == 0.1
    assert constraints.features["colour"].domains == ("blue", "red")
    assert constraints.features["note"].completeness == 0.25


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (lambda d: d.update(version=1.0), "version"),
        (
            lambda d: d["monitoring_config"].update(datatype_check_threshold="high"),
            "datatype_check_threshold",
        ),
        (
            lambda d: d["monitoring_config"]["distribution_constraints"].update(
                comparison_method="Fancy"
            ),
            "comparison_method",
        ),
        (lambda d: d["features"][0].update(inferred_type="Float"), "inferred_type"),
        (lambda d: d.pop("features"), "features"),
    ],
)
def test_unusable_constraints_are_refused_with_the_field_named(change, named):
    doc = json.loads(json.dumps(AWS_CONSTRAINTS))
    change(doc)
    with pytest.raises(MonitoringInputError, match=named):
        parse_constraints(doc)


def test_statistics_document_has_the_documented_shape():
    frame = pd.DataFrame(
        {
            "n": [1, 2, 3, None, 5],
            "x": [0.5, 1.5, 2.5, 3.5, 4.5],
            "s": ["a", "b", "a", None, "a"],
        }
    )
    doc = statistics_document(profile_batches([frame]))
    assert doc["version"] == 0.0 and doc["dataset"] == {"item_count": 5}
    n, x, s = doc["features"]
    assert n["inferred_type"] == "Integral"  # whole numbers, even read as floats
    num = n["numerical_statistics"]
    assert num["common"] == {"num_present": 4, "num_missing": 1}
    assert (num["sum"], num["mean"], num["min"], num["max"]) == (11.0, 2.75, 1.0, 5.0)
    assert num["std_dev"] == pytest.approx(np.std([1, 2, 3, 5]))
    buckets = num["distribution"]["kll"]["buckets"]
    assert len(buckets) == 10 and sum(b["count"] for b in buckets) == 4
    assert buckets[0]["lower_bound"] == 1.0 and buckets[-1]["upper_bound"] == 5.0
    assert num["distribution"]["kll"]["sketch"]["data"] == [[1, 2, 3, 5]]
    assert x["inferred_type"] == "Fractional"
    assert s["inferred_type"] == "String"
    assert s["string_statistics"]["distinct_count"] == 2.0
    assert s["string_statistics"]["distribution"]["categorical"]["buckets"] == [
        {"value": "a", "count": 3},
        {"value": "b", "count": 1},
    ]


def test_text_columns_are_typed_value_by_value():
    profile = profile_column(pd.Series(["1", "2.5", "x", "", None, " 7 "]))
    assert (
        profile.num_integral,
        profile.num_fractional,
        profile.num_string,
        profile.num_missing,
    ) == (2, 1, 1, 2)
    assert profile.inferred_type == "String"
    assert profile.share_of_type("Fractional") == pytest.approx(0.75)


@pytest.mark.parametrize(
    "values",
    [
        pd.Series([0, 1, 1, None], dtype="Int64"),
        pd.Series([0.0, 1.0, 1.0, np.nan]),
        pd.Series(["0", "1", " 1.0 ", ""]),
        pd.Series([0, "1", 1.0, None], dtype=object),
        pa.array([0, 1, 1, None]),
    ],
    ids=["ints", "floats", "text", "mixed", "arrow"],
)
def test_class_labels_as_text_are_categories_however_they_arrive(values):
    profile = profile_column(values, as_text=True)
    assert profile.inferred_type == "String"
    assert (profile.num_string, profile.num_missing) == (3, 1)
    assert dict(profile.value_counts) == {"0": 1, "1": 2}
    assert profile.sketch is None


def test_categorical_columns_are_string_in_statistics():
    frame = pd.DataFrame({"label": [0, 1, 2] * 10, "n": [0, 1, 2] * 10})
    doc = statistics_document(profile_batches([frame], categorical={"label"}))
    by_name = {f["name"]: f for f in doc["features"]}
    assert by_name["label"]["inferred_type"] == "String"
    assert by_name["label"]["string_statistics"]["distinct_count"] == 3.0
    assert by_name["n"]["inferred_type"] == "Integral"


def test_suggested_constraints_match_the_analyzers_defaults():
    frame = pd.DataFrame(
        {
            "n": [1, -2, 3, 4] * 10,
            "s": ["a", "b"] * 20,
            "id": [str(i) for i in range(40)],
        }
    )
    doc = suggest_constraints(profile_batches([frame]))
    by_name = {f["name"]: f for f in doc["features"]}
    assert by_name["n"]["num_constraints"] == {"is_non_negative": False}
    assert by_name["s"]["string_constraints"] == {"domains": ["a", "b"]}
    assert "string_constraints" not in by_name["id"]  # too many distinct values
    config = doc["monitoring_config"]
    assert config["datatype_check_threshold"] == 1.0
    assert config["domain_content_threshold"] == 1.0
    assert config["distribution_constraints"]["comparison_method"] == "Robust"
    assert parse_constraints(doc).features["s"].completeness == 1.0

"""Target and feature selection, kinds, problem type, and the preprocessing pipeline."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from container.training.errors import DataError
from container.training.features import (
    build_preprocessor,
    build_schema,
    category_strings,
    coerce_features,
    infer_kinds,
    infer_problem_type,
    prepare_target,
    resolve_target,
    select_columns,
)

COLUMNS = ["species", "island", "mass", "label"]


def test_target_by_name_index_and_convention():
    assert resolve_target(COLUMNS, "island", True) == "island"
    assert resolve_target(COLUMNS, "2", True) == "mass"
    assert resolve_target(COLUMNS, None, True) == "label"
    assert resolve_target(["_c0", "_c1"], None, False) == "_c0"
    with pytest.raises(DataError, match="index 9 is out of range.*4 columns"):
        resolve_target(COLUMNS, "9", True)
    with pytest.raises(DataError, match="no target column"):
        resolve_target(["a", "b"], None, True)


def test_select_columns_by_list_and_drop():
    roles = select_columns(COLUMNS, "label", None, ["island"])
    assert roles.features == ("species", "mass")
    roles = select_columns(COLUMNS, "label", ["mass", "0"], [])
    assert roles.features == ("mass", "species")
    with pytest.raises(DataError, match="features lists the target"):
        select_columns(COLUMNS, "label", ["label"], [])
    with pytest.raises(DataError, match="drop_columns names the target"):
        select_columns(COLUMNS, "label", None, ["label"])
    with pytest.raises(DataError, match="no feature columns left"):
        select_columns(["a", "label"], "label", None, ["a"])
    with pytest.raises(DataError, match="'nope' is not a column"):
        select_columns(COLUMNS, "label", None, ["nope"])


def test_kinds_with_tolerance_and_forced_categoricals():
    frame = pd.DataFrame(
        {
            "clean": [1.0, 2.0, None, 4.0] * 50,
            "dirty": (["1", "2", "3", "4"] * 50)[:-1] + ["oops"],  # 0.5% garbage
            "text": ["a", "b", "c", "d"] * 50,
            "code": [10, 20, 30, 40] * 50,
            "flag": [True, False] * 100,
        }
    )
    kinds = infer_kinds(frame, list(frame.columns), ["code"], tolerance=0.01)
    assert kinds == {
        "clean": "numeric",
        "dirty": "numeric",
        "text": "categorical",
        "code": "categorical",
        "flag": "categorical",
    }
    with pytest.raises(DataError, match=r"'dirty'.*1 of its 200 values.*\['oops'\]"):
        infer_kinds(frame, ["dirty"], [], tolerance=0.0)
    coerced = coerce_features(frame, kinds, "train", 0.01)
    assert np.isnan(coerced["dirty"].iloc[-1])
    assert coerced["code"].iloc[0] == "10"
    assert coerced["flag"].iloc[0] == "True"


def test_garbage_in_validation_is_checked_against_the_same_tolerance():
    frame = pd.DataFrame({"x": ["1", "x", "y", "2"]})
    with pytest.raises(DataError, match="channel 'validation'"):
        coerce_features(frame, {"x": "numeric"}, "validation", 0.01)


def test_category_strings_unify_numbers_text_and_missing():
    values = pd.Series([3.0, np.nan, 4.5, None], dtype=object)
    assert category_strings(values).tolist()[0] == "3"
    assert category_strings(values).tolist()[2] == "4.5"
    assert category_strings(values).isna().tolist() == [False, True, False, True]
    assert category_strings(pd.Series([3, 4])).tolist() == ["3", "4"]


@pytest.mark.parametrize(
    ("values", "requested", "expected"),
    [
        (["a", "b"], "auto", "classification"),
        ([0, 1, 1, 0], "auto", "classification"),
        ([0.5, 1.25, 3.0], "auto", "regression"),
        (list(range(100)), "auto", "regression"),
        ([0, 1], "regression", "regression"),
        (["1", "2", "3"], "auto", "classification"),
    ],
)
def test_problem_type(values, requested, expected):
    assert infer_problem_type(pd.Series(values), requested) == expected


def test_prepare_target_gives_json_friendly_labels():
    assert prepare_target(
        pd.Series([1.0, 0.0]), "classification", "train"
    ).tolist() == [1, 0]
    assert prepare_target(
        pd.Series([True, False]), "classification", "train"
    ).tolist() == ["True", "False"]
    assert prepare_target(pd.Series(["3", "4.5"]), "regression", "train").tolist() == [
        3.0,
        4.5,
    ]


def test_preprocessor_accepts_the_serving_contract():
    frame = pd.DataFrame(
        {"mass": [1.0, 2.0, None, 4.0], "island": ["A", "B", None, "A"]}
    )
    kinds = {"mass": "numeric", "island": "categorical"}
    schema = build_schema(
        coerce_features(frame, kinds, "train", 0.0), kinds, "y", "regression"
    )
    assert schema.categorical_features == ["island"]
    assert schema.features[1].categories == ("A", "B")
    pre = build_preprocessor(schema, scale_numerics=True, dense=True)
    pre.fit(coerce_features(frame, kinds, "train", 0.0))
    request = pd.DataFrame({"mass": [None, "2.5"], "island": ["Z", None]}, dtype=object)
    out = pre.transform(request)
    assert out.shape == (2, 1 + 3)  # scaled mass + A, B, __missing__
    assert not np.isnan(out).any()
    assert out[0, 1:].tolist() == [0, 0, 0]  # unknown category: all zeros
    with pytest.raises(ValueError, match="could not convert string to float"):
        pre.transform(pd.DataFrame({"mass": ["heavy"], "island": ["A"]}))

"""Prediction drift: the model's captured output is profiled as a column and
checked against the baseline's column of the same name, like a feature."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from container.contract.bundle import FORMAT_VERSION, MANIFEST_FILE
from container.contract.schema import Feature, Schema
from container.monitoring.capture_decoding import capture_frames
from container.monitoring.capture_reader import (
    CaptureScan,
    capture_files,
    iter_record_blocks,
)
from container.monitoring.predictions import OutputColumn
from tests.container.monitoring.helpers import (
    capture_line,
    csv_field,
    make_frame,
    run_baseline,
    write_capture,
)

CLASSES = ["A", "B", "C"]
FEATURES = [
    "bill_length_mm",
    "bill_depth_mm",
    "flipper_length_mm",
    "body_mass_g",
    "island",
    "sex",
]
CSV, JSON, JSONLINES = "text/csv", "application/json", "application/jsonlines"


def with_output(line: str, data: str, content_type: str = CSV) -> str:
    """A capture line with an endpointOutput of `content_type`."""
    record = json.loads(line)
    record["captureData"]["endpointOutput"] = {
        "observedContentType": content_type,
        "mode": "OUTPUT",
        "data": data,
        "encoding": "JSON" if "json" in content_type else "CSV",
    }
    return json.dumps(record)


def server_output(label, content_type: str, probabilities: bool = True) -> str:
    """One prediction as this project's server encodes it."""
    shares = {c: (0.8 if c == label else 0.1) for c in CLASSES}
    if content_type == CSV:
        fields = [str(label)]
        if probabilities:
            fields += [str(shares[c]) for c in CLASSES]
        return ",".join(fields)
    if content_type == JSON:
        doc = {"predictions": [label]}
        if probabilities:
            doc["probabilities"] = [shares]
        return json.dumps(doc)
    doc = {"prediction": label}
    if probabilities:
        doc["probabilities"] = shares
    return json.dumps(doc)


def captured(features: pd.DataFrame, labels, content_type: str = CSV) -> list[str]:
    return [
        with_output(
            capture_line(",".join(csv_field(v) for v in row)),
            server_output(label, content_type),
            content_type,
        )
        for row, label in zip(features.itertuples(index=False), labels, strict=True)
    ]


def thirds(rows: int) -> list[str]:
    return [CLASSES[i % 3] for i in range(rows)]


def mostly_a(rows: int) -> list[str]:
    """90 % A, 5 % B, 5 % C."""
    return ["A" if i % 20 < 18 else ("B" if i % 20 == 18 else "C") for i in range(rows)]


@pytest.fixture(scope="module")
def features() -> pd.DataFrame:
    return make_frame(rows=1500)


@pytest.fixture
def classifier_baseline(features, tmp_path, opt_ml):
    """A baseline dataset holding the features and the model's predictions."""
    return run_baseline(
        features.assign(prediction=thirds(len(features))), tmp_path / "base"
    )


@pytest.mark.parametrize("content_type", [CSV, JSON, JSONLINES])
def test_a_shifted_class_mix_is_one_violation_on_the_predictions(
    classifier_baseline, features, tmp_path, content_type
):
    write_capture(
        tmp_path / "cap", captured(features, mostly_a(len(features)), content_type)
    )
    run = classifier_baseline.run_monitor(tmp_path / "cap", tmp_path / "out")
    assert run.checks() == {("prediction", "baseline_drift_check")}, run.violations
    (violation,) = run.violations
    assert violation["description"].startswith("Categorical distance: ")
    assert "exceeds categorical threshold" in violation["description"]
    assert "model's predictions" in violation["description"]
    assert run.message.startswith("CompletedWithViolations:")
    summary = json.loads((run.output / "summary.json").read_text())
    assert summary["output_column"]["name"] == "prediction"
    assert summary["output_column"]["in_baseline"] is True
    assert summary["output_column"]["predictions"] == len(features)
    assert summary["features"]["prediction"]["distance"] > 0.5
    stats = json.loads((run.output / "statistics.json").read_text())
    (column,) = [f for f in stats["features"] if f["name"] == "prediction"]
    buckets = column["string_statistics"]["distribution"]["categorical"]["buckets"]
    assert {b["value"]: b["count"] for b in buckets}["A"] == 0.9 * len(features)


@pytest.mark.parametrize("content_type", [CSV, JSON, JSONLINES])
def test_the_baseline_mix_is_no_violation(
    classifier_baseline, features, tmp_path, content_type
):
    write_capture(
        tmp_path / "cap", captured(features, thirds(len(features)), content_type)
    )
    run = classifier_baseline.run_monitor(tmp_path / "cap", tmp_path / "out")
    assert run.code == 0 and run.violations == []
    assert run.message.startswith("Completed:")
    summary = json.loads((run.output / "summary.json").read_text())
    assert summary["features"]["prediction"]["distance"] == pytest.approx(0, abs=1e-3)


def test_prediction_drift_is_a_metric_and_a_report_card(
    classifier_baseline, features, tmp_path
):
    write_capture(tmp_path / "cap", captured(features, mostly_a(len(features))))
    run = classifier_baseline.run_monitor(
        tmp_path / "cap",
        tmp_path / "out",
        "--publish-cloudwatch-metrics",
        "--metrics-dir",
        str(tmp_path / "metrics"),
    )
    lines = [
        json.loads(line)
        for line in (tmp_path / "metrics" / "metrics.jsonl").read_text().splitlines()
    ]
    by_name = {line["MetricName"]: line for line in lines}
    assert by_name["feature_baseline_drift_prediction"]["Value"] > 0.5
    assert by_name["feature_non_null_prediction"]["Value"] == 1.0
    html = (run.output / "report.html").read_text()
    assert "model predictions column" in html
    assert "the model&#x27;s predictions (endpointOutput)" in html


def test_shifted_regression_predictions_are_numerical_drift(features, tmp_path, opt_ml):
    rng = np.random.default_rng(3)
    rows = len(features)
    fitted = run_baseline(
        features.assign(prediction=rng.normal(100, 10, rows).round(3)),
        tmp_path / "base",
    )

    def window(name: str, shift: float):
        values = rng.normal(100 + shift, 10, rows).round(3)
        lines = [
            with_output(capture_line(",".join(csv_field(v) for v in row)), str(value))
            for row, value in zip(features.itertuples(index=False), values, strict=True)
        ]
        write_capture(tmp_path / name, lines)
        return fitted.run_monitor(tmp_path / name, tmp_path / f"{name}-out")

    shifted = window("shifted", 20)
    assert shifted.checks() == {("prediction", "baseline_drift_check")}
    assert shifted.violations[0]["description"].startswith("Numerical distance: ")
    assert window("same", 0).violations == []


@pytest.mark.parametrize("position", ["START", "END"])
def test_with_a_bundle_the_predictions_are_the_target_column(
    opt_ml, penguins, penguins_model_dir, tmp_path, position
):
    """A headerless validation split with the target where output_columns_position
    says; the captured predictions take the target's name."""
    data = penguins.dropna().reset_index(drop=True)
    features = FEATURES
    columns = ["species", *features] if position == "START" else [*features, "species"]
    data[columns].to_csv(tmp_path / "validation.csv", index=False, header=False)
    fmt = {"csv": {"header": False, "output_columns_position": position}}
    from container.monitoring import baseline

    assert (
        baseline.main(
            [
                "--dataset",
                str(tmp_path / "validation.csv"),
                "--dataset-format",
                json.dumps(fmt),
                "--model-dir",
                str(penguins_model_dir),
                "--output",
                str(tmp_path / "base"),
            ]
        )
        == 0
    )
    from tests.container.monitoring.helpers import Baseline

    fitted = Baseline(
        tmp_path / "base" / "statistics.json", tmp_path / "base" / "constraints.json"
    )
    report = (tmp_path / "base" / "report.html").read_text()
    assert "species (the monitor compares captured endpointOutput with it)" in report

    def window(name: str, labels) -> list[dict]:
        lines = [
            with_output(
                capture_line(",".join(csv_field(v) for v in row[features])), label
            )
            for (_, row), label in zip(data.iterrows(), labels, strict=True)
        ]
        write_capture(tmp_path / name, lines)
        return fitted.run_monitor(
            tmp_path / name,
            tmp_path / f"{name}-out",
            "--model-dir",
            str(penguins_model_dir),
        )

    assert window("same", data["species"]).violations == []
    adelie = ["Adelie" if i % 10 else "Gentoo" for i in range(len(data))]
    shifted = window("shifted", adelie)
    assert shifted.checks() == {("species", "baseline_drift_check")}


def test_a_baseline_without_predictions_reports_them_unchecked(fitted, frame, tmp_path):
    write_capture(tmp_path / "cap", captured(frame, mostly_a(len(frame))))
    run = fitted.run_monitor(tmp_path / "cap", tmp_path / "out")
    assert run.code == 0 and run.violations == []
    summary = json.loads((run.output / "summary.json").read_text())
    assert summary["output_column"]["name"] == "prediction"
    assert summary["output_column"]["in_baseline"] is False
    assert "not checked for drift" in summary["output_column"]["note"]
    assert "prediction" not in summary["features"]
    stats = json.loads((run.output / "statistics.json").read_text())
    assert "prediction" in [f["name"] for f in stats["features"]]
    assert "not checked for drift" in (run.output / "report.html").read_text()


def test_no_captured_output_means_no_prediction_column(
    classifier_baseline, features, tmp_path
):
    lines = [
        capture_line(",".join(csv_field(v) for v in row))
        for row in features.itertuples(index=False)
    ]
    write_capture(tmp_path / "cap", lines)
    run = classifier_baseline.run_monitor(tmp_path / "cap", tmp_path / "out")
    # The baseline expects predictions that were not captured.
    assert run.checks() == {("prediction", "missing_column_check")}
    assert "model's predictions" in run.violations[0]["description"]
    summary = json.loads((run.output / "summary.json").read_text())
    assert summary["output_column"] is None


def test_no_output_anywhere_is_the_inputs_only(fitted, frame, tmp_path):
    lines = [
        capture_line(",".join(csv_field(v) for v in row))
        for row in frame.itertuples(index=False)
    ]
    write_capture(tmp_path / "cap", lines)
    run = fitted.run_monitor(tmp_path / "cap", tmp_path / "out")
    assert run.code == 0 and run.violations == []
    stats = json.loads((run.output / "statistics.json").read_text())
    assert [f["name"] for f in stats["features"]] == list(frame.columns)


def test_capture_index_names_can_leave_the_output_out(
    classifier_baseline, features, tmp_path
):
    write_capture(tmp_path / "cap", captured(features, mostly_a(len(features))))
    run = classifier_baseline.run_monitor(
        tmp_path / "cap",
        tmp_path / "out",
        "--dataset-format",
        json.dumps({"sagemakerCaptureJson": {"captureIndexNames": ["endpointInput"]}}),
    )
    assert run.checks() == {("prediction", "missing_column_check")}


def test_a_feature_named_prediction_keeps_its_name(frame, tmp_path, opt_ml):
    data = frame.assign(prediction=np.arange(len(frame)) % 7)
    fitted = run_baseline(data, tmp_path / "base")
    lines = [
        with_output(capture_line(",".join(csv_field(v) for v in row)), "A")
        for row in data.itertuples(index=False)
    ]
    write_capture(tmp_path / "cap", lines)
    run = fitted.run_monitor(tmp_path / "cap", tmp_path / "out")
    assert run.code == 0 and run.violations == []
    summary = json.loads((run.output / "summary.json").read_text())
    assert summary["output_column"]["name"] == "prediction_1"
    assert summary["features"]["prediction"]["distance"] == pytest.approx(0, abs=1e-3)


def read(root, names, include_output=True):
    scan, output = CaptureScan(), OutputColumn()
    blocks = iter_record_blocks(capture_files(root, None, None), None, None, scan)
    frames = list(
        capture_frames(
            blocks, names, scan, include_output=include_output, output=output
        )
    )
    return pd.concat(frames, ignore_index=True), output


def test_predictions_line_up_with_rows_across_payload_kinds(tmp_path):
    """Multi-row requests, JSON and CSV inputs mixed, an undecodable output and a
    prediction count that does not match: each row keeps its own prediction."""
    lines = [
        with_output(capture_line("1,2,x\n2,3,y"), "yes,0.9,0.1\nno,0.2,0.8"),
        with_output(
            capture_line('{"a": 5, "b": 6, "c": "z"}', JSON, "JSON"),
            json.dumps({"predictions": ["maybe"]}),
            JSON,
        ),
        with_output(capture_line("7,8,w"), "{not json", JSON),
        with_output(capture_line("9,9,v\n9,9,u"), "only-one"),
        capture_line("4,4,t"),
    ]
    write_capture(tmp_path, lines)
    frame, output = read(tmp_path, ["a", "b", "c"])
    by_a = dict(zip(frame["a"], frame["prediction"], strict=True))
    assert by_a[1] == "yes" and by_a[2] == "no" and by_a[5] == "maybe"
    assert pd.isna(by_a[7]) and pd.isna(by_a[4])
    assert frame.loc[frame["a"] == 9, "prediction"].isna().all()
    assert output.name == "prediction" and output.rows == 3
    assert output.undecodable == 1 and output.unaligned == 1


def test_end_position_puts_the_predictions_last(tmp_path):
    write_capture(tmp_path, [with_output(capture_line("1,2,x"), "yes")])
    scan, output = CaptureScan(), OutputColumn()
    blocks = iter_record_blocks(capture_files(tmp_path, None, None), None, None, scan)
    (frame,) = capture_frames(
        blocks,
        ["a", "b", "c", "label"],
        scan,
        include_output=True,
        output=output,
        position="END",
    )
    assert list(frame.columns) == ["a", "b", "c", "label"]
    assert frame["label"].tolist() == ["yes"]


def test_the_baseline_report_names_the_predictions_column(classifier_baseline):
    report = (classifier_baseline.statistics.parent / "report.html").read_text()
    assert "prediction (the monitor compares" in report


def test_the_baseline_report_says_when_it_has_no_predictions(fitted):
    report = (fitted.statistics.parent / "report.html").read_text()
    assert "none: the monitor reports captured predictions" in report


# --- integer class labels --------------------------------------------------------
FRAME_FEATURES = ["age", "income", "score", "colour", "visits"]


def schema_bundle(folder, target, problem_type="classification", classes=()):
    """A model folder whose model.json holds only what monitoring reads: the
    schema (the synthetic frame's features, the target, problem type, classes)."""
    kinds = {"colour": "categorical"}
    schema = Schema(
        features=tuple(Feature(n, kinds.get(n, "numeric")) for n in FRAME_FEATURES),
        target=target,
        problem_type=problem_type,
        classes=tuple(classes),
    )
    folder.mkdir(parents=True, exist_ok=True)
    manifest = {"format_version": FORMAT_VERSION, "schema": schema.to_dict()}
    (folder / MANIFEST_FILE).write_text(json.dumps(manifest))
    return folder


def int_classes(rows: int, k: int) -> list[int]:
    """Each of the k classes in turn: an even mix."""
    return [i % k for i in range(rows)]


def mostly_zero(rows: int, k: int) -> list[int]:
    """90 % class 0, the rest spread over the others."""
    return [0 if i % 10 else 1 + (i // 10) % (k - 1) for i in range(rows)]


def column_stats(path, name: str) -> dict:
    stats = json.loads(path.read_text())
    (column,) = [f for f in stats["features"] if f["name"] == name]
    return column


def bucket_counts(column: dict) -> dict[str, int]:
    buckets = column["string_statistics"]["distribution"]["categorical"]["buckets"]
    return {b["value"]: b["count"] for b in buckets}


@pytest.fixture
def int_classifier(frame, tmp_path, opt_ml, request):
    """A classifier of integer classes 0..k-1 and a baseline of its training
    CSV, which holds the target `label` with those classes."""
    k = request.param
    model_dir = schema_bundle(tmp_path / "model", "label", classes=range(k))
    fitted = run_baseline(
        frame.assign(label=int_classes(len(frame), k)),
        tmp_path / "base",
        "--model-dir",
        str(model_dir),
    )
    return fitted, model_dir, k


@pytest.mark.parametrize("int_classifier", [2, 3], indirect=True)
def test_a_classifiers_integer_target_is_baselined_as_categories(int_classifier):
    fitted, _, k = int_classifier
    column = column_stats(fitted.statistics, "label")
    assert column["inferred_type"] == "String"
    assert set(bucket_counts(column)) == {str(c) for c in range(k)}
    constraints = json.loads(fitted.constraints.read_text())
    (label,) = [f for f in constraints["features"] if f["name"] == "label"]
    assert label["string_constraints"]["domains"] == [str(c) for c in range(k)]
    # The features keep their types.
    assert column_stats(fitted.statistics, "age")["inferred_type"] == "Integral"


@pytest.mark.parametrize("content_type", [CSV, JSON, JSONLINES])
@pytest.mark.parametrize("int_classifier", [2, 3], indirect=True)
def test_a_shifted_integer_class_mix_is_categorical_drift(
    int_classifier, frame, tmp_path, content_type
):
    fitted, model_dir, k = int_classifier
    write_capture(
        tmp_path / "cap", captured(frame, mostly_zero(len(frame), k), content_type)
    )
    run = fitted.run_monitor(
        tmp_path / "cap", tmp_path / "out", "--model-dir", str(model_dir)
    )
    assert run.checks() == {("label", "baseline_drift_check")}, run.violations
    (violation,) = run.violations
    assert violation["description"].startswith("Categorical distance: ")
    assert "model's predictions" in violation["description"]
    column = column_stats(run.output / "statistics.json", "label")
    assert column["inferred_type"] == "String"
    assert bucket_counts(column)["0"] == 0.9 * len(frame)


@pytest.mark.parametrize("content_type", [CSV, JSON, JSONLINES])
@pytest.mark.parametrize("int_classifier", [2, 3], indirect=True)
def test_the_baseline_integer_class_mix_is_no_violation(
    int_classifier, frame, tmp_path, content_type
):
    fitted, model_dir, k = int_classifier
    write_capture(
        tmp_path / "cap", captured(frame, int_classes(len(frame), k), content_type)
    )
    run = fitted.run_monitor(
        tmp_path / "cap", tmp_path / "out", "--model-dir", str(model_dir)
    )
    assert run.code == 0 and run.violations == [], run.violations
    summary = json.loads((run.output / "summary.json").read_text())
    assert summary["output_column"]["name"] == "label"
    assert summary["features"]["label"]["distance_method"] == "LInfinity"
    assert summary["features"]["label"]["distance"] == pytest.approx(0, abs=1e-3)
    column = column_stats(run.output / "statistics.json", "label")
    assert column["inferred_type"] == "String"


def test_without_a_bundle_a_string_baseline_column_compares_as_categories(
    frame, tmp_path, opt_ml
):
    """A baseline taken with the bundle says the predictions are String; a
    monitor without the bundle follows it."""
    model_dir = schema_bundle(tmp_path / "model", "prediction", classes=[0, 1])
    fitted = run_baseline(
        frame.assign(prediction=int_classes(len(frame), 2)),
        tmp_path / "base",
        "--model-dir",
        str(model_dir),
    )
    assert column_stats(fitted.statistics, "prediction")["inferred_type"] == "String"

    def window(name: str, labels) -> tuple:
        write_capture(tmp_path / name, captured(frame, labels, JSON))
        run = fitted.run_monitor(tmp_path / name, tmp_path / f"{name}-out")
        return run, column_stats(run.output / "statistics.json", "prediction")

    same, column = window("same", int_classes(len(frame), 2))
    assert same.violations == [] and column["inferred_type"] == "String"
    shifted, column = window("shifted", mostly_zero(len(frame), 2))
    assert shifted.checks() == {("prediction", "baseline_drift_check")}
    assert shifted.violations[0]["description"].startswith("Categorical distance: ")
    assert column["inferred_type"] == "String"


def test_a_numeric_baseline_of_a_classifier_stays_numeric(frame, tmp_path, opt_ml):
    """A baseline taken without the bundle profiled the classes as Integral:
    the window is profiled alike, so the two still compare (numerically)."""
    fitted = run_baseline(
        frame.assign(label=int_classes(len(frame), 2)), tmp_path / "base"
    )
    assert column_stats(fitted.statistics, "label")["inferred_type"] == "Integral"
    model_dir = schema_bundle(tmp_path / "model", "label", classes=[0, 1])
    write_capture(tmp_path / "cap", captured(frame, int_classes(len(frame), 2)))
    run = fitted.run_monitor(
        tmp_path / "cap", tmp_path / "out", "--model-dir", str(model_dir)
    )
    assert run.code == 0 and run.violations == [], run.violations
    column = column_stats(run.output / "statistics.json", "label")
    assert column["inferred_type"] == "Integral"


def test_a_regressors_predictions_stay_numeric_with_its_bundle(frame, tmp_path, opt_ml):
    rng = np.random.default_rng(5)
    rows = len(frame)
    model_dir = schema_bundle(tmp_path / "model", "target", problem_type="regression")
    fitted = run_baseline(
        frame.assign(target=rng.normal(50, 5, rows).round(3)),
        tmp_path / "base",
        "--model-dir",
        str(model_dir),
    )
    assert column_stats(fitted.statistics, "target")["inferred_type"] == "Fractional"

    def window(name: str, shift: float):
        values = rng.normal(50 + shift, 5, rows).round(3)
        lines = [
            with_output(capture_line(",".join(csv_field(v) for v in row)), str(value))
            for row, value in zip(frame.itertuples(index=False), values, strict=True)
        ]
        write_capture(tmp_path / name, lines)
        return fitted.run_monitor(
            tmp_path / name, tmp_path / f"{name}-out", "--model-dir", str(model_dir)
        )

    same = window("same", 0)
    assert same.violations == []
    column = column_stats(same.output / "statistics.json", "target")
    assert column["inferred_type"] == "Fractional"
    shifted = window("shifted", 10)
    assert shifted.checks() == {("target", "baseline_drift_check")}
    assert shifted.violations[0]["description"].startswith("Numerical distance: ")

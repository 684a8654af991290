"""Estimated accuracy and ROC AUC of a window from its captured probabilities."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm

from container.contract import codecs
from container.contract.bundle import save_bundle
from container.monitoring import monitor
from container.monitoring import quality_estimation as qe
from container.training import estimation
from container.training.splits import Split
from tests.container.monitoring.quality_helpers import (
    WINDOW,
    capture_dir,
    capture_record,
    label_record,
    write_lines,
)

BINARY = "BinaryClassification"
MULTICLASS = "MulticlassClassification"
# (scale, shift) of the inputs of each window: the covariates concentrate near
# the decision boundary, so the realised accuracy drops.
SHIFTS = ((1.5, 0.0), (0.8, 0.3), (0.4, 0.5))
WINDOW_ROWS = 500
ACCURACY_TOLERANCE = 0.1
AUC_TOLERANCE = 0.1


def _rounded(value):
    return round(value, 3) if isinstance(value, float) else value


def read(path):
    return json.loads(path.read_text())


def synthetic(
    rows: int, rng, classes: int, scale: float = 1.5, shift: float = 0.0
) -> tuple[pd.DataFrame, pd.Series]:
    """Inputs that may shift; P(label | inputs) that never changes."""
    x = rng.normal(size=(rows, 2)) * scale + np.array([shift, -shift])
    if classes == 2:
        p = 1 / (1 + np.exp(-(2 * x[:, 0] + x[:, 1])))
        y = (rng.uniform(size=rows) < p).astype(int)
    else:
        logits = np.stack([2 * x[:, 0], 2 * x[:, 1], -x[:, 0] - x[:, 1]], axis=1)
        p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
        y = (rng.uniform(size=(rows, 1)) > p.cumsum(axis=1)).sum(axis=1)
    return pd.DataFrame(x, columns=["a", "b"]), pd.Series(y)


def trained(classes: int, model=None):
    """A random forest (over-confident uncalibrated) and its calibration record."""
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(0)
    features, target = synthetic(3000, rng, classes)
    model = model or RandomForestClassifier(
        n_estimators=100, min_samples_leaf=3, random_state=0
    )
    pipeline = Pipeline([("scale", StandardScaler()), ("model", model)])
    pipeline.fit(features, target)
    validation = Split("validation", *synthetic(1000, rng, classes))
    record = estimation.calibrate(
        pipeline, {"validation": validation}, "classification"
    )
    return pipeline, record


def write_bundle(opt_ml, pipeline, record) -> None:
    """The bundle where a processing job mounts it: /opt/ml/processing/input/model."""
    save_bundle(
        opt_ml.processing_input_dir / "model",
        pipeline,
        {"problem_type": "classification", "performance_estimation": record},
    )


def write_captures(opt_ml, pipeline, features, target, accept, labels=True):
    classes = list(pipeline.classes_)
    proba = pipeline.predict_proba(features)
    predicted = np.asarray(classes)[proba.argmax(axis=1)]
    captures, truth = [], []
    for i in range(len(features)):
        output = codecs.encode(
            predicted[i : i + 1],
            accept,
            probabilities=proba[i : i + 1],
            classes=classes,
        ).decode()
        captures.append(capture_record(f"evt-{i}", output, accept))
        truth.append(label_record(f"evt-{i}", int(target.iloc[i])))
    write_lines(capture_dir(opt_ml.endpoint_input_dir), captures)
    folder = opt_ml.processing_dir / "groundtruth" / "2026/04/18/00"
    write_lines(folder, truth if labels else [])
    return proba, predicted


def run_monitor(monkeypatch, opt_ml, output, problem) -> int:
    env = {
        "analysis_type": "MODEL_QUALITY",
        "problem_type": problem,
        "dataset_format": json.dumps(
            {"sagemakerCaptureJson": {"captureIndexNames": ["endpointOutput"]}}
        ),
        "dataset_source": str(opt_ml.endpoint_input_dir),
        "output_path": str(output),
        "start_time": WINDOW[0],
        "end_time": WINDOW[1],
        "publish_cloudwatch_metrics": "Enabled",
        "sagemaker_endpoint_name": "endpoint-a",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return monitor.main([])


@pytest.mark.parametrize(
    ("problem", "accept"),
    [(BINARY, "application/json"), (MULTICLASS, "text/csv")],
)
def test_estimate_tracks_realised_accuracy_under_covariate_shift(
    opt_ml, monkeypatch, tmp_path, problem, accept
):
    classes = 2 if problem == BINARY else 3
    pipeline, record = trained(classes)
    assert record["status"] == "calibrated"
    write_bundle(opt_ml, pipeline, record)
    rng = np.random.default_rng(7)
    figures = []
    for level, (scale, shift) in enumerate(SHIFTS):
        features, target = synthetic(WINDOW_ROWS, rng, classes, scale, shift)
        write_captures(opt_ml, pipeline, features, target, accept)
        output = tmp_path / f"shift-{level}"
        assert run_monitor(monkeypatch, opt_ml, output, problem) == 0
        statistics = read(output / "statistics.json")
        key = "binary" if problem == BINARY else "multiclass"
        realised = statistics[f"{key}_classification_metrics"]
        estimated = statistics["estimated_metrics"]
        assert estimated["records"] == WINDOW_ROWS
        assert estimated["records_without_probabilities"] == 0
        row = {
            "shift": (scale, shift),
            "realised_accuracy": realised["accuracy"]["value"],
            "estimated_accuracy": estimated["accuracy"]["value"],
            "accuracy_sd": estimated["accuracy"]["standard_deviation"],
        }
        if problem == BINARY:
            row["realised_auc"] = realised["auc"]["value"]
            row["estimated_auc"] = estimated["auc"]["value"]
        figures.append(row)
        summary = read(output / "summary.json")
        assert summary["metrics"]["accuracy"]["estimated"] == row["estimated_accuracy"]
        assert summary["estimated_metrics"]["status"] == "estimated"
        assert "Estimated metrics" in (output / "report.html").read_text()
    print(f"\n{problem} on {WINDOW_ROWS}-record windows:")
    for row in figures:
        print("  " + ", ".join(f"{k} {_rounded(v)}" for k, v in row.items()))
    accuracies = [row["realised_accuracy"] for row in figures]
    assert accuracies[0] - accuracies[-1] > 0.1, "the shift should cost accuracy"
    for row in figures:
        assert (
            abs(row["estimated_accuracy"] - row["realised_accuracy"])
            <= ACCURACY_TOLERANCE
        ), row
        if problem == BINARY:
            assert abs(row["estimated_auc"] - row["realised_auc"]) <= AUC_TOLERANCE, row
    lines = (opt_ml.cloudwatch_metrics_dir / "metrics.jsonl").read_text()
    assert '"estimated_accuracy"' in lines


def test_a_window_without_labels_gives_the_estimate(opt_ml, monkeypatch, tmp_path):
    pipeline, record = trained(2)
    write_bundle(opt_ml, pipeline, record)
    features, target = synthetic(300, np.random.default_rng(3), 2, 0.8, 0.3)
    proba, predicted = write_captures(
        opt_ml, pipeline, features, target, "application/jsonlines", labels=False
    )
    output = tmp_path / "r"
    assert run_monitor(monkeypatch, opt_ml, output, BINARY) == 0
    message = opt_ml.message_file.read_text()
    assert message.startswith(
        "Completed: no captured record of the window has a ground-truth label yet"
    )
    assert "estimated accuracy 0." in message and "from 300 predictions" in message
    statistics = read(output / "statistics.json")
    assert "binary_classification_metrics" not in statistics
    assert statistics["dataset"]["item_count"] == 0
    estimated = statistics["estimated_metrics"]
    expected = qe.Calibration(record).confidence(proba.max(axis=1)).mean()
    assert estimated["accuracy"]["value"] == pytest.approx(expected)
    assert 0 < estimated["accuracy"]["standard_deviation"] < 0.05
    assert 0.5 < estimated["auc"]["value"] < 1
    assert estimated["calibration"]["split"] == "validation"
    summary = read(output / "summary.json")
    assert summary["status"] == "Completed" and summary["metrics"] == {}
    assert summary["item_count"] == 0 and summary["merge"]["captured_records"] == 300
    assert read(output / "constraint_violations.json") == {"violations": []}
    html = (output / "report.html").read_text()
    assert "Estimated metrics" in html and "has a ground-truth label yet" in html
    names = [
        json.loads(line)["MetricName"]
        for line in (opt_ml.cloudwatch_metrics_dir / "metrics.jsonl")
        .read_text()
        .splitlines()
    ]
    assert names == ["estimated_accuracy", "estimated_auc"]


def test_a_model_without_probabilities_gives_no_estimate_but_the_reason(
    opt_ml, monkeypatch, tmp_path
):
    from sklearn.svm import LinearSVC

    pipeline, record = trained(2, LinearSVC())
    assert record["reason"] == "the estimator LinearSVC has no predict_proba"
    write_bundle(opt_ml, pipeline, record)
    features, target = synthetic(50, np.random.default_rng(3), 2)
    predicted = pipeline.predict(features)
    write_lines(
        capture_dir(opt_ml.endpoint_input_dir),
        [capture_record(f"evt-{i}", str(p)) for i, p in enumerate(predicted)],
    )
    truth = opt_ml.processing_dir / "groundtruth" / "2026/04/18/00"
    labelled = [label_record(f"evt-{i}", int(t)) for i, t in enumerate(target)]
    write_lines(truth, labelled)
    output = tmp_path / "r"
    assert run_monitor(monkeypatch, opt_ml, output, BINARY) == 0
    assert "estimated_metrics" not in read(output / "statistics.json")
    summary = read(output / "summary.json")
    assert summary["estimated_metrics"] == {
        "status": "not_estimated",
        "reason": "the model was not calibrated: the estimator LinearSVC has no predict_proba",  # noqa: E501
    }
    assert "No estimated metrics" in (output / "report.html").read_text()

    write_lines(truth, [])  # the same window before its labels: nothing to report
    assert run_monitor(monkeypatch, opt_ml, tmp_path / "r2", BINARY) == 1
    failure = opt_ml.failure_file.read_text()
    assert "50 captured records, 50 without a label" in failure
    assert "No estimate without labels either: the model was not calibrated" in failure


def test_outputs_without_probabilities_give_no_estimate(opt_ml, monkeypatch, tmp_path):
    pipeline, record = trained(2)
    write_bundle(opt_ml, pipeline, record)
    write_lines(
        capture_dir(opt_ml.endpoint_input_dir),
        [capture_record(f"evt-{i}", "1") for i in range(20)],
    )
    (opt_ml.processing_dir / "groundtruth" / "2026/04/18/00").mkdir(parents=True)
    assert run_monitor(monkeypatch, opt_ml, tmp_path / "r", BINARY) == 1
    failure = opt_ml.failure_file.read_text()
    assert "none of the window's predictions came with class probabilities" in failure


def test_no_bundle_no_estimate(opt_ml, monkeypatch, tmp_path):
    loaded, reason = qe.load_calibration(None, BINARY)
    assert loaded is None and "--model-dir" in reason
    loaded, reason = qe.load_calibration(tmp_path, "Regression")
    assert loaded is None and "regression" in reason


def test_captured_probability_shapes():
    calibration = qe.Calibration(
        {
            "positive_class": "yes",
            "confidence": {"thresholds": [0.5, 1.0], "values": [0.5, 1.0]},
        }
    )
    window = qe.WindowProbabilities()
    for raw in (
        {"yes": 0.8, "no": 0.2},  # JSON: named, the positive class found by name
        [0.3, 0.7],  # CSV: the columns in class order
        0.9,  # one number: the positive class's probability
        None,  # no probabilities
        [0.5],  # not a distribution
        {"yes": "x", "no": 0.1},
    ):
        qe.add_output(window, raw, calibration, BINARY)
    assert window.top == [0.8, 0.7, 0.9]
    assert window.positive == [0.8, 0.7, 0.9]
    assert window.without == 3
    multiclass = qe.WindowProbabilities()
    qe.add_output(multiclass, 0.9, calibration, MULTICLASS)
    assert multiclass.without == 1


def brute_force_auc(scores, q):
    numerator = denominator = 0.0
    for i in range(len(q)):
        for j in range(len(q)):
            if i == j:
                continue
            weight = q[i] * (1 - q[j])
            denominator += weight
            if scores[i] > scores[j]:
                numerator += weight
            elif scores[i] == scores[j]:
                numerator += weight / 2
    return numerator / denominator


def test_expected_auc_is_the_expected_pair_order():
    rng = np.random.default_rng(5)
    scores = rng.integers(0, 10, 60) / 10  # with ties
    q = rng.uniform(size=60)
    assert qe.expected_auc(scores, q) == pytest.approx(brute_force_auc(scores, q))
    # With certain labels the expectation is the AUC itself.
    labels = rng.integers(0, 2, 60)
    assert qe.expected_auc(scores, labels.astype(float)) == pytest.approx(
        skm.roc_auc_score(labels, scores)
    )
    assert qe.expected_auc(scores, np.ones(60)) is None  # no negatives expected
    deviation = qe.simulated_auc_deviation(scores, q)
    assert 0 < deviation < 0.2


def test_the_calibration_train_records_is_read_through_model_dir(
    opt_ml, monkeypatch, tmp_path, penguins
):
    from container.contract.bundle import load_bundle
    from tests.bundles import train_bundle

    model_dir = train_bundle(
        tmp_path / "training", {"target": "species", "validation_fraction": "0.3"}
    )
    bundle = load_bundle(model_dir)
    record = bundle.manifest["performance_estimation"]
    assert record["status"] == "calibrated"
    features = penguins[bundle.schema.feature_names].head(120)
    write_captures(
        opt_ml,
        bundle.pipeline,
        features,
        pd.Series(range(120)),  # no labels are written
        "application/json",
        labels=False,
    )
    monkeypatch.setenv("analysis_type", "MODEL_QUALITY")
    monkeypatch.setenv("problem_type", MULTICLASS)
    args = [
        "--dataset",
        str(opt_ml.endpoint_input_dir),
        "--ground-truth",
        str(opt_ml.processing_dir / "groundtruth"),
        "--start-time",
        WINDOW[0],
        "--end-time",
        WINDOW[1],
        "--model-dir",
        str(model_dir),
        "--output",
        str(tmp_path / "r"),
    ]
    assert monitor.main(args) == 0
    estimated = read(tmp_path / "r" / "statistics.json")["estimated_metrics"]
    proba = bundle.pipeline.predict_proba(features)
    expected = qe.Calibration(record).confidence(proba.max(axis=1)).mean()
    assert estimated["records"] == 120
    assert estimated["accuracy"]["value"] == pytest.approx(expected)
    assert estimated["calibration"]["rows"] == record["rows"]
    assert "auc" not in estimated  # three classes

"""`baseline` and `monitor` with analysis_type=MODEL_QUALITY, run as processing
jobs with the environment SageMaker's ModelQualityMonitor sets."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn import metrics as skm

from container.contract import codecs
from container.monitoring import baseline, monitor
from tests.container.monitoring.quality_helpers import (
    WINDOW,
    binary_frame,
    capture_dir,
    capture_record,
    label_record,
    sdk_baseline_env,
    write_lines,
)

CSV_HEADER = {"csv": {"header": True, "output_columns_position": "START"}}


def set_env(monkeypatch, env: dict) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)


def read(path):
    return json.loads(path.read_text())


def test_binary_baseline_with_the_sdk_environment(opt_ml, monkeypatch):
    frame = binary_frame(400)
    opt_ml.baseline_dataset_dir.mkdir(parents=True)
    frame.to_csv(opt_ml.baseline_dataset_dir / "validation.csv", index=False)
    set_env(
        monkeypatch,
        sdk_baseline_env(
            opt_ml,
            "BinaryClassification",
            CSV_HEADER,
            inference_attribute="prediction",
            probability_attribute="probability",
            ground_truth_attribute="label",
            probability_threshold_attribute="0.5",
        ),
    )
    assert baseline.main([]) == 0
    out = opt_ml.processing_output_dir
    statistics = read(out / "statistics.json")
    assert statistics["dataset"]["item_count"] == 400
    block = statistics["binary_classification_metrics"]
    assert block["f1"]["value"] == pytest.approx(
        skm.f1_score(frame.label, frame.prediction)
    )
    assert block["auc"]["value"] == pytest.approx(
        skm.roc_auc_score(frame.label, frame.probability)
    )
    assert isinstance(block["f1"]["standard_deviation"], float)
    constraints = read(out / "constraints.json")["binary_classification_constraints"]
    assert constraints["f1"]["threshold"] == block["f1"]["value"]
    html = (out / "report.html").read_text()
    assert html.startswith("<!DOCTYPE html>") and "<svg class='matrix'" in html
    assert opt_ml.message_file.read_text().startswith(
        "Completed: Model-quality baseline (BinaryClassification) of 400 records"
    )


def test_baseline_of_headerless_csv_takes_indexes_and_spark_names(
    opt_ml, monkeypatch, tmp_path
):
    rng = np.random.default_rng(2)
    truth = rng.choice(["a", "b", "c"], 150)
    guess = np.where(rng.uniform(size=150) < 0.6, truth, "b")
    data = tmp_path / "data.csv"
    data.write_text(
        "".join(f"{t},{g},0.5\n" for t, g in zip(truth, guess, strict=True))
    )
    set_env(
        monkeypatch,
        {
            "analysis_type": "MODEL_QUALITY",
            "problem_type": "MulticlassClassification",
            "dataset_format": json.dumps({"csv": {"header": False}}),
            "ground_truth_attribute": "0",
            "inference_attribute": "_c1",
        },
    )
    assert baseline.main(["--dataset", str(data), "--output", str(tmp_path / "o")]) == 0
    block = read(tmp_path / "o" / "statistics.json")[
        "multiclass_classification_metrics"
    ]
    assert block["accuracy"]["value"] == pytest.approx(skm.accuracy_score(truth, guess))
    assert block["accuracy"]["standard_deviation"] == "NaN"  # fewer than 200 rows


def test_regression_baseline_of_json_lines(opt_ml, monkeypatch, tmp_path):
    rng = np.random.default_rng(4)
    truth = rng.normal(10, 2, 50).round(3)
    guess = (truth + rng.normal(0, 1, 50)).round(3)
    data = tmp_path / "data.jsonl"
    data.write_text(
        "".join(
            json.dumps({"y": float(t), "yhat": float(g)}) + "\n"
            for t, g in zip(truth, guess, strict=True)
        )
    )
    code = baseline.main(
        [
            "--analysis-type",
            "MODEL_QUALITY",
            "--problem-type",
            "Regression",
            "--dataset-format",
            '{"json": {"lines": true}}',
            "--ground-truth-attribute",
            "y",
            "--inference-attribute",
            "yhat",
            "--dataset",
            str(data),
            "--output",
            str(tmp_path / "o"),
        ]
    )
    assert code == 0
    block = read(tmp_path / "o" / "statistics.json")["regression_metrics"]
    assert block["rmse"]["value"] == pytest.approx(
        np.sqrt(skm.mean_squared_error(truth, guess))
    )
    assert block["r2"]["value"] == pytest.approx(skm.r2_score(truth, guess))
    constraints = read(tmp_path / "o" / "constraints.json")["regression_constraints"]
    assert constraints["mae"]["comparison_operator"] == "GreaterThanThreshold"


def test_probability_alone_is_thresholded(opt_ml, monkeypatch, tmp_path):
    frame = binary_frame(120)
    data = tmp_path / "data.csv"
    frame[["label", "probability"]].to_csv(data, index=False, header=False)
    set_env(
        monkeypatch,
        {
            "analysis_type": "MODEL_QUALITY",
            "problem_type": "BinaryClassification",
            "dataset_format": json.dumps({"csv": {"header": False}}),
            "ground_truth_attribute": "_c0",
            "probability_attribute": "_c1",
            "probability_threshold_attribute": ".3",
        },
    )
    assert baseline.main(["--dataset", str(data), "--output", str(tmp_path / "o")]) == 0
    block = read(tmp_path / "o" / "statistics.json")["binary_classification_metrics"]
    predicted = (frame.probability >= 0.3).astype(int)
    assert block["accuracy"]["value"] == pytest.approx(
        skm.accuracy_score(frame.label, predicted)
    )


def server_output(prediction: int, p1: float) -> str:
    """The endpoint's JSON answer for one record, as the server encodes it."""
    return codecs.encode(
        np.array([prediction]),
        "application/json",
        probabilities=np.array([[1 - p1, p1]]),
        classes=[0, 1],
    ).decode()


def write_window(opt_ml, frame, with_inference_id=True):
    """Captures of `frame` in the window; labels in the window's hour and later."""
    captures, early, late = [], [], []
    for i, row in enumerate(frame.itertuples(index=False)):
        inference_id = f"inf-{i}" if with_inference_id and i % 2 == 0 else None
        captures.append(
            capture_record(
                f"evt-{i}",
                server_output(int(row.prediction), float(row.probability)),
                "application/json",
                inference_id=inference_id,
            )
        )
        key = inference_id or f"evt-{i}"
        (early if i % 3 else late).append(label_record(key, int(row.label)))
    write_lines(capture_dir(opt_ml.endpoint_input_dir), captures)
    truth = opt_ml.processing_dir / "groundtruth"
    write_lines(truth / "2026/04/18/00", early)
    # Collected three hours after the window: still merged.
    write_lines(truth / "2026/04/18/03", late)
    return truth


def monitoring_env(opt_ml, tmp_path, constraints, statistics=None) -> dict:
    """A scheduled model-quality run's Environment (paths under the test's /opt/ml)."""
    env = {
        "analysis_type": "MODEL_QUALITY",
        "problem_type": "BinaryClassification",
        "dataset_format": json.dumps(
            {"sagemakerCaptureJson": {"captureIndexNames": ["endpointOutput"]}}
        ),
        "dataset_source": str(opt_ml.endpoint_input_dir),
        "output_path": str(tmp_path / "result"),
        "start_time": WINDOW[0],
        "end_time": WINDOW[1],
        "baseline_constraints": str(constraints),
        "publish_cloudwatch_metrics": "Enabled",
        "sagemaker_endpoint_name": "endpoint-a",
        "sagemaker_monitoring_schedule_name": "quality-hourly",
    }
    if statistics:
        env["baseline_statistics"] = str(statistics)
    return env


def test_monitor_merges_captures_with_late_labels(opt_ml, monkeypatch, tmp_path):
    frame = binary_frame(300, seed=21)
    write_window(opt_ml, frame)
    extra = opt_ml.processing_dir / "groundtruth" / "2026/04/18/05"
    write_lines(
        extra,
        [
            label_record("unknown-id", 1),  # no capture in the window
            label_record("evt-1", 1 - int(frame.label[1])),  # relabelled ...
        ],
    )
    write_lines(
        opt_ml.processing_dir / "groundtruth" / "2026/04/18/06",
        [label_record("evt-1", int(frame.label[1]))],  # ... and corrected later
    )
    constraints = tmp_path / "constraints.json"
    constraints.write_text(
        json.dumps(
            {
                "version": 0.0,
                "binary_classification_constraints": {
                    "accuracy": {
                        "threshold": 0.99,
                        "comparison_operator": "LessThanThreshold",
                    },
                    "f1": {
                        "threshold": 0.0,
                        "comparison_operator": "LessThanThreshold",
                    },
                },
            }
        )
    )
    set_env(monkeypatch, monitoring_env(opt_ml, tmp_path, constraints))
    assert monitor.main([]) == 0
    result = tmp_path / "result"
    block = read(result / "statistics.json")["binary_classification_metrics"]
    assert block["accuracy"]["value"] == pytest.approx(
        skm.accuracy_score(frame.label, frame.prediction)
    )
    assert block["auc"]["value"] == pytest.approx(
        skm.roc_auc_score(frame.label, frame.probability)
    )
    violations = read(result / "constraint_violations.json")["violations"]
    assert [(v["feature_name"], v["constraint_check_type"]) for v in violations] == [
        ("accuracy", "LessThanThreshold")
    ]
    assert "was LessThanThreshold 0.99" in violations[0]["description"]
    summary = read(result / "summary.json")
    merge = summary["merge"]
    assert merge["captured_records"] == 300 and merge["merged_records"] == 300
    assert merge["captured_without_label"] == 0
    assert merge["labels_without_capture_in_window"] == 1
    assert summary["ground_truth"]["duplicated_labels"] == 2
    assert "last" in summary["ground_truth"]["duplicate_rule"]
    assert opt_ml.message_file.read_text() == (
        "CompletedWithViolations: Job completed successfully with 1 violations."
    )
    lines = [
        json.loads(line)
        for line in (opt_ml.cloudwatch_metrics_dir / "metrics.jsonl")
        .read_text()
        .splitlines()
    ]
    by_name = {line["MetricName"]: line for line in lines}
    assert by_name["accuracy"]["Value"] == block["accuracy"]["value"]
    assert by_name["accuracy"]["Timestamp"] == "2026-04-18T01:00:00Z"
    assert by_name["f1"]["Dimensions"] == [
        {"Name": "Endpoint", "Value": "endpoint-a"},
        {"Name": "MonitoringSchedule", "Value": "quality-hourly"},
    ]
    html = (result / "report.html").read_text()
    assert "<svg class='matrix'" in html and "accuracy" in html


def test_monitor_compares_with_its_own_baseline(opt_ml, monkeypatch, tmp_path):
    base = binary_frame(300, seed=1)
    data = tmp_path / "validation.csv"
    base.to_csv(data, index=False)
    attributes = {
        "inference_attribute": "prediction",
        "probability_attribute": "probability",
        "ground_truth_attribute": "label",
    }
    set_env(
        monkeypatch,
        {"analysis_type": "MODEL_QUALITY", "problem_type": "BinaryClassification"},
    )
    for key, value in attributes.items():
        monkeypatch.setenv(key, value)
    assert baseline.main(["--dataset", str(data), "--output", str(tmp_path / "b")]) == 0
    for key in attributes:  # a schedule on captures sets none of them
        monkeypatch.delenv(key)
    # The same model, worse in the window: every tenth prediction flipped.
    window = binary_frame(300, seed=2)
    window.loc[::10, "prediction"] = 1 - window.prediction[::10]
    write_window(opt_ml, window)
    set_env(
        monkeypatch,
        monitoring_env(
            opt_ml,
            tmp_path,
            tmp_path / "b" / "constraints.json",
            tmp_path / "b" / "statistics.json",
        ),
    )
    assert monitor.main([]) == 0
    violations = read(tmp_path / "result" / "constraint_violations.json")["violations"]
    assert "accuracy" in {v["feature_name"] for v in violations}
    summary = read(tmp_path / "result" / "summary.json")
    assert summary["metrics"]["accuracy"]["violated"] is True
    html = (tmp_path / "result" / "report.html").read_text()
    assert "baseline" in html and "violated" in html


def test_a_window_without_labels_fails_clearly(opt_ml, monkeypatch, tmp_path, capsys):
    frame = binary_frame(20)
    write_lines(
        capture_dir(opt_ml.endpoint_input_dir),
        [capture_record(f"evt-{i}", "1") for i in range(len(frame))],
    )
    (opt_ml.processing_dir / "groundtruth" / "2026/04/18/00").mkdir(parents=True)
    constraints = tmp_path / "c.json"
    constraints.write_text('{"binary_classification_constraints": {}}')
    set_env(monkeypatch, monitoring_env(opt_ml, tmp_path, constraints))
    assert monitor.main([]) == 1
    message = opt_ml.message_file.read_text()
    assert message.startswith("Failed: no captured record of the window")
    assert "20 captured records, 20 without a label" in message
    assert "No estimate without labels either: no model bundle" in message
    assert opt_ml.failure_file.read_text() in message
    assert "Traceback" not in capsys.readouterr().err
    assert not (tmp_path / "result").exists()


def test_monitor_reads_a_pre_merged_dataset(opt_ml, monkeypatch, tmp_path):
    frame = binary_frame(80)
    data = tmp_path / "merged.csv"
    frame.to_csv(data, index=False)
    set_env(
        monkeypatch,
        {
            "analysis_type": "MODEL_QUALITY",
            "problem_type": "BinaryClassification",
            "ground_truth_attribute": "label",
            "inference_attribute": "prediction",
            "dataset_format": json.dumps(CSV_HEADER),
        },
    )
    code = monitor.main(["--dataset", str(data), "--output", str(tmp_path / "r")])
    assert code == 0
    block = read(tmp_path / "r" / "statistics.json")["binary_classification_metrics"]
    assert block["precision"]["value"] == pytest.approx(
        skm.precision_score(frame.label, frame.prediction)
    )
    assert "No baseline constraints" in (tmp_path / "r" / "report.html").read_text()


@pytest.mark.parametrize(
    ("env", "reason"),
    [
        ({"problem_type": None}, "needs problem_type"),
        ({"problem_type": "Ranking"}, "problem_type='Ranking' is not supported"),
        ({"analysis_type": "MODEL_BIAS"}, "analysis_type='MODEL_BIAS'"),
        ({"ground_truth_attribute": "truth"}, "names no column"),
        ({"inference_attribute": "7"}, "names no column"),
        ({"probability_threshold_attribute": "2"}, "between 0 and 1"),
        (
            {"problem_type": "MulticlassClassification", "inference_attribute": None},
            "inference_attribute is not set",
        ),  # noqa: E501
    ],
)
def test_bad_baseline_settings_give_failure_files(
    opt_ml, monkeypatch, tmp_path, capsys, env, reason
):
    frame = binary_frame(30)
    data = tmp_path / "d.csv"
    frame.to_csv(data, index=False)
    settings = {
        "analysis_type": "MODEL_QUALITY",
        "problem_type": "BinaryClassification",
        "ground_truth_attribute": "label",
        "inference_attribute": "prediction",
    }
    settings.update(env)
    for key, value in settings.items():
        if value is None:
            monkeypatch.delenv(key, raising=False)
        else:
            monkeypatch.setenv(key, value)
    code = baseline.main(["--dataset", str(data), "--output", str(tmp_path / "o")])
    assert code == 1
    assert reason in opt_ml.failure_file.read_text()
    assert opt_ml.message_file.read_text().startswith("Failed: ")
    assert "Traceback" not in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_binary_baseline_of_three_labels_fails_clearly(opt_ml, monkeypatch, tmp_path):
    data = tmp_path / "d.csv"
    data.write_text("label,prediction\na,a\nb,b\nc,a\n")
    set_env(
        monkeypatch,
        {
            "analysis_type": "MODEL_QUALITY",
            "problem_type": "BinaryClassification",
            "ground_truth_attribute": "label",
            "inference_attribute": "prediction",
        },
    )
    assert baseline.main(["--dataset", str(data), "--output", str(tmp_path / "o")]) == 1
    assert "needs two labels" in opt_ml.failure_file.read_text()


def test_data_quality_constraints_are_refused_by_a_quality_run(
    opt_ml, monkeypatch, tmp_path
):
    write_window(opt_ml, binary_frame(10))
    constraints = tmp_path / "c.json"
    constraints.write_text('{"version": 0.0, "features": []}')
    set_env(monkeypatch, monitoring_env(opt_ml, tmp_path, constraints))
    assert monitor.main([]) == 1
    assert "model-quality constraints file" in opt_ml.failure_file.read_text()


def test_missing_ground_truth_folder_fails_clearly(opt_ml, monkeypatch, tmp_path):
    write_lines(capture_dir(opt_ml.endpoint_input_dir), [capture_record("e", "1")])
    constraints = tmp_path / "c.json"
    constraints.write_text('{"binary_classification_constraints": {}}')
    set_env(monkeypatch, monitoring_env(opt_ml, tmp_path, constraints))
    assert monitor.main([]) == 1
    assert "ground-truth folder" in opt_ml.failure_file.read_text()


@pytest.mark.parametrize("problem", ["Regression", "MulticlassClassification"])
def test_monitor_of_plain_csv_outputs_and_json_labels(
    opt_ml, monkeypatch, tmp_path, problem
):
    rng = np.random.default_rng(8)
    if problem == "Regression":
        truth = rng.normal(5, 2, 250).round(3)
        guess = (truth + rng.normal(0, 0.5, 250)).round(3)
    else:
        truth = rng.choice(["Adelie", "Gentoo", "Chinstrap"], 250)
        guess = np.where(rng.uniform(size=250) < 0.8, truth, "Gentoo")
    write_lines(
        capture_dir(opt_ml.endpoint_input_dir),
        [capture_record(f"e{i}", str(g)) for i, g in enumerate(guess)],
    )
    write_lines(
        opt_ml.processing_dir / "groundtruth" / "2026/04/20/10",
        [label_record(f"e{i}", t.item(), "JSON") for i, t in enumerate(truth)],
    )
    key = "regression" if problem == "Regression" else "multiclass_classification"
    constraints = tmp_path / "c.json"
    metric = "rmse" if problem == "Regression" else "weighted_f1"
    op = "GreaterThanThreshold" if problem == "Regression" else "LessThanThreshold"
    constraints.write_text(
        json.dumps(
            {
                f"{key}_constraints": {
                    metric: {"threshold": 0.5, "comparison_operator": op}
                }
            }  # noqa: E501
        )
    )
    env = monitoring_env(opt_ml, tmp_path, constraints)
    env["problem_type"] = problem
    set_env(monkeypatch, env)
    assert monitor.main([]) == 0
    block = read(tmp_path / "result" / "statistics.json")[f"{key}_metrics"]
    if problem == "Regression":
        expected = np.sqrt(skm.mean_squared_error(truth, guess))
    else:
        expected = skm.f1_score(truth, guess, average="weighted")
    assert block[metric]["value"] == pytest.approx(expected)
    fired = read(tmp_path / "result" / "constraint_violations.json")["violations"]
    assert bool(fired) == (
        expected > 0.5 if problem == "Regression" else expected < 0.5
    )


def test_data_quality_stays_the_default_and_explicit_choice(
    opt_ml, monkeypatch, tmp_path
):
    frame = binary_frame(50)
    data = tmp_path / "d.csv"
    frame.to_csv(data, index=False)
    for value in (None, "DATA_QUALITY"):
        if value:
            monkeypatch.setenv("analysis_type", value)
        out = tmp_path / f"o-{value}"
        assert baseline.main(["--dataset", str(data), "--output", str(out)]) == 0
        statistics = read(out / "statistics.json")
        assert [f["name"] for f in statistics["features"]] == list(frame.columns)
        assert "binary_classification_metrics" not in statistics

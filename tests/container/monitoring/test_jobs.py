"""The two commands as jobs: the processing-job environment, flags, inputs of
every format, and clear failures that leave nothing half-written."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from container.monitoring import baseline, monitor
from tests.conftest import PENGUIN_CATEGORICALS, PENGUIN_NUMERICS
from tests.container.monitoring.helpers import WINDOW, csv_lines, write_capture
from tests.container.monitoring.test_statistics_and_constraints import (
    AWS_CONSTRAINTS,
    AWS_STATISTICS,
)


def features(path):
    return [f["name"] for f in json.loads(path.read_text())["features"]]


def test_baseline_follows_the_processing_job_contract(opt_ml, frame, monkeypatch):
    opt_ml.baseline_dataset_dir.mkdir(parents=True)
    frame.to_csv(opt_ml.baseline_dataset_dir / "part-0.csv", index=False)
    monkeypatch.setenv("dataset_format", '{"csv": {"header": true}}')
    monkeypatch.setenv("categorical_drift_method", "ChiSquared")
    assert baseline.main([]) == 0
    out = opt_ml.processing_output_dir
    assert features(out / "statistics.json") == list(frame.columns)
    constraints = json.loads((out / "constraints.json").read_text())
    assert (
        constraints["monitoring_config"]["distribution_constraints"][
            "categorical_drift_method"
        ]
        == "ChiSquared"
    )
    assert (out / "report.html").read_text().startswith("<!DOCTYPE html>")
    assert opt_ml.message_file.read_text().startswith(
        "Completed: Baseline of 3000 records"
    )


def test_headerless_csv_gets_spark_names(opt_ml, frame, tmp_path):
    frame.to_csv(tmp_path / "d.csv", index=False, header=False)
    assert (
        baseline.main(
            [
                "--dataset",
                str(tmp_path / "d.csv"),
                "--no-header",
                "--output",
                str(tmp_path / "out"),
            ]
        )
        == 0
    )
    assert features(tmp_path / "out" / "statistics.json") == [
        f"_c{i}" for i in range(5)
    ]


@pytest.mark.parametrize("with_target", [False, True])
def test_headerless_csv_named_by_the_model_schema(
    opt_ml, penguins, penguins_model_dir, tmp_path, with_target
):
    columns = PENGUIN_NUMERICS + PENGUIN_CATEGORICALS
    if with_target:
        columns = ["species", *columns]  # output_columns_position START
    penguins[columns].to_csv(tmp_path / "d.csv", index=False, header=False)
    assert (
        baseline.main(
            [
                "--dataset",
                str(tmp_path / "d.csv"),
                "--no-header",
                "--model-dir",
                str(penguins_model_dir),
                "--output",
                str(tmp_path / "out"),
            ]
        )
        == 0
    )
    assert features(tmp_path / "out" / "statistics.json") == columns


def test_json_lines_and_parquet_give_the_same_statistics_as_csv(
    opt_ml, frame, tmp_path
):
    frame.to_csv(tmp_path / "d.csv", index=False)
    frame.to_json(tmp_path / "d.jsonl", orient="records", lines=True)
    frame.to_parquet(tmp_path / "d.parquet")
    docs = []
    for name, fmt in (("d.csv", "csv"), ("d.jsonl", "json"), ("d.parquet", "parquet")):
        out = tmp_path / fmt
        assert (
            baseline.main(
                [
                    "--dataset",
                    str(tmp_path / name),
                    "--format",
                    fmt,
                    "--output",
                    str(out),
                ]
            )
            == 0
        )
        docs.append(json.loads((out / "statistics.json").read_text()))
    assert docs[0] == docs[1] == docs[2]


def test_a_folder_of_files_is_one_dataset(opt_ml, frame, tmp_path):
    (tmp_path / "d").mkdir()
    frame.iloc[:1000].to_csv(tmp_path / "d" / "a.csv", index=False)
    frame.iloc[1000:].to_csv(tmp_path / "d" / "b.csv", index=False)
    assert (
        baseline.main(
            ["--dataset", str(tmp_path / "d"), "--output", str(tmp_path / "out")]
        )
        == 0
    )
    doc = json.loads((tmp_path / "out" / "statistics.json").read_text())
    assert doc["dataset"]["item_count"] == 3000


def test_a_column_that_turns_to_text_late_is_read_as_text(opt_ml, tmp_path):
    values = [str(i) for i in range(300_000)] + ["oops"]
    pd.DataFrame({"n": values}).to_csv(tmp_path / "d.csv", index=False)
    assert (
        baseline.main(
            ["--dataset", str(tmp_path / "d.csv"), "--output", str(tmp_path / "out")]
        )
        == 0
    )
    (feature,) = json.loads((tmp_path / "out" / "statistics.json").read_text())[
        "features"
    ]
    assert feature["inferred_type"] == "String"
    assert feature["string_statistics"]["common"]["num_present"] == 300_001


def test_bad_flag_is_one_line_and_exit_2(opt_ml, capsys):
    with pytest.raises(SystemExit) as exc:
        baseline.main(["--no-such-flag"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unrecognized arguments: --no-such-flag" in err


@pytest.mark.parametrize(
    ("env", "args", "expected"),
    [
        ({}, ["--dataset", "/nonexistent/data.csv"], "does not exist"),
        ({"dataset_format": "{csv"}, [], "dataset_format is not valid JSON"),
        ({"dataset_format": '{"avro": {}}'}, [], "exactly one of csv"),
        ({"categorical_drift_method": "Wasserstein"}, [], "LInfinity or ChiSquared"),
    ],
)
def test_baseline_failures_are_clear_and_write_nothing(
    opt_ml, frame, monkeypatch, capsys, env, args, expected
):
    opt_ml.baseline_dataset_dir.mkdir(parents=True)
    frame.to_csv(opt_ml.baseline_dataset_dir / "d.csv", index=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert baseline.main(args) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and expected in err and "Traceback" not in err
    assert opt_ml.message_file.read_text().startswith("Failed: ")
    assert expected in opt_ml.failure_file.read_text()
    assert not opt_ml.processing_output_dir.exists()


def test_ragged_csv_is_refused_clearly(opt_ml, tmp_path, capsys):
    (tmp_path / "d.csv").write_text("a,b\n1,2\n3,4,5\n")
    assert (
        baseline.main(
            ["--dataset", str(tmp_path / "d.csv"), "--output", str(tmp_path / "out")]
        )
        == 1
    )
    assert "not readable as csv" in capsys.readouterr().err


def test_a_truncated_gzip_dataset_is_refused_clearly(opt_ml, tmp_path, capsys):
    import gzip

    whole = gzip.compress(b"a,b\n" + b"".join(b"%d,%d\n" % (i, i) for i in range(9999)))
    (tmp_path / "d.csv.gz").write_bytes(whole[: len(whole) // 2])
    assert (
        baseline.main(
            ["--dataset", str(tmp_path / "d.csv.gz"), "--output", str(tmp_path / "out")]
        )
        == 1
    )
    err = capsys.readouterr().err
    assert "d.csv.gz cannot be read" in err and "truncated or corrupt" in err
    assert "Traceback" not in err


def test_monitor_follows_the_monitoring_job_contract(
    opt_ml, fitted, frame, tmp_path, monkeypatch
):
    write_capture(
        opt_ml.endpoint_input_dir, csv_lines(frame.assign(age=frame.age + 15))
    )
    # More data than the window: an hour later.
    write_capture(
        opt_ml.endpoint_input_dir, csv_lines(frame.head(10)), hour="2026/04/18/05"
    )
    env = {
        "dataset_format": '{"sagemakerCaptureJson": {"captureIndexNames": '
        '["endpointInput", "endpointOutput"]}}',
        "dataset_source": str(opt_ml.endpoint_input_dir),
        "output_path": str(tmp_path / "result"),
        "start_time": WINDOW[0],
        "end_time": WINDOW[1],
        "baseline_statistics": str(fitted.statistics),
        "baseline_constraints": str(fitted.constraints),
        "publish_cloudwatch_metrics": "Enabled",
        "sagemaker_endpoint_name": "endpoint-a",
        "sagemaker_monitoring_schedule_name": "hourly",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert monitor.main([]) == 0
    result = tmp_path / "result"
    violations = json.loads((result / "constraint_violations.json").read_text())
    assert [v["feature_name"] for v in violations["violations"]] == ["age"]
    assert (
        json.loads((result / "statistics.json").read_text())["dataset"]["item_count"]
        == 3000
    )
    summary = json.loads((result / "summary.json").read_text())
    assert summary["violations"] == 1 and summary["capture"]["records"] == 3000
    assert opt_ml.message_file.read_text().startswith("CompletedWithViolations:")
    lines = [
        json.loads(line)
        for line in (opt_ml.cloudwatch_metrics_dir / "metrics.jsonl")
        .read_text()
        .splitlines()
    ]
    by_name = {line["MetricName"]: line for line in lines}
    assert by_name["feature_baseline_drift_age"]["Value"] > 0.1
    assert by_name["feature_non_null_colour"]["Value"] == 1.0
    assert by_name["feature_data_age"]["StatisticValues"]["SampleCount"] == 3000
    assert {"Name": "Endpoint", "Value": "endpoint-a"} in by_name[
        "feature_baseline_drift_age"
    ]["Dimensions"]
    assert by_name["feature_baseline_drift_age"]["Timestamp"] == "2026-04-18T01:00:00Z"


def test_monitor_reads_baseline_files_from_the_default_paths(opt_ml, fitted, frame):
    opt_ml.baseline_statistics_file.parent.mkdir(parents=True)
    opt_ml.baseline_constraints_file.parent.mkdir(parents=True)
    opt_ml.baseline_statistics_file.write_text(fitted.statistics.read_text())
    opt_ml.baseline_constraints_file.write_text(fitted.constraints.read_text())
    write_capture(opt_ml.endpoint_input_dir, csv_lines(frame))
    assert monitor.main([]) == 0
    assert json.loads(
        (opt_ml.processing_output_dir / "constraint_violations.json").read_text()
    ) == {"violations": []}
    assert not opt_ml.cloudwatch_metrics_dir.exists()  # publishing is off by default


def test_empty_window_fails_clearly(opt_ml, fitted, frame, tmp_path, capsys):
    write_capture(tmp_path / "cap", csv_lines(frame.head(5)), hour="2026/04/17/23")
    run = fitted.run_monitor(tmp_path / "cap", tmp_path / "out")
    assert run.code == 1
    assert run.message.startswith("Failed: no captured data in")
    assert "window" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_monitor_checks_a_plain_dataset(opt_ml, fitted, frame, tmp_path):
    frame.assign(colour=frame.colour.replace({"green": "red"})).to_csv(
        tmp_path / "batch.csv", index=False, header=False
    )
    run = fitted.run_monitor(
        tmp_path / "batch.csv", tmp_path / "out", "--format", "csv", "--no-header"
    )
    assert run.checks() == {("colour", "baseline_drift_check")}


@pytest.mark.parametrize("domain_threshold", [0.1, 0.9])
def test_monitor_reads_baseline_files_written_by_aws(
    opt_ml, tmp_path, domain_threshold
):
    statistics, constraints = tmp_path / "s.json", tmp_path / "c.json"
    statistics.write_text(json.dumps(AWS_STATISTICS))
    doc = json.loads(json.dumps(AWS_CONSTRAINTS))
    doc["monitoring_config"]["domain_content_threshold"] = domain_threshold
    constraints.write_text(json.dumps(doc))
    current = pd.DataFrame(
        {
            "length": [1.0, 2.0, 3.0, 4.0] * 25,
            "colour": ["red", "red", "red", "green"] * 25,
            "note": ["n", None, None, None] * 25,
            "empty": [None] * 100,
        }
    )
    current.to_csv(tmp_path / "d.csv", index=False)
    code = monitor.main(
        [
            "--dataset",
            str(tmp_path / "d.csv"),
            "--format",
            "csv",
            "--baseline-statistics",
            str(statistics),
            "--baseline-constraints",
            str(constraints),
            "--output",
            str(tmp_path / "out"),
        ]
    )
    assert code == 0
    violations = json.loads(
        (tmp_path / "out" / "constraint_violations.json").read_text()
    )
    checks = {
        (v["feature_name"], v["constraint_check_type"])
        for v in violations["violations"]
    }
    # The chi-squared override sees the new category green; 75% of values are in
    # the domain, which satisfies a 10% domain_content_threshold but not 90%.
    # length, note and empty match the baseline.
    expected = {("colour", "baseline_drift_check")}
    if domain_threshold == 0.9:
        expected.add(("colour", "categorical_values_check"))
    assert checks == expected


def test_monitor_without_a_baseline_says_what_to_give(opt_ml, tmp_path, capsys):
    write_capture(tmp_path / "cap", [])
    assert monitor.main(["--dataset", str(tmp_path / "cap")]) == 1
    assert "baseline_statistics" in capsys.readouterr().err


def test_disabled_evaluation_and_comparison_silence_their_checks(
    opt_ml, fitted, frame, tmp_path
):
    doc = json.loads(fitted.constraints.read_text())
    doc["monitoring_config"]["evaluate_constraints"] = "Disabled"
    doc["monitoring_config"]["distribution_constraints"]["perform_comparison"] = (
        "Disabled"
    )
    fitted.constraints.write_text(json.dumps(doc))
    bad = frame.assign(age=frame.age + 15).astype({"visits": object})
    bad.loc[bad.index % 10 == 0, "visits"] = "many"
    write_capture(tmp_path / "cap", csv_lines(bad.assign(extra=1)))
    run = fitted.run_monitor(tmp_path / "cap", tmp_path / "out")
    # Column checks still run; type and drift checks are off.
    assert run.checks() == {("_c5", "extra_column_check")}


def test_chi_squared_can_be_chosen_for_the_run(opt_ml, fitted, frame, tmp_path):
    write_capture(
        tmp_path / "cap",
        csv_lines(frame.assign(colour=frame.colour.replace({"green": "red"}))),
    )
    run = fitted.run_monitor(
        tmp_path / "cap", tmp_path / "out", "--categorical-drift-method", "ChiSquared"
    )
    assert run.checks() == {("colour", "baseline_drift_check")}
    assert "chi-squared p-value" in run.violations[0]["description"]


def test_statistics_alone_are_enough_for_drift(opt_ml, fitted, frame, tmp_path):
    write_capture(tmp_path / "cap", csv_lines(frame.assign(age=frame.age + 15)))
    code = monitor.main(
        [
            "--dataset",
            str(tmp_path / "cap"),
            "--output",
            str(tmp_path / "out"),
            "--baseline-statistics",
            str(fitted.statistics),
        ]
    )
    assert code == 0
    doc = json.loads((tmp_path / "out" / "constraint_violations.json").read_text())
    assert [v["feature_name"] for v in doc["violations"]] == ["age"]


def test_json_lines_with_mixed_types_are_typed_value_by_value(opt_ml, tmp_path):
    rows = [{"n": i} for i in range(50)] + [{"n": "fifty"}]
    (tmp_path / "d.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert (
        baseline.main(
            [
                "--dataset",
                str(tmp_path / "d.jsonl"),
                "--format",
                "json",
                "--output",
                str(tmp_path / "out"),
            ]
        )
        == 0
    )
    (feature,) = json.loads((tmp_path / "out" / "statistics.json").read_text())[
        "features"
    ]
    assert feature["inferred_type"] == "String"
    assert feature["string_statistics"]["common"]["num_present"] == 51


def test_empty_dataset_fails_clearly(opt_ml, tmp_path, capsys):
    (tmp_path / "d.csv").write_text("a,b\n")
    assert (
        baseline.main(
            ["--dataset", str(tmp_path / "d.csv"), "--output", str(tmp_path / "out")]
        )
        == 1
    )
    assert "holds no records" in capsys.readouterr().err


def test_prefetch_hands_over_errors_and_stops_when_abandoned():
    from container.monitoring.datasets import prefetch

    def failing():
        yield 1
        raise ValueError("broken block")

    with pytest.raises(ValueError, match="broken block"):
        list(prefetch(failing()))
    # A consumer that stops early must not leave the reader thread blocked.
    batches = prefetch(iter(range(100)), depth=1)
    assert next(batches) == 0
    batches.close()


def test_sigterm_stops_a_job_with_a_failure_message(opt_ml):
    import os
    import signal
    import time

    from container.monitoring.processing import run_job

    def work(guard) -> str:
        os.kill(os.getpid(), signal.SIGTERM)
        # The signal is received by the shell's watcher thread, which then
        # interrupts this one: give it time to.
        for _ in range(100):
            time.sleep(0.05)
        raise AssertionError("SIGTERM did not interrupt the job")

    previous = signal.getsignal(signal.SIGTERM)
    try:
        code = run_job("monitor", opt_ml, work)
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert code == 143
    assert "stopped by SIGTERM" in opt_ml.failure_file.read_text()
    assert opt_ml.message_file.read_text().startswith("Failed: stopped by SIGTERM")

"""`--backend aws` end to end, with real containers, the way AWS would take it.

The CLI's own steps run with config/aws-example.yaml; SageMaker is the SDK's
local mode (the real image in Docker) plus the adapters of
emulated_sagemaker.py, everything else is moto, and every request passes the
service-model check (tests/service_model.py) first.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import boto3
import pytest

from orchestration import batch, cli, dataprep, lifecycle
from orchestration.aws.settings import AwsSettings
from orchestration.config import load_config
from tests import iam_policies
from tests.aws_e2e.conftest import BUCKET, CONFIG, REGION
from tests.aws_e2e.emulated_sagemaker import MONITORING_NAMESPACE

pytestmark = [
    pytest.mark.slow,
    # Local mode ends an endpoint by killing its docker-compose process; the
    # SDK's serving thread then raises and leaves a pipe open. That is the SDK's
    # own teardown noise: the container is gone (the emulator fixture checks).
    pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning"),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
]

AWS = ["--backend", "aws", "--config", str(CONFIG)]


def planted_drift() -> set[str]:
    drift = load_config(CONFIG).monitoring.drift
    return set(drift.numeric_shift) | set(drift.categorical_override)


def step(emulator, state_dir: Path, name: str, *args: str) -> int:
    emulator.step = name
    try:
        return cli.main([name, *args, *AWS, "--state-dir", str(state_dir), "--quiet"])
    finally:
        emulator.step = ""


def lifecycle_state(state_dir: Path) -> dict:
    return json.loads((state_dir / "penguins.lifecycle.json").read_text())


def s3_keys(prefix: str) -> list[str]:
    s3 = boto3.Session(region_name=REGION).client("s3")
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
    return [o["Key"] for page in pages for o in page.get("Contents", [])]


def registered_model_quality() -> set[str]:
    """The S3 keys of the latest version's ModelMetrics.ModelQuality documents."""
    sagemaker = boto3.Session(region_name=REGION).client("sagemaker")
    group = load_config(CONFIG).registry.model_group
    latest = sagemaker.list_model_packages(
        ModelPackageGroupName=group, SortBy="CreationTime", SortOrder="Descending"
    )["ModelPackageSummaryList"][0]
    described = sagemaker.describe_model_package(
        ModelPackageName=latest["ModelPackageArn"]
    )
    quality = described["ModelMetrics"]["ModelQuality"]
    uris = {quality["Statistics"]["S3Uri"], quality["Constraints"]["S3Uri"]}
    prefix = f"s3://{BUCKET}/"
    assert all(uri.startswith(prefix) for uri in uris), uris
    return {uri[len(prefix) :] for uri in uris}


def refused_by_iam(emulator) -> list[str]:
    """Each recorded call checked against the policy of the step that made it."""
    config = load_config(CONFIG)
    settings = AwsSettings.from_config(config.aws, image=config.image)
    values = iam_policies.placeholder_values(settings, config.endpoint.name)
    calls = [(c.step, c.service, c.operation, c.params) for c in emulator.calls]
    return iam_policies.violations(calls, values=values)


def alarm_metrics(prefix: str) -> set[tuple]:
    """(namespace, metric, dimensions) that the CloudWatch alarms watch."""
    cloudwatch = boto3.Session(region_name=REGION).client("cloudwatch")
    alarms = cloudwatch.describe_alarms(AlarmNamePrefix=prefix)["MetricAlarms"]
    assert alarms, f"no alarm named {prefix}*"
    watched = set()
    for alarm in alarms:
        for query in alarm.get("Metrics", []):
            if "MetricStat" in query:
                metric = query["MetricStat"]["Metric"]
                watched.add(metric_key(metric["Namespace"], metric))
    return watched


def metric_key(namespace: str, metric: dict) -> tuple:
    dimensions = frozenset((d["Name"], d["Value"]) for d in metric["Dimensions"])
    return namespace, metric["MetricName"], dimensions


def test_every_step_on_aws(emulator, tmp_path, capsys):
    state = tmp_path / "state"
    for name in ("prepare", "train", "register"):
        assert step(emulator, state, name) == 0, capsys.readouterr().err
    # A real `train` wrote the model to S3, and its metrics were scraped.
    run_models = s3_keys("sklearn-byoc/penguins/training/")
    assert [k for k in run_models if k.endswith("/output/model.tar.gz")], run_models
    assert "Approved: auto-approved" in capsys.readouterr().out
    assert step(emulator, state, "approve", "--reason", "checked by hand") == 0
    assert step(emulator, state, "models") == 0, capsys.readouterr().err
    assert "v1  Approved" in capsys.readouterr().out

    assert step(emulator, state, "deploy") == 0, capsys.readouterr().err
    assert step(emulator, state, "predict") == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert "0 errors, accuracy" in out, out  # real predictions, scored
    endpoint = lifecycle_state(state)["endpoint"]
    assert endpoint["invocations"] > 0 and endpoint["errors"] == 0
    assert s3_keys("sklearn-byoc/penguins/capture/penguins-species/AllTraffic/")

    assert step(emulator, state, "baseline") == 0, capsys.readouterr().err
    baseline = s3_keys("sklearn-byoc/penguins/baseline/")
    assert {k.rsplit("/", 1)[-1] for k in baseline} >= {
        "statistics.json",
        "constraints.json",
    }
    held_out = lifecycle_state(state)["window_held-out"]
    assert (
        step(emulator, state, "monitor", "--start", held_out[0], "--end", held_out[1])
        == 0
    )
    assert lifecycle_state(state)["last_monitor"]["violations"] == 0

    assert step(emulator, state, "predict", "--drifted") == 0, capsys.readouterr().err
    drifted = lifecycle_state(state)["window_drifted"]
    assert (
        step(emulator, state, "monitor", "--start", drifted[0], "--end", drifted[1])
        == 0
    )
    folder = Path(lifecycle_state(state)["last_monitor"]["folder"])
    violations = json.loads(
        next(folder.rglob("constraint_violations.json")).read_text()
    )
    assert {v["feature_name"] for v in violations["violations"]} == planted_drift()
    reports = s3_keys("sklearn-byoc/penguins/monitoring/")
    assert any(k.endswith("constraint_violations.json") for k in reports), reports

    # The schedule, executed as SageMaker would, finds the same drift and emits
    # exactly the metrics the alarm watches.
    assert step(emulator, state, "schedule") == 0, capsys.readouterr().err
    schedule = lifecycle_state(state)["schedule"]
    execution = emulator.run_schedule(schedule["name"], *drifted)
    assert execution["MonitoringExecutionStatus"] == "CompletedWithViolations", (
        execution.get("FailureReason")
    )
    assert {v["feature_name"] for v in execution["violations"]} == planted_drift()
    published = {
        metric_key(MONITORING_NAMESPACE, line): line.get("Value")
        for line in execution["metrics"]
    }
    watched = alarm_metrics(schedule["alarm_name"])
    assert watched and watched <= set(published), watched - set(published)
    drift = [
        published[m] for m in watched if m[1].startswith("feature_baseline_drift_")
    ]
    assert len(drift) == len(lifecycle_state(state)["features"])
    assert max(drift) > load_config(CONFIG).aws.options.get("drift_threshold", 0.1)

    assert step(emulator, state, "status") == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert "endpoint penguins-species: InService" in out, out
    assert f"schedule {schedule['name']}: Scheduled" in out, out

    assert step(emulator, state, "teardown") == 0, capsys.readouterr().err
    assert not emulator.endpoints and not emulator.schedules
    assert not emulator.quality_definitions
    cloudwatch = boto3.Session(region_name=REGION).client("cloudwatch")
    assert not cloudwatch.describe_alarms()["MetricAlarms"]
    assert not refused_by_iam(emulator)


RUN_STEPS = ("prepare", "train", "register", "approve", "deploy", "predict")
RUN_STEPS += ("baseline", "monitor", "teardown")


def test_run_on_aws(emulator, tmp_path, capsys, monkeypatch):
    # Each call `run` makes is checked against the policy of the step function
    # making it; what `run` does itself falls under run.json.
    for name in RUN_STEPS:
        monkeypatch.setattr(lifecycle, name, attributed(emulator, name))
    # The batch transform `run` does falls under transform.json, which is
    # attached beside run.json (infrastructure/steps.json says why).
    monkeypatch.setattr(batch, "transform", attributed(emulator, "transform", batch))
    state = tmp_path / "state"
    emulator.step = "run"
    code = cli.main(["run", *AWS, "--state-dir", str(state), "--quiet"])
    assert code == 0, capsys.readouterr().err
    summary = json.loads((state / "penguins.run-summary.json").read_text())
    assert summary["held_out_violations"] == 0
    assert {v["feature_name"] for v in summary["drift_violations"]} == planted_drift()
    assert summary["metrics"]["validation:accuracy"] >= 0.9
    assert {a["rule"] for a in summary["alerts"]} == {"any-drift"}
    # The held-out split scored by a transform job, as on the local backend:
    # a label per record, fetched from S3.
    scored = summary["transform"]
    job = lifecycle_state(state)["transforms"][scored["job"]]
    sent = Path(job["labels"]).read_text().splitlines()[1:]
    (output,) = Path(scored["output"]).glob("*.out")
    labels = output.read_text().splitlines()
    assert len(labels) == len(sent) > 0
    assert {line.split(",")[0] for line in labels} <= {"Adelie", "Chinstrap", "Gentoo"}
    # Torn down: nothing left serving or billing.
    assert not emulator.endpoints
    # approve runs only when the auto-approval rule did not approve.
    assert {c.step for c in emulator.calls} >= set(RUN_STEPS) - {"approve"}
    assert not refused_by_iam(emulator)
    # `run` baselines the trained model before registering it, so its version
    # carries the model-quality baseline, as CreateModelPackage took it.
    # (Checked after the IAM audit: these look-ups are the test's, not run's.)
    assert registered_model_quality() <= set(s3_keys("sklearn-byoc/penguins/"))


def attributed(emulator, name: str, module=lifecycle):
    step_function = getattr(module, name)

    def run_as_step(*args, **kwargs):
        outer, emulator.step = emulator.step, name
        try:
            return step_function(*args, **kwargs)
        finally:
            emulator.step = outer

    return run_as_step


def test_prepare_as_a_processing_job_then_train_on_aws(emulator, tmp_path, capsys):
    """`prepare --job`: `ingest`, then the image's `prepare` command as a
    processing job (real container, local mode) over the ingested prefix, and
    `train` on the splits it wrote, with no local data/processed at all."""
    state = tmp_path / "state"
    emulator.step = "prepare --job"
    try:
        code = cli.main(
            ["prepare", "--job", *AWS, "--state-dir", str(state), "--quiet"]
        )
    finally:
        emulator.step = ""
    assert code == 0, capsys.readouterr().err
    ingested = lifecycle_state(state)["ingested"]
    raw = s3_keys(f"sklearn-byoc/penguins/data/raw/{ingested['version']}/")
    assert {k.rsplit("/", 1)[-1] for k in raw} == {
        "penguins-raw.csv",
        "penguins-species.manifest",
        "preparation.json",
    }
    prepared = lifecycle_state(state)["prepared"]
    in_process = dataprep.prepare(
        dataclasses.replace(load_config(CONFIG).data, processed=tmp_path / "local")
    )
    assert prepared["data_hashes"] == in_process.data_hashes
    assert prepared["channels"]["train"].startswith(
        f"s3://{BUCKET}/sklearn-byoc/penguins/prepare/"
    )
    assert step(emulator, state, "train") == 0, capsys.readouterr().err
    assert "validation:accuracy=" in capsys.readouterr().out
    assert not refused_by_iam(emulator)

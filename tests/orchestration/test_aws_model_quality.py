"""Model quality on the AWS backend: ground-truth records uploaded to S3, the
model-quality baseline as a processing job, and the model-quality schedule
(job definition, schedule, alarm) with its teardown.

S3, SNS, CloudWatch and processing jobs are moto's. moto has no monitoring
schedules nor model-quality job definitions: botocore's Stubber answers those
(`PartialStubber`), and every request, stubbed or not, is checked against
the service model's patterns, enums and limits (tests/service_model.py) and
against the CLI step's IAM policy (`tests.iam_policies.audit`).
"""

from __future__ import annotations

import dataclasses
import json
import tarfile
from datetime import UTC, datetime
from pathlib import Path

import botocore.session
import pandas as pd
import pytest
from botocore.validate import ParamValidator

from orchestration import dataprep, lifecycle, quality
from orchestration.alerts import LocalAlerts
from orchestration.aws import alarms, model_quality
from orchestration.backends.base import BackendError
from orchestration.config import load_config
from orchestration.tracking import Tracker
from tests import iam_policies, service_model
from tests.bundles import PENGUINS_CSV, build_penguins_bundle
from tests.orchestration import aws_conftest_helpers as helpers
from tests.orchestration.aws_conftest_helpers import (
    BUCKET,
    ENDPOINT,
    REGION,
    CallLog,
    push_fake_image,
)

moto_url = helpers.moto_url
aws_settings = helpers.aws_settings
backend = helpers.backend

ROOT = Path(__file__).resolve().parents[2]
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/sklearn-byoc:latest"
COLLECTED = datetime(2026, 1, 1, 12, 30, tzinfo=UTC)


@pytest.fixture
def project(backend, tmp_path):
    config = load_config(ROOT / "config" / "aws-example.yaml")
    config = dataclasses.replace(
        config,
        state_dir=tmp_path / "state",
        aws=dataclasses.replace(
            config.aws, region=REGION, bucket=BUCKET, prefix=backend.settings.prefix
        ),
    )
    said: list[str] = []
    p = lifecycle.Project(
        config,
        backend,
        backend.registry(),
        Tracker(config.state_dir),
        LocalAlerts(config.state_dir, config.alerts, said.append),
        said.append,
    )
    p.load_state()
    return p


def logged(backend, step: str) -> CallLog:
    log = CallLog(step=step)
    log.attach(backend.clients)
    return log


def assert_audited(log: CallLog) -> None:
    """Every call is allowed by its step's policy and listed in STEP_CALLS."""
    refused = iam_policies.audit(log.requests)
    assert refused == [], "\n".join(refused)


# --- ground truth -------------------------------------------------------------------
def test_ground_truth_is_uploaded_to_the_hour_it_was_collected(project, tmp_path):
    labels = quality.write_labels(tmp_path / "labels.csv", [("r-1", "Adelie")])
    log = logged(project.backend, "ground-truth")
    written = lifecycle.ground_truth(project, labels, "labels-a", COLLECTED)
    key = "penguins/groundtruth/2026/01/01/12/labels-a.jsonl"
    assert written == f"s3://{BUCKET}/{key}"
    assert log.operations("ground-truth") == ["PutObject"]
    assert_audited(log)
    log.step = ""
    body = project.backend.clients.s3.get_object(Bucket=BUCKET, Key=key)["Body"]
    assert [json.loads(line) for line in body.read().splitlines()] == [
        quality.ground_truth_record("r-1", "Adelie")
    ]


def test_bad_labels_are_refused_before_anything_is_uploaded(project, tmp_path):
    labels = tmp_path / "labels.csv"
    labels.write_text("inference_id,label\nr-1,\n")
    log = logged(project.backend, "ground-truth")
    with pytest.raises(quality.LabelsError) as caught:
        lifecycle.ground_truth(project, labels)
    assert caught.value.message == f"{labels} line 2: no label for inference id 'r-1'"
    assert log.operations() == []


def test_a_refused_upload_is_one_line_naming_the_object(project, tmp_path):
    labels = quality.write_labels(tmp_path / "labels.csv", [("r-1", "Adelie")])
    project.backend.clients.s3.delete_bucket(Bucket=BUCKET)
    with pytest.raises(BackendError) as caught:
        lifecycle.ground_truth(project, labels, "labels-a", COLLECTED)
    message = caught.value.message
    assert "\n" not in message
    assert message.startswith("uploading ")
    assert f"s3://{BUCKET}/penguins/groundtruth/2026/01/01/12/labels-a.jsonl" in message


# --- the model-quality baseline -------------------------------------------------------
QUALITY_STATISTICS = {
    "version": 0.0,
    "dataset": {"item_count": 60},
    "multiclass_classification_metrics": {
        "accuracy": {"value": 0.95, "standard_deviation": "NaN"},
        "weighted_f1": {"value": 0.94, "standard_deviation": "NaN"},
    },
}
QUALITY_CONSTRAINTS = {
    "version": 0.0,
    "multiclass_classification_constraints": {
        "accuracy": {"threshold": 0.95, "comparison_operator": "LessThanThreshold"},
        "weighted_f1": {"threshold": 0.94, "comparison_operator": "LessThanThreshold"},
    },
}


def raw_s3(backend):
    """An S3 client the call log does not see: what the jobs themselves write."""
    return backend.clients.session.client(
        "s3", region_name=REGION, endpoint_url=backend.settings.endpoint_url
    )


def jobs_write_their_outputs(backend) -> list[dict]:
    """moto runs no container: each processing job's request is answered by
    writing what the image's `baseline` would to its output prefix."""
    requests: list[dict] = []
    s3 = raw_s3(backend)

    def write(params, **kwargs):
        requests.append(params)
        output = params["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]["S3Uri"]
        bucket, _, prefix = output.removeprefix("s3://").partition("/")
        model_quality = params["Environment"].get("analysis_type") == "MODEL_QUALITY"
        documents = {
            "statistics.json": QUALITY_STATISTICS
            if model_quality
            else {"features": []},
            "constraints.json": QUALITY_CONSTRAINTS if model_quality else {},
        }
        for name, document in documents.items():
            s3.put_object(
                Bucket=bucket, Key=f"{prefix}/{name}", Body=json.dumps(document)
            )

    backend.clients.sagemaker.meta.events.register(
        "before-parameter-build.sagemaker.CreateProcessingJob", write
    )
    return requests


@pytest.fixture
def deployed(project, tmp_path):
    """The state `baseline` finds after `deploy`: prepared splits, and an
    endpoint serving a registered version whose model.tar.gz is on S3."""
    push_fake_image(project.backend)
    bundle = build_penguins_bundle(tmp_path / "bundle")
    archive = tmp_path / "model.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for path in sorted(bundle.iterdir()):
            tar.add(path, arcname=path.name)
    key = "penguins/models/penguins-train-1/output/model.tar.gz"
    project.backend.clients.s3.upload_file(str(archive), BUCKET, key)
    group = project.config.registry.model_group
    version = project.registry.register(
        group, f"s3://{BUCKET}/{key}", IMAGE, {}, {"run_id": "penguins-train-1"}
    )
    folder = tmp_path / "prepared"
    (folder / "validation").mkdir(parents=True)
    table = pd.read_csv(PENGUINS_CSV).dropna(subset=["species"]).head(40)
    table.to_csv(folder / "validation" / "validation.csv", index=False)
    project.state["prepared"] = {
        "folder": str(folder),
        "channels": {dataprep.BASELINE_DIR: f"s3://{BUCKET}/penguins/data/baseline/"},
    }
    project.state["endpoint"] = {"name": ENDPOINT, "version": version.version}
    project.save()
    return project


def test_baseline_runs_the_model_quality_baseline_as_a_processing_job(deployed):
    requests = jobs_write_their_outputs(deployed.backend)
    log = logged(deployed.backend, "baseline")
    lifecycle.baseline(deployed)
    data, model_quality = requests
    assert "analysis_type" not in data["Environment"]
    env = model_quality["Environment"]
    assert env["analysis_type"] == "MODEL_QUALITY"
    assert env["problem_type"] == "MulticlassClassification"
    assert (env["ground_truth_attribute"], env["inference_attribute"]) == (
        "label",
        "prediction",
    )
    assert model_quality["AppSpecification"]["ContainerEntrypoint"] == ["baseline"]
    (dataset,) = model_quality["ProcessingInputs"]
    assert dataset["S3Input"]["LocalPath"] == (
        "/opt/ml/processing/input/baseline_dataset_input"
    )
    assert dataset["S3Input"]["S3Uri"].startswith(f"s3://{BUCKET}/penguins/quality/")
    name = model_quality["ProcessingJobName"]
    output = model_quality["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]
    assert output["S3Uri"] == f"s3://{BUCKET}/penguins/baseline/{name}"
    recorded = deployed.state["baseline"]["quality"]
    assert recorded["statistics"] == f"{output['S3Uri']}/statistics.json"
    # The relaxed constraints the schedule uses are on S3 too.
    assert recorded["constraints"] == (
        f"s3://{BUCKET}/penguins/quality/{name}/constraints/constraints.json"
    )
    assert recorded["alarm"]["metric"] == "accuracy"
    assert recorded["alarm"]["comparison_operator"] == "LessThanThreshold"
    assert recorded["alarm"]["threshold"] < 0.95
    assert_audited(log)


# --- the model-quality schedule: requests -------------------------------------------
ROLE = "arn:aws:iam::123456789012:role/sklearn-byoc-sagemaker-execution"
QUALITY_SCHEDULE = f"{ENDPOINT}-model-quality"
DEFINITION = f"{ENDPOINT}-mq-20260101-120000-000"
TOPIC_ARN = "arn:aws:sns:us-east-1:123456789012:sklearn-byoc-alerts"


def quality_spec(**overrides) -> model_quality.QualityScheduleSpec:
    values = dict(
        schedule_name=QUALITY_SCHEDULE,
        definition_name=DEFINITION,
        endpoint_name=ENDPOINT,
        image=IMAGE,
        problem_type="MulticlassClassification",
        constraints_uri=f"s3://{BUCKET}/penguins/quality/q/constraints.json",
        ground_truth_uri=f"s3://{BUCKET}/penguins/groundtruth",
        output_uri=f"s3://{BUCKET}/penguins/monitoring/q",
    )
    return model_quality.QualityScheduleSpec(**{**values, **overrides})


def assert_valid(service: str, operation: str, request: dict) -> None:
    """What botocore checks (types, required members) and what AWS checks
    besides (patterns, enums, limits: tests/service_model.py)."""
    model = botocore.session.get_session().get_service_model(service)
    shape = model.operation_model(operation).input_shape
    report = ParamValidator().validate(request, shape)
    assert not report.has_errors(), report.generate_report()
    assert service_model.violations_of(shape, request, "") == []


@pytest.mark.parametrize(
    "overrides",
    [
        {},
        {"problem_type": "Regression", "schedule_expression": "cron(0 0/6 ? * * *)"},
        {
            "problem_type": "BinaryClassification",
            "inference_attribute": "prediction",
            "probability_attribute": "probability",
            "probability_threshold": 0.5,
        },
    ],
)
def test_job_definition_and_schedule_requests_are_valid(overrides):
    spec = quality_spec(**overrides)
    request = model_quality.job_definition_request(spec, ROLE, {"project": "x"})
    assert_valid("sagemaker", "CreateModelQualityJobDefinition", request)
    assert_valid(
        "sagemaker",
        "CreateMonitoringSchedule",
        model_quality.schedule_request(spec, {"project": "x"}),
    )
    assert_valid(
        "sagemaker",
        "UpdateMonitoringSchedule",
        {
            "MonitoringScheduleName": spec.schedule_name,
            "MonitoringScheduleConfig": model_quality.schedule_config(spec),
        },
    )
    app = request["ModelQualityAppSpecification"]
    assert app["ProblemType"] == spec.problem_type
    assert app["ContainerEntrypoint"] == ["monitor"]
    assert app["Environment"]["analysis_type"] == "MODEL_QUALITY"
    job_input = request["ModelQualityJobInput"]
    assert job_input["GroundTruthS3Input"] == {"S3Uri": spec.ground_truth_uri}
    endpoint_input = job_input["EndpointInput"]
    assert endpoint_input["EndpointName"] == ENDPOINT
    binary = spec.problem_type == "BinaryClassification"
    assert ("ProbabilityAttribute" in endpoint_input) == binary
    assert ("ProbabilityThresholdAttribute" in endpoint_input) == binary


def test_each_execution_looks_one_interval_back_behind_the_labels():
    request = model_quality.job_definition_request(quality_spec(), ROLE, {})
    endpoint_input = request["ModelQualityJobInput"]["EndpointInput"]
    assert (endpoint_input["StartTimeOffset"], endpoint_input["EndTimeOffset"]) == (
        "-PT2H",
        "-PT1H",
    )
    six_hourly = quality_spec(schedule_expression="cron(0 0/6 ? * * *)")
    assert model_quality.time_offsets(six_hourly.schedule_expression) == (
        "-PT7H",
        "-PT1H",
    )


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"problem_type": "Ranking"}, "problem type 'Ranking' is not one of"),
        ({"definition_name": "bad_name"}, "job definition name 'bad_name'"),
        ({"schedule_expression": "rate(1 hour)"}, "not a schedule SageMaker"),
        ({"ground_truth_uri": "/tmp/groundtruth"}, "is not an S3 URI"),
    ],
)
def test_what_sagemaker_would_refuse_is_refused_before_any_call(overrides, message):
    with pytest.raises(BackendError, match=message):
        model_quality.job_definition_request(quality_spec(**overrides), ROLE, {})


@pytest.mark.parametrize(
    ("metric", "operator", "statistic"),
    [
        ("accuracy", "LessThanThreshold", "Minimum"),
        ("rmse", "GreaterThanThreshold", "Maximum"),
    ],
)
def test_the_quality_alarm_watches_the_metric_under_its_constraint(
    metric, operator, statistic
):
    spec = alarms.QualityAlarmSpec(
        endpoint_name=ENDPOINT,
        schedule_name=QUALITY_SCHEDULE,
        metric=metric,
        threshold=0.9,
        comparison_operator=operator,
        topic_arn=TOPIC_ARN,
    )
    request = alarms.quality_alarm_request(spec)
    assert_valid("cloudwatch", "PutMetricAlarm", request)
    assert request["Namespace"] == "aws/sagemaker/Endpoints/model-metrics"
    assert request["MetricName"] == metric
    assert request["Dimensions"] == [
        {"Name": "Endpoint", "Value": ENDPOINT},
        {"Name": "MonitoringSchedule", "Value": QUALITY_SCHEDULE},
    ]
    assert (request["ComparisonOperator"], request["Statistic"]) == (
        operator,
        statistic,
    )
    assert request["AlarmActions"] == [TOPIC_ARN]
    assert request["AlarmName"] == alarms.quality_alarm_name_for(ENDPOINT)

"""The AWS request builders, checked offline: every request they build passes
botocore's validation against the real service model, and the values users
rely on (metric regexes, names, capture settings, config keys) are right."""

from __future__ import annotations

import re
from types import SimpleNamespace

import botocore.session
import pytest
from botocore.validate import ParamValidator

from container.training.evaluation import (
    CLASSIFICATION_METRICS,
    REGRESSION_METRICS,
    metric_lines,
)
from orchestration.aws import alarms, hosting, monitoring, processing, s3, training
from orchestration.aws.errors import AwsConfigError
from orchestration.aws.naming import MAX_LENGTH, check_name, timestamped
from orchestration.aws.settings import DEFAULT_METRIC_NAMES, AwsSettings
from orchestration.backends.base import (
    BackendError,
    CaptureSpec,
    EndpointSpec,
    ProcessingJobSpec,
    TrainingJobSpec,
)

ROLE = "arn:aws:iam::123456789012:role/sklearn-byoc-sagemaker-execution"
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/sklearn-byoc:latest"
TAGS = {"project": "sklearn-byoc"}


def assert_valid(service: str, operation: str, request: dict) -> None:
    model = botocore.session.get_session().get_service_model(service)
    shape = model.operation_model(operation).input_shape
    report = ParamValidator().validate(request, shape)
    assert not report.has_errors(), report.generate_report()


def endpoint_spec(**overrides) -> EndpointSpec:
    values = dict(
        endpoint_name="penguins",
        model_name="penguins-v1",
        model_artifact="s3://b/models/job/output/model.tar.gz",
        image=IMAGE,
        capture=CaptureSpec(destination="s3://b/capture"),
    )
    return EndpointSpec(**{**values, **overrides})


# --- metrics -------------------------------------------------------------------
def test_metric_regexes_capture_the_values_train_prints():
    printed = metric_lines(
        {
            "validation": {"accuracy": 0.971014, "log_loss": 1.2e-05},
            "train": {"balanced_accuracy": 1.0, "r2": -0.25},
        }
    )
    scraped = {}
    for definition in training.metric_definitions(DEFAULT_METRIC_NAMES):
        for line in printed:
            found = re.search(definition["Regex"], line)
            if found:
                scraped[definition["Name"]] = float(found.group(1))
    assert scraped == {
        "validation:accuracy": 0.971014,
        "validation:log_loss": 1.2e-05,
        "train:balanced_accuracy": 1.0,
        "train:r2": -0.25,
    }


def test_metric_regex_does_not_match_a_longer_name():
    regex = training.metric_regex("train:accuracy")
    assert re.search(regex, "pretrain:accuracy=0.5") is None
    assert re.search(regex, "train:balanced_accuracy=0.5") is None
    assert re.search(regex, "[epoch 3] train:accuracy=0.5").group(1) == "0.5"


def test_default_metric_names_cover_every_metric_train_reports():
    for split in ("train", "validation", "test"):
        for metric in CLASSIFICATION_METRICS + REGRESSION_METRICS:
            assert f"{split}:{metric}" in DEFAULT_METRIC_NAMES
    assert len(DEFAULT_METRIC_NAMES) <= 40  # SageMaker's limit per job


# --- request shapes against the service models ------------------------------------
def test_training_request_is_valid_and_keeps_hyperparameters_as_strings():
    spec = TrainingJobSpec(
        job_name="penguins-train-1",
        image=IMAGE,
        hyperparameters={"max_depth": "5"},
        channels={},
        environment={"SM_LOG_LEVEL": "20"},
    )
    request = training.training_request(
        spec,
        ROLE,
        {"train": "s3://b/train/"},
        "s3://b/models",
        DEFAULT_METRIC_NAMES,
        10,
        TAGS,
    )
    assert_valid("sagemaker", "CreateTrainingJob", request)
    assert request["HyperParameters"] == {"max_depth": "5"}
    assert request["StoppingCondition"] == {"MaxRuntimeInSeconds": 3600}


def test_hosting_requests_are_valid():
    spec = endpoint_spec()
    assert_valid("sagemaker", "CreateModel", hosting.model_request(spec, ROLE, TAGS))
    config = hosting.endpoint_config_request(spec, "penguins-config-1", TAGS)
    assert_valid("sagemaker", "CreateEndpointConfig", config)
    without_capture = hosting.endpoint_config_request(
        endpoint_spec(capture=None), "penguins-config-2", TAGS
    )
    assert "DataCaptureConfig" not in without_capture


def test_processing_request_is_valid_and_mounts_each_input():
    spec = ProcessingJobSpec(
        job_name="penguins-monitor-1",
        image=IMAGE,
        command="monitor",
        inputs={},
        output_location="s3://b/reports",
        environment={"dataset_source": "/opt/ml/processing/input/endpoint"},
    )
    request = processing.processing_request(
        spec,
        ROLE,
        {
            "input/endpoint": "s3://b/capture/",
            "baseline/stats": "s3://b/base/statistics.json",
        },
        20,
        TAGS,
    )
    assert_valid("sagemaker", "CreateProcessingJob", request)
    paths = {
        i["InputName"]: i["S3Input"]["LocalPath"] for i in request["ProcessingInputs"]
    }
    assert paths == {
        "baseline-stats": "/opt/ml/processing/baseline/stats",
        "input-endpoint": "/opt/ml/processing/input/endpoint",
    }
    assert request["AppSpecification"]["ContainerEntrypoint"] == ["monitor"]


def schedule_spec(**overrides) -> monitoring.ScheduleSpec:
    values = dict(
        schedule_name="penguins-drift",
        endpoint_name="penguins",
        image=IMAGE,
        statistics_uri="s3://b/base/statistics.json",
        constraints_uri="s3://b/base/constraints.json",
        output_uri="s3://b/reports",
    )
    return monitoring.ScheduleSpec(**{**values, **overrides})


def test_schedule_request_is_valid():
    request = monitoring.schedule_request(schedule_spec(), ROLE, TAGS)
    assert_valid("sagemaker", "CreateMonitoringSchedule", request)
    app = request["MonitoringScheduleConfig"]["MonitoringJobDefinition"][
        "MonitoringAppSpecification"
    ]
    # The image's `monitor` is on PATH; SDK local mode needs the entrypoint set.
    assert app == {"ImageUri": IMAGE, "ContainerEntrypoint": ["monitor"]}


def test_schedule_update_carries_the_same_config_as_the_create():
    spec = schedule_spec(schedule_expression="cron(0 0/6 ? * * *)")
    config = monitoring.schedule_config(spec, ROLE)
    assert_valid(
        "sagemaker",
        "UpdateMonitoringSchedule",
        {
            "MonitoringScheduleName": "penguins-drift",
            "MonitoringScheduleConfig": config,
        },
    )
    created = monitoring.schedule_request(spec, ROLE, TAGS)
    assert created["MonitoringScheduleConfig"] == config
    assert config["ScheduleConfig"] == {"ScheduleExpression": "cron(0 0/6 ? * * *)"}


@pytest.mark.parametrize(
    ("minutes", "expression"),
    [
        (60, "cron(0 * ? * * *)"),
        (120, "cron(0 0/2 ? * * *)"),
        (180, "cron(0 0/3 ? * * *)"),
        (240, "cron(0 0/4 ? * * *)"),
        (360, "cron(0 0/6 ? * * *)"),
        (480, "cron(0 0/8 ? * * *)"),
        (720, "cron(0 0/12 ? * * *)"),
        (1440, "cron(0 0 ? * * *)"),
    ],
)
def test_schedule_minutes_map_to_documented_expressions(minutes, expression):
    assert monitoring.schedule_expression_for(minutes) == expression
    assert monitoring.check_schedule_expression(expression) == expression


@pytest.mark.parametrize("minutes", [1, 30, 59, 90, 300, 600, 1380, 2880])
def test_schedule_minutes_without_a_sagemaker_schedule_are_refused(minutes):
    with pytest.raises(AwsConfigError, match="use 60, 120, 180, 240, 360, 480, 720"):
        monitoring.schedule_expression_for(minutes)


@pytest.mark.parametrize(
    "expression",
    ["cron(0 * ? * * *)", "cron(0 12 ? * * *)", "cron(0 17/12 ? * * *)"],
)
def test_documented_schedule_expressions_are_accepted(expression):
    settings = AwsSettings.from_mapping({**BASE, "schedule_expression": expression})
    assert settings.schedule_expression == expression


@pytest.mark.parametrize(
    "expression",
    [
        "cron(0 */2 ? * * *)",  # the form this backend used to send
        "cron(30 * ? * * *)",
        "cron(0 24 ? * * *)",
        "cron(0 0/25 ? * * *)",
        "rate(1 hour)",
        "NOW",  # one-off: needs DataAnalysisStartTime/EndTime
    ],
)
def test_other_schedule_expressions_are_refused_with_the_forms_that_work(expression):
    with pytest.raises(
        AwsConfigError,
        match=r"aws\.schedule_expression=.* is not a schedule SageMaker Model "
        r"Monitor accepts: use cron\(0 \* \? \* \* \*\) \(hourly\)",
    ):
        AwsSettings.from_mapping({**BASE, "schedule_expression": expression})
    with pytest.raises(AwsConfigError, match="not a schedule SageMaker"):
        monitoring.schedule_request(
            schedule_spec(schedule_expression=expression), ROLE, TAGS
        )


def test_alarm_request_is_valid_and_takes_the_largest_drift():
    spec = alarms.DriftAlarmSpec(
        alarm_name="penguins-feature-drift",
        endpoint_name="penguins",
        schedule_name="penguins-drift",
        features=("body_mass_g", "island"),
        topic_arn="arn:aws:sns:us-east-1:123456789012:alerts",
        namespace="aws/sagemaker/Endpoints/data-metrics",
    )
    request = alarms.alarm_request(spec)
    assert_valid("cloudwatch", "PutMetricAlarm", request)
    assert request["Metrics"][-1]["Expression"] == "MAX([m0,m1])"
    with pytest.raises(BackendError, match="10 metrics per alarm"):
        alarms.alarm_request(
            alarms.DriftAlarmSpec(**{**spec.__dict__, "features": tuple("abcdefghijk")})
        )


# --- inputs refused with a message that says what to fix ---
@pytest.mark.parametrize(
    ("capture", "message"),
    [
        (CaptureSpec(destination="/tmp/capture"), "must be an s3:// prefix"),
        (CaptureSpec(destination="s3://b/c", sampling_percentage=101), "0-100"),
        (CaptureSpec(destination="s3://b/c", modes=("Both",)), "subset of"),
    ],
)
def test_bad_capture_settings_are_refused(capture, message):
    with pytest.raises(BackendError, match=message):
        hosting.data_capture_config(capture)


def test_local_model_artifact_is_refused_on_aws():
    with pytest.raises(BackendError, match="must be an s3:// URI"):
        hosting.model_request(
            endpoint_spec(model_artifact="/tmp/model.tar.gz"), ROLE, TAGS
        )


@pytest.mark.parametrize("name", ["has_underscore", "-leading", "x" * 64, ""])
def test_invalid_sagemaker_names_are_refused(name):
    with pytest.raises(BackendError, match="not valid on SageMaker"):
        check_name(name, "endpoint")


def test_timestamped_names_stay_valid_for_long_bases():
    name = timestamped("a-very-long_project name " * 5)
    assert len(name) <= MAX_LENGTH
    assert check_name(name, "endpoint config") == name


@pytest.mark.parametrize("uri", ["/local/path", "s3://", "https://b/x"])
def test_non_s3_uris_are_refused(uri):
    with pytest.raises(BackendError, match="s3://bucket/prefix"):
        s3.parse_s3_uri(uri)


def test_s3_join_keeps_one_slash():
    assert s3.join("s3://b/p/", "/jobs/", "x") == "s3://b/p/jobs/x"


# --- settings ---
BASE = {"region": "us-east-1", "role_arn": ROLE, "bucket": "my-bucket"}


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({**BASE, "regoin": "x"}, r"unknown key\(s\) regoin"),
        ({"role_arn": ROLE, "bucket": "my-bucket"}, r"aws\.region is required"),
        (
            {**BASE, "role_arn": "SageMakerRole"},
            r"aws\.role_arn='SageMakerRole' is not an IAM role ARN",
        ),
        (
            {**BASE, "bucket": "My_Bucket"},
            r"aws\.bucket='My_Bucket' is not an S3 bucket name",
        ),
        ({**BASE, "poll_seconds": "fast"}, r"aws\.poll_seconds must be a number"),
        (
            {**BASE, "metric_names": [1, 2]},
            r"aws\.metric_names must be a list of strings",
        ),
        (
            {**BASE, "build_and_push": "yes"},
            r"aws\.build_and_push must be true or false",
        ),
        ({**BASE, "drift_threshold": 2}, r"drift_threshold=2.0 must be in \(0, 1\]"),
        (
            {**BASE, "capture_wait_seconds": -1},
            r"aws\.capture_wait_seconds=-1 must be >= 0",
        ),
    ],
)
def test_bad_settings_name_the_key(raw, message):
    with pytest.raises(AwsConfigError, match=message):
        AwsSettings.from_mapping(raw)


def test_settings_from_the_project_config():
    aws = SimpleNamespace(
        region="eu-west-1",
        role_arn=ROLE,
        bucket="my-bucket",
        prefix="sklearn-byoc/penguins",
        ecr_repository="sklearn-byoc",
        sns_topic_name="alerts",
        alert_email="ml@example.com",
        options={"poll_seconds": 5, "drift_threshold": 0.2},
    )
    settings = AwsSettings.from_config(aws, image="sklearn-byoc:1.2")
    assert settings.image_tag == "1.2"
    assert settings.alarm_topic == "alerts"
    assert settings.alarm_emails == ("ml@example.com",)
    assert settings.poll_seconds == 5.0 and settings.drift_threshold == 0.2
    assert settings.data_prefix == "s3://my-bucket/sklearn-byoc/penguins"
    with pytest.raises(AwsConfigError, match=r"aws\.options\.pol_seconds|unknown key"):
        AwsSettings.from_config(
            SimpleNamespace(**{**aws.__dict__, "options": {"pol_seconds": 1}})
        )
    with pytest.raises(AwsConfigError, match="set it as aws.region"):
        AwsSettings.from_config(
            SimpleNamespace(**{**aws.__dict__, "options": {"region": "us-east-1"}})
        )


# --- the backend as the CLI gets it ---
def test_the_example_config_builds_an_aws_backend_that_fits_the_interface():
    from pathlib import Path

    from orchestration.backends import get_backend
    from orchestration.backends.base import Backend
    from orchestration.config import load_config

    example = Path(__file__).resolve().parents[2] / "config" / "aws-example.yaml"
    backend = get_backend("aws", load_config(example))
    assert isinstance(backend, Backend)
    assert backend.name == "aws"
    assert backend.settings.region == "eu-west-1"
    assert (
        backend.settings.data_prefix
        == "s3://my-sklearn-byoc-bucket/sklearn-byoc/penguins"
    )
    assert backend.settings.image_tag == "latest"

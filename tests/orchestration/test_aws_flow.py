"""The whole AWS lifecycle against moto's server: call order, request shapes,
and the state AWS is left in. Monitoring schedules and UpdateEndpoint, which
moto lacks, are answered by botocore's Stubber (see aws_conftest_helpers)."""

from __future__ import annotations

import json

from tests.orchestration import aws_conftest_helpers as helpers
from tests.orchestration.aws_conftest_helpers import (
    BUCKET,
    ENDPOINT,
    FEATURES,
    ROLE_ARN,
    SCHEDULE,
    run_full_flow,
)

# The fixtures this module uses, from the shared helpers.
moto_url = helpers.moto_url
aws_settings = helpers.aws_settings
backend = helpers.backend


def test_steps_call_aws_in_lifecycle_order(backend, tmp_path):
    log, _ = run_full_flow(backend, tmp_path)
    assert log.operations("prepare") == ["PutObject", "PutObject"]
    assert log.operations("train") == [
        "DescribeRepositories",
        "DescribeImages",
        "PutObject",
        "PutObject",
        "CreateTrainingJob",
        "DescribeTrainingJob",
    ]
    deploy = log.operations("deploy")
    assert deploy[:4] == [
        "CreateModel",
        "CreateEndpointConfig",
        "CreateEndpoint",
        "DescribeEndpoint",
    ]
    # The second deploy updates the running endpoint.
    assert deploy[4:9] == [
        "DescribeEndpoint",
        "DescribeEndpointConfig",
        "CreateModel",
        "CreateEndpointConfig",
        "UpdateEndpoint",
    ]
    assert log.operations("predict") == ["InvokeEndpoint"]
    assert log.operations("baseline") == [
        "CreateProcessingJob",
        "DescribeProcessingJob",
    ]
    assert log.operations("schedule") == [
        "CreateMonitoringSchedule",
        "DescribeMonitoringSchedule",
        "DescribeMonitoringSchedule",
        "CreateTopic",
        "PutMetricAlarm",  # the drift alarm
        "PutMetricAlarm",  # the silence alarm: no monitoring results
    ]
    # Schedules go before the endpoint: SageMaker refuses the other order.
    teardown = log.operations("teardown")
    assert teardown.index("DeleteMonitoringSchedule") < teardown.index("DeleteEndpoint")
    assert teardown[-2:] == ["DeleteEndpointConfig", "DeleteModel"]


def test_training_request_carries_channels_metrics_and_string_hyperparameters(
    backend, tmp_path
):
    log, out = run_full_flow(backend, tmp_path)
    request = log.params["CreateTrainingJob"][0]
    assert request["HyperParameters"] == {"target": "species", "max_depth": "5"}
    assert request["AlgorithmSpecification"]["TrainingInputMode"] == "File"
    assert request["AlgorithmSpecification"]["TrainingImage"] == out["image"]
    names = [m["Name"] for m in request["AlgorithmSpecification"]["MetricDefinitions"]]
    assert "validation:accuracy" in names
    channels = {c["ChannelName"]: c for c in request["InputDataConfig"]}
    assert channels["train"]["DataSource"]["S3DataSource"]["S3Uri"] == out["data_uri"]
    # The local validation folder was uploaded under the job's own prefix first.
    uploaded = channels["validation"]["DataSource"]["S3DataSource"]["S3Uri"]
    assert uploaded == f"s3://{BUCKET}/penguins/jobs/penguins-train-1/input/validation/"
    assert request["RoleArn"] == ROLE_ARN
    result = out["training"]
    assert result.status == "Completed"
    assert result.model_artifact == (
        f"s3://{BUCKET}/penguins/models/penguins-train-1/output/model.tar.gz"
    )
    assert any("penguins-train-1: Completed" in line for line in out["progress"])


def test_registry_records_metrics_lineage_and_approval(backend, tmp_path):
    _, out = run_full_flow(backend, tmp_path)
    version = out["version"]
    assert version.version == 1
    assert version.approval == "Approved"
    assert version.metrics == {"validation:accuracy": 0.97}
    assert version.lineage["run_id"] == "penguins-train-1"
    assert version.model_artifact == out["training"].model_artifact
    described = backend.clients.sagemaker.describe_model_package(
        ModelPackageName=version.arn
    )
    metrics_uri = described["CustomerMetadataProperties"]["document:evaluation"]
    bucket, key = metrics_uri[len("s3://") :].split("/", 1)
    stored = json.loads(
        backend.clients.s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    )
    assert stored["metrics"] == {"validation:accuracy": 0.97}
    assert backend.registry().list("penguins-species")[0].approval == "Approved"


def test_endpoint_captures_data_and_answers(backend, tmp_path):
    log, out = run_full_flow(backend, tmp_path)
    config = log.params["CreateEndpointConfig"][0]
    capture = config["DataCaptureConfig"]
    assert capture["DestinationS3Uri"] == f"s3://{BUCKET}/penguins/capture"
    assert capture["InitialSamplingPercentage"] == 100
    assert capture["CaptureOptions"] == [
        {"CaptureMode": "Input"},
        {"CaptureMode": "Output"},
    ]
    assert capture["CaptureContentTypeHeader"]["CsvContentTypes"] == ["text/csv"]
    assert out["endpoint"].status == "InService"
    assert out["endpoint"].capture_destination == capture["DestinationS3Uri"]
    assert out["prediction"]  # moto's canned body, read through sagemaker-runtime
    invoke = log.params["InvokeEndpoint"][0]
    assert invoke["InferenceId"] == "r-1"
    assert invoke["ContentType"] == "text/csv"


def test_baseline_runs_our_image_with_the_model_monitor_contract(backend, tmp_path):
    log, out = run_full_flow(backend, tmp_path)
    request = log.params["CreateProcessingJob"][0]
    assert request["AppSpecification"]["ContainerEntrypoint"] == ["baseline"]
    assert request["AppSpecification"]["ImageUri"] == out["image"]
    (data_input,) = request["ProcessingInputs"]
    assert data_input["S3Input"]["LocalPath"] == (
        "/opt/ml/processing/input/baseline_dataset_input"
    )
    assert data_input["S3Input"]["S3Uri"].endswith("train.csv")
    assert (
        request["Environment"]["dataset_source"] == data_input["S3Input"]["LocalPath"]
    )
    output = request["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]
    assert output["LocalPath"] == "/opt/ml/processing/output"
    assert out["baseline"].output_location == f"s3://{BUCKET}/penguins/baseline"
    assert out["baseline"].status == "Completed"


def test_schedule_runs_monitor_against_the_baseline(backend, tmp_path):
    _, out = run_full_flow(backend, tmp_path)
    config = out["schedule_request"]["MonitoringScheduleConfig"]
    job = config["MonitoringJobDefinition"]
    # Started as `monitor` (on PATH in the image), with nothing after it.
    assert job["MonitoringAppSpecification"] == {
        "ImageUri": out["image"],
        "ContainerEntrypoint": ["monitor"],
    }
    assert job["BaselineConfig"]["StatisticsResource"]["S3Uri"].endswith(
        "statistics.json"
    )
    assert job["BaselineConfig"]["ConstraintsResource"]["S3Uri"].endswith(
        "constraints.json"
    )
    assert job["MonitoringInputs"][0]["EndpointInput"]["EndpointName"] == ENDPOINT
    assert job["Environment"]["publish_cloudwatch_metrics"] == "Enabled"
    assert config["ScheduleConfig"]["ScheduleExpression"] == "cron(0 * ? * * *)"
    assert any("Scheduled" in line for line in out["progress"])


def test_alarm_watches_every_feature_and_notifies_the_topic(backend, tmp_path):
    log, out = run_full_flow(backend, tmp_path)
    request = log.params["PutMetricAlarm"][0]
    watched = [
        q["MetricStat"]["Metric"]["MetricName"]
        for q in request["Metrics"]
        if "MetricStat" in q
    ]
    assert watched == [f"feature_baseline_drift_{f}" for f in FEATURES]
    dims = request["Metrics"][0]["MetricStat"]["Metric"]["Dimensions"]
    assert {"Name": "MonitoringSchedule", "Value": SCHEDULE} in dims
    assert request["AlarmActions"] == [out["alarm"]["topic_arn"]]
    assert request["Threshold"] == 0.1
    topics = backend.clients.sns.list_topics()["Topics"]
    assert [t["TopicArn"] for t in topics] == [out["alarm"]["topic_arn"]]


def test_update_switches_model_and_teardown_leaves_nothing_behind(backend, tmp_path):
    log, out = run_full_flow(backend, tmp_path)
    update = log.params["UpdateEndpoint"][0]
    assert update["EndpointName"] == ENDPOINT
    assert (
        update["EndpointConfigName"]
        != log.params["CreateEndpointConfig"][0]["EndpointConfigName"]
    )
    assert out["updated"].model_name == "penguins-species-v2"
    sagemaker = backend.clients.sagemaker
    assert sagemaker.list_endpoints()["Endpoints"] == []
    assert sagemaker.list_endpoint_configs()["EndpointConfigs"] == []
    assert sagemaker.list_models()["Models"] == []
    alarms = backend.clients.cloudwatch.describe_alarms()["MetricAlarms"]
    assert alarms == []
    # The registry keeps its versions: teardown removes serving, not history.
    assert len(backend.registry().list("penguins-species")) == 1

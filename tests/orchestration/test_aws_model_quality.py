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

import json
import tarfile
from datetime import UTC, datetime
from pathlib import Path

import botocore.session
import pandas as pd
import pytest
from botocore.validate import ParamValidator

from orchestration import dataprep, lifecycle, quality, schedule
from orchestration.aws import alarms, model_quality
from orchestration.backends.base import (
    BackendError,
    ModelQualityScheduleSpec,
    MonitoringScheduleSpec,
    ScheduleRun,
)
from orchestration.tracking import Run
from tests import iam_policies, service_model
from tests.bundles import PENGUINS_CSV, build_penguins_bundle
from tests.orchestration import aws_conftest_helpers as helpers
from tests.orchestration.aws_conftest_helpers import (
    ARN_PREFIX,
    BUCKET,
    ENDPOINT,
    REGION,
    CallLog,
    PartialStubber,
    push_fake_image,
    schedule_description,
)
from tests.orchestration.test_model_quality import model_quality_of

moto_url = helpers.moto_url
aws_settings = helpers.aws_settings
backend = helpers.backend

ROOT = Path(__file__).resolve().parents[2]
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/sklearn-byoc:latest"
COLLECTED = datetime(2026, 1, 1, 12, 30, tzinfo=UTC)


@pytest.fixture
def project(backend, tmp_path):
    return helpers.aws_project(backend, tmp_path)


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


def model_on_s3(project, tmp_path, run_id: str = "penguins-train-1") -> str:
    """A model.tar.gz where `train` leaves it, and prepared splits."""
    push_fake_image(project.backend)
    bundle = build_penguins_bundle(tmp_path / "bundle")
    archive = tmp_path / "model.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for path in sorted(bundle.iterdir()):
            tar.add(path, arcname=path.name)
    key = f"penguins/training/{run_id}/output/model.tar.gz"
    project.backend.clients.s3.upload_file(str(archive), BUCKET, key)
    folder = tmp_path / "prepared"
    (folder / "validation").mkdir(parents=True)
    table = pd.read_csv(PENGUINS_CSV).dropna(subset=["species"]).head(40)
    table.to_csv(folder / "validation" / "validation.csv", index=False)
    project.state["prepared"] = {
        "folder": str(folder),
        "channels": {dataprep.BASELINE_DIR: f"s3://{BUCKET}/penguins/data/baseline/"},
        "data_hashes": {"train": "ab" * 32},
    }
    return f"s3://{BUCKET}/{key}"


@pytest.fixture
def deployed(project, tmp_path):
    """The state `baseline` finds after `deploy`: prepared splits, and an
    endpoint serving a registered version whose model.tar.gz is on S3."""
    artifact = model_on_s3(project, tmp_path)
    group = project.config.registry.model_group
    version = project.registry.register(
        group, artifact, IMAGE, {}, {"run_id": "penguins-train-1"}
    )
    project.state["endpoint"] = {"name": ENDPOINT, "version": version.version}
    project.save()
    return project


@pytest.fixture
def trained(project, tmp_path):
    """The state `baseline` finds after `train`: a run whose model is on S3,
    not registered yet."""
    run_id = "penguins-train-20260101-120000-000-0a1b2c3d"
    artifact = model_on_s3(project, tmp_path, run_id)
    project.tracker.record(
        Run(
            run_id=run_id,
            project=project.config.project,
            job_name=run_id,
            backend="aws",
            status="Completed",
            started_at="2026-01-01T12:00:00Z",
            duration_seconds=60.0,
            hyperparameters={},
            metrics={"validation:accuracy": 0.97},
            data_hashes={"train": "ab" * 32},
            image=IMAGE,
            model_artifact=artifact,
        )
    )
    project.save(last_run=run_id)
    return project


def test_register_files_the_trained_models_quality_baseline(trained):
    jobs_write_their_outputs(trained.backend)
    log = logged(trained.backend, "baseline")
    lifecycle.baseline(trained)
    measured = trained.state["baseline"]["quality"]
    assert measured["run_id"] == trained.state["last_run"]
    log.step = "register"
    version = lifecycle.register(trained)
    expected = model_quality_of(trained)
    # The baseline job's statistics.json and the relaxed constraints.json on S3.
    assert measured["statistics"].startswith(f"s3://{BUCKET}/penguins/baseline/")
    assert measured["constraints"].startswith(f"s3://{BUCKET}/penguins/quality/")
    (request,) = log.params["CreateModelPackage"]
    assert request["ModelMetrics"] == expected
    # What SageMaker (moto) keeps with the version and the registry reads back.
    assert version.model_metrics == expected
    described = trained.backend.clients.sagemaker.describe_model_package(
        ModelPackageName=version.arn
    )
    assert described["ModelMetrics"] == expected
    # Neither step needs more than its policy grants.
    assert_audited(log)


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


# --- the model-quality schedule: through the backend ----------------------------------
STUBBED = {
    "CreateModelQualityJobDefinition",
    "DeleteModelQualityJobDefinition",
    "CreateMonitoringSchedule",
    "UpdateMonitoringSchedule",
    "DescribeMonitoringSchedule",
    "DeleteMonitoringSchedule",
    "ListMonitoringSchedules",
}
DATA_SCHEDULE = f"{ENDPOINT}-monitoring"


def monitoring_spec() -> MonitoringScheduleSpec:
    baseline = f"s3://{BUCKET}/penguins/baseline/penguins-baseline-1"
    return MonitoringScheduleSpec(
        schedule_name=DATA_SCHEDULE,
        endpoint_name=ENDPOINT,
        statistics_location=f"{baseline}/statistics.json",
        constraints_location=f"{baseline}/constraints.json",
        output_location=f"s3://{BUCKET}/penguins/monitoring/{DATA_SCHEDULE}",
        schedule_minutes=60,
        features=("bill_length_mm",),
        quality=ModelQualityScheduleSpec(
            problem_type="MulticlassClassification",
            constraints_location=f"s3://{BUCKET}/penguins/quality/q/constraints.json",
            ground_truth_location=f"s3://{BUCKET}/penguins/groundtruth",
            output_location=f"s3://{BUCKET}/penguins/monitoring/q",
            alarm_metric="accuracy",
            alarm_threshold=0.9,
            alarm_operator="LessThanThreshold",
        ),
    )


def described(name: str, status: str, definition: str | None = None) -> dict:
    """DescribeMonitoringSchedule's answer; a model-quality one names `definition`."""
    answer = schedule_description(name, ENDPOINT, status)
    if definition:
        answer["MonitoringType"] = "ModelQuality"
        answer["MonitoringScheduleConfig"] = {
            "MonitoringJobDefinitionName": definition,
            "MonitoringType": "ModelQuality",
        }
    return answer


def schedule_arn(name: str) -> dict:
    return {"MonitoringScheduleArn": f"{ARN_PREFIX}:monitoring-schedule/{name}"}


def definition_arn(name: str) -> dict:
    return {"JobDefinitionArn": f"{ARN_PREFIX}:model-quality-job-definition/{name}"}


def the_data_quality_schedule_is_created(stub) -> None:
    stub.add_response("create_monitoring_schedule", schedule_arn(DATA_SCHEDULE))
    stub.add_response(
        "describe_monitoring_schedule", described(DATA_SCHEDULE, "Scheduled")
    )


def test_schedule_creates_the_model_quality_definition_schedule_and_alarm(backend):
    push_fake_image(backend)
    log = logged(backend, "schedule")
    stub = PartialStubber(backend.clients.sagemaker, STUBBED)
    the_data_quality_schedule_is_created(stub)
    stub.add_response("create_model_quality_job_definition", definition_arn("d"))
    stub.add_response("create_monitoring_schedule", schedule_arn(QUALITY_SCHEDULE))
    stub.add_response(
        "describe_monitoring_schedule", described(QUALITY_SCHEDULE, "Scheduled")
    )
    said: list[str] = []
    with stub:
        ran = backend.run_monitoring_schedule(
            monitoring_spec(), lambda: [], said.append
        )
        stub.assert_no_pending_responses()
    assert_audited(log)
    log.step = ""  # what follows is the test's own look at AWS
    record = ran.schedule["model_quality"]
    assert record["name"] == QUALITY_SCHEDULE
    assert record["alarm_name"] == f"{ENDPOINT}-model-quality"
    (definition,) = log.params["CreateModelQualityJobDefinition"]
    assert definition["JobDefinitionName"] == record["job_definition"]
    assert definition["JobDefinitionName"].startswith(f"{ENDPOINT}-mq-")
    assert definition["ModelQualityAppSpecification"]["ImageUri"] == IMAGE
    assert definition["ModelQualityBaselineConfig"]["ConstraintsResource"] == {
        "S3Uri": f"s3://{BUCKET}/penguins/quality/q/constraints.json"
    }
    data, quality_schedule = log.params["CreateMonitoringSchedule"]
    assert quality_schedule["MonitoringScheduleConfig"] == {
        "ScheduleConfig": {"ScheduleExpression": "cron(0 * ? * * *)"},
        "MonitoringJobDefinitionName": record["job_definition"],
        "MonitoringType": "ModelQuality",
    }
    (alarm,) = backend.clients.cloudwatch.describe_alarms(
        AlarmNames=[record["alarm_name"]]
    )["MetricAlarms"]
    assert (alarm["Namespace"], alarm["MetricName"]) == (
        "aws/sagemaker/Endpoints/model-metrics",
        "accuracy",
    )
    assert alarm["Threshold"] == 0.9
    assert alarm["AlarmActions"] == [TOPIC_ARN]
    assert any(
        line.startswith(f"model-quality schedule {QUALITY_SCHEDULE}") for line in said
    )


def test_schedule_run_again_repoints_the_schedule_and_deletes_the_old_definition(
    backend,
):
    push_fake_image(backend)
    log = logged(backend, "schedule")
    stub = PartialStubber(backend.clients.sagemaker, STUBBED)
    the_data_quality_schedule_is_created(stub)
    stub.add_response("create_model_quality_job_definition", definition_arn("d"))
    stub.add_client_error(
        "create_monitoring_schedule",
        service_error_code="ResourceInUse",
        service_message=f"Monitoring schedule {QUALITY_SCHEDULE} already exists",
        http_status_code=400,
    )
    old = f"{ENDPOINT}-mq-20250101-000000-000"
    stub.add_response(
        "describe_monitoring_schedule", described(QUALITY_SCHEDULE, "Scheduled", old)
    )
    stub.add_response("update_monitoring_schedule", schedule_arn(QUALITY_SCHEDULE))
    stub.add_response(
        "describe_monitoring_schedule", described(QUALITY_SCHEDULE, "Scheduled")
    )
    stub.add_response(
        "delete_model_quality_job_definition", {}, {"JobDefinitionName": old}
    )
    with stub:
        ran = backend.run_monitoring_schedule(monitoring_spec(), lambda: [], print)
        stub.assert_no_pending_responses()
    (update,) = log.params["UpdateMonitoringSchedule"]
    new = ran.schedule["model_quality"]["job_definition"]
    assert new != old
    assert update["MonitoringScheduleConfig"]["MonitoringJobDefinitionName"] == new
    assert_audited(log)


def test_a_refused_schedule_deletes_the_new_definition_and_says_why(backend):
    push_fake_image(backend)
    log = logged(backend, "schedule")
    stub = PartialStubber(backend.clients.sagemaker, STUBBED)
    the_data_quality_schedule_is_created(stub)
    stub.add_response("create_model_quality_job_definition", definition_arn("d"))
    stub.add_client_error(
        "create_monitoring_schedule",
        service_error_code="ValidationException",
        service_message="Endpoint penguins-species has no data capture",
        http_status_code=400,
    )
    stub.add_response("delete_model_quality_job_definition", {})
    with stub, pytest.raises(BackendError) as caught:
        backend.run_monitoring_schedule(monitoring_spec(), lambda: [], print)
    stub.assert_no_pending_responses()
    (created,) = log.params["CreateModelQualityJobDefinition"]
    (deleted,) = log.params["DeleteModelQualityJobDefinition"]
    assert deleted == {"JobDefinitionName": created["JobDefinitionName"]}
    assert caught.value.message == (
        f"creating monitoring schedule {QUALITY_SCHEDULE} failed: "
        "ValidationException: Endpoint penguins-species has no data capture"
    )
    assert_audited(log)


def test_a_refused_definition_is_one_line_and_creates_nothing_else(backend):
    push_fake_image(backend)
    log = logged(backend, "schedule")
    stub = PartialStubber(backend.clients.sagemaker, STUBBED)
    the_data_quality_schedule_is_created(stub)
    stub.add_client_error(
        "create_model_quality_job_definition",
        service_error_code="ResourceLimitExceeded",
        service_message="The account-level limit of job definitions is reached",
        http_status_code=400,
    )
    with stub, pytest.raises(BackendError) as caught:
        backend.run_monitoring_schedule(monitoring_spec(), lambda: [], print)
    stub.assert_no_pending_responses()
    assert "\n" not in caught.value.message
    assert caught.value.message.startswith(
        f"creating model-quality job definition {ENDPOINT}-mq-"
    )
    assert log.operations("schedule").count("CreateMonitoringSchedule") == 1
    assert_audited(log)


def test_teardown_deletes_the_model_quality_definition_after_its_schedule(backend):
    raw = backend.clients.session.client(
        "sagemaker", region_name=REGION, endpoint_url=backend.settings.endpoint_url
    )
    raw.create_model(
        ModelName="penguins-species-v1",
        ExecutionRoleArn=ROLE,
        PrimaryContainer={"Image": IMAGE},
    )
    raw.create_endpoint_config(
        EndpointConfigName="penguins-species-config",
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": "penguins-species-v1",
                "InitialInstanceCount": 1,
                "InstanceType": "ml.m5.large",
            }
        ],
    )
    raw.create_endpoint(
        EndpointName=ENDPOINT, EndpointConfigName="penguins-species-config"
    )
    log = logged(backend, "teardown")
    stub = PartialStubber(backend.clients.sagemaker, STUBBED)
    now = datetime.now(UTC)
    stub.add_response(
        "list_monitoring_schedules",
        {
            "MonitoringScheduleSummaries": [
                {
                    "MonitoringScheduleName": name,
                    "MonitoringScheduleArn": schedule_arn(name)[
                        "MonitoringScheduleArn"
                    ],
                    "CreationTime": now,
                    "LastModifiedTime": now,
                    "MonitoringScheduleStatus": "Scheduled",
                    "EndpointName": ENDPOINT,
                }
                for name in (DATA_SCHEDULE, QUALITY_SCHEDULE)
            ]
        },
    )
    for name, definition in ((DATA_SCHEDULE, None), (QUALITY_SCHEDULE, DEFINITION)):
        stub.add_response(
            "describe_monitoring_schedule", described(name, "Scheduled", definition)
        )
        stub.add_response(
            "delete_monitoring_schedule", {}, {"MonitoringScheduleName": name}
        )
        stub.add_client_error(
            "describe_monitoring_schedule",
            service_error_code="ResourceNotFound",
            service_message=f"Monitoring schedule {name} does not exist",
            http_status_code=404,
        )
    stub.add_response(
        "delete_model_quality_job_definition", {}, {"JobDefinitionName": DEFINITION}
    )
    with stub:
        backend.delete_endpoint(ENDPOINT)
        stub.assert_no_pending_responses()
    made = log.operations("teardown")
    assert made.index("DeleteModelQualityJobDefinition") > (
        len(made) - 1 - made[::-1].index("DeleteMonitoringSchedule")
    )
    assert "DeleteEndpoint" in made
    assert_audited(log)


def test_the_schedule_step_hands_the_model_quality_baseline_to_the_backend(project):
    quality_constraints = (
        f"s3://{BUCKET}/penguins/quality/q/constraints/constraints.json"
    )
    project.state["baseline"] = {
        "job": "penguins-baseline-1",
        "location": f"s3://{BUCKET}/penguins/baseline/penguins-baseline-1",
        "quality": {
            "problem_type": "MulticlassClassification",
            "constraints": quality_constraints,
            "alarm": {
                "metric": "accuracy",
                "threshold": 0.9,
                "comparison_operator": "LessThanThreshold",
            },
        },
    }
    project.state["endpoint"] = {"name": ENDPOINT, "version": 1}
    handed: list[MonitoringScheduleSpec] = []

    def run_monitoring_schedule(spec, *args, **kwargs):
        handed.append(spec)
        return ScheduleRun({"name": spec.schedule_name}, [])

    project.backend.run_monitoring_schedule = run_monitoring_schedule
    schedule.run_schedule(project)
    (spec,) = handed
    assert spec.quality == ModelQualityScheduleSpec(
        problem_type="MulticlassClassification",
        constraints_location=quality_constraints,
        ground_truth_location=f"s3://{BUCKET}/penguins/groundtruth",
        output_location=f"s3://{BUCKET}/penguins/monitoring/{DATA_SCHEDULE}-quality",
        alarm_metric="accuracy",
        alarm_threshold=0.9,
        alarm_operator="LessThanThreshold",
    )
    # Without a model-quality baseline, only data quality is scheduled.
    del project.state["baseline"]["quality"]
    schedule.run_schedule(project)
    assert handed[-1].quality is None


def test_monitor_counts_the_ground_truth_on_s3_from_the_windows_hour(project, tmp_path):
    root = project.backend.location("groundtruth")
    log = logged(project.backend, "monitor")
    assert lifecycle._ground_truth_since(project, root, COLLECTED) == 0
    labels = quality.write_labels(tmp_path / "labels.csv", [("r-1", "Adelie")])
    log.step = "ground-truth"
    lifecycle.ground_truth(project, labels, "labels-a", COLLECTED)
    log.step = "monitor"
    window_start = COLLECTED.replace(minute=0)
    assert lifecycle._ground_truth_since(project, root, window_start) == 1
    later = window_start.replace(hour=13)
    assert lifecycle._ground_truth_since(project, root, later) == 0
    assert_audited(log)

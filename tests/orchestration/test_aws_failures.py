"""What users see when AWS says no: failed jobs with their reason, Ctrl-C
during training, model errors from the endpoint, waits that never end,
missing resources and refused calls, each as one clear `BackendError`."""

from __future__ import annotations

import re
import shlex
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from botocore.exceptions import ClientError, NoCredentialsError
from botocore.stub import Stubber

from orchestration.aws.errors import AwsCallFailed, aws_call
from orchestration.aws.settings import AwsSettings
from orchestration.aws.waiting import WaitTimedOut, wait_for
from orchestration.backends.base import (
    BackendError,
    ProcessingJobSpec,
    ResourceNotFound,
    TrainingJobSpec,
)
from tests.orchestration import aws_conftest_helpers as helpers
from tests.orchestration.aws_conftest_helpers import (
    ACCOUNT,
    ARN_PREFIX,
    BUCKET,
    REGION,
    REPOSITORY,
    PartialStubber,
    push_fake_image,
    write_processed,
)

moto_url = helpers.moto_url
aws_settings = helpers.aws_settings
backend = helpers.backend

START = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
ECR_HOST = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com"


def training_spec(job_name: str = "penguins-train-2") -> TrainingJobSpec:
    return TrainingJobSpec(
        job_name=job_name,
        image="123456789012.dkr.ecr.us-east-1.amazonaws.com/sklearn-byoc:latest",
        hyperparameters={"target": "species"},
        channels={"train": f"s3://{BUCKET}/penguins/data/"},
    )


def training_description(status: str, **extra) -> dict:
    return {
        "TrainingJobName": "penguins-train-2",
        "TrainingJobArn": f"{ARN_PREFIX}:training-job/penguins-train-2",
        "TrainingJobStatus": status,
        "SecondaryStatus": extra.pop("SecondaryStatus", status),
        "AlgorithmSpecification": {"TrainingInputMode": "File"},
        "ModelArtifacts": {"S3ModelArtifacts": f"s3://{BUCKET}/m/model.tar.gz"},
        "ResourceConfig": {
            "InstanceType": "ml.m5.large",
            "InstanceCount": 1,
            "VolumeSizeInGB": 10,
        },
        "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
        "CreationTime": START,
        **extra,
    }


def test_failed_training_reports_each_state_and_the_failure_reason(backend):
    stub = PartialStubber(backend.clients.sagemaker, {"DescribeTrainingJob"})
    transition = {
        "Status": "Training",
        "StartTime": START,
        "StatusMessage": "Training in progress",
    }
    stub.add_response(
        "describe_training_job",
        training_description(
            "InProgress",
            SecondaryStatus="Training",
            SecondaryStatusTransitions=[transition],
        ),
    )
    stub.add_response(
        "describe_training_job",
        training_description(
            "InProgress",
            SecondaryStatus="Training",
            SecondaryStatusTransitions=[transition],
        ),
    )
    stub.add_response(
        "describe_training_job",
        training_description(
            "Failed",
            FailureReason="AlgorithmError: target column 'species' is missing",
            TrainingStartTime=START,
            TrainingEndTime=START + timedelta(seconds=95),
            FinalMetricDataList=[
                {"MetricName": "train:accuracy", "Value": 0.5, "Timestamp": START}
            ],
        ),
    )
    progress: list[str] = []
    with stub:
        result = backend.run_training_job(training_spec(), progress.append)
    assert result.status == "Failed"
    assert result.failure_reason.startswith("AlgorithmError: target column 'species'")
    assert result.model_artifact is None  # nothing to deploy from a failed job
    assert result.duration_seconds == 95.0
    assert result.metrics == {"train:accuracy": 0.5}
    # The repeated InProgress poll is reported once.
    in_progress = [line for line in progress if "InProgress" in line]
    assert in_progress == [
        "training job penguins-train-2: InProgress (Training: Training in progress)"
    ]
    assert "target column 'species'" in progress[-1]


def test_ctrl_c_while_training_stops_the_job(backend):
    stub = PartialStubber(backend.clients.sagemaker, {"StopTrainingJob"})
    stub.add_response("stop_training_job", {}, {"TrainingJobName": "penguins-train-3"})
    lines: list[str] = []

    def interrupt_while_waiting(line: str) -> None:
        lines.append(line)
        if len(lines) == 2:  # the first state report: the wait has begun
            raise KeyboardInterrupt

    with stub, pytest.raises(KeyboardInterrupt):
        backend.run_training_job(
            training_spec("penguins-train-3"), interrupt_while_waiting
        )
    stub.assert_no_pending_responses()
    assert lines[-1] == "training job penguins-train-3: stop requested"


def test_model_error_passes_on_the_containers_status_and_message(backend):
    runtime = backend.clients.runtime
    with Stubber(runtime) as stub:
        stub.add_client_error(
            "invoke_endpoint",
            service_error_code="ModelError",
            service_message="Received client error (415) from primary",
            http_status_code=424,
            modeled_fields={
                "OriginalStatusCode": 415,
                "OriginalMessage": '{"error": "unsupported content type text/plain"}',
            },
        )
        with pytest.raises(AwsCallFailed) as caught:
            backend.invoke_endpoint("penguins", b"x", "text/plain", "text/csv")
    assert caught.value.status_code == 415
    assert "unsupported content type text/plain" in caught.value.message


def test_failed_processing_job_keeps_exit_message_and_reason(backend):
    stub = PartialStubber(backend.clients.sagemaker, {"DescribeProcessingJob"})
    stub.add_response(
        "describe_processing_job",
        {
            "ProcessingJobName": "penguins-monitor-2",
            "ProcessingJobArn": f"{ARN_PREFIX}:processing-job/penguins-monitor-2",
            "ProcessingJobStatus": "Failed",
            "ExitMessage": "Failed: no captured data between 10:00 and 11:00",
            "FailureReason": "AlgorithmError: see job logs",
            "ProcessingResources": {
                "ClusterConfig": {
                    "InstanceCount": 1,
                    "InstanceType": "ml.m5.large",
                    "VolumeSizeInGB": 20,
                }
            },
            "AppSpecification": {"ImageUri": "img"},
            "CreationTime": START,
            "ProcessingOutputConfig": {
                "Outputs": [
                    {
                        "OutputName": "results",
                        "S3Output": {
                            "S3Uri": f"s3://{BUCKET}/penguins/jobs/penguins-monitor-2/output",
                            "LocalPath": "/opt/ml/processing/output",
                            "S3UploadMode": "EndOfJob",
                        },
                    }
                ]
            },
        },
    )
    spec = ProcessingJobSpec(
        job_name="penguins-monitor-2",
        image="123456789012.dkr.ecr.us-east-1.amazonaws.com/sklearn-byoc:latest",
        command="monitor",
        inputs={"input/endpoint": f"s3://{BUCKET}/penguins/capture/"},
        # Not S3: the job writes under the project's prefix instead.
        output_location="reports/local-folder",
        environment={},
    )
    with stub:
        result = backend.run_processing_job(spec, lambda _: None)
    assert result.status == "Failed"
    assert result.exit_message.startswith("Failed: no captured data")
    assert result.failure_reason == "AlgorithmError: see job logs"
    assert (
        result.output_location
        == f"s3://{BUCKET}/penguins/jobs/penguins-monitor-2/output"
    )


def test_wait_gives_up_with_a_message_saying_what_still_runs():
    ticks = iter(range(0, 1000, 10))
    with pytest.raises(WaitTimedOut, match="endpoint e still Creating after 30 s"):
        wait_for(
            lambda: {"EndpointStatus": "Creating"},
            lambda d: d["EndpointStatus"],
            ("InService", "Failed"),
            lambda _: None,
            "endpoint e",
            poll_seconds=0,
            timeout_seconds=30,
            sleep=lambda _: None,
            clock=lambda: next(ticks),
        )


def script_options() -> dict[str, bool]:
    """The options `build_and_push.sh --help` documents: flag -> takes a value."""
    script = Path(__file__).resolve().parents[2] / "build_and_push.sh"
    shown = subprocess.run(
        ["bash", str(script), "--help"], capture_output=True, text=True, check=True
    ).stdout
    synopsis = re.findall(r"\[(--[a-z][a-z-]*)( [A-Z]+)?\]", shown)
    assert synopsis, f"no [--option VALUE] synopsis in --help:\n{shown}"
    return {flag: bool(value) for flag, value in synopsis}


def test_missing_image_names_a_command_and_a_key_that_work(backend):
    with pytest.raises(BackendError) as caught:
        backend.ensure_image()
    message = str(caught.value)
    settings = backend.settings
    assert message == (
        f"image {ECR_HOST}/{REPOSITORY}:latest is not in ECR: run ./build_and_push.sh "
        f"--repository {REPOSITORY} --tag latest --region {REGION}, or set "
        "aws.options.build_and_push: true to let this step run it"
    )

    # The suggested command uses only options the script documents, each with
    # the value the script expects, and names this backend's repository, tag
    # and region.
    command = shlex.split(re.search(r"run (\./build_and_push\.sh [^,]+),", message)[1])
    documented = script_options()
    given = dict(zip(command[1::2], command[2::2], strict=True))
    assert all(documented.get(flag) is True for flag in given), (given, documented)
    assert given == {
        "--repository": settings.ecr_repository,
        "--tag": settings.image_tag,
        "--region": settings.region,
    }

    # The config key it names is one the settings accept and act on.
    key = re.search(r"set aws\.options\.(\w+): true", message)[1]
    aws = SimpleNamespace(
        region=REGION,
        role_arn=helpers.ROLE_ARN,
        bucket=BUCKET,
        prefix="penguins",
        ecr_repository=REPOSITORY,
        sns_topic_name="alerts",
        alert_email=None,
        options={key: True},
    )
    assert AwsSettings.from_config(aws).build_and_push is True

    push_fake_image(backend, tag="latest")
    assert backend.ensure_image().endswith("/sklearn-byoc:latest")


def test_missing_endpoint_is_not_found(backend):
    with pytest.raises(ResourceNotFound, match="endpoint nowhere does not exist"):
        backend.delete_endpoint("nowhere")


def test_upload_refuses_an_empty_folder_and_fetch_round_trips(backend, tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(BackendError, match="holds no files"):
        backend.upload_data(tmp_path / "empty", "data/empty")
    source = write_processed(tmp_path / "processed")
    uri = backend.upload_data(source, "data/processed")
    fetched = backend.fetch(uri, tmp_path / "back")
    assert sorted(p.name for p in fetched.iterdir()) == ["train.csv", "validation.csv"]
    assert (fetched / "train.csv").read_bytes() == (source / "train.csv").read_bytes()
    one = backend.fetch(uri + "train.csv", tmp_path / "one")
    assert one == tmp_path / "one" / "train.csv" and one.is_file()
    assert not list((tmp_path / "one").glob(".*"))  # no temporary leftovers
    with pytest.raises(ResourceNotFound, match="nothing found"):
        backend.fetch(f"s3://{BUCKET}/penguins/absent/", tmp_path / "none")


def test_refused_calls_name_the_step_and_the_fix():
    denied = ClientError(
        {"Error": {"Code": "AccessDeniedException", "Message": "not authorized"}},
        "CreateTrainingJob",
    )
    with pytest.raises(
        AwsCallFailed, match=r"creating training job x failed: .*infrastructure/"
    ):
        with aws_call("creating training job x"):
            raise denied
    with pytest.raises(
        AwsCallFailed, match="no AWS credentials found; set AWS_PROFILE"
    ):
        with aws_call("uploading data"):
            raise NoCredentialsError()


def test_status_lists_jobs_endpoints_and_schedules(backend, tmp_path):
    helpers.run_full_flow(backend, tmp_path)
    stub = PartialStubber(backend.clients.sagemaker, {"ListMonitoringSchedules"})
    stub.add_response("list_monitoring_schedules", {"MonitoringScheduleSummaries": []})
    with stub:
        status = backend.status()
    assert status["backend"] == "aws"
    assert status["training_jobs"] == [
        {"name": "penguins-train-1", "status": "Completed"}
    ]
    assert status["processing_jobs"] == [
        {"name": "penguins-baseline-1", "status": "Completed"}
    ]
    assert status["endpoints"] == []  # torn down by the flow
    assert status["monitoring_schedules"] == []


def test_aws_analyzer_baseline_is_a_processing_job_on_awss_image(backend, tmp_path):
    from orchestration.aws.aws_analyzer import suggest_baseline_with_aws_analyzer

    data_uri = backend.upload_data(write_processed(tmp_path / "p"), "data/processed")
    described = suggest_baseline_with_aws_analyzer(
        backend.clients.session,
        backend.clients.sagemaker,
        helpers.ROLE_ARN,
        data_uri + "train.csv",
        f"s3://{BUCKET}/penguins/aws-baseline",
        "penguins-aws-baseline-1",
        wait=False,  # the SDK's own waiter sleeps between polls
    )
    image = described["AppSpecification"]["ImageUri"]
    assert image.endswith("/sagemaker-model-monitor-analyzer")  # AWS's, not ours
    (dataset,) = described["ProcessingInputs"]
    assert dataset["S3Input"]["S3Uri"] == data_uri + "train.csv"
    output = described["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]
    assert output["S3Uri"] == f"s3://{BUCKET}/penguins/aws-baseline"

"""Batch transform on the AWS backend: the CreateTransformJob request against
the service model, what SageMaker would refuse, the job's outcome parsed from
DescribeTransformJob, and the backend's run through moto (which creates and
describes transform jobs but runs nothing) with faults moto cannot produce
(a Failed job, a refused job, throttling, Ctrl-C) answered by botocore's
Stubber. Every call a path makes is checked against the `transform` policy."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import botocore.session
import pytest
from botocore.validate import ParamValidator

from orchestration.aws import transform
from orchestration.aws.errors import AwsCallFailed
from orchestration.backends.base import (
    BackendError,
    InvalidName,
    TransformCaptureSpec,
    TransformJobSpec,
)
from tests import iam_policies, service_model
from tests.orchestration import aws_conftest_helpers as helpers
from tests.orchestration.aws_conftest_helpers import (
    ARN_PREFIX,
    BUCKET,
    CallLog,
    PartialStubber,
)
from tests.orchestration.test_aws_faults import no_backoff, throttle  # noqa: F401

moto_url = helpers.moto_url
aws_settings = helpers.aws_settings
backend = helpers.backend

IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/sklearn-byoc:latest"
ARTIFACT = f"s3://{BUCKET}/penguins/training/job/output/model.tar.gz"
TAGS = {"project": "sklearn-byoc", "owner": "ml-team"}
JOB = "penguins-transform-1"
MODEL = "penguins-species-v1-transform-1"
START = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
MODEL_FAILED = (
    "ClientError: See job logs for more information: the container answered 400 "
    "for test.csv lines 1-12: column 'island' holds 'Atlantis'"
)


def spec(**overrides) -> TransformJobSpec:
    values = dict(
        job_name=JOB,
        model_name=MODEL,
        model_artifact=ARTIFACT,
        image=IMAGE,
        input_location=f"s3://{BUCKET}/penguins/data/processed/test/",
        output_location=f"s3://{BUCKET}/penguins/transform/{JOB}/",
    )
    return TransformJobSpec(**{**values, **overrides})


MAXIMAL = dict(
    content_type="application/jsonlines",
    split_type="Line",
    accept="application/jsonlines",
    assemble_with="Line",
    batch_strategy="MultiRecord",
    max_payload_in_mb=10,
    max_concurrent_transforms=10,
    input_filter="$.features",
    join_source="Input",
    output_filter="$['id','SageMakerOutput']",
    invocation_timeout_seconds=3600,
    instance_type="ml.c5.xlarge",
    instance_count=2,
    environment={f"VAR_{i}": "x" * 100 for i in range(16)},
    capture=TransformCaptureSpec(
        destination=f"s3://{BUCKET}/penguins/transform-capture/",
        generate_inference_id=True,
    ),
)


def assert_valid(operation: str, params: dict, output: bool = False) -> None:
    """What botocore checks and what it leaves to AWS (patterns, enums)."""
    model = botocore.session.get_session().get_service_model("sagemaker")
    operation_model = model.operation_model(operation)
    shape = operation_model.output_shape if output else operation_model.input_shape
    report = ParamValidator().validate(params, shape)
    assert not report.has_errors(), report.generate_report()
    assert service_model.violations_of(shape, params, "") == []


# --- the request ---------------------------------------------------------------
@pytest.mark.parametrize(
    "overrides",
    [
        {},
        {"split_type": "None", "assemble_with": "None", "batch_strategy": None},
        {"batch_strategy": "SingleRecord", "max_payload_in_mb": 0},
        {"max_concurrent_transforms": 4, "max_payload_in_mb": 25},
        {"capture": TransformCaptureSpec(f"s3://{BUCKET}/c", False)},
        MAXIMAL,
    ],
    ids=["defaults", "whole-files", "single-record", "at-the-limit", "capture", "max"],
)
def test_transform_requests_pass_the_service_model(overrides):
    request = transform.transform_request(spec(**overrides), TAGS)
    assert_valid("CreateTransformJob", request)


def test_unset_batch_settings_are_left_to_the_container():
    request = transform.transform_request(spec(), TAGS)
    for key in ("BatchStrategy", "MaxPayloadInMB", "MaxConcurrentTransforms"):
        assert key not in request
    assert "DataCaptureConfig" not in request
    assert request["TransformOutput"] == {
        "S3OutputPath": f"s3://{BUCKET}/penguins/transform/{JOB}/",
        "Accept": "text/csv",  # the content type, unless accept is given
        "AssembleWith": "Line",
    }
    assert request["TransformInput"] == {
        "DataSource": {
            "S3DataSource": {
                "S3DataType": "S3Prefix",
                "S3Uri": f"s3://{BUCKET}/penguins/data/processed/test/",
            }
        },
        "ContentType": "text/csv",
        "CompressionType": "None",
        "SplitType": "Line",
    }
    assert request["DataProcessing"] == {
        "InputFilter": "$",
        "JoinSource": "None",
        "OutputFilter": "$",
    }
    assert request["ModelClientConfig"] == {"InvocationsTimeoutInSeconds": 600}
    assert request["Tags"] == [
        {"Key": "owner", "Value": "ml-team"},
        {"Key": "project", "Value": "sklearn-byoc"},
    ]


def test_the_maximal_request_carries_every_setting():
    request = transform.transform_request(spec(**MAXIMAL), TAGS)
    assert request["BatchStrategy"] == "MultiRecord"
    assert request["MaxPayloadInMB"] == 10
    assert request["MaxConcurrentTransforms"] == 10
    assert request["DataCaptureConfig"] == {
        "DestinationS3Uri": f"s3://{BUCKET}/penguins/transform-capture/",
        "GenerateInferenceId": True,
    }
    assert request["TransformResources"] == {
        "InstanceType": "ml.c5.xlarge",
        "InstanceCount": 2,
    }
    assert request["DataProcessing"]["JoinSource"] == "Input"
    assert len(request["Environment"]) == 16


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"input_location": "/data/test"},
            "input_location '/data/test' must be an s3://bucket/prefix",
        ),
        (
            {"output_location": "s3:///out"},
            "output_location 's3:///out' must be an s3://bucket/prefix",
        ),
        (
            {"capture": TransformCaptureSpec("capture/")},
            "capture destination 'capture/' must be an s3://bucket/prefix",
        ),
        (
            {"split_type": "Lines"},
            "split_type='Lines' is not one of None, Line, RecordIO, TFRecord",
        ),
        ({"assemble_with": "Newline"}, "assemble_with='Newline' is not one of None"),
        ({"join_source": "Output"}, "join_source='Output' is not one of None, Input"),
        (
            {"batch_strategy": "Multi"},
            "batch_strategy='Multi' is not one of SingleRecord, MultiRecord",
        ),
        ({"max_payload_in_mb": 101}, "max_payload_in_mb=101 must be 0-100"),
        ({"max_payload_in_mb": -1}, "max_payload_in_mb=-1 must be 0-100"),
        (
            {"max_concurrent_transforms": -2},
            "max_concurrent_transforms=-2 must be 0 or more",
        ),
        (
            {"max_concurrent_transforms": 8, "max_payload_in_mb": 13},
            "8 x 13 = 104 MB, more than the 100 MB SageMaker allows",
        ),
        (
            {"invocation_timeout_seconds": 0},
            "invocation_timeout_seconds=0 must be 1-3600",
        ),
        (
            {"invocation_timeout_seconds": 3601},
            "invocation_timeout_seconds=3601 must be 1-3600",
        ),
        ({"instance_count": 0}, "instance_count=0 must be 1 or more"),
        (
            {"environment": {f"V{i}": "x" for i in range(17)}},
            "17 environment variables, more than the 16",
        ),
        (
            {"environment": {"1ST": "x"}},
            "environment variable name '1ST' must be letters, digits and underscores",
        ),
        (
            {"environment": {"BIG": "x" * 10241}},
            "environment variable BIG is 10241 characters, more than 10240",
        ),
        (
            {"input_filter": "$." + "a" * 62},
            "input_filter is 64 characters, more than the 63",
        ),
    ],
)
def test_what_sagemaker_refuses_is_refused_first(overrides, message):
    with pytest.raises(transform.InvalidTransformSettings) as caught:
        transform.transform_request(spec(**overrides), TAGS)
    assert message in caught.value.message
    assert caught.value.message.startswith(f"transform job {JOB}: ")


@pytest.mark.parametrize(
    ("overrides", "kind"),
    [
        ({"job_name": "penguins_transform"}, "transform job"),
        ({"model_name": "m-"}, "model"),
    ],
)
def test_invalid_names_are_refused(overrides, kind):
    with pytest.raises(InvalidName, match=f"^{kind} name"):
        transform.transform_request(spec(**overrides), TAGS)


# --- the outcome -----------------------------------------------------------------
def description(status: str, **extra) -> dict:
    """DescribeTransformJob's answer, as the service model shapes it."""
    answer = {
        "TransformJobName": JOB,
        "TransformJobArn": f"{ARN_PREFIX}:transform-job/{JOB}",
        "TransformJobStatus": status,
        "ModelName": MODEL,
        "TransformInput": {
            "DataSource": {
                "S3DataSource": {
                    "S3DataType": "S3Prefix",
                    "S3Uri": f"s3://{BUCKET}/penguins/data/processed/test/",
                }
            },
            "ContentType": "text/csv",
            "SplitType": "Line",
        },
        "TransformOutput": {
            "S3OutputPath": f"s3://{BUCKET}/penguins/transform/{JOB}/",
            "AssembleWith": "Line",
        },
        "TransformResources": {"InstanceType": "ml.m5.large", "InstanceCount": 1},
        "CreationTime": START,
        **extra,
    }
    assert_valid("DescribeTransformJob", answer, output=True)
    return answer


def test_a_completed_job_gives_its_output_capture_and_duration():
    result = transform.result_from_description(
        description(
            "Completed",
            TransformStartTime=START + timedelta(seconds=30),
            TransformEndTime=START + timedelta(seconds=272),
            DataCaptureConfig={
                "DestinationS3Uri": f"s3://{BUCKET}/penguins/transform-capture/",
                "GenerateInferenceId": True,
            },
        )
    )
    assert result.status == "Completed"
    assert result.output_location == f"s3://{BUCKET}/penguins/transform/{JOB}/"
    assert result.capture_destination == f"s3://{BUCKET}/penguins/transform-capture/"
    assert result.duration_seconds == 242.0
    assert result.failure_reason is None


def test_a_failed_job_keeps_sagemakers_reason():
    result = transform.result_from_description(
        description(
            "Failed",
            FailureReason=MODEL_FAILED,
            TransformStartTime=START,
            TransformEndTime=START + timedelta(seconds=61),
        )
    )
    assert (result.status, result.failure_reason) == ("Failed", MODEL_FAILED)
    assert result.duration_seconds == 61.0
    assert result.capture_destination is None


def test_a_job_that_never_started_has_no_duration():
    result = transform.result_from_description(
        description("Failed", FailureReason="ResourceLimitExceeded")
    )
    assert result.duration_seconds == 0.0


# --- the backend, through moto ----------------------------------------------------
def logged(backend) -> CallLog:
    log = CallLog(step="transform")
    log.attach(backend.clients)
    return log


def models_in_moto(backend) -> list[str]:
    raw = backend.clients.session.client(
        "sagemaker",
        region_name=helpers.REGION,
        endpoint_url=backend.settings.endpoint_url,
    )
    return [m["ModelName"] for m in raw.list_models()["Models"]]


def test_a_local_input_is_uploaded_and_the_jobs_model_is_removed(backend, tmp_path):
    inputs = tmp_path / "test"
    inputs.mkdir()
    (inputs / "test.csv").write_text("39.1,18.7,Torgersen\n47.5,15.0,Biscoe\n")
    # moto runs nothing: put the output SageMaker would write.
    backend.clients.s3.put_object(
        Bucket=BUCKET, Key=f"penguins/transform/{JOB}/test.csv.out", Body=b"A\nG\n"
    )
    log = logged(backend)
    progress: list[str] = []
    result = backend.run_transform_job(
        spec(input_location=str(inputs), capture=MAXIMAL["capture"]), progress.append
    )
    assert result.status == "Completed"
    assert result.outputs == (f"s3://{BUCKET}/penguins/transform/{JOB}/test.csv.out",)
    (created,) = log.params["CreateTransformJob"]
    source = created["TransformInput"]["DataSource"]["S3DataSource"]
    assert source["S3Uri"] == f"s3://{BUCKET}/penguins/jobs/{JOB}/input/"
    assert log.params["CreateModel"][0]["PrimaryContainer"] == {
        "Image": IMAGE,
        "ModelDataUrl": ARTIFACT,
        "Environment": {},
    }
    assert log.operations("transform") == [
        "PutObject",
        "CreateModel",
        "CreateTransformJob",
        "DescribeTransformJob",
        "ListObjectsV2",
        "DeleteModel",
    ]
    assert models_in_moto(backend) == []
    assert progress[0] == (
        f"transform job {JOB} created: s3://{BUCKET}/penguins/jobs/{JOB}/input/ -> "
        f"s3://{BUCKET}/penguins/transform/{JOB}/"
    )
    assert iam_policies.audit(log.requests) == []


def test_a_local_output_location_becomes_a_prefix_below_the_data(backend):
    log = logged(backend)
    result = backend.run_transform_job(spec(output_location="out/"))
    expected = f"s3://{BUCKET}/penguins/jobs/{JOB}/output"
    assert log.params["CreateTransformJob"][0]["TransformOutput"]["S3OutputPath"] == (
        expected
    )
    assert result.output_location == expected
    assert result.outputs == ()
    assert iam_policies.audit(log.requests) == []


def test_a_refused_setting_makes_no_call(backend, tmp_path):
    log = logged(backend)
    with pytest.raises(transform.InvalidTransformSettings, match="must be 1-3600"):
        backend.run_transform_job(
            spec(input_location=str(tmp_path), invocation_timeout_seconds=7200)
        )
    assert log.calls == []


def test_a_local_model_artifact_is_refused_before_any_call(backend):
    log = logged(backend)
    with pytest.raises(BackendError, match="must be an s3:// URI of model.tar.gz"):
        backend.run_transform_job(spec(model_artifact="/tmp/model.tar.gz"))
    assert log.calls == []


def answer_describe(backend, *statuses: tuple[str, dict]) -> PartialStubber:
    stub = PartialStubber(backend.clients.sagemaker, {"DescribeTransformJob"})
    for status, extra in statuses:
        stub.add_response("describe_transform_job", description(status, **extra))
    return stub


def test_a_failed_job_is_a_result_with_its_reason_not_an_error(backend):
    log = logged(backend)
    stub = answer_describe(
        backend,
        ("InProgress", {}),
        ("InProgress", {}),
        (
            "Failed",
            {
                "FailureReason": MODEL_FAILED,
                "TransformStartTime": START,
                "TransformEndTime": START + timedelta(seconds=40),
            },
        ),
    )
    progress: list[str] = []
    with stub:
        result = backend.run_transform_job(spec(), progress.append)
    stub.assert_no_pending_responses()
    assert (result.status, result.failure_reason) == ("Failed", MODEL_FAILED)
    assert result.outputs == ()  # nothing listed for a failed job
    assert progress[1:] == [
        f"transform job {JOB}: InProgress",
        f"transform job {JOB}: Failed ({MODEL_FAILED})",
        f"transform job {JOB} Failed: {MODEL_FAILED}",
    ]
    assert models_in_moto(backend) == []
    assert iam_policies.audit(log.requests) == []


def test_a_refused_job_deletes_the_model_it_was_to_run(backend):
    log = logged(backend)
    stub = PartialStubber(backend.clients.sagemaker, {"CreateTransformJob"})
    stub.add_client_error(
        "create_transform_job",
        service_error_code="ValidationException",
        service_message="MaxPayloadInMB x MaxConcurrentTransforms exceeds the limit",
    )
    with stub, pytest.raises(AwsCallFailed) as caught:
        backend.run_transform_job(spec())
    assert caught.value.message == (
        f"creating transform job {JOB} failed: ValidationException: "
        "MaxPayloadInMB x MaxConcurrentTransforms exceeds the limit"
    )
    assert log.operations("transform")[-1] == "DeleteModel"
    assert models_in_moto(backend) == []
    assert iam_policies.audit(log.requests) == []


def test_ctrl_c_stops_the_job_and_removes_its_model(backend):
    log = logged(backend)
    stub = PartialStubber(
        backend.clients.sagemaker, {"DescribeTransformJob", "StopTransformJob"}
    )
    stub.add_response("describe_transform_job", description("InProgress"))
    stub.add_response("stop_transform_job", {}, {"TransformJobName": JOB})
    lines: list[str] = []

    def interrupt_while_waiting(line: str) -> None:
        lines.append(line)
        if "InProgress" in line:
            raise KeyboardInterrupt

    with stub, pytest.raises(KeyboardInterrupt):
        backend.run_transform_job(spec(), interrupt_while_waiting)
    stub.assert_no_pending_responses()
    assert log.operations("transform")[-2:] == ["StopTransformJob", "DeleteModel"]
    assert lines[-1] == f"transform job {JOB}: stop requested"
    assert models_in_moto(backend) == []
    assert iam_policies.audit(log.requests) == []


def test_a_model_that_cannot_be_deleted_is_reported_and_the_result_kept(backend):
    stub = PartialStubber(backend.clients.sagemaker, {"DeleteModel"})
    stub.add_client_error(
        "delete_model",
        service_error_code="AccessDeniedException",
        service_message="not authorized to perform: sagemaker:DeleteModel",
    )
    progress: list[str] = []
    with stub:
        result = backend.run_transform_job(spec(), progress.append)
    assert result.status == "Completed"
    assert progress[-1].startswith(f"deleting model {MODEL} failed: AccessDenied")
    assert progress[-1].endswith(f": delete model {MODEL} by hand")


def test_a_throttled_wait_is_retried_by_botocore(backend, no_backoff):  # noqa: F811
    attempts = throttle(backend.clients.sagemaker, "DescribeTransformJob", times=2)
    result = backend.run_transform_job(spec())
    assert result.status == "Completed"
    assert len(attempts) == 3

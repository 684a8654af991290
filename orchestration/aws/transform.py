"""Batch transform jobs: the CreateTransformJob request and its outcome.

A transform job runs the image's `serve` over every object below an S3
prefix and writes `<object>.out` below the output prefix, one output line per
input record with `SplitType=Line` and `AssembleWith=Line`. The job runs a
SageMaker model, which the backend creates for the job from the version's
model.tar.gz (`hosting.container_model_request`) and deletes afterwards.

What SageMaker refuses with a ValidationException after the call (names,
payload and concurrency limits, timeouts, locations) is refused here first,
with one message per rule, so a bad setting fails before anything is created.
"""

from __future__ import annotations

import re
from typing import Any

from orchestration.aws import s3
from orchestration.aws.naming import check_name
from orchestration.backends.base import (
    COMPLETED,
    FAILED,
    STOPPED,
    BackendError,
    TransformJobResult,
    TransformJobSpec,
)

TERMINAL = (COMPLETED, FAILED, STOPPED)
OUTPUT_SUFFIX = ".out"
# CreateTransformJob's enums, named in the messages of what is refused.
SPLIT_TYPES = ("None", "Line", "RecordIO", "TFRecord")
ASSEMBLE_WITH = ("None", "Line")
BATCH_STRATEGIES = ("SingleRecord", "MultiRecord")
JOIN_SOURCES = ("None", "Input")
# [your-algorithms-batch-code], CreateTransformJob: MaxPayloadInMB is 0-100,
# and MaxConcurrentTransforms x MaxPayloadInMB must not exceed 100.
MAX_PAYLOAD_IN_MB = 100
MAX_TIMEOUT_SECONDS = 3600  # ModelClientConfig.InvocationsTimeoutInSeconds
MAX_ENVIRONMENT = 16  # TransformEnvironmentMap
MAX_JSON_PATH = 63  # DataProcessing's InputFilter / OutputFilter
ENVIRONMENT_KEY = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]{0,1023}")
MAX_ENVIRONMENT_VALUE = 10240


class InvalidTransformSettings(BackendError):
    """A transform job setting SageMaker would refuse."""

    status_code = 400
    code = "invalid_transform_settings"


def transform_request(spec: TransformJobSpec, tags: dict[str, str]) -> dict[str, Any]:
    """The CreateTransformJob request for `spec`, its input already on S3."""
    check_name(spec.job_name, "transform job")
    check_name(spec.model_name, "model")
    check_settings(spec)
    request: dict[str, Any] = {
        "TransformJobName": spec.job_name,
        "ModelName": spec.model_name,
        "TransformInput": {
            "DataSource": {
                "S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": spec.input_location}
            },
            "ContentType": spec.content_type,
            "CompressionType": "None",
            "SplitType": spec.split_type,
        },
        "TransformOutput": {
            "S3OutputPath": spec.output_location,
            "Accept": spec.accept or spec.content_type,
            "AssembleWith": spec.assemble_with,
        },
        "DataProcessing": {
            "InputFilter": spec.input_filter,
            "JoinSource": spec.join_source,
            "OutputFilter": spec.output_filter,
        },
        "ModelClientConfig": {
            "InvocationsTimeoutInSeconds": spec.invocation_timeout_seconds
        },
        "TransformResources": {
            "InstanceType": spec.instance_type,
            "InstanceCount": spec.instance_count,
        },
        "Environment": dict(spec.environment),
        "Tags": [{"Key": k, "Value": v} for k, v in sorted(tags.items())],
    }
    # Unset, the container's GET /execution-parameters decides, then SageMaker.
    for key, value in (
        ("BatchStrategy", spec.batch_strategy),
        ("MaxPayloadInMB", spec.max_payload_in_mb),
        ("MaxConcurrentTransforms", spec.max_concurrent_transforms),
    ):
        if value is not None:
            request[key] = value
    if spec.capture is not None:
        request["DataCaptureConfig"] = {
            "DestinationS3Uri": spec.capture.destination,
            "GenerateInferenceId": spec.capture.generate_inference_id,
        }
    return request


def check_settings(spec: TransformJobSpec) -> None:
    """Raise `InvalidTransformSettings` for the first rule `spec` breaks."""
    name = spec.job_name
    for what, location in (
        ("input_location", spec.input_location),
        ("output_location", spec.output_location),
        *(
            [("capture destination", spec.capture.destination)]
            if spec.capture is not None
            else []
        ),
    ):
        if not s3.is_s3_uri(location) or not location[len(s3.SCHEME) :].split("/")[0]:
            raise InvalidTransformSettings(
                f"transform job {name}: {what} {location!r} must be an s3://bucket/prefix on the aws backend"
            )
    for what, value, allowed in (
        ("split_type", spec.split_type, SPLIT_TYPES),
        ("assemble_with", spec.assemble_with, ASSEMBLE_WITH),
        ("join_source", spec.join_source, JOIN_SOURCES),
    ):
        if value not in allowed:
            raise InvalidTransformSettings(
                f"transform job {name}: {what}={value!r} is not one of {', '.join(allowed)}"
            )
    if spec.batch_strategy is not None and spec.batch_strategy not in BATCH_STRATEGIES:
        raise InvalidTransformSettings(
            f"transform job {name}: batch_strategy={spec.batch_strategy!r} is not one of {', '.join(BATCH_STRATEGIES)} (or unset, for the container's choice)"
        )
    _check_limits(spec)
    _check_environment(spec)
    for what, path in (
        ("input_filter", spec.input_filter),
        ("output_filter", spec.output_filter),
    ):
        if len(path) > MAX_JSON_PATH:
            raise InvalidTransformSettings(
                f"transform job {name}: {what} is {len(path)} characters, more than the {MAX_JSON_PATH} of a DataProcessing JSONPath"
            )


def _check_limits(spec: TransformJobSpec) -> None:
    name = spec.job_name
    payload, concurrent = spec.max_payload_in_mb, spec.max_concurrent_transforms
    if payload is not None and not 0 <= payload <= MAX_PAYLOAD_IN_MB:
        raise InvalidTransformSettings(
            f"transform job {name}: max_payload_in_mb={payload} must be 0-{MAX_PAYLOAD_IN_MB} (0: one record per request, for streamed payloads)"
        )
    if concurrent is not None and concurrent < 0:
        raise InvalidTransformSettings(
            f"transform job {name}: max_concurrent_transforms={concurrent} must be 0 or more"
        )
    # Checked only when both are set: otherwise the container's
    # /execution-parameters supplies the other, which is only known at run time.
    if payload is not None and concurrent and concurrent * payload > MAX_PAYLOAD_IN_MB:
        raise InvalidTransformSettings(
            f"transform job {name}: max_concurrent_transforms x max_payload_in_mb = {concurrent} x {payload} = {concurrent * payload} MB, more than the {MAX_PAYLOAD_IN_MB} MB SageMaker allows; lower one of them"
        )
    timeout = spec.invocation_timeout_seconds
    if not 1 <= timeout <= MAX_TIMEOUT_SECONDS:
        raise InvalidTransformSettings(
            f"transform job {name}: invocation_timeout_seconds={timeout} must be 1-{MAX_TIMEOUT_SECONDS}"
        )
    if spec.instance_count < 1:
        raise InvalidTransformSettings(
            f"transform job {name}: instance_count={spec.instance_count} must be 1 or more"
        )


def _check_environment(spec: TransformJobSpec) -> None:
    name = spec.job_name
    if len(spec.environment) > MAX_ENVIRONMENT:
        raise InvalidTransformSettings(
            f"transform job {name}: {len(spec.environment)} environment variables, more than the {MAX_ENVIRONMENT} a transform job takes"
        )
    for key, value in spec.environment.items():
        if not ENVIRONMENT_KEY.fullmatch(key):
            raise InvalidTransformSettings(
                f"transform job {name}: environment variable name {key!r} must be letters, digits and underscores, not starting with a digit"
            )
        if len(value) > MAX_ENVIRONMENT_VALUE:
            raise InvalidTransformSettings(
                f"transform job {name}: environment variable {key} is {len(value)} characters, more than {MAX_ENVIRONMENT_VALUE}"
            )


def result_from_description(description: dict[str, Any]) -> TransformJobResult:
    start = description.get("TransformStartTime") or description.get("CreationTime")
    end = description.get("TransformEndTime")
    duration = (end - start).total_seconds() if start and end else 0.0
    output = description.get("TransformOutput") or {}
    capture = description.get("DataCaptureConfig") or {}
    return TransformJobResult(
        job_name=description["TransformJobName"],
        status=description["TransformJobStatus"],
        output_location=output.get("S3OutputPath", ""),
        failure_reason=description.get("FailureReason") or None,
        duration_seconds=max(duration, 0.0),
        capture_destination=capture.get("DestinationS3Uri"),
    )


def output_uris(bucket: str, keys: list[str]) -> tuple[str, ...]:
    """The `.out` objects among `keys`, as s3:// URIs."""
    return tuple(
        f"s3://{bucket}/{k}" for k in sorted(keys) if k.endswith(OUTPUT_SUFFIX)
    )

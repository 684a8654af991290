"""Real-time endpoints: model, endpoint config with data capture, endpoint.

An endpoint config is immutable on SageMaker, so every deployment (first or
update) creates a model and a config under fresh names; `UpdateEndpoint`
then switches the endpoint over without downtime.
"""

from __future__ import annotations

from typing import Any

from orchestration.aws import s3
from orchestration.aws.naming import check_name
from orchestration.backends.base import (
    FAILED,
    IN_SERVICE,
    BackendError,
    CaptureSpec,
    EndpointInfo,
    EndpointSpec,
)

# Both the update and SageMaker's automatic rollback failed: the endpoint
# serves a mix of the old and new configs, so neither may be deleted.
UPDATE_ROLLBACK_FAILED = "UpdateRollbackFailed"
TERMINAL = (IN_SERVICE, FAILED, "OutOfService", UPDATE_ROLLBACK_FAILED)
CAPTURE_MODES = ("Input", "Output")


def model_request(
    spec: EndpointSpec, role_arn: str, tags: dict[str, str]
) -> dict[str, Any]:
    return container_model_request(
        spec.model_name,
        spec.model_artifact,
        spec.image,
        spec.environment,
        role_arn,
        tags,
    )


def container_model_request(
    model_name: str,
    model_artifact: str,
    image: str,
    environment: dict[str, str],
    role_arn: str,
    tags: dict[str, str],
) -> dict[str, Any]:
    """The CreateModel request of one container: what endpoints and batch
    transform jobs both run."""
    check_name(model_name, "model")
    if not s3.is_s3_uri(model_artifact):
        raise BackendError(
            f"model artifact {model_artifact!r} must be an s3:// URI of model.tar.gz on the aws backend (train there, or upload it first)"
        )
    return {
        "ModelName": model_name,
        "PrimaryContainer": {
            "Image": image,
            "ModelDataUrl": model_artifact,
            "Environment": dict(environment),
        },
        "ExecutionRoleArn": role_arn,
        "Tags": _tags(tags),
    }


def data_capture_config(capture: CaptureSpec) -> dict[str, Any]:
    if not s3.is_s3_uri(capture.destination):
        raise BackendError(
            f"capture destination {capture.destination!r} must be an s3:// prefix on the aws backend"
        )
    if not 0 <= capture.sampling_percentage <= 100:
        raise BackendError(
            f"capture sampling_percentage={capture.sampling_percentage} must be 0-100"
        )
    bad = [m for m in capture.modes if m not in CAPTURE_MODES]
    if bad or not capture.modes:
        raise BackendError(
            f"capture modes {list(capture.modes)} must be a non-empty subset of {list(CAPTURE_MODES)}"
        )
    header: dict[str, list[str]] = {}
    if capture.csv_content_types:
        header["CsvContentTypes"] = list(capture.csv_content_types)
    if capture.json_content_types:
        header["JsonContentTypes"] = list(capture.json_content_types)
    config: dict[str, Any] = {
        "EnableCapture": True,
        "InitialSamplingPercentage": capture.sampling_percentage,
        "DestinationS3Uri": capture.destination,
        "CaptureOptions": [{"CaptureMode": mode} for mode in capture.modes],
    }
    if header:
        config["CaptureContentTypeHeader"] = header
    return config


def endpoint_config_request(
    spec: EndpointSpec, config_name: str, tags: dict[str, str]
) -> dict[str, Any]:
    check_name(config_name, "endpoint config")
    request: dict[str, Any] = {
        "EndpointConfigName": config_name,
        "ProductionVariants": [
            {
                "VariantName": spec.variant_name,
                "ModelName": spec.model_name,
                "InitialInstanceCount": spec.instance_count,
                "InstanceType": spec.instance_type,
                "InitialVariantWeight": 1.0,
            }
        ],
        "Tags": _tags(tags),
    }
    if spec.capture is not None:
        request["DataCaptureConfig"] = data_capture_config(spec.capture)
    return request


def endpoint_info(description: dict[str, Any], region: str) -> EndpointInfo:
    name = description["EndpointName"]
    capture = description.get("DataCaptureConfig") or {}
    return EndpointInfo(
        endpoint_name=name,
        status=description["EndpointStatus"],
        url=invocation_url(region, name),
        capture_destination=capture.get("DestinationS3Uri"),
        failure_reason=description.get("FailureReason"),
    )


def invocation_url(region: str, endpoint_name: str) -> str:
    return (
        f"https://runtime.sagemaker.{region}.amazonaws.com/endpoints/"
        f"{endpoint_name}/invocations"
    )


def _tags(tags: dict[str, str]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in sorted(tags.items())]

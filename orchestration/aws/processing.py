"""Processing jobs running the image's `baseline` or `monitor` command.

Each input of a `ProcessingJobSpec` maps a path under /opt/ml/processing/ to
an S3 prefix; the job's single output is /opt/ml/processing/output, uploaded
at the end. The Model Monitor environment (dataset_format, dataset_source,
output_path, baseline_*) is passed through unchanged, so the container reads
the same contract as under a monitoring schedule.
"""

from __future__ import annotations

import re
from typing import Any

from orchestration.aws.naming import check_name
from orchestration.backends.base import (
    COMPLETED,
    CONTAINER,
    FAILED,
    STOPPED,
    ProcessingJobResult,
    ProcessingJobSpec,
    processing_container_path,
)

TERMINAL = (COMPLETED, FAILED, STOPPED)
OUTPUT_PATH = str(CONTAINER.processing_output_dir)


def input_name(relative: str) -> str:
    """An input name from its path: input/endpoint -> input-endpoint."""
    return re.sub(r"[^a-zA-Z0-9-]+", "-", relative.strip("/")).strip("-")[:256]


def processing_request(
    spec: ProcessingJobSpec,
    role_arn: str,
    input_uris: dict[str, str],
    volume_gb: int,
    tags: dict[str, str],
) -> dict[str, Any]:
    """The CreateProcessingJob request for `spec`, its inputs already on S3."""
    check_name(spec.job_name, "processing job")
    return {
        "ProcessingJobName": spec.job_name,
        "ProcessingInputs": [
            {
                "InputName": input_name(relative),
                "S3Input": {
                    "S3Uri": uri,
                    "LocalPath": processing_container_path(relative),
                    "S3DataType": "S3Prefix",
                    "S3InputMode": "File",
                    "S3DataDistributionType": "FullyReplicated",
                },
            }
            for relative, uri in sorted(input_uris.items())
        ],
        "ProcessingOutputConfig": {
            "Outputs": [
                {
                    "OutputName": "results",
                    "S3Output": {
                        "S3Uri": spec.output_location,
                        "LocalPath": OUTPUT_PATH,
                        "S3UploadMode": "EndOfJob",
                    },
                }
            ]
        },
        "ProcessingResources": {
            "ClusterConfig": {
                "InstanceCount": 1,
                "InstanceType": spec.instance_type,
                "VolumeSizeInGB": volume_gb,
            }
        },
        "StoppingCondition": {"MaxRuntimeInSeconds": spec.max_runtime_seconds},
        # The image puts each command on PATH; naming it as the entrypoint is
        # valid on SageMaker and what the SDK's local mode needs to run it.
        "AppSpecification": {
            "ImageUri": spec.image,
            "ContainerEntrypoint": [spec.command],
        },
        "Environment": dict(spec.environment),
        "RoleArn": role_arn,
        "Tags": [{"Key": k, "Value": v} for k, v in sorted(tags.items())],
    }


def result_from_description(description: dict[str, Any]) -> ProcessingJobResult:
    start = description.get("ProcessingStartTime") or description.get("CreationTime")
    end = description.get("ProcessingEndTime") or description.get("LastModifiedTime")
    outputs = (description.get("ProcessingOutputConfig") or {}).get("Outputs") or []
    location = outputs[0]["S3Output"]["S3Uri"] if outputs else ""
    return ProcessingJobResult(
        job_name=description["ProcessingJobName"],
        status=description["ProcessingJobStatus"],
        exit_message=description.get("ExitMessage"),
        output_location=location,
        failure_reason=description.get("FailureReason"),
        duration_seconds=max((end - start).total_seconds(), 0.0)
        if start and end
        else 0.0,
    )

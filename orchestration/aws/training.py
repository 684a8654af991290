"""SageMaker training jobs: the CreateTrainingJob request and its outcome.

`train` prints metrics as stable `name=value` lines (e.g.
`validation:accuracy=0.9712`); SageMaker scrapes them from the job's logs with
the regexes of `MetricDefinitions` and reports the last value of each in
`FinalMetricDataList`, which becomes `TrainingJobResult.metrics`.
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
    TrainingJobResult,
    TrainingJobSpec,
)

TERMINAL = (COMPLETED, FAILED, STOPPED)
# A decimal number as Python prints floats: 0.97, -1.5, 1e-05, 3.2E+10, nan.
NUMBER = r"([-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?)"


def metric_regex(name: str) -> str:
    """A regex capturing the value of the line `name=value` (and no longer name)."""
    return rf"(?:^|[^\w:]){re.escape(name)}={NUMBER}"


def metric_definitions(names: tuple[str, ...]) -> list[dict[str, str]]:
    return [{"Name": name, "Regex": metric_regex(name)} for name in names]


def training_request(
    spec: TrainingJobSpec,
    role_arn: str,
    channel_uris: dict[str, str],
    output_uri: str,
    metric_names: tuple[str, ...],
    volume_gb: int,
    tags: dict[str, str],
) -> dict[str, Any]:
    """The CreateTrainingJob request for `spec`, its channels already on S3."""
    check_name(spec.job_name, "training job")
    return {
        "TrainingJobName": spec.job_name,
        "AlgorithmSpecification": {
            "TrainingImage": spec.image,
            "TrainingInputMode": "File",
            "MetricDefinitions": metric_definitions(metric_names),
            "EnableSageMakerMetricsTimeSeries": True,
        },
        "RoleArn": role_arn,
        "HyperParameters": dict(spec.hyperparameters),
        "InputDataConfig": input_data_config(channel_uris, spec.content_type),
        "OutputDataConfig": {"S3OutputPath": output_uri},
        "ResourceConfig": resource_config(spec, volume_gb),
        "StoppingCondition": {"MaxRuntimeInSeconds": spec.max_runtime_seconds},
        "Environment": dict(spec.environment),
        "Tags": [{"Key": k, "Value": v} for k, v in sorted(tags.items())],
    }


def input_data_config(
    channel_uris: dict[str, str], content_type: str
) -> list[dict[str, Any]]:
    """One File-mode S3 channel per entry: what `train` reads under
    /opt/ml/input/data/<channel>, for a training job or a tuning job's trials."""
    return [
        {
            "ChannelName": channel,
            "DataSource": {
                "S3DataSource": {
                    "S3DataType": "S3Prefix",
                    "S3Uri": uri,
                    "S3DataDistributionType": "FullyReplicated",
                }
            },
            "ContentType": content_type,
            "CompressionType": "None",
        }
        for channel, uri in sorted(channel_uris.items())
    ]


def resource_config(spec: TrainingJobSpec, volume_gb: int) -> dict[str, Any]:
    return {
        "InstanceType": spec.instance_type,
        "InstanceCount": spec.instance_count,
        "VolumeSizeInGB": volume_gb,
    }


def progress_detail(description: dict[str, Any]) -> str | None:
    """The newest secondary status and its message, e.g. 'Training: ...'."""
    transitions = description.get("SecondaryStatusTransitions") or []
    if transitions:
        last = transitions[-1]
        message = last.get("StatusMessage", "")
        return f"{last.get('Status', '')}: {message}".rstrip(": ")
    return description.get("SecondaryStatus")


def result_from_description(description: dict[str, Any]) -> TrainingJobResult:
    status = description["TrainingJobStatus"]
    start = description.get("TrainingStartTime") or description.get("CreationTime")
    end = description.get("TrainingEndTime") or description.get("LastModifiedTime")
    duration = (end - start).total_seconds() if start and end else 0.0
    artifact = (description.get("ModelArtifacts") or {}).get("S3ModelArtifacts")
    return TrainingJobResult(
        job_name=description["TrainingJobName"],
        status=status,
        model_artifact=artifact if status == COMPLETED else None,
        failure_reason=description.get("FailureReason"),
        metrics={
            m["MetricName"]: float(m["Value"])
            for m in description.get("FinalMetricDataList") or []
        },
        duration_seconds=max(duration, 0.0),
    )


def default_output_uri(data_prefix: str) -> str:
    return s3.join(data_prefix, "models")

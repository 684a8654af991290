"""The model-quality schedule: captured predictions merged with ground truth.

SageMaker's model-quality monitoring takes a separate job definition
(`CreateModelQualityJobDefinition`) that a schedule names
(`CreateMonitoringSchedule` with `MonitoringType=ModelQuality`): our image,
started as `monitor` with analysis_type=MODEL_QUALITY and the problem type;
the endpoint's capture (`EndpointInput`, offset so that labels collected an
hour late still count) and the ground-truth records that `ground-truth`
uploads (`GroundTruthS3Input`); the relaxed constraints.json of the
model-quality baseline; and the output prefix of each execution.

A job definition cannot be changed. `schedule` run again creates a new one
(its name carries a timestamp), points the schedule at it and deletes the
one it replaced; teardown deletes the schedule, then its job definition.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from orchestration.aws import s3
from orchestration.aws.alarms import schedule_interval_seconds
from orchestration.aws.errors import aws_call
from orchestration.aws.monitoring import (
    ENDPOINT_INPUT_PATH,
    HOURLY,
    MAX_RUNTIME_SECONDS,
    OUTPUT_PATH,
    check_schedule_expression,
)
from orchestration.aws.naming import check_name
from orchestration.backends.base import BackendError

MODEL_QUALITY = "ModelQuality"
PROBLEM_TYPES = ("Regression", "BinaryClassification", "MulticlassClassification")
# Labels for an hour's inferences may come in the next hour: each execution
# looks at the inferences of one schedule interval, ending an hour ago.
LABEL_DELAY_HOURS = 1


def schedule_name_for(endpoint_name: str) -> str:
    return f"{endpoint_name}-model-quality"


@dataclass(frozen=True)
class QualityScheduleSpec:
    schedule_name: str
    definition_name: str  # a new one each time: job definitions cannot change
    endpoint_name: str
    image: str
    problem_type: str  # Regression | BinaryClassification | MulticlassClassification
    constraints_uri: str  # the model-quality baseline's (relaxed) constraints.json
    ground_truth_uri: str  # s3://<bucket>/<prefix>/groundtruth
    output_uri: str
    schedule_expression: str = HOURLY
    instance_type: str = "ml.m5.large"
    volume_gb: int = 20
    # Where the image's predictions are in the captured output, when SageMaker
    # must be told (the image reads its own output shapes without them).
    inference_attribute: str | None = None
    probability_attribute: str | None = None
    probability_threshold: float | None = None
    environment: dict[str, str] = field(default_factory=dict)


def time_offsets(expression: str) -> tuple[str, str]:
    """(StartTimeOffset, EndTimeOffset): one schedule interval, an hour back."""
    hours = schedule_interval_seconds(expression) // 3600
    return f"-PT{hours + LABEL_DELAY_HOURS}H", f"-PT{LABEL_DELAY_HOURS}H"


def job_definition_request(
    spec: QualityScheduleSpec, role_arn: str, tags: dict[str, str]
) -> dict[str, Any]:
    """The CreateModelQualityJobDefinition request for `spec`."""
    check_name(spec.definition_name, "model-quality job definition")
    check_name(spec.endpoint_name, "endpoint")
    for uri in (spec.constraints_uri, spec.ground_truth_uri, spec.output_uri):
        s3.parse_s3_uri(uri)
    if spec.problem_type not in PROBLEM_TYPES:
        raise BackendError(
            f"model-quality problem type {spec.problem_type!r} is not one of {', '.join(PROBLEM_TYPES)}"
        )
    expression = check_schedule_expression(
        spec.schedule_expression, "schedule expression"
    )
    start, end = time_offsets(expression)
    endpoint_input: dict[str, Any] = {
        "EndpointName": spec.endpoint_name,
        "LocalPath": ENDPOINT_INPUT_PATH,
        "S3InputMode": "File",
        "S3DataDistributionType": "FullyReplicated",
        "StartTimeOffset": start,
        "EndTimeOffset": end,
    }
    if spec.inference_attribute:
        endpoint_input["InferenceAttribute"] = spec.inference_attribute
    if spec.problem_type == "BinaryClassification":
        if spec.probability_attribute:
            endpoint_input["ProbabilityAttribute"] = spec.probability_attribute
        if spec.probability_threshold is not None:
            endpoint_input["ProbabilityThresholdAttribute"] = float(
                spec.probability_threshold
            )
    environment = {
        "analysis_type": "MODEL_QUALITY",
        "problem_type": spec.problem_type,
        "publish_cloudwatch_metrics": "Enabled",
        **spec.environment,
    }
    return {
        "JobDefinitionName": spec.definition_name,
        "ModelQualityBaselineConfig": {
            "ConstraintsResource": {"S3Uri": spec.constraints_uri}
        },
        "ModelQualityAppSpecification": {
            "ImageUri": spec.image,
            # As for the data-quality schedule: the image's `monitor` command.
            "ContainerEntrypoint": ["monitor"],
            "ProblemType": spec.problem_type,
            "Environment": environment,
        },
        "ModelQualityJobInput": {
            "EndpointInput": endpoint_input,
            "GroundTruthS3Input": {"S3Uri": spec.ground_truth_uri},
        },
        "ModelQualityJobOutputConfig": {
            "MonitoringOutputs": [
                {
                    "S3Output": {
                        "S3Uri": spec.output_uri,
                        "LocalPath": OUTPUT_PATH,
                        "S3UploadMode": "EndOfJob",
                    }
                }
            ]
        },
        "JobResources": {
            "ClusterConfig": {
                "InstanceCount": 1,
                "InstanceType": spec.instance_type,
                "VolumeSizeInGB": spec.volume_gb,
            }
        },
        "RoleArn": role_arn,
        "StoppingCondition": {"MaxRuntimeInSeconds": MAX_RUNTIME_SECONDS},
        "Tags": [{"Key": k, "Value": v} for k, v in sorted(tags.items())],
    }


def schedule_config(spec: QualityScheduleSpec) -> dict[str, Any]:
    """The `MonitoringScheduleConfig` naming the job definition."""
    check_name(spec.schedule_name, "monitoring schedule")
    return {
        "ScheduleConfig": {
            "ScheduleExpression": check_schedule_expression(
                spec.schedule_expression, "schedule expression"
            )
        },
        "MonitoringJobDefinitionName": spec.definition_name,
        "MonitoringType": MODEL_QUALITY,
    }


def schedule_request(spec: QualityScheduleSpec, tags: dict[str, str]) -> dict:
    return {
        "MonitoringScheduleName": spec.schedule_name,
        "MonitoringScheduleConfig": schedule_config(spec),
        "Tags": [{"Key": k, "Value": v} for k, v in sorted(tags.items())],
    }


def create_job_definition(
    sagemaker: Any, spec: QualityScheduleSpec, role_arn: str, tags: dict[str, str]
) -> str:
    request = job_definition_request(spec, role_arn, tags)
    with aws_call(f"creating model-quality job definition {spec.definition_name}"):
        return sagemaker.create_model_quality_job_definition(**request)[
            "JobDefinitionArn"
        ]


def create_schedule(sagemaker: Any, spec: QualityScheduleSpec, tags: dict) -> str:
    request = schedule_request(spec, tags)
    with aws_call(f"creating monitoring schedule {spec.schedule_name}"):
        return sagemaker.create_monitoring_schedule(**request)["MonitoringScheduleArn"]


def update_schedule(sagemaker: Any, spec: QualityScheduleSpec) -> str:
    with aws_call(f"updating monitoring schedule {spec.schedule_name}"):
        return sagemaker.update_monitoring_schedule(
            MonitoringScheduleName=spec.schedule_name,
            MonitoringScheduleConfig=schedule_config(spec),
        )["MonitoringScheduleArn"]


def definition_of(description: dict[str, Any]) -> str | None:
    """The model-quality job definition a DescribeMonitoringSchedule names, if any."""
    config = description.get("MonitoringScheduleConfig") or {}
    if config.get("MonitoringType", description.get("MonitoringType")) != (
        MODEL_QUALITY
    ):
        return None
    return config.get("MonitoringJobDefinitionName")


def delete_job_definition(sagemaker: Any, name: str) -> None:
    with aws_call(f"deleting model-quality job definition {name}"):
        sagemaker.delete_model_quality_job_definition(JobDefinitionName=name)

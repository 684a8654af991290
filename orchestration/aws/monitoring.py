"""Monitoring schedules that run the image's `monitor` on captured traffic.

A bring-your-own-container schedule: `CreateMonitoringSchedule` with an
inline `MonitoringJobDefinition` whose app is our image with the argument
`monitor`, and whose baseline is the statistics.json / constraints.json that
the `baseline` processing job wrote. SageMaker then sets the Model Monitor
environment (dataset_source, start_time, end_time, baseline_*), mounts the
last hour of capture at /opt/ml/processing/input/endpoint and publishes the
CloudWatch metrics the container writes, which `alarms` watches.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from orchestration.aws import s3
from orchestration.aws.errors import aws_call
from orchestration.aws.naming import check_name

ENDPOINT_INPUT_PATH = "/opt/ml/processing/input/endpoint"
OUTPUT_PATH = "/opt/ml/processing/output"
MAX_RUNTIME_SECONDS = 3600  # a schedule's job must end within its hour
SCHEDULE_TERMINAL = ("Scheduled", "Failed", "Stopped")


@dataclass(frozen=True)
class ScheduleSpec:
    schedule_name: str
    endpoint_name: str
    image: str
    statistics_uri: str  # s3://.../statistics.json from the baseline job
    constraints_uri: str  # s3://.../constraints.json from the baseline job
    output_uri: str  # reports land under here, one folder per execution
    schedule_expression: str = "cron(0 * ? * * *)"
    instance_type: str = "ml.m5.large"
    volume_gb: int = 20
    environment: dict[str, str] = field(default_factory=dict)


def schedule_request(
    spec: ScheduleSpec, role_arn: str, tags: dict[str, str]
) -> dict[str, Any]:
    check_name(spec.schedule_name, "monitoring schedule")
    for uri in (spec.statistics_uri, spec.constraints_uri, spec.output_uri):
        s3.parse_s3_uri(uri)
    environment = {"publish_cloudwatch_metrics": "Enabled", **spec.environment}
    return {
        "MonitoringScheduleName": spec.schedule_name,
        "MonitoringScheduleConfig": {
            "ScheduleConfig": {"ScheduleExpression": spec.schedule_expression},
            "MonitoringJobDefinition": {
                "BaselineConfig": {
                    "ConstraintsResource": {"S3Uri": spec.constraints_uri},
                    "StatisticsResource": {"S3Uri": spec.statistics_uri},
                },
                "MonitoringInputs": [
                    {
                        "EndpointInput": {
                            "EndpointName": spec.endpoint_name,
                            "LocalPath": ENDPOINT_INPUT_PATH,
                            "S3InputMode": "File",
                            "S3DataDistributionType": "FullyReplicated",
                        }
                    }
                ],
                "MonitoringOutputConfig": {
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
                "MonitoringResources": {
                    "ClusterConfig": {
                        "InstanceCount": 1,
                        "InstanceType": spec.instance_type,
                        "VolumeSizeInGB": spec.volume_gb,
                    }
                },
                "MonitoringAppSpecification": {
                    "ImageUri": spec.image,
                    "ContainerEntrypoint": ["monitor"],
                },
                "StoppingCondition": {"MaxRuntimeInSeconds": MAX_RUNTIME_SECONDS},
                "Environment": environment,
                "RoleArn": role_arn,
            },
            "MonitoringType": "DataQuality",
        },
        "Tags": [{"Key": k, "Value": v} for k, v in sorted(tags.items())],
    }


def create_schedule(
    sagemaker: Any, spec: ScheduleSpec, role_arn: str, tags: dict[str, str]
) -> str:
    request = schedule_request(spec, role_arn, tags)
    with aws_call(f"creating monitoring schedule {spec.schedule_name}"):
        return sagemaker.create_monitoring_schedule(**request)["MonitoringScheduleArn"]


def schedules_for_endpoint(sagemaker: Any, endpoint_name: str) -> list[str]:
    names: list[str] = []
    with aws_call(f"listing monitoring schedules of {endpoint_name}"):
        token: str | None = None
        while True:
            kwargs: dict[str, Any] = {"EndpointName": endpoint_name}
            if token:
                kwargs["NextToken"] = token
            page = sagemaker.list_monitoring_schedules(**kwargs)
            names += [
                s["MonitoringScheduleName"] for s in page["MonitoringScheduleSummaries"]
            ]
            token = page.get("NextToken")
            if not token:
                return names


def last_execution(sagemaker: Any, schedule_name: str) -> dict[str, Any] | None:
    """The newest execution of a schedule (status, report location), if any ran."""
    with aws_call(f"listing executions of {schedule_name}"):
        page = sagemaker.list_monitoring_executions(
            MonitoringScheduleName=schedule_name,
            SortBy="ScheduledTime",
            SortOrder="Descending",
            MaxResults=1,
        )
    summaries = page["MonitoringExecutionSummaries"]
    return summaries[0] if summaries else None


def delete_schedule(sagemaker: Any, schedule_name: str) -> None:
    with aws_call(f"deleting monitoring schedule {schedule_name}"):
        sagemaker.delete_monitoring_schedule(MonitoringScheduleName=schedule_name)

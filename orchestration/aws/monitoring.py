"""Monitoring schedules that run the image's `monitor` on captured traffic.

A bring-your-own-container schedule: `CreateMonitoringSchedule` with an
inline `MonitoringJobDefinition` whose app is our image started as `monitor`
(its `ContainerEntrypoint`: the image puts each command on PATH), and whose
baseline is the statistics.json / constraints.json that
the `baseline` processing job wrote. SageMaker then sets the Model Monitor
environment (dataset_source, start_time, end_time, baseline_*), mounts the
last hour of capture at /opt/ml/processing/input/endpoint and publishes the
CloudWatch metrics the container writes, which `alarms` watches.

Schedule expressions are limited to the forms SageMaker documents for Model
Monitor (API reference, `ScheduleConfig.ScheduleExpression`; Developer Guide,
"The cron expression for monitoring schedule"): hourly `cron(0 * ? * * *)`,
daily at hour H (UTC) `cron(0 H ? * * *)`, and every N hours from hour H
`cron(0 H/N ? * * *)` with H in 0-23 and N in 1-24. SageMaker refuses other
cron expressions when the schedule is created, after the image and baseline
are in place; checking them here fails first, with the forms that work.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from orchestration.aws import s3
from orchestration.aws.errors import AwsConfigError, aws_call
from orchestration.aws.naming import check_name
from orchestration.backends.base import CONTAINER

ENDPOINT_INPUT_PATH = str(CONTAINER.endpoint_input_dir)
OUTPUT_PATH = str(CONTAINER.processing_output_dir)
MAX_RUNTIME_SECONDS = 3600  # a schedule's job must end within its hour
SCHEDULE_TERMINAL = ("Scheduled", "Failed", "Stopped")
SCHEDULED = "Scheduled"

HOURLY = "cron(0 * ? * * *)"
# `monitoring.schedule_minutes` becomes every N hours for the N that divide a
# day, so every window has the same length (0/5 would leave a 4-hour gap at
# midnight), or daily at midnight UTC for 1440.
EVERY_N_HOURS = (1, 2, 3, 4, 6, 8, 12)
SCHEDULE_MINUTES = (*(60 * n for n in EVERY_N_HOURS), 1440)
_CRON = re.compile(r"cron\(0 (\*|\d{1,2}|\d{1,2}/\d{1,2}) \? \* \* \*\)")
EXPRESSION_FORMS = (
    "cron(0 * ? * * *) (hourly), cron(0 H ? * * *) (daily at hour H UTC) or "
    "cron(0 H/N ? * * *) (every N hours from hour H; H 0-23, N 1-24)"
)


def schedule_expression_for(minutes: int) -> str:
    """The SageMaker schedule expression for a period of `minutes`."""
    if minutes == 1440:
        return "cron(0 0 ? * * *)"
    hours, rest = divmod(minutes, 60)
    if rest or hours not in EVERY_N_HOURS:
        raise AwsConfigError(
            f"monitoring.schedule_minutes={minutes} cannot be scheduled on SageMaker: use {', '.join(map(str, SCHEDULE_MINUTES[:-1]))} or {SCHEDULE_MINUTES[-1]}, or set aws.options.schedule_expression"
        )
    return HOURLY if hours == 1 else f"cron(0 0/{hours} ? * * *)"


def check_schedule_expression(
    expression: str, where: str = "aws.options.schedule_expression"
) -> str:
    """`expression` if it is one of the forms Model Monitor documents."""
    found = _CRON.fullmatch(expression.strip())
    ok = found is not None
    if found and found.group(1) != "*":
        hour, _, every = found.group(1).partition("/")
        ok = int(hour) <= 23 and (not every or 1 <= int(every) <= 24)
    if not ok:
        raise AwsConfigError(
            f"{where}={expression!r} is not a schedule SageMaker Model Monitor accepts: use {EXPRESSION_FORMS}"
        )
    return expression.strip()


@dataclass(frozen=True)
class ScheduleSpec:
    schedule_name: str
    endpoint_name: str
    image: str
    statistics_uri: str  # s3://.../statistics.json from the baseline job
    constraints_uri: str  # s3://.../constraints.json from the baseline job
    output_uri: str  # reports land under here, one folder per execution
    schedule_expression: str = HOURLY
    instance_type: str = "ml.m5.large"
    volume_gb: int = 20
    environment: dict[str, str] = field(default_factory=dict)


def schedule_request(
    spec: ScheduleSpec, role_arn: str, tags: dict[str, str]
) -> dict[str, Any]:
    return {
        "MonitoringScheduleName": spec.schedule_name,
        "MonitoringScheduleConfig": schedule_config(spec, role_arn),
        "Tags": [{"Key": k, "Value": v} for k, v in sorted(tags.items())],
    }


def schedule_config(spec: ScheduleSpec, role_arn: str) -> dict[str, Any]:
    """The `MonitoringScheduleConfig` of a create or an update."""
    check_name(spec.schedule_name, "monitoring schedule")
    for uri in (spec.statistics_uri, spec.constraints_uri, spec.output_uri):
        s3.parse_s3_uri(uri)
    expression = check_schedule_expression(
        spec.schedule_expression, "schedule expression"
    )
    environment = {"publish_cloudwatch_metrics": "Enabled", **spec.environment}
    return {
        "ScheduleConfig": {"ScheduleExpression": expression},
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
                # /usr/local/bin/monitor runs the image's entrypoint with
                # `monitor`. No ContainerArguments: they would follow it
                # as arguments of `monitor` itself.
                "ContainerEntrypoint": ["monitor"],
            },
            "StoppingCondition": {"MaxRuntimeInSeconds": MAX_RUNTIME_SECONDS},
            "Environment": environment,
            "RoleArn": role_arn,
        },
        "MonitoringType": "DataQuality",
    }


def create_schedule(
    sagemaker: Any, spec: ScheduleSpec, role_arn: str, tags: dict[str, str]
) -> str:
    request = schedule_request(spec, role_arn, tags)
    with aws_call(f"creating monitoring schedule {spec.schedule_name}"):
        return sagemaker.create_monitoring_schedule(**request)["MonitoringScheduleArn"]


def update_schedule(sagemaker: Any, spec: ScheduleSpec, role_arn: str) -> str:
    """Give an existing schedule `spec`'s config (image, baseline, expression)."""
    config = schedule_config(spec, role_arn)
    with aws_call(f"updating monitoring schedule {spec.schedule_name}"):
        return sagemaker.update_monitoring_schedule(
            MonitoringScheduleName=spec.schedule_name, MonitoringScheduleConfig=config
        )["MonitoringScheduleArn"]


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

"""Drift alert on AWS: one CloudWatch alarm over every feature's drift metric.

The `monitor` command writes `feature_baseline_drift_<feature>` (the
distribution distance) for each feature; SageMaker publishes them under the
endpoint and schedule dimensions. A metric-math alarm on the largest of them
fires when any feature drifts past the threshold and notifies an SNS topic
(email subscribers confirm by mail).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from orchestration.aws.errors import aws_call
from orchestration.backends.base import BackendError

DRIFT_METRIC_PREFIX = "feature_baseline_drift_"
# CloudWatch allows at most 10 metrics in one metric-math alarm.
MAX_ALARM_METRICS = 10


@dataclass(frozen=True)
class DriftAlarmSpec:
    alarm_name: str
    endpoint_name: str
    schedule_name: str
    features: tuple[str, ...]
    topic_arn: str
    namespace: str
    threshold: float = 0.1
    period_seconds: int = 3600  # one schedule run per hour


def ensure_topic(
    sns: Any, name: str, emails: tuple[str, ...], tags: dict[str, str]
) -> str:
    """Create (idempotently) the topic and subscribe the e-mail addresses.

    CreateTopic returns an existing topic's ARN, but refuses one whose tags
    differ from the request's ("Topic already exists with different tags"):
    such a topic (made by hand, or tagged since) is reused as it is, found by
    name, and its tags are left alone.
    """
    arn = None
    with aws_call(f"creating SNS topic {name}"):
        try:
            arn = sns.create_topic(
                Name=name,
                Tags=[{"Key": k, "Value": v} for k, v in sorted(tags.items())],
            )["TopicArn"]
        except ClientError as exc:
            if not _exists_with_other_tags(exc):
                raise
    if arn is None:
        arn = _topic_arn(sns, name)
    for email in emails:
        with aws_call(f"subscribing {email} to {name}"):
            sns.subscribe(TopicArn=arn, Protocol="email", Endpoint=email)
    return arn


def _exists_with_other_tags(exc: ClientError) -> bool:
    error = exc.response.get("Error", {})
    return error.get("Code") in ("InvalidParameter", "InvalidParameterException") and (
        "already exists" in error.get("Message", "").lower()
    )


def _topic_arn(sns: Any, name: str) -> str:
    """The ARN of this account's topic `name` in the client's region."""
    with aws_call(f"looking up the existing SNS topic {name}"):
        for page in sns.get_paginator("list_topics").paginate():
            for topic in page.get("Topics", []):
                if topic["TopicArn"].rsplit(":", 1)[-1] == name:
                    return topic["TopicArn"]
    raise BackendError(
        f"SNS refused to create topic {name} as it already exists with other "
        "tags, but no topic of that name is listed: check aws.sns_topic_name"
    )


def alarm_request(spec: DriftAlarmSpec) -> dict[str, Any]:
    if not spec.features:
        raise BackendError("a drift alarm needs at least one feature name")
    if len(spec.features) > MAX_ALARM_METRICS:
        raise BackendError(
            f"{len(spec.features)} features exceed CloudWatch's {MAX_ALARM_METRICS} "
            "metrics per alarm: alarm on the most important ones"
        )
    dimensions = [
        {"Name": "Endpoint", "Value": spec.endpoint_name},
        {"Name": "MonitoringSchedule", "Value": spec.schedule_name},
    ]
    queries: list[dict[str, Any]] = [
        {
            "Id": f"m{i}",
            "Label": feature,
            "MetricStat": {
                "Metric": {
                    "Namespace": spec.namespace,
                    "MetricName": DRIFT_METRIC_PREFIX + feature,
                    "Dimensions": dimensions,
                },
                "Period": spec.period_seconds,
                "Stat": "Maximum",
            },
            "ReturnData": False,
        }
        for i, feature in enumerate(spec.features)
    ]
    ids = ",".join(q["Id"] for q in queries)
    queries.append(
        {
            "Id": "max_drift",
            "Expression": f"MAX([{ids}])",
            "Label": "largest feature drift",
            "ReturnData": True,
        }
    )
    return {
        "AlarmName": spec.alarm_name,
        "AlarmDescription": (
            f"A feature of endpoint {spec.endpoint_name} drifted more than "
            f"{spec.threshold} from its baseline (schedule {spec.schedule_name})."
        ),
        "ActionsEnabled": True,
        "AlarmActions": [spec.topic_arn],
        "Metrics": queries,
        "EvaluationPeriods": 1,
        "DatapointsToAlarm": 1,
        "Threshold": spec.threshold,
        "ComparisonOperator": "GreaterThanThreshold",
        # No monitoring run in a period means no evidence of drift.
        "TreatMissingData": "notBreaching",
    }


def put_alarm(cloudwatch: Any, spec: DriftAlarmSpec) -> str:
    with aws_call(f"creating CloudWatch alarm {spec.alarm_name}"):
        cloudwatch.put_metric_alarm(**alarm_request(spec))
    return spec.alarm_name


def alarm_name_for(endpoint_name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "-", f"{endpoint_name}-feature-drift")


def delete_alarms(cloudwatch: Any, names: list[str]) -> None:
    if names:
        with aws_call(f"deleting CloudWatch alarms {', '.join(names)}"):
            cloudwatch.delete_alarms(AlarmNames=names)


def alarm_state(cloudwatch: Any, name: str) -> str | None:
    with aws_call(f"describing CloudWatch alarm {name}"):
        alarms = cloudwatch.describe_alarms(AlarmNames=[name])["MetricAlarms"]
    return alarms[0]["StateValue"] if alarms else None

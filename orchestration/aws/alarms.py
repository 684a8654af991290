"""Drift alerts on AWS: two CloudWatch alarms over every feature's drift metric.

The `monitor` command writes `feature_baseline_drift_<feature>` (the
distribution distance) for each feature; SageMaker publishes them under the
endpoint and schedule dimensions after each successful execution, and
publishes nothing for a failed one. Both alarms take the largest of them
(metric math) and notify an SNS topic (email subscribers confirm by mail):

- the drift alarm fires when a feature drifts past the threshold; a period
  without data is no evidence of drift (`notBreaching`);
- the silence alarm fires when no execution has published for a few schedule
  intervals in a row (`breaching` on missing data): executions that keep
  failing, or metrics landing in another namespace than the one watched,
  which would otherwise leave the drift alarm quiet forever.

A model-quality schedule gets a third alarm (`put_quality_alarm`) on its
headline metric (accuracy, f1 or rmse), under the baseline's constraint.

docs/aws.md ("Alarms") says what fires when, and why.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from orchestration.aws.errors import aws_call
from orchestration.backends.base import BackendError, ResourceNotFound

DRIFT_METRIC_PREFIX = "feature_baseline_drift_"
# CloudWatch allows at most 10 metrics in one metric-math alarm.
MAX_ALARM_METRICS = 10
HOUR = 3600
DAY = 24 * HOUR
# Intervals without a result before the silence alarm fires: one late or
# failed execution is shown by `status`, not paged.
SILENT_INTERVALS = 3
# CloudWatch's limits: evaluation range (Period x EvaluationPeriods) and
# warm-up length.
MAX_EVALUATION_SECONDS = 7 * DAY
MAX_WARM_UP_MINUTES = 2880
MAX_EXECUTION_SECONDS = HOUR  # monitoring.MAX_RUNTIME_SECONDS


@dataclass(frozen=True)
class DriftAlarmSpec:
    alarm_name: str
    endpoint_name: str
    schedule_name: str
    features: tuple[str, ...]
    topic_arn: str
    namespace: str
    threshold: float = 0.1
    period_seconds: int = HOUR  # the schedule's interval: one execution each
    silent_intervals: int = SILENT_INTERVALS

    @property
    def silence_alarm_name(self) -> str:
        return silence_alarm_name_for(self.endpoint_name)


def schedule_interval_seconds(expression: str) -> int:
    """Seconds between two executions of a monitoring schedule.

    SageMaker accepts hourly `cron(0 * ? * * *)`, every N hours
    `cron(0 H/N ? * * *)` (or `*/N`) and daily `cron(0 H ? * * *)`. Anything
    else counts as daily, the longest, so that executions on time never look
    silent.
    """
    fields = expression.strip().removeprefix("cron(").removesuffix(")").split()
    hours = fields[1] if len(fields) == 6 else ""
    if hours == "*":
        return HOUR
    step = re.fullmatch(r"(?:\*|\d{1,2})/(\d{1,2})", hours)
    if step and 1 <= int(step.group(1)) <= 24:
        return int(step.group(1)) * HOUR
    return DAY


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
        f"SNS refused to create topic {name} as it already exists with other tags, but no topic of that name is listed: check aws.sns_topic_name"
    )


def _drift_queries(spec: DriftAlarmSpec) -> list[dict[str, Any]]:
    """One query per feature's drift metric and their maximum, the alarmed value."""
    if not spec.features:
        raise BackendError("a drift alarm needs at least one feature name")
    if len(spec.features) > MAX_ALARM_METRICS:
        raise BackendError(
            f"{len(spec.features)} features exceed CloudWatch's {MAX_ALARM_METRICS} metrics per alarm: alarm on the most important ones"
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
    return queries


def alarm_request(spec: DriftAlarmSpec) -> dict[str, Any]:
    """The drift alarm: fires when one execution finds a feature past the threshold."""
    return {
        "AlarmName": spec.alarm_name,
        "AlarmDescription": (
            f"A feature of endpoint {spec.endpoint_name} drifted more than "
            f"{spec.threshold} from its baseline (schedule {spec.schedule_name})."
        ),
        "ActionsEnabled": True,
        "AlarmActions": [spec.topic_arn],
        "Metrics": _drift_queries(spec),
        "EvaluationPeriods": 1,
        "DatapointsToAlarm": 1,
        "Threshold": spec.threshold,
        "ComparisonOperator": "GreaterThanThreshold",
        # No result in a period is no evidence of drift; the silence alarm
        # watches for results that stop coming.
        "TreatMissingData": "notBreaching",
    }


def silence_alarm_request(spec: DriftAlarmSpec, warm_up: bool = True) -> dict[str, Any]:
    """The silence alarm: fires when no execution published for a few intervals.

    Every successful execution publishes the drift metrics, and a drift is
    never below 0, so the value never breaches; only missing data does. The
    warm-up keeps it quiet until the first execution could have published
    (without it, a new alarm would fire at once). `warm_up=False` leaves the
    parameter out for botocore versions older than it.
    """
    intervals = max(
        1, min(spec.silent_intervals, MAX_EVALUATION_SECONDS // spec.period_seconds)
    )
    request: dict[str, Any] = {
        "AlarmName": spec.silence_alarm_name,
        "AlarmDescription": (
            f"No monitoring result for endpoint {spec.endpoint_name} (schedule "
            f"{spec.schedule_name}) in {intervals} schedule intervals: its "
            "executions fail or stop (`status` shows the last one's reason), or "
            f"their metrics are not published under {spec.namespace}."
        ),
        "ActionsEnabled": True,
        "AlarmActions": [spec.topic_arn],
        # Say when results come back, too.
        "OKActions": [spec.topic_arn],
        "Metrics": _drift_queries(spec),
        "EvaluationPeriods": intervals,
        "DatapointsToAlarm": intervals,
        "Threshold": 0.0,
        "ComparisonOperator": "LessThanThreshold",
        "TreatMissingData": "breaching",
    }
    if warm_up:
        minutes = (spec.period_seconds + MAX_EXECUTION_SECONDS) // 60
        request["WarmUpConfiguration"] = {
            "WarmUpPeriodDurationInMinutes": min(minutes, MAX_WARM_UP_MINUTES)
        }
    return request


def knows_warm_up(cloudwatch: Any) -> bool:
    """Whether this botocore's CloudWatch model has PutMetricAlarm's warm-up."""
    shape = cloudwatch.meta.service_model.operation_model("PutMetricAlarm").input_shape
    return "WarmUpConfiguration" in shape.members


def put_alarms(cloudwatch: Any, spec: DriftAlarmSpec) -> tuple[str, str]:
    """Create (or replace) the drift and silence alarms; returns their names."""
    requests = (
        alarm_request(spec),
        silence_alarm_request(spec, warm_up=knows_warm_up(cloudwatch)),
    )
    for request in requests:
        with aws_call(f"creating CloudWatch alarm {request['AlarmName']}"):
            cloudwatch.put_metric_alarm(**request)
    return spec.alarm_name, spec.silence_alarm_name


# --- model quality ------------------------------------------------------------------
# Where SageMaker publishes the metrics of model-quality executions, per
# metric name (statistics.json's: accuracy, f1, rmse, ...), with the
# endpoint and the schedule as dimensions.
MODEL_METRICS_NAMESPACE = "aws/sagemaker/Endpoints/model-metrics"


@dataclass(frozen=True)
class QualityAlarmSpec:
    endpoint_name: str
    schedule_name: str
    metric: str  # e.g. accuracy, f1, rmse
    threshold: float
    comparison_operator: str  # the constraint's: LessThanThreshold, ...
    topic_arn: str
    namespace: str = MODEL_METRICS_NAMESPACE
    period_seconds: int = HOUR

    @property
    def alarm_name(self) -> str:
        return quality_alarm_name_for(self.endpoint_name)


def quality_alarm_request(spec: QualityAlarmSpec) -> dict[str, Any]:
    """Fires when one execution's metric breaks the baseline's constraint.

    The constraint's comparison operator is CloudWatch's too (a violation is
    `value <operator> threshold`). The worst value of the period is taken, and
    a period without an execution is no evidence (`notBreaching`): `status`
    shows failing executions.
    """
    worse_is_lower = spec.comparison_operator.startswith("LessThan")
    return {
        "AlarmName": spec.alarm_name,
        "AlarmDescription": (
            f"Model quality of endpoint {spec.endpoint_name}: {spec.metric} broke "
            f"its baseline constraint ({spec.comparison_operator} "
            f"{spec.threshold:g}; schedule {spec.schedule_name})."
        ),
        "ActionsEnabled": True,
        "AlarmActions": [spec.topic_arn],
        "Namespace": spec.namespace,
        "MetricName": spec.metric,
        "Dimensions": [
            {"Name": "Endpoint", "Value": spec.endpoint_name},
            {"Name": "MonitoringSchedule", "Value": spec.schedule_name},
        ],
        "Statistic": "Minimum" if worse_is_lower else "Maximum",
        "Period": spec.period_seconds,
        "EvaluationPeriods": 1,
        "DatapointsToAlarm": 1,
        "Threshold": spec.threshold,
        "ComparisonOperator": spec.comparison_operator,
        "TreatMissingData": "notBreaching",
    }


def put_quality_alarm(cloudwatch: Any, spec: QualityAlarmSpec) -> str:
    request = quality_alarm_request(spec)
    with aws_call(f"creating CloudWatch alarm {spec.alarm_name}"):
        cloudwatch.put_metric_alarm(**request)
    return spec.alarm_name


# --- the endpoint's own traffic: errors and latency ---------------------------
SAGEMAKER_NAMESPACE = "AWS/SageMaker"
TRAFFIC_PERIOD_SECONDS = 300
MICROSECONDS_PER_MS = 1000


@dataclass(frozen=True)
class TrafficAlarmSpec:
    """The `error_rate` and `latency` alert rules as CloudWatch alarms over
    the endpoint's AWS/SageMaker metrics, all variants together."""

    endpoint_name: str
    variant_names: tuple[str, ...]
    topic_arn: str
    max_error_rate: float | None = None  # the error_rate rule's
    max_latency_p99_ms: float | None = None  # the latency rule's
    period_seconds: int = TRAFFIC_PERIOD_SECONDS


def _variant_metric(
    spec: TrafficAlarmSpec, query_id: str, variant: str, metric: str, stat: str
) -> dict[str, Any]:
    return {
        "Id": query_id,
        "MetricStat": {
            "Metric": {
                "Namespace": SAGEMAKER_NAMESPACE,
                "MetricName": metric,
                "Dimensions": [
                    {"Name": "EndpointName", "Value": spec.endpoint_name},
                    {"Name": "VariantName", "Value": variant},
                ],
            },
            "Period": spec.period_seconds,
            "Stat": stat,
        },
        "ReturnData": False,
    }


def error_rate_alarm_request(spec: TrafficAlarmSpec) -> dict[str, Any]:
    """(4xx + 5xx) / invocations over each period, above the rule's limit.

    A period without requests has no rate (`notBreaching`); FILL keeps a
    variant without errors from hiding the others' in the sum.
    """
    queries = []
    for i, variant in enumerate(spec.variant_names):
        for key, metric in (
            ("i", "Invocations"),
            ("c", "Invocation4XXErrors"),
            ("s", "Invocation5XXErrors"),
        ):
            queries.append(_variant_metric(spec, f"{key}{i}", variant, metric, "Sum"))
    ids = range(len(spec.variant_names))

    def total(key: str) -> str:
        return "+".join(f"FILL({key}{i},0)" for i in ids)

    queries.append(
        {
            "Id": "error_rate",
            "Expression": f"({total('c')}+{total('s')})/({total('i')})",
            "Label": "4xx and 5xx per invocation",
            "ReturnData": True,
        }
    )
    return {
        "AlarmName": error_rate_alarm_name_for(spec.endpoint_name),
        "AlarmDescription": (
            f"Endpoint {spec.endpoint_name}: 4xx and 5xx above "
            f"{spec.max_error_rate:.1%} of invocations in {spec.period_seconds} s."
        ),
        "ActionsEnabled": True,
        "AlarmActions": [spec.topic_arn],
        "Metrics": queries,
        "EvaluationPeriods": 1,
        "DatapointsToAlarm": 1,
        "Threshold": float(spec.max_error_rate or 0.0),
        "ComparisonOperator": "GreaterThanThreshold",
        "TreatMissingData": "notBreaching",
    }


def latency_alarm_request(spec: TrafficAlarmSpec) -> dict[str, Any]:
    """The worst variant's ModelLatency p99 (in microseconds) over a period."""
    queries = [
        _variant_metric(spec, f"l{i}", variant, "ModelLatency", "p99")
        for i, variant in enumerate(spec.variant_names)
    ]
    ids = ",".join(q["Id"] for q in queries)
    queries.append(
        {
            "Id": "latency_p99",
            "Expression": f"MAX([{ids}])",
            "Label": "ModelLatency p99, worst variant",
            "ReturnData": True,
        }
    )
    return {
        "AlarmName": latency_alarm_name_for(spec.endpoint_name),
        "AlarmDescription": (
            f"Endpoint {spec.endpoint_name}: model latency p99 above "
            f"{spec.max_latency_p99_ms:g} ms in {spec.period_seconds} s."
        ),
        "ActionsEnabled": True,
        "AlarmActions": [spec.topic_arn],
        "Metrics": queries,
        "EvaluationPeriods": 1,
        "DatapointsToAlarm": 1,
        "Threshold": float(spec.max_latency_p99_ms or 0.0) * MICROSECONDS_PER_MS,
        "ComparisonOperator": "GreaterThanThreshold",
        "TreatMissingData": "notBreaching",
    }


def put_traffic_alarms(cloudwatch: Any, spec: TrafficAlarmSpec) -> list[str]:
    """The alarms the spec's rules ask for; their names."""
    if len(spec.variant_names) * 3 + 1 > MAX_ALARM_METRICS:
        raise BackendError(
            f"endpoint {spec.endpoint_name} has {len(spec.variant_names)} variants; a CloudWatch alarm takes at most {MAX_ALARM_METRICS} metrics, so its error-rate alarm can watch at most {(MAX_ALARM_METRICS - 1) // 3}"
        )
    requests = []
    if spec.max_error_rate is not None:
        requests.append(error_rate_alarm_request(spec))
    if spec.max_latency_p99_ms is not None:
        requests.append(latency_alarm_request(spec))
    for request in requests:
        with aws_call(f"creating CloudWatch alarm {request['AlarmName']}"):
            cloudwatch.put_metric_alarm(**request)
    return [r["AlarmName"] for r in requests]


def error_rate_alarm_name_for(endpoint_name: str) -> str:
    return _alarm_name(f"{endpoint_name}-error-rate")


def latency_alarm_name_for(endpoint_name: str) -> str:
    return _alarm_name(f"{endpoint_name}-latency")


def quality_alarm_name_for(endpoint_name: str) -> str:
    # infrastructure/'s schedule and teardown policies name it.
    return _alarm_name(f"{endpoint_name}-model-quality")


def _alarm_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "-", text)


def alarm_name_for(endpoint_name: str) -> str:
    return _alarm_name(f"{endpoint_name}-feature-drift")


def silence_alarm_name_for(endpoint_name: str) -> str:
    # infrastructure/'s schedule and teardown policies name each alarm.
    return _alarm_name(f"{endpoint_name}-missing-feature-drift")


def alarm_names_for(endpoint_name: str) -> list[str]:
    """Every alarm `put_alarms` and `put_quality_alarm` create for an endpoint
    (teardown deletes them)."""
    return [
        alarm_name_for(endpoint_name),
        silence_alarm_name_for(endpoint_name),
        quality_alarm_name_for(endpoint_name),
        error_rate_alarm_name_for(endpoint_name),
        latency_alarm_name_for(endpoint_name),
    ]


def delete_alarms(cloudwatch: Any, names: list[str]) -> None:
    """Delete the named alarms; names of alarms that do not exist are skipped."""
    if not names:
        return
    try:
        with aws_call(f"deleting CloudWatch alarms {', '.join(names)}"):
            cloudwatch.delete_alarms(AlarmNames=names)
    except ResourceNotFound:
        # Where one missing name (an endpoint set up before the silence alarm
        # existed) fails the whole call, delete the others one by one.
        if len(names) > 1:
            for name in names:
                delete_alarms(cloudwatch, [name])

"""The drift and silence alarms, and what `status` says about monitoring runs.

SageMaker publishes no metric for a failed monitoring execution, so a drift
alarm alone stays quiet when every execution fails or the namespace is
wrong; the silence alarm fires then. The requests are checked against
CloudWatch's service model (types, required keys and enum values), created
in moto, and deleted by teardown, each call under the IAM policy of the CLI
step making it.
"""

from __future__ import annotations

from datetime import UTC, datetime

import botocore.session
import pytest
from botocore.stub import Stubber
from botocore.validate import ParamValidator

from orchestration.aws import alarms
from orchestration.aws.monitoring import ScheduleSpec
from orchestration.cli import _status_text
from tests import iam_policies
from tests.orchestration import aws_conftest_helpers as helpers
from tests.orchestration.aws_conftest_helpers import (
    ACCOUNT,
    ARN_PREFIX,
    BUCKET,
    ENDPOINT,
    FEATURES,
    SCHEDULE,
    CallLog,
    PartialStubber,
    run_full_flow,
    schedule_description,
)

moto_url = helpers.moto_url
aws_settings = helpers.aws_settings
backend = helpers.backend

TOPIC = f"arn:aws:sns:us-east-1:{ACCOUNT}:sklearn-byoc-alerts"
# PutMetricAlarm's TreatMissingData is a plain string in the model; its
# documented values are these.
TREAT_MISSING_DATA = {"breaching", "notBreaching", "ignore", "missing"}


def assert_allowed(log: CallLog, step: str, *operations: str) -> None:
    """The path made `operations` under the CLI step `step`, and every call it
    made is allowed by its step's policy and listed in STEP_CALLS."""
    made = log.operations(step)
    assert set(operations) <= set(made), f"{step} made {made}"
    assert iam_policies.audit(log.requests) == []


def spec(**overrides) -> alarms.DriftAlarmSpec:
    values = dict(
        alarm_name=alarms.alarm_name_for(ENDPOINT),
        endpoint_name=ENDPOINT,
        schedule_name=SCHEDULE,
        features=FEATURES,
        topic_arn=TOPIC,
        namespace="aws/sagemaker/Endpoints/data-metrics",
    )
    return alarms.DriftAlarmSpec(**{**values, **overrides})


def enum_errors(shape, value, where="") -> list[str]:
    """Values outside an enum of the model (botocore's validator skips enums)."""
    if shape.type_name == "structure":
        return [
            error
            for key, item in value.items()
            for error in enum_errors(shape.members[key], item, f"{where}.{key}")
        ]
    if shape.type_name == "list":
        return [
            error
            for i, item in enumerate(value)
            for error in enum_errors(shape.member, item, f"{where}[{i}]")
        ]
    if shape.type_name == "string" and shape.enum and value not in shape.enum:
        return [f"{where}={value!r} not in {shape.enum}"]
    return []


def assert_valid_alarm(request: dict) -> None:
    model = botocore.session.get_session().get_service_model("cloudwatch")
    shape = model.operation_model("PutMetricAlarm").input_shape
    report = ParamValidator().validate(request, shape)
    assert not report.has_errors(), report.generate_report()
    assert enum_errors(shape, request) == []
    assert request["TreatMissingData"] in TREAT_MISSING_DATA
    periods = {
        q["MetricStat"]["Period"] for q in request["Metrics"] if "MetricStat" in q
    }
    # CloudWatch's limit on the evaluation range for periods of an hour or more.
    assert max(periods) * request["EvaluationPeriods"] <= 7 * 24 * 3600


@pytest.mark.parametrize(
    ("expression", "seconds"),
    [
        ("cron(0 * ? * * *)", 3600),
        ("cron(0 */6 ? * * *)", 6 * 3600),
        ("cron(0 0/12 ? * * *)", 12 * 3600),
        ("cron(0 3 ? * * *)", 24 * 3600),
        ("NOW", 24 * 3600),
    ],
)
def test_the_alarm_period_is_the_schedules_interval(expression, seconds):
    assert alarms.schedule_interval_seconds(expression) == seconds


@pytest.mark.parametrize("period", [3600, 6 * 3600, 24 * 3600])
@pytest.mark.parametrize("warm_up", [True, False])
def test_both_alarm_requests_are_valid(period, warm_up):
    drift = alarms.alarm_request(spec(period_seconds=period))
    silence = alarms.silence_alarm_request(spec(period_seconds=period), warm_up)
    assert_valid_alarm(drift)
    assert_valid_alarm(silence)
    assert ("WarmUpConfiguration" in silence) is warm_up
    # Both watch the same metrics: the largest drift of any feature.
    assert silence["Metrics"] == drift["Metrics"]


def test_the_silence_alarm_fires_on_missing_results_only():
    drift = alarms.alarm_request(spec())
    silence = alarms.silence_alarm_request(spec())
    assert drift["TreatMissingData"] == "notBreaching"
    assert silence["TreatMissingData"] == "breaching"
    # A drift is never below 0: a published result never breaches.
    assert (silence["ComparisonOperator"], silence["Threshold"]) == (
        "LessThanThreshold",
        0.0,
    )
    assert silence["EvaluationPeriods"] == silence["DatapointsToAlarm"] == 3
    assert silence["AlarmActions"] == silence["OKActions"] == [TOPIC]
    # Quiet until the first execution (an interval plus its run time) could report.
    assert silence["WarmUpConfiguration"] == {"WarmUpPeriodDurationInMinutes": 120}
    daily = alarms.silence_alarm_request(spec(period_seconds=24 * 3600))
    assert daily["WarmUpConfiguration"]["WarmUpPeriodDurationInMinutes"] == 1500
    assert silence["AlarmName"] == f"{ENDPOINT}-missing-feature-drift"
    assert drift["AlarmName"] == f"{ENDPOINT}-feature-drift"


def test_the_policies_grant_the_endpoints_alarms_and_no_other():
    names = alarms.alarm_names_for(ENDPOINT)
    assert names == [
        alarms.alarm_name_for(ENDPOINT),
        spec().silence_alarm_name,
        alarms.quality_alarm_name_for(ENDPOINT),
        alarms.error_rate_alarm_name_for(ENDPOINT),
        alarms.latency_alarm_name_for(ENDPOINT),
    ]
    put = [
        ("schedule", "cloudwatch", "PutMetricAlarm", {"AlarmName": n}) for n in names
    ]
    delete = [
        ("teardown", "cloudwatch", "DeleteAlarms", {"AlarmNames": names}),
        *(
            ("teardown", "cloudwatch", "DeleteAlarms", {"AlarmNames": [n]})
            for n in names
        ),
    ]
    assert iam_policies.audit([*put, *delete]) == []
    # Another endpoint's alarm, even one whose name starts like this one's.
    other = alarms.alarm_name_for(f"{ENDPOINT}-v2")
    assert iam_policies.violations(
        [("schedule", "cloudwatch", "PutMetricAlarm", {"AlarmName": other})]
    )
    assert iam_policies.violations(
        [("teardown", "cloudwatch", "DeleteAlarms", {"AlarmNames": [other]})]
    )


def test_flow_creates_both_alarms_and_teardown_deletes_them(backend, tmp_path):
    log, out = run_full_flow(backend, tmp_path)
    assert log.operations("schedule")[-3:] == [
        "CreateTopic",
        "PutMetricAlarm",
        "PutMetricAlarm",
    ]
    created = [p["AlarmName"] for p in log.params["PutMetricAlarm"]]
    assert created == [out["alarm"]["alarm_name"], out["alarm"]["silence_alarm_name"]]
    (deleted,) = log.params["DeleteAlarms"]
    # The model-quality alarm too, which this flow (no model-quality
    # baseline) never created.
    assert deleted["AlarmNames"] == alarms.alarm_names_for(ENDPOINT)
    assert set(created) < set(deleted["AlarmNames"])
    assert backend.clients.cloudwatch.describe_alarms()["MetricAlarms"] == []


def test_alarms_take_the_interval_of_the_schedule_just_created(backend):
    log = CallLog(step="schedule")
    log.attach(backend.clients)
    stub = PartialStubber(
        backend.clients.sagemaker,
        {"CreateMonitoringSchedule", "DescribeMonitoringSchedule"},
    )
    stub.add_response(
        "create_monitoring_schedule",
        {"MonitoringScheduleArn": f"{ARN_PREFIX}:monitoring-schedule/{SCHEDULE}"},
    )
    stub.add_response(
        "describe_monitoring_schedule",
        schedule_description(SCHEDULE, ENDPOINT, "Scheduled"),
    )
    with stub:
        backend.create_monitoring_schedule(
            ScheduleSpec(
                schedule_name=SCHEDULE,
                endpoint_name=ENDPOINT,
                image="img",
                statistics_uri=f"s3://{BUCKET}/b/statistics.json",
                constraints_uri=f"s3://{BUCKET}/b/constraints.json",
                output_uri=f"s3://{BUCKET}/reports",
                schedule_expression="cron(0 0/2 ? * * *)",
            )
        )
    names = backend.create_drift_alarm(ENDPOINT, SCHEDULE, FEATURES)
    log.step = ""  # the test's own look at the alarms
    found = {
        a["AlarmName"]: a
        for a in backend.clients.cloudwatch.describe_alarms()["MetricAlarms"]
    }
    assert set(found) == {names["alarm_name"], names["silence_alarm_name"]}
    for alarm in found.values():
        assert alarm["Metrics"][0]["MetricStat"]["Period"] == 2 * 3600
    silence = found[names["silence_alarm_name"]]
    assert silence["TreatMissingData"] == "breaching"
    log.step = "teardown"
    alarms.delete_alarms(backend.clients.cloudwatch, alarms.alarm_names_for(ENDPOINT))
    log.step = ""
    assert backend.clients.cloudwatch.describe_alarms()["MetricAlarms"] == []
    assert log.operations("schedule").count("PutMetricAlarm") == 2
    assert_allowed(log, "schedule", "CreateMonitoringSchedule", "CreateTopic")
    assert_allowed(log, "teardown", "DeleteAlarms")


def test_teardown_still_deletes_an_alarm_when_the_other_never_existed(backend):
    log = CallLog(step="teardown")
    log.attach(backend.clients)
    cloudwatch = backend.clients.cloudwatch
    names = alarms.alarm_names_for(ENDPOINT)
    with Stubber(cloudwatch) as stub:
        # Should CloudWatch refuse the pair because one is missing, each is
        # deleted on its own and the missing one skipped.
        stub.add_client_error(
            "delete_alarms", "ResourceNotFound", "alarm not found", 404
        )
        stub.add_response("delete_alarms", {}, {"AlarmNames": [names[0]]})
        stub.add_client_error(
            "delete_alarms", "ResourceNotFound", "alarm not found", 404
        )
        stub.add_response("delete_alarms", {}, {"AlarmNames": [names[2]]})
        for _traffic in names[3:]:  # the traffic alarms: no such rule, none made
            stub.add_client_error(
                "delete_alarms", "ResourceNotFound", "alarm not found", 404
            )
        alarms.delete_alarms(cloudwatch, names)
        stub.assert_no_pending_responses()
    # All of them, then each alone: all of them teardown's to make.
    assert log.operations("teardown") == ["DeleteAlarms"] * (1 + len(names))
    assert_allowed(log, "teardown")


def test_alarm_state_is_gone():
    assert not hasattr(alarms, "alarm_state")


# --- status -----------------------------------------------------------------------
def schedule_summary() -> dict:
    return {
        "MonitoringScheduleName": SCHEDULE,
        "MonitoringScheduleArn": f"{ARN_PREFIX}:monitoring-schedule/{SCHEDULE}",
        "CreationTime": datetime(2026, 1, 1, tzinfo=UTC),
        "LastModifiedTime": datetime(2026, 1, 1, tzinfo=UTC),
        "MonitoringScheduleStatus": "Scheduled",
        "EndpointName": ENDPOINT,
    }


def test_status_shows_each_schedules_last_execution_and_why_it_failed(backend):
    log = CallLog(step="status")
    log.attach(backend.clients)
    stub = PartialStubber(
        backend.clients.sagemaker,
        {"ListMonitoringSchedules", "ListMonitoringExecutions"},
    )
    stub.add_response(
        "list_monitoring_schedules",
        {"MonitoringScheduleSummaries": [schedule_summary()]},
    )
    reason = "AlgorithmError: no captured records between 10:00 and 11:00"
    stub.add_response(
        "list_monitoring_executions",
        {
            "MonitoringExecutionSummaries": [
                {
                    "MonitoringScheduleName": SCHEDULE,
                    "ScheduledTime": datetime(2026, 1, 1, 11, tzinfo=UTC),
                    "CreationTime": datetime(2026, 1, 1, 11, tzinfo=UTC),
                    "LastModifiedTime": datetime(2026, 1, 1, 11, 5, tzinfo=UTC),
                    "MonitoringExecutionStatus": "Failed",
                    "ProcessingJobArn": f"{ARN_PREFIX}:processing-job/x",
                    "FailureReason": reason,
                }
            ]
        },
        {
            "MonitoringScheduleName": SCHEDULE,
            "SortBy": "ScheduledTime",
            "SortOrder": "Descending",
            "MaxResults": 1,
        },
    )
    with stub:
        status = backend.status()
    stub.assert_no_pending_responses()
    assert_allowed(log, "status", "ListMonitoringExecutions")
    (schedule,) = status["monitoring_schedules"]
    assert schedule["status"] == "Scheduled"  # looks fine on its own
    assert schedule["last_execution"] == {
        "status": "Failed",
        "scheduled_time": "2026-01-01T11:00:00+00:00",
        "failure_reason": reason,
        "processing_job_arn": f"{ARN_PREFIX}:processing-job/x",
    }
    text = _status_text(
        {"project": "penguins", "backend": status, "model_versions": [], "runs": 0}
    )
    assert (
        f"  schedule {SCHEDULE}: Scheduled; last execution Failed "
        f"(2026-01-01T11:00:00+00:00): {reason}"
    ) in text.splitlines()


def test_status_shows_a_refused_execution_listing_in_place(backend):
    stub = PartialStubber(
        backend.clients.sagemaker,
        {"ListMonitoringSchedules", "ListMonitoringExecutions"},
    )
    stub.add_response(
        "list_monitoring_schedules",
        {"MonitoringScheduleSummaries": [schedule_summary()]},
    )
    stub.add_client_error(
        "list_monitoring_executions", "AccessDeniedException", "not authorized"
    )
    with stub:
        status = backend.status()
    (schedule,) = status["monitoring_schedules"]
    assert schedule["last_execution"]["error"].startswith(
        f"listing executions of {SCHEDULE} failed: AccessDeniedException"
    )


def test_status_text_reads_the_aws_backends_endpoints():
    data = {
        "project": "penguins",
        "backend": {
            "backend": "aws",
            "endpoints": [{"name": ENDPOINT, "status": "InService"}],
            "training_jobs": [{"name": "penguins-train-1", "status": "Completed"}],
            "processing_jobs": [],
            "monitoring_schedules": [
                {"name": SCHEDULE, "status": "Scheduled", "last_execution": None}
            ],
        },
        "model_versions": [],
        "runs": 1,
    }
    lines = _status_text(data).splitlines()
    assert f"  endpoint {ENDPOINT}: InService " in lines
    assert "  job penguins-train-1: Completed" in lines
    assert f"  schedule {SCHEDULE}: Scheduled; no execution yet" in lines


# --- the endpoint's traffic: the error_rate and latency rules ----------------------
def traffic_spec(**overrides) -> alarms.TrafficAlarmSpec:
    values = dict(
        endpoint_name=ENDPOINT,
        variant_names=("AllTraffic", "challenger"),
        topic_arn=TOPIC,
        max_error_rate=0.05,
        max_latency_p99_ms=250.0,
    )
    return alarms.TrafficAlarmSpec(**{**values, **overrides})


def test_traffic_alarms_watch_every_variant_and_notify_the_topic(backend):
    log = CallLog(step="schedule")
    log.attach(backend.clients)
    made = alarms.put_traffic_alarms(backend.clients.cloudwatch, traffic_spec())
    assert made == [f"{ENDPOINT}-error-rate", f"{ENDPOINT}-latency"]
    log.step = ""  # reading the alarms back is the test's, not the step's
    found = {
        a["AlarmName"]: a
        for a in backend.clients.cloudwatch.describe_alarms(AlarmNames=made)[
            "MetricAlarms"
        ]
    }
    rate = found[f"{ENDPOINT}-error-rate"]
    assert rate["AlarmActions"] == [TOPIC] and rate["Threshold"] == 0.05
    (expression,) = [q["Expression"] for q in rate["Metrics"] if "Expression" in q]
    assert expression == (
        "(FILL(c0,0)+FILL(c1,0)+FILL(s0,0)+FILL(s1,0))/(FILL(i0,0)+FILL(i1,0))"
    )
    watched = {
        (
            q["MetricStat"]["Metric"]["MetricName"],
            q["MetricStat"]["Metric"]["Dimensions"][1]["Value"],
        )
        for q in rate["Metrics"]
        if "MetricStat" in q
    }
    assert watched == {
        (metric, variant)
        for metric in ("Invocations", "Invocation4XXErrors", "Invocation5XXErrors")
        for variant in ("AllTraffic", "challenger")
    }
    latency = found[f"{ENDPOINT}-latency"]
    assert latency["Threshold"] == 250_000  # ModelLatency is in microseconds
    assert {
        q["MetricStat"]["Stat"] for q in latency["Metrics"] if "MetricStat" in q
    } == {"p99"}
    for request in (
        alarms.error_rate_alarm_request(traffic_spec()),
        alarms.latency_alarm_request(traffic_spec()),
    ):
        assert request["TreatMissingData"] in TREAT_MISSING_DATA
        model = botocore.session.get_session().get_service_model("cloudwatch")
        shape = model.operation_model("PutMetricAlarm").input_shape
        assert not ParamValidator().validate(request, shape).has_errors()
    assert_allowed(log, "schedule", "PutMetricAlarm")


def test_no_rule_no_traffic_alarm(backend):
    none = traffic_spec(max_error_rate=None, max_latency_p99_ms=None)
    assert alarms.put_traffic_alarms(backend.clients.cloudwatch, none) == []
    only_latency = traffic_spec(max_error_rate=None)
    assert alarms.put_traffic_alarms(backend.clients.cloudwatch, only_latency) == [
        f"{ENDPOINT}-latency"
    ]


def test_too_many_variants_for_one_alarm_is_refused_before_any_call(backend):
    many = traffic_spec(variant_names=tuple(f"v{i}" for i in range(4)))
    with pytest.raises(Exception, match="at most 3"):
        alarms.put_traffic_alarms(backend.clients.cloudwatch, many)

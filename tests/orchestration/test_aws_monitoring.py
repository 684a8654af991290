"""The AWS backend's monitoring edges: a schedule created again, an alarm topic
that exists with other tags, and the wait for capture to reach S3.

S3 and SNS are moto's; monitoring schedules, which moto lacks, and the SNS
refusal moto does not reproduce are answered by botocore's Stubber.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from orchestration.aws import monitoring
from orchestration.aws.capture import CaptureIncomplete
from orchestration.backends.base import BackendError
from tests import iam_policies
from tests.orchestration import aws_conftest_helpers as helpers
from tests.orchestration.aws_conftest_helpers import (
    ARN_PREFIX,
    BUCKET,
    ENDPOINT,
    REGION,
    ROLE_ARN,
    SCHEDULE,
    CallLog,
    PartialStubber,
    schedule_description,
)

moto_url = helpers.moto_url
aws_settings = helpers.aws_settings
backend = helpers.backend

IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/sklearn-byoc:latest"
SCHEDULE_OPERATIONS = {
    "CreateMonitoringSchedule",
    "UpdateMonitoringSchedule",
    "DescribeMonitoringSchedule",
}


def schedule_spec(**overrides) -> monitoring.ScheduleSpec:
    values = dict(
        schedule_name=SCHEDULE,
        endpoint_name=ENDPOINT,
        image=IMAGE,
        statistics_uri=f"s3://{BUCKET}/penguins/baseline/statistics.json",
        constraints_uri=f"s3://{BUCKET}/penguins/baseline/constraints.json",
        output_uri=f"s3://{BUCKET}/penguins/reports",
    )
    return monitoring.ScheduleSpec(**{**values, **overrides})


def assert_allowed(log: CallLog, step: str, *operations: str) -> None:
    """The path made `operations` under the CLI step `step`, and every call it
    made is allowed by its step's policy and listed in STEP_CALLS."""
    made = log.operations(step)
    assert made, f"no call logged under {step}"
    assert set(operations) <= set(made), f"{step} made {made}"
    assert iam_policies.audit(log.requests) == []


# --- the schedule, created again ----------------------------------------------
def test_schedule_created_again_is_updated_to_the_new_config(backend):
    spec = schedule_spec(schedule_expression="cron(0 0/6 ? * * *)")
    log = CallLog(step="schedule")
    log.attach(backend.clients)
    stub = PartialStubber(backend.clients.sagemaker, SCHEDULE_OPERATIONS)
    stub.add_client_error(
        "create_monitoring_schedule",
        service_error_code="ResourceInUse",
        service_message=f"Monitoring schedule {SCHEDULE} already exists",
        http_status_code=400,
    )
    stub.add_response(
        "update_monitoring_schedule",
        {"MonitoringScheduleArn": f"{ARN_PREFIX}:monitoring-schedule/{SCHEDULE}"},
        {
            "MonitoringScheduleName": SCHEDULE,
            "MonitoringScheduleConfig": monitoring.schedule_config(spec, ROLE_ARN),
        },
    )
    for status in ("Pending", "Scheduled"):
        stub.add_response(
            "describe_monitoring_schedule",
            schedule_description(SCHEDULE, ENDPOINT, status),
            {"MonitoringScheduleName": SCHEDULE},
        )
    progress: list[str] = []
    with stub:
        assert backend.create_monitoring_schedule(spec, progress.append) == SCHEDULE
        stub.assert_no_pending_responses()
    assert progress[0] == f"monitoring schedule {SCHEDULE} exists; updating it"
    assert progress[-1] == f"monitoring schedule {SCHEDULE}: Scheduled"
    assert log.operations() == [
        "CreateMonitoringSchedule",
        "UpdateMonitoringSchedule",
        "DescribeMonitoringSchedule",
        "DescribeMonitoringSchedule",
    ]
    # The update hands SageMaker the execution role again: iam:PassRole too.
    assert_allowed(log, "schedule", "UpdateMonitoringSchedule")


def test_a_schedule_that_ends_failed_is_an_error_with_its_reason(backend):
    stub = PartialStubber(backend.clients.sagemaker, SCHEDULE_OPERATIONS)
    stub.add_response(
        "create_monitoring_schedule",
        {"MonitoringScheduleArn": f"{ARN_PREFIX}:monitoring-schedule/{SCHEDULE}"},
    )
    failed = schedule_description(SCHEDULE, ENDPOINT, "Failed")
    failed["FailureReason"] = "Image does not exist"
    stub.add_response("describe_monitoring_schedule", failed)
    with (
        stub,
        pytest.raises(
            BackendError, match=f"schedule {SCHEDULE} is Failed: Image does not exist"
        ),
    ):
        backend.create_monitoring_schedule(schedule_spec())


# --- the alarm's SNS topic ------------------------------------------------------
def test_a_topic_that_exists_with_other_tags_is_reused_as_it_is(backend):
    sns = backend.clients.sns
    theirs = sns.create_topic(
        Name="sklearn-byoc-alerts", Tags=[{"Key": "team", "Value": "ml-ops"}]
    )["TopicArn"]
    sns.create_topic(Name="other-topic")
    log = CallLog(step="schedule")
    log.attach(backend.clients)
    # AWS refuses CreateTopic with tags that differ from the topic's; moto
    # does not, so the refusal comes from the Stubber.
    stub = PartialStubber(sns, {"CreateTopic"})
    stub.add_client_error(
        "create_topic",
        service_error_code="InvalidParameter",
        service_message="Invalid parameter: Tags Reason: Topic already exists "
        "with different tags",
        http_status_code=400,
        expected_params={
            "Name": "sklearn-byoc-alerts",
            "Tags": [{"Key": "project", "Value": "sklearn-byoc"}],
        },
    )
    with stub:
        alarm = backend.create_drift_alarm(ENDPOINT, SCHEDULE, ("island",))
        stub.assert_no_pending_responses()
    log.step = ""  # the checks below are the test's own calls
    assert alarm["topic_arn"] == theirs
    alarm_request = log.params["PutMetricAlarm"][0]
    assert alarm_request["AlarmActions"] == [theirs]
    tags = sns.list_tags_for_resource(ResourceArn=theirs)["Tags"]
    assert tags == [{"Key": "team", "Value": "ml-ops"}]
    assert "TagResource" not in log.operations("schedule")
    assert_allowed(log, "schedule", "CreateTopic", "ListTopics", "PutMetricAlarm")


def test_other_topic_refusals_still_fail_with_aws_answer(backend):
    stub = PartialStubber(backend.clients.sns, {"CreateTopic"})
    stub.add_client_error(
        "create_topic",
        service_error_code="AuthorizationError",
        service_message="not authorized to perform SNS:CreateTopic",
        http_status_code=403,
    )
    with (
        stub,
        pytest.raises(
            BackendError, match="creating SNS topic sklearn-byoc-alerts failed: "
        ),
    ):
        backend.create_drift_alarm(ENDPOINT, SCHEDULE, ("island",))


# --- waiting for capture -----------------------------------------------------------
CAPTURE = f"s3://{BUCKET}/penguins/capture"


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def hour_keys(start: datetime, end: datetime) -> list[str]:
    hour = start.replace(minute=0, second=0, microsecond=0)
    keys = []
    while hour < end:
        keys.append(f"penguins/capture/{ENDPOINT}/AllTraffic/{hour:%Y/%m/%d/%H}/")
        hour += timedelta(hours=1)
    return keys


def put_capture(backend, when: datetime) -> str:
    """One capture object in the hour folder of `when`, written now, as SageMaker
    writes them."""
    key = f"{hour_keys(when, when + timedelta(seconds=1))[0]}{when:%M-%S}-000-x.jsonl"
    # A client the call log does not see: this is SageMaker's write, not ours.
    raw = backend.clients.session.client(
        "s3", region_name=REGION, endpoint_url=backend.settings.endpoint_url
    )
    raw.put_object(Bucket=BUCKET, Key=key, Body=b'{"captureData": {}}\n')
    return key


def listed(log: CallLog) -> list[str]:
    return [p["Prefix"] for p in log.params.get("ListObjectsV2", [])]


def test_capture_already_in_s3_is_found_without_waiting(backend):
    now = datetime.now(UTC)
    start, end = now - timedelta(minutes=10), now - timedelta(seconds=2)
    put_capture(backend, start)
    log = CallLog(step="monitor")
    log.attach(backend.clients)
    said: list[str] = []
    found = backend.wait_for_capture(
        CAPTURE, ENDPOINT, iso(start), iso(end), said.append
    )
    assert (found.files, found.waited_seconds, said) == (1, 0.0, [])
    assert listed(log) == hour_keys(start, end)  # the window's hours, once each
    assert_allowed(log, "monitor", "ListObjectsV2")


def test_capture_written_during_the_wait_ends_it(backend):
    now = datetime.now(UTC)
    start, end = now - timedelta(minutes=5), now - timedelta(seconds=2)
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        if len(sleeps) == 2:  # SageMaker writes the window's capture meanwhile
            put_capture(backend, start)

    backend._sleep = sleep
    said: list[str] = []
    found = backend.wait_for_capture(
        CAPTURE, ENDPOINT, iso(start), iso(end), said.append
    )
    assert found.files == 1 and found.waited_seconds == 30 and sleeps == [15, 15]
    assert said == [
        f"waiting for SageMaker to write the capture of {iso(start)} → {iso(end)} "
        f"under {found.location}: 0 object(s) so far, 0 of 600 s"
    ]
    assert found.location.startswith(f"{CAPTURE}/{ENDPOINT}/AllTraffic/")


def test_no_capture_within_the_wait_means_no_traffic(backend):
    backend.settings = replace(backend.settings, capture_wait_seconds=45)
    now = datetime.now(UTC)
    start, end = now - timedelta(minutes=5), now - timedelta(seconds=2)
    log = CallLog(step="monitor")
    log.attach(backend.clients)
    found = backend.wait_for_capture(CAPTURE, ENDPOINT, iso(start), iso(end), print)
    assert (found.files, found.waited_seconds) == (0, 45)
    # Polled at 0, 15, 30 and 45 s, each hour of the window each time.
    assert len(listed(log)) == 4 * len(hour_keys(start, end))
    assert_allowed(log, "monitor", "ListObjectsV2")


def test_capture_still_short_of_the_window_end_times_out_clearly(backend):
    backend.settings = replace(backend.settings, capture_wait_seconds=30)
    now = datetime.now(UTC)
    start, end = now - timedelta(minutes=5), now + timedelta(hours=1)
    put_capture(backend, start)  # written before the end: later traffic may be due
    with pytest.raises(
        CaptureIncomplete,
        match=rf"the capture of {iso(start)} → {iso(end)} under "
        rf"{CAPTURE}/{ENDPOINT}/AllTraffic/\S+ .*is still incomplete after waiting "
        r"30 s: 1 object\(s\), the newest written .* raise "
        r"aws\.options\.capture_wait_seconds",
    ):
        backend.wait_for_capture(CAPTURE, ENDPOINT, iso(start), iso(end), print)


def test_without_wait_the_window_is_looked_at_once(backend):
    now = datetime.now(UTC)
    start, end = now + timedelta(minutes=2), now + timedelta(minutes=3)
    # In the window's hour folder, but written before the window began: an
    # earlier window's traffic, not this one's.
    put_capture(backend, start)
    log = CallLog(step="monitor")
    log.attach(backend.clients)
    found = backend.wait_for_capture(
        CAPTURE, ENDPOINT, iso(start), iso(end), print, wait=False
    )
    assert (found.files, found.waited_seconds) == (0, 0)
    assert listed(log) == hour_keys(start, end)
    assert_allowed(log, "monitor", "ListObjectsV2")

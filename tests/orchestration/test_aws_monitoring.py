"""The AWS backend's monitoring edges: a schedule created again, an alarm topic
that exists with other tags, and the wait for capture to reach S3.

S3 and SNS are moto's; monitoring schedules, which moto lacks, and the SNS
refusal moto does not reproduce are answered by botocore's Stubber.
"""

from __future__ import annotations

import pytest

from orchestration.aws import monitoring
from orchestration.backends.base import BackendError
from tests.orchestration import aws_conftest_helpers as helpers
from tests.orchestration.aws_conftest_helpers import (
    ARN_PREFIX,
    BUCKET,
    ENDPOINT,
    ROLE_ARN,
    SCHEDULE,
    CallLog,
    PartialStubber,
    schedule_description,
)
from tests.orchestration.test_aws_iam import allowed_actions, iam_action, load

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


def assert_allowed(log: CallLog, policy: str) -> None:
    """Every call logged under the step `policy` is allowed by its policy."""
    actions = allowed_actions(load(policy))
    missing = {
        iam_action(service, op)
        for step, service, op in log.calls
        if step == policy and iam_action(service, op) not in actions
    }
    assert not missing, f"{policy}.json lacks {sorted(missing)}"


# --- the schedule, created again ----------------------------------------------
def test_schedule_created_again_is_updated_to_the_new_config(backend):
    spec = schedule_spec(schedule_expression="cron(0 0/6 ? * * *)")
    log = CallLog(step="monitor")
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
    assert_allowed(log, "monitor")


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
    log = CallLog(step="alarm")
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
    assert "TagResource" not in log.operations("alarm")
    assert_allowed(log, "alarm")


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

"""Faults no emulator produces, injected into the AWS backend: endpoint updates
that SageMaker rolls back or that end Failed, endpoints that fail to start,
processing jobs that fail or are stopped, and throttled calls.

SageMaker's answers are given by botocore's Stubber (`PartialStubber`, so
the resources the backend creates and deletes live in moto and the state
left behind can be checked). Throttling is injected below the Stubber, at
the HTTP layer (`before-send`), because stubbed answers bypass botocore's
retries and those retries are what is tested.

The clean-ups on these paths are calls too: each test logs them under the
CLI step that makes them and checks them against that step's IAM policy
(`tests.iam_policies.audit`), so a clean-up the policy does not grant fails
here rather than as AccessDenied in the middle of a failed deploy.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import botocore.retries.standard
import pytest
from botocore.awsrequest import AWSResponse

from container.contract.errors import ByocError
from orchestration import dataprep, lifecycle
from orchestration.aws.errors import AwsCallFailed
from orchestration.backends.base import (
    CaptureSpec,
    EndpointFailed,
    EndpointSpec,
    JobFailed,
    UpdateRolledBack,
)
from orchestration.registry import APPROVED
from tests import iam_policies
from tests.orchestration import aws_conftest_helpers as helpers
from tests.orchestration.aws_conftest_helpers import (
    ARN_PREFIX,
    BUCKET,
    ENDPOINT,
    REGION,
    CallLog,
    PartialStubber,
    push_fake_image,
)

moto_url = helpers.moto_url
aws_settings = helpers.aws_settings
backend = helpers.backend

ROOT = Path(__file__).resolve().parents[2]
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/sklearn-byoc:latest"
ARTIFACT = f"s3://{BUCKET}/penguins/models/job/output/model.tar.gz"
PING_FAILED = (
    "The primary container for production variant AllTraffic did not pass the "
    "ping health check. Please check CloudWatch logs for this endpoint."
)
NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def endpoint_spec(model_name: str) -> EndpointSpec:
    return EndpointSpec(
        endpoint_name=ENDPOINT,
        model_name=model_name,
        model_artifact=ARTIFACT,
        image=IMAGE,
        capture=CaptureSpec(destination=f"s3://{BUCKET}/penguins/capture"),
    )


def endpoint_description(status: str, config: str, reason: str | None = None):
    description = {
        "EndpointName": ENDPOINT,
        "EndpointArn": f"{ARN_PREFIX}:endpoint/{ENDPOINT}",
        "EndpointConfigName": config,
        "EndpointStatus": status,
        "CreationTime": NOW,
        "LastModifiedTime": NOW,
    }
    if reason:
        description["FailureReason"] = reason
    return description


def moto_sagemaker(backend):
    """A client on moto's state that neither the Stubber nor the call log sees:
    the tests' own look at what the backend left."""
    return backend.clients.session.client(
        "sagemaker", region_name=REGION, endpoint_url=backend.settings.endpoint_url
    )


def serving_config(backend) -> str:
    described = moto_sagemaker(backend).describe_endpoint(EndpointName=ENDPOINT)
    return described["EndpointConfigName"]


def configs_and_models(backend) -> tuple[list[str], list[str]]:
    sagemaker = moto_sagemaker(backend)
    configs = sagemaker.list_endpoint_configs()["EndpointConfigs"]
    models = sagemaker.list_models()["Models"]
    return (
        sorted(c["EndpointConfigName"] for c in configs),
        sorted(m["ModelName"] for m in models),
    )


def logged(backend, step: str = "deploy") -> CallLog:
    """A log of the backend's calls from now on, all made by CLI step `step`."""
    log = CallLog(step=step)
    log.attach(backend.clients)
    return log


def assert_allowed(log: CallLog, step: str, *operations: str) -> None:
    """The path made `operations` under `step`, and every call it made is
    allowed by its step's policy and listed in STEP_CALLS."""
    made = log.operations(step)
    assert set(operations) <= set(made), f"{step} made {made}"
    assert iam_policies.audit(log.requests) == []


def stub_update(backend, old_config: str, *after_update: dict) -> PartialStubber:
    """Answers: InService on `old_config`, UpdateEndpoint, then `after_update`."""
    stub = PartialStubber(
        backend.clients.sagemaker, {"DescribeEndpoint", "UpdateEndpoint"}
    )
    stub.add_response(
        "describe_endpoint", endpoint_description("InService", old_config)
    )
    stub.add_response("update_endpoint", {"EndpointArn": f"{ARN_PREFIX}:endpoint/x"})
    for description in after_update:
        stub.add_response("describe_endpoint", description)
    return stub


# --- UpdateEndpoint rolled back or Failed ------------------------------------------
def test_rolled_back_update_is_reported_and_keeps_what_still_serves(backend):
    log = logged(backend)
    backend.create_endpoint(endpoint_spec("penguins-species-v1"))
    old_config = serving_config(backend)
    stub = stub_update(
        backend,
        old_config,
        endpoint_description("Updating", old_config),
        endpoint_description("RollingBack", old_config),
        # SageMaker's rollback: InService again, on the old config, with a reason.
        endpoint_description("InService", old_config, PING_FAILED),
    )
    with stub, pytest.raises(UpdateRolledBack) as caught:
        backend.update_endpoint(endpoint_spec("penguins-species-v2"))
    stub.assert_no_pending_responses()
    message = caught.value.message
    assert caught.value.reason == PING_FAILED
    assert PING_FAILED in message
    assert f"still serves endpoint config {old_config}" in message
    assert "(model penguins-species-v1)" in message
    # The new config and model are gone; the old ones, still serving, are kept.
    assert configs_and_models(backend) == ([old_config], ["penguins-species-v1"])
    assert_allowed(
        log, "deploy", "UpdateEndpoint", "DeleteEndpointConfig", "DeleteModel"
    )


def test_update_rolled_back_onto_another_config_names_its_model(backend):
    """SageMaker reports the config it rolled back to; when that is not the one
    described before the update, its models are looked up too."""
    log = logged(backend)
    backend.create_endpoint(endpoint_spec("penguins-species-v1"))
    old_config = serving_config(backend)
    stub = stub_update(
        backend,
        "penguins-species-described-before",
        endpoint_description("InService", old_config, PING_FAILED),
    )
    with stub, pytest.raises(UpdateRolledBack) as caught:
        backend.update_endpoint(endpoint_spec("penguins-species-v2"))
    assert f"still serves endpoint config {old_config}" in caught.value.message
    assert "(model penguins-species-v1)" in caught.value.message
    assert log.operations("deploy").count("DescribeEndpointConfig") == 2
    assert_allowed(log, "deploy", "DescribeEndpointConfig", "DeleteEndpointConfig")


@pytest.mark.parametrize("left_on", ["old", "new"])
def test_update_ending_failed_keeps_only_the_config_the_endpoint_holds(
    backend, left_on
):
    log = logged(backend)
    backend.create_endpoint(endpoint_spec("penguins-species-v1"))
    old_config = serving_config(backend)
    stub = stub_update(backend, old_config)
    new_config: list[str] = []

    def answer_with_the_new_config(params, **kwargs):
        new_config.append(params["EndpointConfigName"])
        held = old_config if left_on == "old" else params["EndpointConfigName"]
        stub.add_response(
            "describe_endpoint", endpoint_description("Failed", held, PING_FAILED)
        )

    backend.clients.sagemaker.meta.events.register(
        "before-parameter-build.sagemaker.UpdateEndpoint", answer_with_the_new_config
    )
    with stub, pytest.raises(EndpointFailed) as caught:
        backend.update_endpoint(endpoint_spec("penguins-species-v2"))
    stub.assert_no_pending_responses()
    assert caught.value.reason == PING_FAILED
    assert "left it Failed" in caught.value.message
    assert "run `teardown`, then `deploy`" in caught.value.message
    # Teardown deletes what the endpoint holds; the other config served nothing.
    if left_on == "old":
        assert configs_and_models(backend) == ([old_config], ["penguins-species-v1"])
    else:
        assert configs_and_models(backend) == (new_config, ["penguins-species-v2"])
    assert_allowed(log, "deploy", "DeleteEndpointConfig", "DeleteModel")


def test_update_rollback_that_failed_too_keeps_both_configs(backend):
    log = logged(backend)
    backend.create_endpoint(endpoint_spec("penguins-species-v1"))
    old_config = serving_config(backend)
    stub = stub_update(
        backend,
        old_config,
        endpoint_description("UpdateRollbackFailed", old_config, "rollback failed"),
    )
    with stub, pytest.raises(EndpointFailed, match="so did SageMaker's rollback"):
        backend.update_endpoint(endpoint_spec("penguins-species-v2"))
    configs, models = configs_and_models(backend)
    assert len(configs) == 2
    assert models == ["penguins-species-v1", "penguins-species-v2"]
    assert_allowed(log, "deploy", "UpdateEndpoint")


def test_a_failed_endpoint_is_not_updated(backend):
    log = logged(backend)
    stub = PartialStubber(backend.clients.sagemaker, {"DescribeEndpoint"})
    stub.add_response(
        "describe_endpoint", endpoint_description("Failed", "cfg", PING_FAILED)
    )
    with stub, pytest.raises(EndpointFailed, match="accepts only DeleteEndpoint"):
        backend.update_endpoint(endpoint_spec("penguins-species-v2"))
    assert log.operations() == ["DescribeEndpoint"]  # nothing created
    assert_allowed(log, "deploy", "DescribeEndpoint")


def test_refused_update_deletes_the_new_config_and_model(backend):
    log = logged(backend)
    backend.create_endpoint(endpoint_spec("penguins-species-v1"))
    old_config = serving_config(backend)
    stub = PartialStubber(
        backend.clients.sagemaker, {"DescribeEndpoint", "UpdateEndpoint"}
    )
    stub.add_response(
        "describe_endpoint", endpoint_description("InService", old_config)
    )
    stub.add_client_error(
        "update_endpoint",
        service_error_code="ValidationException",
        service_message="Cannot update in-progress endpoint",
    )
    with stub, pytest.raises(AwsCallFailed, match="Cannot update in-progress"):
        backend.update_endpoint(endpoint_spec("penguins-species-v2"))
    assert configs_and_models(backend) == ([old_config], ["penguins-species-v1"])
    assert_allowed(log, "deploy", "DeleteEndpointConfig", "DeleteModel")


# --- CreateEndpoint or CreateEndpointConfig refused -----------------------------------
def test_refused_endpoint_deletes_its_new_config_and_model(backend):
    log = logged(backend)
    stub = PartialStubber(backend.clients.sagemaker, {"CreateEndpoint"})
    stub.add_client_error(
        "create_endpoint",
        service_error_code="ResourceLimitExceeded",
        service_message="The account-level service limit for ml.m5.large is 0",
    )
    with stub, pytest.raises(AwsCallFailed, match="ResourceLimitExceeded"):
        backend.create_endpoint(endpoint_spec("penguins-species-v1"))
    assert configs_and_models(backend) == ([], [])
    assert_allowed(log, "deploy", "DeleteEndpointConfig", "DeleteModel")


def test_refused_endpoint_config_deletes_its_new_model(backend):
    log = logged(backend)
    stub = PartialStubber(backend.clients.sagemaker, {"CreateEndpointConfig"})
    stub.add_client_error(
        "create_endpoint_config",
        service_error_code="ValidationException",
        service_message="Invalid DataCaptureConfig",
    )
    with stub, pytest.raises(AwsCallFailed, match="Invalid DataCaptureConfig"):
        backend.create_endpoint(endpoint_spec("penguins-species-v1"))
    assert configs_and_models(backend) == ([], [])
    assert log.operations("deploy")[-1] == "DeleteModel"
    assert_allowed(log, "deploy", "DeleteModel")


# --- CreateEndpoint ending Failed ---------------------------------------------------
def test_endpoint_that_fails_to_start_is_reported_and_removed(backend):
    log = logged(backend)
    stub = PartialStubber(backend.clients.sagemaker, {"DescribeEndpoint"})
    stub.add_response("describe_endpoint", endpoint_description("Creating", "c"))
    stub.add_response(
        "describe_endpoint", endpoint_description("Failed", "c", PING_FAILED)
    )
    # After DeleteEndpoint (answered by moto) the endpoint is gone.
    stub.add_client_error(
        "describe_endpoint",
        service_error_code="ValidationException",
        service_message=f'Could not find endpoint "{ENDPOINT}".',
    )
    with stub, pytest.raises(EndpointFailed) as caught:
        backend.create_endpoint(endpoint_spec("penguins-species-v1"))
    stub.assert_no_pending_responses()
    message = caught.value.message
    assert caught.value.reason == PING_FAILED
    assert message.startswith(f"endpoint {ENDPOINT} failed to start: {PING_FAILED}")
    assert "so `deploy` can run again" in message
    assert f"/aws/sagemaker/Endpoints/{ENDPOINT}" in message
    # Nothing left that the lifecycle does not record (it records no endpoint).
    assert moto_sagemaker(backend).list_endpoints()["Endpoints"] == []
    assert configs_and_models(backend) == ([], [])
    # Its clean-up is deploy's: DeleteEndpoint, the wait until it is gone, and
    # the config and model.
    assert log.operations("deploy")[-4:] == [
        "DeleteEndpoint",
        "DescribeEndpoint",
        "DeleteEndpointConfig",
        "DeleteModel",
    ]
    assert_allowed(log, "deploy", "DeleteEndpoint")


# --- through the lifecycle ----------------------------------------------------------
@pytest.fixture
def project(backend, tmp_path):
    return helpers.aws_project(backend, tmp_path)


def approved_version(p, run_id: str) -> int:
    group = p.config.registry.model_group
    version = p.registry.register(group, ARTIFACT, IMAGE, {}, {"run_id": run_id})
    p.registry.set_approval(group, version.version, APPROVED, "test")
    return version.version


def test_rolled_back_deploy_leaves_state_and_registry_on_the_old_version(project):
    log = logged(project.backend, "register")
    first = approved_version(project, "run-1")
    log.step = "deploy"
    lifecycle.deploy(project, first)
    old_config = serving_config(project.backend)
    old_models = configs_and_models(project.backend)[1]
    log.step = "register"
    second = approved_version(project, "run-2")
    log.step = "deploy"
    stub = stub_update(
        project.backend,
        old_config,
        endpoint_description("Updating", old_config),
        endpoint_description("InService", old_config, PING_FAILED),
    )
    with stub, pytest.raises(UpdateRolledBack) as caught:
        lifecycle.deploy(project)
    message = caught.value.message
    # The CLI prints a ByocError's message as one line.
    assert isinstance(caught.value, ByocError) and "\n" not in message
    assert message.startswith(
        f"penguins-species version {second} was not deployed, endpoint "
        f"{ENDPOINT} stays on version {first}: "
    )
    assert PING_FAILED in message
    saved = json.loads(project.state_file.read_text())
    assert saved["endpoint"]["version"] == first
    assert saved["endpoint"]["name"] == ENDPOINT
    group = project.config.registry.model_group
    assert [(v.version, v.approval) for v in project.registry.list(group)] == [
        (first, APPROVED),
        (second, APPROVED),
    ]
    assert configs_and_models(project.backend) == ([old_config], old_models)
    # lifecycle.deploy's calls, the latest approved version's lookup included.
    assert_allowed(
        log, "deploy", "ListModelPackages", "UpdateEndpoint", "DeleteEndpointConfig"
    )


def processing_description(name: str, status: str, reason=None, exit_message=None):
    description = {
        "ProcessingJobName": name,
        "ProcessingJobArn": f"{ARN_PREFIX}:processing-job/{name}",
        "ProcessingJobStatus": status,
        "ProcessingResources": {
            "ClusterConfig": {
                "InstanceCount": 1,
                "InstanceType": "ml.m5.large",
                "VolumeSizeInGB": 20,
            }
        },
        "AppSpecification": {"ImageUri": IMAGE},
        "CreationTime": NOW,
    }
    if reason:
        description["FailureReason"] = reason
    if exit_message:
        description["ExitMessage"] = exit_message
    return description


def ready_for(project, step: str, tmp_path: Path) -> None:
    """The lifecycle state `baseline` or `monitor` needs, with its files."""
    push_fake_image(project.backend)
    data = f"s3://{BUCKET}/penguins/data/processed/"
    project.state["prepared"] = {"channels": {dataprep.BASELINE_DIR: data}}
    if step == "monitor":
        local = tmp_path / "baseline-files"
        local.mkdir()
        (local / "statistics.json").write_text("{}")
        (local / "constraints.json").write_text("{}")
        project.state["baseline"] = {
            "job": "penguins-baseline-1",
            "location": f"s3://{BUCKET}/penguins/baseline/penguins-baseline-1",
            "local": str(local),
        }
        project.state["endpoint"] = {
            "name": ENDPOINT,
            "version": 1,
            "capture": f"s3://{BUCKET}/penguins/capture",
            "invocations": 0,
            "errors": 0,
        }
        # Traffic in the window, so that `monitor` gets as far as its job.
        now = datetime.now(UTC)
        project.backend.clients.s3.put_object(
            Bucket=BUCKET,
            Key=f"penguins/capture/{ENDPOINT}/AllTraffic/{now:%Y/%m/%d/%H}/x.jsonl",
            Body=b'{"captureData": {}}\n',
        )
    project.save()


def answer_describe_processing(backend, status, reason, exit_message):
    stub = PartialStubber(backend.clients.sagemaker, {"DescribeProcessingJob"})
    backend.clients.sagemaker.meta.events.register(
        "before-parameter-build.sagemaker.CreateProcessingJob",
        lambda params, **kwargs: stub.add_response(
            "describe_processing_job",
            processing_description(
                params["ProcessingJobName"], status, reason, exit_message
            ),
        ),
    )
    return stub


@pytest.mark.parametrize("step", ["baseline", "monitor"])
def test_failed_processing_job_says_sagemakers_reason_and_the_containers(
    project, tmp_path, step
):
    ready_for(project, step, tmp_path)
    log = logged(project.backend, step)
    stub = answer_describe_processing(
        project.backend,
        "Failed",
        "AlgorithmError: see job logs",
        "Failed: no captured records between 10:00 and 11:00",
    )
    with stub, pytest.raises(JobFailed) as caught:
        getattr(lifecycle, step)(project)
    # monitor lists the window's capture before it starts the job.
    listed = ("ListObjectsV2",) if step == "monitor" else ()
    assert_allowed(log, step, *listed, "CreateProcessingJob", "DescribeProcessingJob")
    kind = "baseline" if step == "baseline" else "monitoring"
    assert caught.value.message.startswith(f"{kind} job penguins-{step}-")
    assert caught.value.message.endswith(
        " Failed: AlgorithmError: see job logs; "
        "Failed: no captured records between 10:00 and 11:00"
    )
    saved = json.loads(project.state_file.read_text())
    assert ("last_monitor" if step == "monitor" else "baseline") not in saved
    assert project.alerts.history() == []


@pytest.mark.parametrize("step", ["baseline", "monitor"])
def test_stopped_processing_job_says_it_was_stopped(project, tmp_path, step):
    ready_for(project, step, tmp_path)
    log = logged(project.backend, step)
    stub = answer_describe_processing(project.backend, "Stopped", None, None)
    with stub, pytest.raises(JobFailed) as caught:
        getattr(lifecycle, step)(project)
    assert_allowed(log, step, "CreateProcessingJob", "DescribeProcessingJob")
    assert caught.value.message.endswith(
        " was stopped before it finished (no reason given)"
    )
    assert "None" not in caught.value.message


# --- throttling ----------------------------------------------------------------------
class _Body:
    def __init__(self, data: bytes):
        self.data = data

    def stream(self, **kwargs):
        yield self.data


def throttle(client, operation: str, times: int | None) -> list[int]:
    """Answer `operation` with ThrottlingException over HTTP `times` times
    (None: always), then let it reach moto; returns the count of attempts."""
    attempts: list[int] = []

    def before_send(request, **kwargs):
        attempts.append(1)
        if times is not None and len(attempts) > times:
            return None
        body = json.dumps({"__type": "ThrottlingException", "message": "Rate exceeded"})
        return AWSResponse(
            request.url,
            400,
            {"Content-Type": "application/x-amz-json-1.1", "x-amzn-RequestId": "t"},
            _Body(body.encode()),
        )

    client.meta.events.register(f"before-send.sagemaker.{operation}", before_send)
    return attempts


@pytest.fixture
def no_backoff(monkeypatch):
    """botocore's standard retries, without their sleeps."""
    monkeypatch.setattr(
        botocore.retries.standard.ExponentialBackoff, "delay_amount", lambda *a: 0
    )


def test_a_throttled_wait_is_retried_by_botocore_and_succeeds(backend, no_backoff):
    attempts = throttle(backend.clients.sagemaker, "DescribeEndpoint", times=2)
    info = backend.create_endpoint(endpoint_spec("penguins-species-v1"))
    assert info.status == "InService"
    assert len(attempts) == 3  # two throttled, the third answered


def test_a_persistent_throttle_ends_in_one_line_naming_the_call(backend, no_backoff):
    attempts = throttle(backend.clients.sagemaker, "DescribeEndpoint", times=None)
    with pytest.raises(AwsCallFailed) as caught:
        backend.create_endpoint(endpoint_spec("penguins-species-v1"))
    message = caught.value.message
    # The clients' standard retry mode: the first attempt and max_attempts=5 retries.
    assert len(attempts) == 6
    assert "\n" not in message
    assert message == (
        f"waiting for endpoint {ENDPOINT} failed: ThrottlingException: Rate "
        "exceeded (DescribeEndpoint tried 6 times; AWS throttled the call: retry "
        "in a minute)"
    )
    assert caught.value.error_code == "ThrottlingException"

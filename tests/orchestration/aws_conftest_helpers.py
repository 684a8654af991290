"""Fixtures and helpers for the AWS backend tests: moto's server, a partial
Stubber for the calls moto lacks, a log of every AWS call, and the whole flow.

moto answers S3, ECR, SNS, CloudWatch and most SageMaker calls over real HTTP;
botocore validates every request against the service model before sending.
moto does not implement monitoring schedules, StopTrainingJob and
UpdateEndpoint, so `PartialStubber` answers exactly those operations from a
queue (validated by botocore's Stubber) and lets every other call through to
moto.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests
from botocore.stub import Stubber
from moto.server import ThreadedMotoServer

from orchestration.aws.clients import AwsClients
from orchestration.aws.monitoring import ScheduleSpec
from orchestration.aws.settings import AwsSettings
from orchestration.backends.aws import AwsBackend
from orchestration.backends.base import (
    CaptureSpec,
    EndpointSpec,
    ProcessingJobSpec,
    TrainingJobSpec,
)

REGION = "us-east-1"
ACCOUNT = "123456789012"
ARN_PREFIX = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/sklearn-byoc-sagemaker-execution"
BUCKET = "sklearn-byoc-test"
REPOSITORY = "sklearn-byoc"
FAKE_MANIFEST = {
    "schemaVersion": 2,
    "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
    "config": {
        "mediaType": "application/vnd.docker.container.image.v1+json",
        "size": 1,
        "digest": "sha256:" + "a" * 64,
    },
    "layers": [],
}


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    """A moto server on 127.0.0.1 for this test module, stopped afterwards."""
    # moto's werkzeug logs one line per request; keep test output readable.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def aws_settings(moto_url: str) -> Iterator[AwsSettings]:
    requests.post(f"{moto_url}/moto-api/reset", timeout=10).raise_for_status()
    yield AwsSettings(
        region=REGION,
        role_arn=ROLE_ARN,
        bucket=BUCKET,
        prefix="penguins",
        ecr_repository=REPOSITORY,
        endpoint_url=moto_url,
        poll_seconds=0,
        wait_timeout_seconds=30,
    )


@pytest.fixture
def backend(aws_settings: AwsSettings) -> AwsBackend:
    session = boto3.Session(
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name=REGION,
    )
    backend = AwsBackend(
        aws_settings, AwsClients(aws_settings, session), sleep=lambda _: None
    )
    backend.clients.s3.create_bucket(Bucket=BUCKET)
    return backend


def aws_project(backend: AwsBackend, tmp_path: Path) -> Any:
    """The shipped config/aws-example.yaml as a Project over `backend`, with
    its own state folder; what it says is kept in `project.said`."""
    import dataclasses

    from orchestration import lifecycle
    from orchestration.alerts import LocalAlerts
    from orchestration.config import REPO_ROOT, load_config
    from orchestration.tracking import Tracker

    config = load_config(REPO_ROOT / "config" / "aws-example.yaml")
    config = dataclasses.replace(
        config,
        state_dir=tmp_path / "state",
        aws=dataclasses.replace(
            config.aws, region=REGION, bucket=BUCKET, prefix=backend.settings.prefix
        ),
    )
    said: list[str] = []
    project = lifecycle.Project(
        config,
        backend,
        backend.registry(),
        Tracker(config.state_dir),
        LocalAlerts(config.state_dir, config.alerts, said.append),
        said.append,
    )
    project.load_state()
    project.said = said  # type: ignore[attr-defined]
    return project


class PartialStubber(Stubber):
    """botocore's Stubber for `operations` only; other calls reach the server."""

    def __init__(self, client: Any, operations: set[str]):
        super().__init__(client)
        self.operations = operations

    def _assert_expected_params(self, model, params, context, **kwargs):
        if model.name in self.operations:
            return super()._assert_expected_params(model, params, context, **kwargs)
        return None

    def _get_response_handler(self, model, params, context, **kwargs):
        if model.name in self.operations:
            return super()._get_response_handler(model, params, context, **kwargs)
        return None


@dataclass
class CallLog:
    """Every AWS call the backend makes, tagged with the CLI step making it.

    `requests` holds (step, service, operation, params) tuples, the calls
    `tests.iam_policies.violations` checks; an empty step is test set-up.
    """

    step: str = ""
    calls: list[tuple[str, str, str]] = field(default_factory=list)  # step, service, op
    params: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    requests: list[tuple[str, str, str, dict[str, Any]]] = field(default_factory=list)

    def attach(self, clients: AwsClients) -> None:
        for service in (
            "s3",
            "ecr",
            "sagemaker",
            "sagemaker-runtime",
            "cloudwatch",
            "sns",
        ):
            client = clients.get(service)
            # before-parameter-build sees the API parameters as the caller
            # wrote them (before-call sees the serialized HTTP request).
            client.meta.events.register_first(
                "before-parameter-build.*.*", self._record
            )

    def _record(self, model, params, **kwargs):
        service = model.service_model.service_name
        self.calls.append((self.step, service, model.name))
        self.params.setdefault(model.name, []).append(params)
        self.requests.append((self.step, service, model.name, params))

    def operations(self, step: str | None = None) -> list[str]:
        return [op for s, _, op in self.calls if step is None or s == step]


def apply_updates_to_moto(backend: AwsBackend) -> None:
    """Give a stubbed UpdateEndpoint its effect on moto's state.

    moto has no UpdateEndpoint; the Stubber answers it, and this switches
    moto's endpoint to the new config (delete + create, through a client the
    call log does not see), as SageMaker would, so later calls find the
    state AWS would have.
    """
    raw = backend.clients.session.client(
        "sagemaker", region_name=REGION, endpoint_url=backend.settings.endpoint_url
    )

    def switch(params, **kwargs):
        raw.delete_endpoint(EndpointName=params["EndpointName"])
        raw.create_endpoint(
            EndpointName=params["EndpointName"],
            EndpointConfigName=params["EndpointConfigName"],
        )

    backend.clients.sagemaker.meta.events.register(
        "before-parameter-build.sagemaker.UpdateEndpoint", switch
    )


def push_fake_image(backend: AwsBackend, tag: str = "latest") -> None:
    ecr = backend.clients.ecr
    if REPOSITORY not in [
        r["repositoryName"] for r in ecr.describe_repositories()["repositories"]
    ]:
        ecr.create_repository(repositoryName=REPOSITORY)
    ecr.put_image(
        repositoryName=REPOSITORY, imageManifest=json.dumps(FAKE_MANIFEST), imageTag=tag
    )


def write_processed(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    header = "species,bill_length_mm,bill_depth_mm,island"
    (folder / "train.csv").write_text(f"{header}\nAdelie,39.1,18.7,Torgersen\n")
    (folder / "validation.csv").write_text(f"{header}\nGentoo,47.5,15.0,Biscoe\n")
    return folder


def schedule_description(name: str, endpoint: str, status: str) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {
        "MonitoringScheduleArn": f"{ARN_PREFIX}:monitoring-schedule/{name}",
        "MonitoringScheduleName": name,
        "MonitoringScheduleStatus": status,
        "MonitoringType": "DataQuality",
        "CreationTime": now,
        "LastModifiedTime": now,
        "MonitoringScheduleConfig": {},
        "EndpointName": endpoint,
    }


ENDPOINT = "penguins-species"
SCHEDULE = "penguins-species-drift"
FEATURES = ("bill_length_mm", "bill_depth_mm", "island")


def run_full_flow(
    backend: AwsBackend, tmp_path: Path
) -> tuple[CallLog, dict[str, Any]]:
    """prepare → train (image lookup, job) → register → approve → deploy →
    predict → baseline → schedule (monitoring schedule, alarm) → deploy again
    (an update) → teardown, as the lifecycle drives them.

    Each call is tagged with the CLI step that makes it (`log.step`), so the
    IAM tests can check it against that step's policy."""
    log = CallLog()
    log.attach(backend.clients)
    stub = PartialStubber(
        backend.clients.sagemaker,
        {
            "CreateMonitoringSchedule",
            "DescribeMonitoringSchedule",
            "ListMonitoringSchedules",
            "DeleteMonitoringSchedule",
            "UpdateEndpoint",
        },
    )
    out: dict[str, Any] = {"progress": []}
    progress = out["progress"].append
    push_fake_image(backend)
    apply_updates_to_moto(backend)

    log.step = "prepare"
    data_uri = backend.upload_data(
        write_processed(tmp_path / "processed"), "data/processed"
    )
    out["data_uri"] = data_uri

    log.step = "train"  # lifecycle.train looks the image up first
    image = backend.ensure_image()
    out["image"] = image
    out["training"] = backend.run_training_job(
        TrainingJobSpec(
            job_name="penguins-train-1",
            image=image,
            hyperparameters={"target": "species", "max_depth": "5"},
            channels={"train": data_uri, "validation": str(tmp_path / "processed")},
        ),
        progress,
    )

    log.step = "register"
    registry = backend.registry()
    version = registry.register(
        "penguins-species",
        out["training"].model_artifact,
        image,
        {"validation:accuracy": 0.97},
        {"run_id": "penguins-train-1", "data_sha256": "ab" * 32},
    )
    log.step = "approve"
    out["version"] = registry.set_approval(
        "penguins-species", version.version, "Approved", "meets 0.9"
    )

    log.step = "deploy"
    spec = EndpointSpec(
        endpoint_name=ENDPOINT,
        model_name="penguins-species-v1",
        model_artifact=out["training"].model_artifact,
        image=image,
        capture=CaptureSpec(destination=f"s3://{BUCKET}/penguins/capture"),
        environment={"SAGEMAKER_MODEL_SERVER_WORKERS": "1"},
    )
    out["endpoint"] = backend.create_endpoint(spec)

    log.step = "predict"
    out["prediction"] = backend.invoke_endpoint(
        ENDPOINT, b"39.1,18.7,Torgersen", "text/csv", "text/csv", inference_id="r-1"
    )

    log.step = "baseline"
    out["baseline"] = backend.run_processing_job(
        ProcessingJobSpec(
            job_name="penguins-baseline-1",
            image=image,
            command="baseline",
            inputs={"input/baseline_dataset_input": data_uri + "train.csv"},
            output_location=f"s3://{BUCKET}/penguins/baseline",
            environment={
                "dataset_format": json.dumps({"csv": {"header": True}}),
                "dataset_source": "/opt/ml/processing/input/baseline_dataset_input",
                "output_path": "/opt/ml/processing/output",
            },
        ),
        progress,
    )

    log.step = "schedule"
    stub.add_response(
        "create_monitoring_schedule",
        {
            "MonitoringScheduleArn": schedule_description(SCHEDULE, ENDPOINT, "")[
                "MonitoringScheduleArn"
            ]
        },
    )
    stub.add_response(
        "describe_monitoring_schedule",
        schedule_description(SCHEDULE, ENDPOINT, "Pending"),
    )
    stub.add_response(
        "describe_monitoring_schedule",
        schedule_description(SCHEDULE, ENDPOINT, "Scheduled"),
        {"MonitoringScheduleName": SCHEDULE},
    )
    with stub:
        backend.create_monitoring_schedule(
            ScheduleSpec(
                schedule_name=SCHEDULE,
                endpoint_name=ENDPOINT,
                image=image,
                statistics_uri=f"s3://{BUCKET}/penguins/baseline/statistics.json",
                constraints_uri=f"s3://{BUCKET}/penguins/baseline/constraints.json",
                output_uri=f"s3://{BUCKET}/penguins/reports",
            ),
            progress,
        )
        out["schedule_request"] = log.params["CreateMonitoringSchedule"][-1]

        out["alarm"] = backend.create_drift_alarm(ENDPOINT, SCHEDULE, FEATURES)

        log.step = "deploy"
        stub.add_response(
            "update_endpoint",
            {"EndpointArn": f"{ARN_PREFIX}:endpoint/{ENDPOINT}"},
        )
        out["updated"] = backend.update_endpoint(
            EndpointSpec(
                endpoint_name=ENDPOINT,
                model_name="penguins-species-v2",
                model_artifact=out["training"].model_artifact,
                image=image,
                capture=spec.capture,
            )
        )

        log.step = "teardown"
        stub.add_response(
            "list_monitoring_schedules",
            {
                "MonitoringScheduleSummaries": [
                    {
                        "MonitoringScheduleName": SCHEDULE,
                        "MonitoringScheduleArn": "arn:aws:sagemaker:us-east-1:"
                        f"{ACCOUNT}:monitoring-schedule/{SCHEDULE}",
                        "CreationTime": datetime.now(UTC),
                        "LastModifiedTime": datetime.now(UTC),
                        "MonitoringScheduleStatus": "Scheduled",
                        "EndpointName": ENDPOINT,
                    }
                ]
            },
            {"EndpointName": ENDPOINT},
        )
        # Which kind of schedule it is (a model-quality one names a job
        # definition to delete after it).
        stub.add_response(
            "describe_monitoring_schedule",
            schedule_description(SCHEDULE, ENDPOINT, "Scheduled"),
            {"MonitoringScheduleName": SCHEDULE},
        )
        stub.add_response(
            "delete_monitoring_schedule", {}, {"MonitoringScheduleName": SCHEDULE}
        )
        stub.add_client_error(
            "describe_monitoring_schedule",
            service_error_code="ResourceNotFound",
            service_message=f"Monitoring schedule {SCHEDULE} does not exist",
            http_status_code=404,
        )
        backend.delete_endpoint(ENDPOINT)
        stub.assert_no_pending_responses()
    return log, out

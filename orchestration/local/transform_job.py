"""Transform jobs: `IMAGE serve` started for one job, fed every input file.

As SageMaker runs CreateTransformJob: the model is extracted read-only at
/opt/ml/model, the container gets SAGEMAKER_BATCH=true and the batch
variables, and once /ping answers its GET /execution-parameters fills what
the job left unset (BatchStrategy, MaxPayloadInMB, MaxConcurrentTransforms).
`orchestration.local.transform` then splits, packs, sends and assembles; the
container is removed however the job ends.

With DataCaptureConfig the job captures as SageMaker's platform does, outside
the container: one record per input record (per request when the answer
cannot be split into a line per record), in the endpoint capture format and
layout ``{destination}/{job}/AllTraffic/yyyy/mm/dd/hh/*.jsonl``, so `monitor`
reads a transform job's capture as it reads an endpoint's. With
GenerateInferenceId each record's inferenceId is ``<input>:<line>``, the key
ground truth for batch predictions is naturally given by. A file's capture
is written beside its final name and renamed when the input is done, so a
failed job leaves the capture of the inputs it finished only.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from container.contract.settings import CaptureSettings
from container.serving.capture import capture_record, hour_folder
from orchestration.backends.base import (
    COMPLETED,
    FAILED,
    BackendError,
    Progress,
    TransformCaptureSpec,
    TransformJobResult,
    TransformJobSpec,
    check_name,
)
from orchestration.local import artifacts
from orchestration.local.engine import Engine
from orchestration.local.hosting import CONTAINER_PORT, MODEL_MOUNT, wait_for_ping
from orchestration.local.state import LocalState
from orchestration.local.transform import (
    Batch,
    TransformJobFailed,
    TransformSettings,
    TransformSettingsError,
    container_environment,
    run_transform,
)

KIND = "transform-job"
VARIANT = "AllTraffic"
STARTUP_TIMEOUT_SECONDS = 120
MAX_INVOCATION_TIMEOUT_SECONDS = 3600


def settings_of(spec: TransformJobSpec) -> TransformSettings:
    """The request-shaping fields of `spec`, checked as CreateTransformJob does."""
    settings = TransformSettings(
        content_type=spec.content_type,
        accept=spec.accept,
        split_type=spec.split_type,
        batch_strategy=spec.batch_strategy,
        max_payload_in_mb=spec.max_payload_in_mb,
        max_concurrent_transforms=spec.max_concurrent_transforms,
        assemble_with=spec.assemble_with,
        input_filter=spec.input_filter,
        output_filter=spec.output_filter,
        join_source=spec.join_source,
    )
    settings.check()
    return settings


def input_files(location: str) -> list[Path]:
    """Every file under `location` (a file or folder), as S3 keys under a prefix,
    in a stable order; hidden files are skipped as SageMaker's tools write them."""
    root = Path(location)
    if root.is_file():
        return [root]
    if not root.is_dir():
        return []
    return sorted(
        path
        for path in root.rglob("*")
        if path.is_file()
        and not any(part.startswith(".") for part in path.relative_to(root).parts)
    )


def run_transform_job(
    engine: Engine,
    state: LocalState,
    root: Path,
    spec: TransformJobSpec,
    progress: Progress,
) -> TransformJobResult:
    """Run the job to the end; a failed job is a result, not an exception.

    What CreateTransformJob itself would refuse (a bad name, setting or
    timeout) raises before anything starts.
    """
    check_name(spec.job_name, "transform job")
    check_name(spec.model_name, "model")
    settings = settings_of(spec)
    if not 1 <= spec.invocation_timeout_seconds <= MAX_INVOCATION_TIMEOUT_SECONDS:
        raise TransformSettingsError(
            f"InvocationsTimeoutInSeconds must be between 1 and {MAX_INVOCATION_TIMEOUT_SECONDS}, got {spec.invocation_timeout_seconds}"
        )
    started = time.monotonic()
    with state.recording_job(spec.job_name, KIND, asdict(spec)):
        # Ctrl-C or an engine error: recording_job ends the job Stopped / Failed.
        result = _run(engine, state, root, spec, settings, progress, started)
        state.finish_job(spec.job_name, result.status, result.to_dict())
    return result


def _run(
    engine: Engine,
    state: LocalState,
    root: Path,
    spec: TransformJobSpec,
    settings: TransformSettings,
    progress: Progress,
    started: float,
) -> TransformJobResult:
    def failed(reason: str, outputs: tuple[str, ...] = ()) -> TransformJobResult:
        progress(f"transform job {spec.job_name} Failed: {reason}")
        return TransformJobResult(
            spec.job_name,
            FAILED,
            spec.output_location,
            reason,
            time.monotonic() - started,
            outputs=outputs,
            capture_destination=_capture_folder(spec),
        )

    files = input_files(spec.input_location)
    if not files:
        return failed(f"ClientError: no input files under {spec.input_location}")
    job_dir = artifacts.fresh_folder(root / "jobs" / spec.job_name)
    model_dir = job_dir / "model"
    try:
        artifacts.extract_tarball(Path(spec.model_artifact), model_dir)
    except BackendError as exc:
        return failed(f"ClientError: cannot read the model: {exc.message}")
    container = engine.create(
        "serve",
        KIND,
        spec.job_name,
        environment={**spec.environment, **container_environment(settings)},
        volumes={str(model_dir): {"bind": MODEL_MOUNT, "mode": "ro"}},
        ports={f"{CONTAINER_PORT}/tcp": ("127.0.0.1", None)},
    )
    state.set_job_container(spec.job_name, container.id)
    try:
        container.start()
        url, failure = wait_for_ping(container, STARTUP_TIMEOUT_SECONDS)
        if failure is not None:
            return failed(f"AlgorithmError: {failure}")
        resolved = settings.resolve(_execution_parameters(url))
        progress(
            f"transform job {spec.job_name}: {len(files)} input file(s), "
            f"{resolved.batch_strategy} up to {resolved.max_payload_in_mb} MB, "
            f"{resolved.max_concurrent_transforms} request(s) in flight"
        )
        capture = _Capture(spec) if spec.capture else None
        input_root = Path(spec.input_location)
        try:
            done = run_transform(
                files,
                _invoker(url, spec.invocation_timeout_seconds),
                resolved,
                Path(spec.output_location),
                input_root if input_root.is_dir() else None,
                on_answer=capture.observe if capture else None,
            )
        except TransformJobFailed as exc:
            if capture:
                capture.abandon()
            return failed(exc.failure_reason, tuple(map(str, exc.outputs)))
        if capture:
            capture.close()
    finally:
        engine.remove(container.id)
    progress(
        f"transform job {spec.job_name} Completed: {done.records} records in "
        f"{done.requests} requests → {spec.output_location}"
    )
    return TransformJobResult(
        spec.job_name,
        COMPLETED,
        spec.output_location,
        None,
        time.monotonic() - started,
        records=done.records,
        outputs=tuple(map(str, done.outputs)),
        capture_destination=_capture_folder(spec),
    )


def _execution_parameters(url: str) -> dict[str, Any]:
    """GET /execution-parameters; a container without it leaves SageMaker's defaults."""
    import requests

    try:
        response = requests.get(f"{url}/execution-parameters", timeout=5)
        if response.status_code == 200:
            found = response.json()
            return found if isinstance(found, dict) else {}
    except (requests.RequestException, ValueError):
        pass
    return {}


def _invoker(url: str, timeout: float) -> Any:
    """POST /invocations with one connection per worker thread, as SageMaker's
    agent keeps its connections; no answer within `timeout` fails the request."""
    import threading

    import requests

    local = threading.local()

    def invoke(body: bytes, content_type: str, accept: str) -> tuple[int, bytes]:
        session = getattr(local, "session", None)
        if session is None:
            session = local.session = requests.Session()
        response = session.post(
            f"{url}/invocations",
            data=body,
            headers={"Content-Type": content_type, "Accept": accept},
            timeout=timeout,
        )
        return response.status_code, response.content

    return invoke


def _capture_folder(spec: TransformJobSpec) -> str | None:
    return spec.capture.destination if spec.capture else None


class _Capture:
    """A transform job's DataCaptureConfig: one capture file per input file."""

    def __init__(self, spec: TransformJobSpec):
        capture: TransformCaptureSpec = spec.capture  # type: ignore[assignment]
        self.spec = spec
        self.generate_ids = capture.generate_inference_id
        self.settings = CaptureSettings(
            destination=capture.destination,
            endpoint_name=spec.job_name,
            variant_name=VARIANT,
        )
        self.accept = spec.accept or spec.content_type
        self._name: str | None = None
        self._file: IO[bytes] | None = None
        self._temporary: Path | None = None
        self._target: Path | None = None
        self._count = 0

    def observe(self, name: str, batch: Batch, answer: bytes) -> None:
        if name != self._name:
            self.close()
            self._open(name)
        now = datetime.now(UTC)
        assert self._file is not None
        for sent, output, key in _per_record(name, batch, answer):
            record = capture_record(
                self.settings,
                sent,
                self.spec.content_type,
                output,
                self.accept,
                now,
                inference_id=key if self.generate_ids else None,
            )
            self._file.write(json.dumps(record).encode() + b"\n")

    def _open(self, name: str) -> None:
        now = datetime.now(UTC)
        folder = hour_folder(Path(self.settings.destination or ""), self.settings, now)
        folder.mkdir(parents=True, exist_ok=True)
        self._count += 1
        stem = f"{self.spec.job_name}-{now:%Y%m%d%H%M%S}-{self._count:04d}"
        self._target = folder / f"{stem}.jsonl"
        fd, temporary = tempfile.mkstemp(prefix=f".{stem}.", dir=folder)
        self._temporary = Path(temporary)
        self._file = os.fdopen(fd, "wb")
        self._name = name

    def close(self) -> None:
        """The current input's capture, complete: renamed to its final name."""
        if self._file is None:
            return
        self._file.close()
        os.replace(self._temporary, self._target)  # type: ignore[arg-type]
        self._file = self._name = None

    def abandon(self) -> None:
        """The job failed on the current input: its capture is not kept."""
        if self._file is None:
            return
        self._file.close()
        Path(self._temporary).unlink(missing_ok=True)  # type: ignore[arg-type]
        self._file = self._name = None


def _per_record(
    name: str, batch: Batch, answer: bytes
) -> list[tuple[bytes, bytes, str]]:
    """(sent, output, key) per record when the answer has a line per record,
    else one for the whole request, keyed by its lines."""
    lines = answer.rstrip(b"\r\n").split(b"\n")
    if len(batch.sent) > 1 and len(lines) == len(batch.sent):
        return [
            (sent, line.rstrip(b"\r"), f"{name}:{number}")
            for sent, line, number in zip(batch.sent, lines, batch.numbers, strict=True)
        ]
    key = (
        f"{name}:{batch.first_line}"
        if batch.first_line == batch.last_line
        else f"{name}:{batch.first_line}-{batch.last_line}"
    )
    return [(batch.body.rstrip(b"\n"), answer.rstrip(b"\r\n"), key)]

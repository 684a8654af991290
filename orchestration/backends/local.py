"""The local backend: SageMaker's jobs and endpoints on this machine's Docker engine.

It emulates SageMaker rather than imitating it loosely:

- a training job gets its own /opt/ml with the three config files (string
  hyperparameters) and a copy of each channel, runs ``IMAGE train``, streams
  the logs, parses ``name=value`` metric lines, tars /opt/ml/model into
  ``<output>/<job>/output/model.tar.gz`` and reports Completed, Failed (with
  /opt/ml/output/failure as the reason) or Stopped (past its max runtime);
- an endpoint extracts model.tar.gz into a folder mounted read-only at
  /opt/ml/model, maps port 8080 to a free port on 127.0.0.1, turns on the
  server's data capture into a local folder in SageMaker's layout and is
  InService once /ping answers 200; an update starts the new version first
  and retires the old container only when the new one is healthy;
- a processing job copies its inputs under /opt/ml/processing, runs
  ``IMAGE baseline|monitor`` with the Model Monitor environment, and publishes
  /opt/ml/processing/output only when the job completed, with the first 1 KB of
  /opt/ml/output/message as its exit message.

Every container is labelled, recorded by id in the state database before it
runs, and removed by id when it ends or on teardown.
"""

from __future__ import annotations

import shutil
import threading
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from container.contract import settings
from container.monitoring import capture_reader
from orchestration.backends import local_artifacts as artifacts
from orchestration.backends.base import (
    COMPLETED,
    FAILED,
    IN_SERVICE,
    STOPPED,
    BackendError,
    CaptureFound,
    EndpointInfo,
    EndpointSpec,
    ProcessingJobResult,
    ProcessingJobSpec,
    Progress,
    ResourceNotFound,
    TrainingJobResult,
    TrainingJobSpec,
    no_progress,
    processing_container_path,
)
from orchestration.backends.local_state import LocalState
from orchestration.config import REPO_ROOT, ProjectConfig

CONTAINER_PORT = 8080
CAPTURE_MOUNT = "/opt/ml/data-capture"
STOP_GRACE_SECONDS = 120  # SageMaker: SIGTERM, then SIGKILL 120 s later
LABEL_PREFIX = "sklearn-byoc"
FAKE_ACCOUNT = "000000000000"


class EndpointInvocationError(BackendError):
    """The container answered 4xx/5xx; SageMaker reports this as ModelError (424)."""

    status_code = 424
    code = "model_error"

    def __init__(self, message: str, container_status: int, body: str):
        super().__init__(message)
        self.container_status = container_status
        self.body = body


def create_backend(config: ProjectConfig) -> LocalBackend:
    return LocalBackend(
        config.state_dir,
        config.image,
        project=config.project,
        startup_timeout=config.endpoint.startup_timeout_seconds,
    )


class LocalBackend:
    name = "local"

    def __init__(
        self,
        state_dir: Path,
        image: str,
        project: str = "default",
        startup_timeout: float = 120,
        client: Any = None,
    ):
        self.root = Path(state_dir).resolve() / "local"
        self.image = image
        self.project = project
        self.startup_timeout = startup_timeout
        self.stop_grace_seconds = STOP_GRACE_SECONDS
        self.state = LocalState(Path(state_dir))
        self._client = client
        self._image_digest: str | None = None

    # --- engine and image ------------------------------------------------
    @property
    def client(self) -> Any:
        if self._client is None:
            import docker

            try:
                self._client = docker.from_env(timeout=300)
                self._client.ping()
            except Exception as exc:  # noqa: BLE001 - any failure means "no engine"
                self._client = None
                raise BackendError(
                    f"no Docker engine answers ({type(exc).__name__}); start Docker "
                    f"(`make engine`) or use --backend aws"
                ) from None
        return self._client

    def ensure_image(self) -> str:
        """The image must exist locally; it is built with `make image` if missing."""
        import docker.errors

        try:
            found = self.client.images.get(self.image)
        except docker.errors.ImageNotFound:
            self._build_image()
            found = self.client.images.get(self.image)
        self._image_digest = found.id
        return self.image

    def image_digest(self) -> str | None:
        """The local image id (sha256:...), recorded as lineage of each run."""
        if self._image_digest is None:
            self.ensure_image()
        return self._image_digest

    def _build_image(self) -> None:
        import subprocess

        repo, _, tag = self.image.partition(":")
        command = [
            "make",
            "-C",
            str(REPO_ROOT),
            "image",
            f"IMAGE_REPO={repo}",
            f"IMAGE_TAG={tag or 'latest'}",
        ]
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            raise BackendError(
                f"image {self.image} is missing and `{' '.join(command)}` failed: "
                f"{(done.stderr or done.stdout).strip()[-500:]}"
            )

    def upload_data(self, local_dir: Path, prefix: str) -> str:
        # Jobs copy their inputs when they start, so the folder itself is the location.
        if not Path(local_dir).exists():
            raise BackendError(f"{local_dir} does not exist")
        return str(Path(local_dir).resolve())

    def fetch(self, location: str, local_dir: Path) -> Path:
        source = Path(location)
        if not source.exists():
            raise ResourceNotFound(f"{location} does not exist")
        local_dir = Path(local_dir)
        if local_dir.resolve() == source.resolve():
            return local_dir
        artifacts.copy_tree(source, local_dir)
        return local_dir

    def wait_for_capture(
        self,
        destination: str,
        endpoint_name: str,
        start: str,
        end: str,
        progress: Progress = no_progress,
        wait: bool = True,
    ) -> CaptureFound:
        """The capture files holding records of [start, end), found at once.

        The server writes each record before it answers, so there is nothing
        to wait for; a file counts when a record's inferenceTime lies in the
        window (as `monitor` reads them), not just its hour folder.
        """
        folder = Path(destination) / endpoint_name
        begin = capture_reader.parse_time(start, "start")
        finish = capture_reader.parse_time(end, "end")
        files = (
            capture_reader.capture_files(folder, begin, finish)
            if folder.is_dir()
            else []
        )
        holding = [
            path
            for path in files
            if next(
                capture_reader.iter_record_blocks(
                    [path], begin, finish, capture_reader.CaptureScan()
                ),
                None,
            )
        ]
        return CaptureFound(str(folder), len(holding))

    # --- containers --------------------------------------------------------
    def _labels(self, kind: str, name: str) -> dict[str, str]:
        return {
            f"{LABEL_PREFIX}.project": self.project,
            f"{LABEL_PREFIX}.kind": kind,
            f"{LABEL_PREFIX}.name": name,
            f"{LABEL_PREFIX}.state": str(self.root),
        }

    def _remove(self, container_id: str | None) -> None:
        if not container_id:
            return
        import docker.errors

        try:
            self.client.containers.get(container_id).remove(force=True)
        except docker.errors.NotFound:
            pass

    def _run_job(
        self,
        job_name: str,
        kind: str,
        command: str,
        opt_ml: Path,
        environment: dict[str, str],
        max_runtime: float,
        progress: Progress,
    ) -> tuple[int | None, list[str], bool]:
        """Run one job container to the end; (exit code, log lines, timed out)."""
        container = self.client.containers.create(
            self.image,
            [command],
            environment=environment,
            volumes={str(opt_ml): {"bind": "/opt/ml", "mode": "rw"}},
            labels=self._labels(kind, job_name),
            detach=True,
        )
        self.state.set_job_container(job_name, container.id)
        lines: list[str] = []
        try:
            container.start()
            reader = threading.Thread(
                target=self._stream, args=(container, lines, progress), daemon=True
            )
            reader.start()
            timed_out = False
            try:
                exit_code = container.wait(timeout=max_runtime)["StatusCode"]
            except Exception:  # noqa: BLE001 - the SDK raises a requests timeout
                timed_out = True
                progress(
                    f"{job_name}: max runtime {max_runtime:g} s exceeded, stopping"
                )
                container.stop(timeout=self.stop_grace_seconds)
                exit_code = None
            reader.join(timeout=10)
        finally:
            self._remove(container.id)
        return exit_code, lines, timed_out

    @staticmethod
    def _stream(container: Any, lines: list[str], progress: Progress) -> None:
        buffer = b""
        for chunk in container.logs(stream=True, follow=True):
            buffer += chunk
            *complete, buffer = buffer.split(b"\n")
            for raw in complete:
                line = raw.decode(errors="replace").rstrip()
                lines.append(line)
                progress(line)
        if buffer:
            lines.append(buffer.decode(errors="replace").rstrip())
            progress(lines[-1])

    def _new_job_dir(self, job_name: str, kind: str, spec: Any) -> Path:
        if self.state.job_exists(job_name):
            raise BackendError(
                f"a job named {job_name!r} already exists: job names must be unique, "
                f"as on SageMaker"
            )
        job_dir = self.root / "jobs" / job_name
        if job_dir.exists():
            shutil.rmtree(job_dir)
        self.state.start_job(job_name, kind, asdict(spec))
        return job_dir

    # --- training ------------------------------------------------------------
    def run_training_job(
        self, spec: TrainingJobSpec, progress: Progress
    ) -> TrainingJobResult:
        started = time.monotonic()
        job_dir = self._new_job_dir(spec.job_name, "training-job", spec)
        opt_ml = job_dir / "opt_ml"
        try:
            for sub in ("model", "output/data", "checkpoints"):
                (opt_ml / sub).mkdir(parents=True, exist_ok=True)
            artifacts.write_training_config(
                opt_ml, spec.hyperparameters, sorted(spec.channels), spec.content_type
            )
            for channel, location in spec.channels.items():
                artifacts.copy_tree(Path(location), opt_ml / "input" / "data" / channel)
            environment = {
                settings.TRAINING_JOB_NAME: spec.job_name,
                settings.TRAINING_JOB_ARN: self._arn("training-job", spec.job_name),
                **spec.environment,
            }
            exit_code, lines, timed_out = self._run_job(
                spec.job_name,
                "training-job",
                "train",
                opt_ml,
                environment,
                spec.max_runtime_seconds,
                progress,
            )
            result = self._training_result(
                spec, opt_ml, exit_code, lines, timed_out, time.monotonic() - started
            )
        except BaseException as exc:
            self.state.finish_job(spec.job_name, FAILED, {"failure_reason": str(exc)})
            raise
        self.state.finish_job(spec.job_name, result.status, result.to_dict())
        return result

    def _training_result(
        self,
        spec: TrainingJobSpec,
        opt_ml: Path,
        exit_code: int | None,
        lines: list[str],
        timed_out: bool,
        duration: float,
    ) -> TrainingJobResult:
        metrics = dict(m for m in map(artifacts.parse_metric, lines) if m)
        if timed_out:
            return TrainingJobResult(
                spec.job_name,
                STOPPED,
                None,
                f"MaxRuntimeExceeded: stopped after {spec.max_runtime_seconds} s",
                metrics,
                duration,
            )
        if exit_code != 0:
            reason = artifacts.read_head(opt_ml / "output" / "failure")
            return TrainingJobResult(
                spec.job_name,
                FAILED,
                None,
                f"AlgorithmError: {reason}"
                if reason
                else f"AlgorithmError: Exit Code: {exit_code}",
                metrics,
                duration,
            )
        output = (
            Path(spec.output_location or self.root / "artifacts")
            / spec.job_name
            / "output"
        )
        tarball = artifacts.make_tarball(opt_ml / "model", output / "model.tar.gz")
        data = opt_ml / "output" / "data"
        if any(data.iterdir()):
            artifacts.make_tarball(data, output / "output.tar.gz")
        return TrainingJobResult(
            spec.job_name, COMPLETED, str(tarball), None, metrics, duration
        )

    def _arn(self, kind: str, name: str) -> str:
        return f"arn:aws:sagemaker:local:{FAKE_ACCOUNT}:{kind}/{name}"

    # --- endpoints -------------------------------------------------------------
    def create_endpoint(self, spec: EndpointSpec) -> EndpointInfo:
        existing = self.state.endpoint(spec.endpoint_name)
        if existing is not None and existing.status == IN_SERVICE:
            raise BackendError(
                f"endpoint {spec.endpoint_name!r} already exists (InService); use "
                f"update_endpoint to deploy a new version, or delete it first"
            )
        if existing is not None:  # a Failed leftover: SageMaker needs it deleted first
            self._remove(existing.container_id)
        self.state.save_endpoint(spec.endpoint_name, status="Creating")
        return self._start_endpoint(spec, previous=None)

    def update_endpoint(self, spec: EndpointSpec) -> EndpointInfo:
        existing = self.state.endpoint(spec.endpoint_name)
        if existing is None:
            raise ResourceNotFound(f"no endpoint {spec.endpoint_name!r} to update")
        self.state.save_endpoint(spec.endpoint_name, status="Updating")
        return self._start_endpoint(spec, previous=existing.container_id)

    def _start_endpoint(self, spec: EndpointSpec, previous: str | None) -> EndpointInfo:
        endpoint_dir = self.root / "endpoints" / spec.endpoint_name
        model_dir = endpoint_dir / "models" / spec.model_name
        if model_dir.exists():
            shutil.rmtree(model_dir)
        artifacts.extract_tarball(Path(spec.model_artifact), model_dir)
        environment = {**spec.environment}
        volumes = {str(model_dir): {"bind": "/opt/ml/model", "mode": "ro"}}
        capture_dir = None
        if spec.capture is not None:
            capture_dir = Path(spec.capture.destination).resolve()
            capture_dir.mkdir(parents=True, exist_ok=True)
            volumes[str(capture_dir)] = {"bind": CAPTURE_MOUNT, "mode": "rw"}
            environment.update(self._capture_environment(spec))
        container = self.client.containers.create(
            self.image,
            ["serve"],
            environment=environment,
            volumes=volumes,
            ports={f"{CONTAINER_PORT}/tcp": ("127.0.0.1", None)},
            labels=self._labels("endpoint", spec.endpoint_name),
            detach=True,
        )
        # Recorded before it starts, so teardown finds it even if we crash now.
        fields = dict(
            container_id=container.id,
            model_name=spec.model_name,
            model_artifact=spec.model_artifact,
            capture_destination=str(capture_dir) if capture_dir else None,
        )
        if previous is None:
            self.state.save_endpoint(spec.endpoint_name, **fields)
        container.start()
        url, failure = self._wait_in_service(container)
        if failure is not None:
            self._remove(container.id)
            if previous is not None:  # SageMaker keeps serving the old version
                self.state.save_endpoint(
                    spec.endpoint_name,
                    status=IN_SERVICE,
                    failure_reason=f"update failed: {failure}",
                )
                raise BackendError(
                    f"update of {spec.endpoint_name} failed, still serving "
                    f"the previous version: {failure}"
                )
            record = self.state.save_endpoint(
                spec.endpoint_name,
                status=FAILED,
                container_id=None,
                failure_reason=failure,
            )
            return self._info(record)
        record = self.state.save_endpoint(
            spec.endpoint_name,
            status=IN_SERVICE,
            url=url,
            failure_reason=None,
            **fields,
        )
        if previous is not None and previous != container.id:
            self._remove(previous)
        return self._info(record)

    def _capture_environment(self, spec: EndpointSpec) -> dict[str, str]:
        capture = spec.capture
        assert capture is not None
        return {
            settings.CAPTURE_DESTINATION: CAPTURE_MOUNT,
            settings.CAPTURE_SAMPLING_PERCENTAGE: str(capture.sampling_percentage),
            settings.CAPTURE_MODES: ",".join(capture.modes),
            settings.CAPTURE_CSV_CONTENT_TYPES: ",".join(capture.csv_content_types),
            settings.CAPTURE_JSON_CONTENT_TYPES: ",".join(capture.json_content_types),
            settings.ENDPOINT_NAME: spec.endpoint_name,
            settings.VARIANT_NAME: spec.variant_name,
        }

    def _wait_in_service(self, container: Any) -> tuple[str | None, str | None]:
        """Poll /ping until 200: (url, None), or (None, why it failed)."""
        import requests

        deadline = time.monotonic() + self.startup_timeout
        url = None
        while time.monotonic() < deadline:
            container.reload()
            if container.status in ("exited", "dead"):
                logs = container.logs(tail=20).decode(errors="replace").strip()
                return None, f"the container exited during start-up: {logs[-800:]}"
            if url is None:
                bindings = container.attrs["NetworkSettings"]["Ports"] or {}
                host = (bindings.get(f"{CONTAINER_PORT}/tcp") or [{}])[0].get(
                    "HostPort"
                )
                url = f"http://127.0.0.1:{host}" if host else None
            if url is not None:
                try:
                    if requests.get(f"{url}/ping", timeout=2).status_code == 200:
                        return url, None
                except requests.RequestException:
                    pass
            time.sleep(0.2)
        logs = container.logs(tail=20).decode(errors="replace").strip()
        return None, (
            f"/ping did not answer 200 within {self.startup_timeout:g} s: {logs[-800:]}"
        )

    def _info(self, record: Any) -> EndpointInfo:
        return EndpointInfo(
            endpoint_name=record.endpoint_name,
            status=record.status,
            url=record.url,
            capture_destination=record.capture_destination,
            model_name=record.model_name,
            failure_reason=record.failure_reason,
        )

    def describe_endpoint(self, endpoint_name: str) -> EndpointInfo:
        record = self.state.endpoint(endpoint_name)
        if record is None:
            raise ResourceNotFound(f"no endpoint {endpoint_name!r}")
        return self._info(record)

    def invoke_endpoint(
        self,
        endpoint_name: str,
        body: bytes,
        content_type: str,
        accept: str,
        inference_id: str | None = None,
    ) -> bytes:
        import requests

        record = self.state.endpoint(endpoint_name)
        if record is None or record.status != IN_SERVICE or not record.url:
            state = record.status if record else "missing"
            raise ResourceNotFound(
                f"endpoint {endpoint_name!r} is not InService ({state})"
            )
        headers = {"Content-Type": content_type, "Accept": accept}
        if inference_id:
            headers["X-Amzn-SageMaker-Inference-Id"] = inference_id
        try:
            response = requests.post(
                f"{record.url}/invocations", data=body, headers=headers, timeout=60
            )
        except requests.RequestException as exc:
            raise BackendError(
                f"endpoint {endpoint_name!r} did not answer: {exc}"
            ) from None
        if response.status_code >= 400:
            raise EndpointInvocationError(
                f"ModelError: received {response.status_code} from the container of "
                f"{endpoint_name}: {response.text[:500]}",
                response.status_code,
                response.text,
            )
        return response.content

    def delete_endpoint(self, endpoint_name: str) -> None:
        record = self.state.endpoint(endpoint_name)
        if record is None:
            raise ResourceNotFound(f"no endpoint {endpoint_name!r} to delete")
        self._remove(record.container_id)
        self.state.delete_endpoint(endpoint_name)
        shutil.rmtree(
            self.root / "endpoints" / endpoint_name / "models", ignore_errors=True
        )

    # --- processing --------------------------------------------------------------
    def run_processing_job(
        self, spec: ProcessingJobSpec, progress: Progress
    ) -> ProcessingJobResult:
        started = time.monotonic()
        job_dir = self._new_job_dir(spec.job_name, "processing-job", spec)
        opt_ml = job_dir / "opt_ml"
        try:
            output_dir = opt_ml / "processing" / "output"
            output_dir.mkdir(parents=True)
            (opt_ml / "output").mkdir(parents=True)
            for key, location in spec.inputs.items():
                inside = processing_container_path(key)
                if not inside.startswith("/opt/ml/"):
                    raise BackendError(
                        f"processing input {key!r} must be under /opt/ml"
                    )
                artifacts.copy_tree(Path(location), opt_ml / inside[len("/opt/ml/") :])
            exit_code, lines, timed_out = self._run_job(
                spec.job_name,
                "processing-job",
                spec.command,
                opt_ml,
                dict(spec.environment),
                spec.max_runtime_seconds,
                progress,
            )
            message = artifacts.read_head(opt_ml / "output" / "message")
            if exit_code == 0:
                self._publish(output_dir, Path(spec.output_location))
                result = ProcessingJobResult(
                    spec.job_name,
                    COMPLETED,
                    message,
                    spec.output_location,
                    duration_seconds=time.monotonic() - started,
                )
            else:
                reason = (
                    "MaxRuntimeExceeded"
                    if timed_out
                    else message
                    or artifacts.read_head(opt_ml / "output" / "failure")
                    or f"AlgorithmError: Exit Code: {exit_code}; "
                    f"{' | '.join(lines[-3:])}"
                )
                result = ProcessingJobResult(
                    spec.job_name,
                    FAILED,
                    message,
                    spec.output_location,
                    failure_reason=reason,
                    duration_seconds=time.monotonic() - started,
                )
        except BaseException as exc:
            self.state.finish_job(spec.job_name, FAILED, {"failure_reason": str(exc)})
            raise
        self.state.finish_job(spec.job_name, result.status, result.to_dict())
        return result

    @staticmethod
    def _publish(output_dir: Path, destination: Path) -> None:
        """Copy outputs beside the destination, then swap them in whole."""
        destination.parent.mkdir(parents=True, exist_ok=True)
        staging = destination.with_name(f".{destination.name}.partial")
        shutil.rmtree(staging, ignore_errors=True)
        shutil.copytree(output_dir, staging)
        if destination.exists():
            shutil.rmtree(destination)
        staging.rename(destination)

    # --- status and teardown -------------------------------------------------------
    def status(self) -> dict:
        endpoints = []
        for record in self.state.endpoints():
            info = asdict(self._info(record))
            info["container_running"] = self._running(record.container_id)
            if record.status == IN_SERVICE and not info["container_running"]:
                info["status"] = "OutOfService"
            endpoints.append(info)
        jobs = [
            {
                "job_name": j["job_name"],
                "kind": j["kind"],
                "status": j["status"],
                "started_at": j["started_at"],
                "ended_at": j["ended_at"],
                "failure_reason": (j["result"] or {}).get("failure_reason"),
            }
            for j in self.state.jobs()
        ]
        return {
            "backend": self.name,
            "image": self.image,
            "jobs": jobs,
            "endpoints": endpoints,
        }

    def _running(self, container_id: str | None) -> bool:
        if not container_id:
            return False
        import docker.errors

        try:
            return self.client.containers.get(container_id).status == "running"
        except docker.errors.NotFound:
            return False

    def cleanup(self) -> list[str]:
        """Remove every container still recorded (endpoints, stray jobs), by id."""
        removed = []
        for record in self.state.endpoints():
            self.delete_endpoint(record.endpoint_name)
            if record.container_id:
                removed.append(record.container_id)
        for job in self.state.jobs():
            if job["container_id"]:
                self._remove(job["container_id"])
                self.state.finish_job(
                    job["job_name"], STOPPED, {"failure_reason": "stopped by teardown"}
                )
                removed.append(job["container_id"])
        # A command killed between creating a container and recording it (e.g.
        # during an endpoint update) leaves one only our label knows about.
        labelled = self.client.containers.list(
            all=True, filters={"label": f"{LABEL_PREFIX}.state={self.root}"}
        )
        for container in labelled:
            self._remove(container.id)
            removed.append(container.id)
        return removed

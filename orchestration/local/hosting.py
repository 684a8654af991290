"""Real-time endpoints: `IMAGE serve` behind a local port, with data capture.

An endpoint extracts model.tar.gz into a folder mounted read-only at
/opt/ml/model, maps the server's port to a free port on 127.0.0.1, turns on
the server's data capture into a local folder in SageMaker's layout
(``{endpoint}/{variant}/yyyy/mm/dd/hh/*.jsonl``) and is InService once /ping
answers 200. An update starts the new version first and retires the old
container only once the new one is healthy; a failed update keeps the old one
serving, as SageMaker rolls back. A start that is interrupted (Ctrl-C) or
fails half-way removes the container it made, so nothing is left running
that the state does not know, and no endpoint stays Creating or Updating.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from container.contract import settings
from container.contract.paths import OptMl
from container.monitoring import capture_reader
from orchestration.backends.base import (
    CREATING,
    FAILED,
    IN_SERVICE,
    UPDATING,
    BackendError,
    CaptureFound,
    EndpointInfo,
    EndpointSpec,
    ResourceNotFound,
    UpdateRolledBack,
    check_name,
)
from orchestration.local import artifacts, request_log
from orchestration.local.engine import LABEL_PREFIX, STATE_LABEL, Engine
from orchestration.local.state import STOPPED_BY_USER, EndpointRecord, LocalState

KIND = "endpoint"
CONTAINER_PORT = settings.DEFAULT_PORT
# Where a local endpoint's capture folder is mounted; the server is told so
# through its capture settings (SageMaker itself captures outside the container).
CAPTURE_MOUNT = "/opt/ml/data-capture"
MODEL_MOUNT = str(OptMl().model_dir)
INFERENCE_ID_HEADER = "X-Amzn-SageMaker-Inference-Id"
TARGET_VARIANT_HEADER = "X-Amzn-SageMaker-Target-Variant"
INVOKE_TIMEOUT_SECONDS = 60


class EndpointInvocationError(BackendError):
    """The container answered 4xx/5xx; SageMaker reports this as ModelError (424)."""

    status_code = 424
    code = "model_error"

    def __init__(self, message: str, container_status: int, body: str):
        super().__init__(message)
        self.container_status = container_status
        self.body = body


class Endpoints:
    """The endpoints of one state folder, each a container recorded by id."""

    def __init__(
        self, engine: Engine, state: LocalState, root: Path, startup_timeout: float
    ):
        self.engine = engine
        self.state = state
        self.root = Path(root)
        self.startup_timeout = startup_timeout
        # An endpoint container's request log outlives it (request_log.py).
        engine.before_remove.append(self._keep_request_log)

    # --- the request log ------------------------------------------------------
    def _keep_request_log(self, container: Any) -> None:
        labels = container.labels or {}
        if labels.get(f"{LABEL_PREFIX}.kind") == KIND:
            request_log.collect(
                container, self.endpoint_dir(labels[f"{LABEL_PREFIX}.name"])
            )

    def traffic(
        self, endpoint_name: str, start: str, end: str
    ) -> dict[str, dict[str, Any]]:
        """The window's requests, errors and latency per variant and in all,
        from the request log of every container the endpoint has had."""
        folder = self.endpoint_dir(endpoint_name)
        for container in self.engine.client.containers.list(
            filters={
                "label": [
                    f"{STATE_LABEL}={self.engine.state_root}",
                    f"{LABEL_PREFIX}.kind={KIND}",
                    f"{LABEL_PREFIX}.name={endpoint_name}",
                ]
            }
        ):
            request_log.collect(container, folder)
        return request_log.window(folder, start, end)

    # --- create, update ------------------------------------------------------
    def create(self, spec: EndpointSpec) -> EndpointInfo:
        _check_spec(spec)
        existing = self.state.endpoint(spec.endpoint_name)
        if existing is not None and existing.status == IN_SERVICE:
            raise BackendError(
                f"endpoint {spec.endpoint_name!r} already exists (InService); use update_endpoint to deploy a new version, or delete it first"
            )
        if existing is not None:  # a Failed leftover: SageMaker needs it deleted first
            self.engine.remove(existing.container_id)
        self.state.save_endpoint(spec.endpoint_name, status=CREATING)
        return self._start(spec, previous=None)

    def update(self, spec: EndpointSpec) -> EndpointInfo:
        _check_spec(spec)
        existing = self.state.endpoint(spec.endpoint_name)
        if existing is None:
            raise ResourceNotFound(f"no endpoint {spec.endpoint_name!r} to update")
        self.state.save_endpoint(spec.endpoint_name, status=UPDATING)
        return self._start(spec, previous=existing.container_id)

    def _start(self, spec: EndpointSpec, previous: str | None) -> EndpointInfo:
        name = spec.endpoint_name
        container = None
        try:
            container = self.create_container(spec, record=previous is None)
            container.start()
            url, failure = self._wait_in_service(container)
        except BaseException as exc:
            if container is not None:
                self.engine.remove(container.id)
            self._abandon(name, previous, exc)
            raise
        if failure is not None:
            self.engine.remove(container.id)
            if previous is not None:  # SageMaker keeps serving the old version
                self.state.save_endpoint(
                    name, status=IN_SERVICE, failure_reason=f"update failed: {failure}"
                )
                raise UpdateRolledBack(
                    f"update of {name} failed, still serving the previous version: {failure}",
                    failure,
                )
            record = self.state.save_endpoint(
                name, status=FAILED, container_id=None, failure_reason=failure
            )
            return _info(record)
        record = self.state.save_endpoint(
            name,
            status=IN_SERVICE,
            url=url,
            failure_reason=None,
            **self._fields(spec, container.id),
        )
        if previous is not None and previous != container.id:
            self.engine.remove(previous)
        return _info(record)

    def create_container(self, spec: EndpointSpec, record: bool) -> Any:
        """The endpoint's container; a new endpoint records it before it starts.

        Recorded first, a container is found by teardown even if this
        command dies now; an update's new container is recorded once it
        serves (until then only its label knows it).
        """
        model_dir = self.endpoint_dir(spec.endpoint_name) / "models" / spec.model_name
        if model_dir.exists():
            shutil.rmtree(model_dir)
        artifacts.extract_tarball(Path(spec.model_artifact), model_dir)
        environment = dict(spec.environment)
        volumes = {str(model_dir): {"bind": MODEL_MOUNT, "mode": "ro"}}
        if spec.capture is not None:
            capture_dir = Path(spec.capture.destination).resolve()
            capture_dir.mkdir(parents=True, exist_ok=True)
            volumes[str(capture_dir)] = {"bind": CAPTURE_MOUNT, "mode": "rw"}
            environment.update(capture_environment(spec))
        container = self.engine.create(
            "serve",
            KIND,
            spec.endpoint_name,
            environment=environment,
            volumes=volumes,
            ports={f"{CONTAINER_PORT}/tcp": ("127.0.0.1", None)},
            labels={request_log.VARIANT_LABEL: spec.variant_name},
        )
        if record:
            self.state.save_endpoint(
                spec.endpoint_name, **self._fields(spec, container.id)
            )
        return container

    @staticmethod
    def _fields(spec: EndpointSpec, container_id: str) -> dict[str, Any]:
        capture = spec.capture
        return dict(
            container_id=container_id,
            model_name=spec.model_name,
            model_artifact=spec.model_artifact,
            capture_destination=(
                str(Path(capture.destination).resolve()) if capture else None
            ),
        )

    def _abandon(self, name: str, previous: str | None, exc: BaseException) -> None:
        """Record why a start did not finish; an update's old version still serves."""
        why = (
            STOPPED_BY_USER
            if isinstance(exc, KeyboardInterrupt)
            else str(exc) or type(exc).__name__
        )
        if previous is not None:
            self.state.save_endpoint(
                name, status=IN_SERVICE, failure_reason=f"update not finished: {why}"
            )
        else:
            self.state.save_endpoint(
                name,
                status=FAILED,
                container_id=None,
                failure_reason=f"creation not finished: {why}",
            )

    def _wait_in_service(self, container: Any) -> tuple[str | None, str | None]:
        return wait_for_ping(container, self.startup_timeout)

    # --- describe, invoke, delete -----------------------------------------------
    def describe(self, endpoint_name: str) -> EndpointInfo:
        check_name(endpoint_name, "endpoint")
        record = self.state.endpoint(endpoint_name)
        if record is None:
            raise ResourceNotFound(f"no endpoint {endpoint_name!r}")
        return _info(record)

    def invoke(
        self,
        endpoint_name: str,
        body: bytes,
        content_type: str,
        accept: str,
        inference_id: str | None = None,
        target_variant: str | None = None,
    ) -> bytes:
        import requests

        check_name(endpoint_name, "endpoint")
        record = self.state.endpoint(endpoint_name)
        if record is None or record.status != IN_SERVICE or not record.url:
            state = record.status if record else "missing"
            raise ResourceNotFound(
                f"endpoint {endpoint_name!r} is not InService ({state})"
            )
        headers = {"Content-Type": content_type, "Accept": accept}
        if inference_id:
            headers[INFERENCE_ID_HEADER] = inference_id
        if target_variant:
            # The front (when the endpoint has variants) routes on it; a
            # one-container endpoint has only its first variant.
            headers[TARGET_VARIANT_HEADER] = target_variant
        try:
            response = requests.post(
                f"{record.url}/invocations",
                data=body,
                headers=headers,
                timeout=INVOKE_TIMEOUT_SECONDS,
            )
        except requests.RequestException as exc:
            raise BackendError(
                f"endpoint {endpoint_name!r} did not answer: {exc}"
            ) from None
        if response.status_code >= 400:
            raise EndpointInvocationError(
                f"ModelError: received {response.status_code} from the container of {endpoint_name}: {response.text[:500]}",
                response.status_code,
                response.text,
            )
        return response.content

    def delete(self, endpoint_name: str) -> None:
        check_name(endpoint_name, "endpoint")
        record = self.state.endpoint(endpoint_name)
        if record is None:
            raise ResourceNotFound(f"no endpoint {endpoint_name!r} to delete")
        self.remove(record)

    def remove(self, record: EndpointRecord) -> None:
        """Remove a recorded endpoint: its container, its record, its model copies."""
        self.engine.remove(record.container_id)
        self.state.delete_endpoint(record.endpoint_name)
        shutil.rmtree(
            self.endpoint_dir(record.endpoint_name) / "models", ignore_errors=True
        )

    def status(self) -> list[dict[str, Any]]:
        endpoints = []
        for record in self.state.endpoints():
            info = asdict(_info(record))
            info["container_running"] = self.engine.running(record.container_id)
            if record.status == IN_SERVICE and not info["container_running"]:
                info["status"] = "OutOfService"
            endpoints.append(info)
        return endpoints

    def endpoint_dir(self, endpoint_name: str) -> Path:
        """The endpoint's own folder, which a valid name cannot leave."""
        check_name(endpoint_name, "endpoint")
        return self.root / "endpoints" / endpoint_name


def wait_for_ping(container: Any, timeout: float) -> tuple[str | None, str | None]:
    """Poll a started `serve` container's /ping until 200: (url, None), or
    (None, why it failed) once it exits or `timeout` seconds pass."""
    import requests

    deadline = time.monotonic() + timeout
    url = None
    while time.monotonic() < deadline:
        container.reload()
        if container.status in ("exited", "dead"):
            logs = container.logs(tail=20).decode(errors="replace").strip()
            return None, f"the container exited during start-up: {logs[-800:]}"
        url = url or _url(container)
        if url is not None:
            try:
                if requests.get(f"{url}/ping", timeout=2).status_code == 200:
                    return url, None
            except requests.RequestException:
                pass
        time.sleep(0.2)
    logs = container.logs(tail=20).decode(errors="replace").strip()
    return None, f"/ping did not answer 200 within {timeout:g} s: {logs[-800:]}"


def capture_environment(spec: EndpointSpec) -> dict[str, str]:
    """The server's capture settings: SageMaker's DataCaptureConfig, as variables."""
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


def captured(
    destination: str, endpoint_name: str, start: str, end: str
) -> CaptureFound:
    """The capture files holding records of [start, end), found at once.

    The server writes each record before it answers, so there is nothing to
    wait for; a file counts when a record's inferenceTime lies in the window
    (as `monitor` reads them), not just its hour folder.
    """
    check_name(endpoint_name, "endpoint")
    folder = Path(destination) / endpoint_name
    begin = capture_reader.parse_time(start, "start")
    finish = capture_reader.parse_time(end, "end")
    files = (
        capture_reader.capture_files(folder, begin, finish) if folder.is_dir() else []
    )
    holding = [path for path in files if _holds_records(path, begin, finish)]
    return CaptureFound(str(folder), len(holding))


def _holds_records(path: Path, begin: Any, finish: Any) -> bool:
    blocks = capture_reader.iter_record_blocks(
        [path], begin, finish, capture_reader.CaptureScan()
    )
    return bool(next(blocks, None))


def _check_spec(spec: EndpointSpec) -> None:
    """Names become folders and capture paths: refuse any SageMaker would."""
    check_name(spec.endpoint_name, "endpoint")
    check_name(spec.model_name, "model")
    check_name(spec.variant_name, "variant")


def _url(container: Any) -> str | None:
    bindings = container.attrs["NetworkSettings"]["Ports"] or {}
    host = (bindings.get(f"{CONTAINER_PORT}/tcp") or [{}])[0].get("HostPort")
    return f"http://127.0.0.1:{host}" if host else None


def _info(record: EndpointRecord) -> EndpointInfo:
    return EndpointInfo(
        endpoint_name=record.endpoint_name,
        status=record.status,
        url=record.url,
        capture_destination=record.capture_destination,
        model_name=record.model_name,
        failure_reason=record.failure_reason,
    )

"""Production and shadow variants of a local endpoint, behind the front.

An endpoint starts as one container (one variant, ``AllTraffic``). Adding a
variant starts its container (capturing under its own variant name, in
SageMaker's ``{endpoint}/{variant}/yyyy/mm/dd/hh`` layout) and, the first
time, the front (`orchestration.local.front`) on a port of its own, which
becomes the endpoint's URL. The endpoint's folder then holds:

- ``variants.json``: the front's routes, plus each variant's container and
  model, so this module and the front read the same truth;
- ``front.json``: the front's process id and URL; ``front.log`` its output;
- ``variants.stats.json``: what the front counted per variant.

A variant that does not come up is removed and the endpoint stays as it was
(`UpdateRolledBack`), as SageMaker rolls an update back. Deleting the
endpoint stops the front and every variant's container.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

from orchestration.backends.base import (
    IN_SERVICE,
    BackendError,
    CaptureSpec,
    EndpointSpec,
    ResourceNotFound,
    UpdateRolledBack,
    VariantInfo,
    VariantSpec,
    check_name,
)
from orchestration.config import REPO_ROOT
from orchestration.local import front
from orchestration.local.hosting import Endpoints, wait_for_ping
from orchestration.local.state import EndpointRecord

FIRST_VARIANT = "AllTraffic"  # what a single-variant endpoint's variant is named
ROUTES_FILE = "variants.json"
FRONT_FILE = "front.json"
FRONT_LOG = "front.log"
FRONT_START_SECONDS = 15
FRONT_MODULE = "orchestration.local.front"


class Variants:
    """The variants of one state folder's endpoints."""

    def __init__(self, endpoints: Endpoints):
        self.endpoints = endpoints
        self.engine = endpoints.engine
        self.state = endpoints.state

    # --- reading --------------------------------------------------------------
    def folder(self, endpoint_name: str) -> Path:
        return self.endpoints.endpoint_dir(endpoint_name)

    def routes(self, record: EndpointRecord) -> list[dict[str, Any]]:
        """The endpoint's variants: from its routes file, or its one container."""
        path = self.folder(record.endpoint_name) / ROUTES_FILE
        if path.is_file():
            return json.loads(path.read_text())["variants"]
        return [
            {
                "name": FIRST_VARIANT,
                "url": record.url,
                "weight": 1.0,
                "shadow": False,
                "container_id": record.container_id,
                "model_name": record.model_name,
                "model_artifact": record.model_artifact,
            }
        ]

    def describe(self, endpoint_name: str) -> list[VariantInfo]:
        record = self._serving(endpoint_name)
        stats_file = front.stats_path(self.folder(endpoint_name) / ROUTES_FILE)
        traffic = json.loads(stats_file.read_text()) if stats_file.is_file() else {}
        return [
            VariantInfo(
                variant_name=v["name"],
                model_name=v.get("model_name"),
                weight=float(v["weight"]),
                shadow=bool(v.get("shadow")),
                status=IN_SERVICE
                if self.engine.running(v.get("container_id"))
                else "OutOfService",
                traffic=traffic.get(v["name"], {}),
            )
            for v in self.routes(record)
        ]

    # --- changing ---------------------------------------------------------------
    def deploy(self, endpoint_name: str, spec: VariantSpec) -> list[VariantInfo]:
        check_name(spec.variant_name, "variant")
        check_name(spec.model_name, "model")
        if spec.weight < 0:
            raise BackendError(
                f"variant {spec.variant_name} weight must be 0 or more, got {spec.weight:g}"
            )
        record = self._serving(endpoint_name)
        routes = self.routes(record)
        replaced = next((v for v in routes if v["name"] == spec.variant_name), None)
        if replaced is not None and bool(replaced.get("shadow")) != spec.shadow:
            kind = "a shadow" if replaced.get("shadow") else "a production"
            raise BackendError(
                f"variant {spec.variant_name} of {endpoint_name} is {kind} variant: remove it first to add it as the other kind"
            )
        _check_shadow_rules(endpoint_name, routes, spec)
        container = self._start_variant(record, spec)
        try:
            url, failure = wait_for_ping(container, self.endpoints.startup_timeout)
        except BaseException:  # Ctrl-C while it starts: nothing left running
            self.engine.remove(container.id)
            raise
        if failure is not None:
            self.engine.remove(container.id)
            raise UpdateRolledBack(
                f"variant {spec.variant_name} of {endpoint_name} did not come up, the endpoint serves as before: {failure}",
                failure,
            )
        entry = {
            "name": spec.variant_name,
            "url": url,
            "weight": float(spec.weight),
            "shadow": spec.shadow,
            "container_id": container.id,
            "model_name": spec.model_name,
            "model_artifact": spec.model_artifact,
        }
        try:
            front_url = self._ensure_front(record)
        except BaseException:
            self.engine.remove(container.id)
            raise
        kept = [v for v in routes if v["name"] != spec.variant_name]
        self._write(endpoint_name, [*kept, entry])
        self.state.save_endpoint(endpoint_name, url=front_url)
        if replaced is not None and replaced.get("container_id") == record.container_id:
            # The endpoint's own container was that variant's: it is this one now.
            self.state.save_endpoint(
                endpoint_name,
                container_id=container.id,
                model_name=spec.model_name,
                model_artifact=spec.model_artifact,
            )
        if replaced is not None and replaced.get("container_id") != container.id:
            self.engine.remove(replaced.get("container_id"))
        return self.describe(endpoint_name)

    def set_weights(
        self, endpoint_name: str, weights: dict[str, float]
    ) -> list[VariantInfo]:
        record = self._serving(endpoint_name)
        routes = self.routes(record)
        _check_known(endpoint_name, routes, list(weights))
        bad = {k: w for k, w in weights.items() if w < 0}
        if bad:
            raise BackendError(f"weights must be 0 or more, got {bad}")
        changed = [
            {**v, "weight": float(weights.get(v["name"], v["weight"]))} for v in routes
        ]
        if not any(v["weight"] > 0 for v in changed if not v.get("shadow")):
            raise BackendError(
                f"at least one production variant of {endpoint_name} must keep a weight above 0"
            )
        if (self.folder(endpoint_name) / ROUTES_FILE).is_file():
            self._write(endpoint_name, changed)
        return self.describe(endpoint_name)

    def remove(self, endpoint_name: str, names: list[str]) -> list[VariantInfo]:
        record = self._serving(endpoint_name)
        routes = self.routes(record)
        _check_known(endpoint_name, routes, names)
        kept = [v for v in routes if v["name"] not in names]
        if not any(not v.get("shadow") for v in kept):
            raise BackendError(
                f"{endpoint_name} would have no production variant left: keep one of {', '.join(v['name'] for v in routes if not v.get('shadow'))}"
            )
        self._write(endpoint_name, kept)
        primary = next(v for v in kept if not v.get("shadow"))
        self.state.save_endpoint(
            endpoint_name,
            container_id=primary["container_id"],
            model_name=primary["model_name"],
            model_artifact=primary["model_artifact"],
        )
        for variant in routes:
            if variant["name"] in names:
                self.engine.remove(variant.get("container_id"))
        return self.describe(endpoint_name)

    def retire(self, endpoint_name: str, keep_container: str | None = None) -> None:
        """Stop the front and every variant's container but `keep_container`;
        the endpoint is one container again (a whole update, or its deletion)."""
        folder = self.folder(endpoint_name)
        path = folder / ROUTES_FILE
        if path.is_file():
            for variant in json.loads(path.read_text())["variants"]:
                if variant.get("container_id") != keep_container:
                    self.engine.remove(variant.get("container_id"))
        stop_front(folder)
        for name in (ROUTES_FILE, FRONT_FILE, FRONT_LOG, front.stats_path(path).name):
            (folder / name).unlink(missing_ok=True)

    # --- the parts ----------------------------------------------------------------
    def _serving(self, endpoint_name: str) -> EndpointRecord:
        check_name(endpoint_name, "endpoint")
        record = self.state.endpoint(endpoint_name)
        if record is None or record.status != IN_SERVICE:
            state = record.status if record else "missing"
            raise ResourceNotFound(
                f"endpoint {endpoint_name!r} is not InService ({state}): deploy it first"
            )
        return record

    def _start_variant(self, record: EndpointRecord, spec: VariantSpec) -> Any:
        capture = (
            CaptureSpec(destination=record.capture_destination)
            if record.capture_destination
            else None
        )
        as_endpoint = EndpointSpec(
            record.endpoint_name,
            spec.model_name,
            spec.model_artifact,
            spec.image,
            capture=capture,
            environment=dict(spec.environment),
            variant_name=spec.variant_name,
        )
        container = self.endpoints.create_container(as_endpoint, record=False)
        try:
            container.start()
        except BaseException:
            self.engine.remove(container.id)
            raise
        return container

    def _ensure_front(self, record: EndpointRecord) -> str:
        folder = self.folder(record.endpoint_name)
        running = front_url(folder)
        if running:
            return running
        # The routes exist before the front starts, so it never serves none.
        self._write(record.endpoint_name, self.routes(record))
        return start_front(folder)

    def _write(self, endpoint_name: str, routes: list[dict[str, Any]]) -> None:
        path = self.folder(endpoint_name) / ROUTES_FILE
        temporary = path.with_name(f".{path.name}.{os.getpid()}")
        temporary.write_text(json.dumps({"variants": routes}, indent=2))
        os.replace(temporary, path)


def _check_shadow_rules(
    endpoint_name: str, routes: list[dict[str, Any]], spec: VariantSpec
) -> None:
    """SageMaker's: a shadow variant beside exactly one production variant,
    and at most one shadow; so no production variant joins a shadow test."""
    others = [v for v in routes if v["name"] != spec.variant_name]
    production = [v["name"] for v in others if not v.get("shadow")]
    shadows = [v["name"] for v in others if v.get("shadow")]
    if spec.shadow and len(production) != 1:
        raise BackendError(
            f"a shadow variant goes beside exactly one production variant; {endpoint_name} has {len(production)} ({', '.join(production)}): promote one first"
        )
    if spec.shadow and shadows:
        raise BackendError(
            f"{endpoint_name} already has a shadow variant ({shadows[0]}): promote or replace it first"
        )
    if not spec.shadow and shadows:
        raise BackendError(
            f"{endpoint_name} is running a shadow test ({shadows[0]}): promote the shadow or the production variant before adding another production variant"
        )


def _check_known(
    endpoint_name: str, routes: list[dict[str, Any]], names: list[str]
) -> None:
    known = [v["name"] for v in routes]
    unknown = [n for n in names if n not in known]
    if unknown:
        raise BackendError(
            f"{endpoint_name} has no variant {', '.join(map(repr, unknown))}: its variants are {', '.join(known)}"
        )


# --- the front's process -------------------------------------------------------------
def start_front(folder: Path) -> str:
    """Start the front over ``folder/variants.json``; its URL once it listens."""
    log = folder / FRONT_LOG
    out = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    environment = dict(os.environ)
    environment["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(REPO_ROOT), environment.get("PYTHONPATH")])
    )
    try:
        # Spawned in a session of its own, it outlives this command as an
        # endpoint does; no Popen object is left to be collected with it running.
        pid = os.posix_spawn(
            sys.executable,
            [sys.executable, "-m", FRONT_MODULE, str(folder / ROUTES_FILE), "0"],
            environment,
            file_actions=[
                (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                (os.POSIX_SPAWN_DUP2, out, 1),
                (os.POSIX_SPAWN_DUP2, out, 2),
            ],
            setsid=True,
        )
    finally:
        os.close(out)
    deadline = time.monotonic() + FRONT_START_SECONDS
    while time.monotonic() < deadline:
        said = log.read_text(errors="replace")
        if "front on 127.0.0.1:" in said:
            port = said.split("front on 127.0.0.1:", 1)[1].split()[0]
            url = f"http://127.0.0.1:{port}"
            (folder / FRONT_FILE).write_text(json.dumps({"pid": pid, "url": url}))
            return url
        if _reaped(pid):  # it ended: its pid is no longer ours to signal
            break
        time.sleep(0.05)
    else:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        _reaped(pid)
    raise BackendError(
        f"the endpoint's front did not start: {log.read_text(errors='replace')[-500:]}"
    )


def _reaped(pid: int) -> bool:
    """Whether `pid`, a child of this process, has ended (and is now reaped)."""
    try:
        return os.waitpid(pid, os.WNOHANG) != (0, 0)
    except ChildProcessError:
        return True  # not ours to wait for (another command started it)


def _front_pid(folder: Path) -> int | None:
    """The recorded front's pid, if that process is still our front."""
    path = folder / FRONT_FILE
    if not path.is_file():
        return None
    pid = int(json.loads(path.read_text())["pid"])
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        try:
            os.kill(pid, 0)  # no /proc (macOS): whether it exists at all
        except OSError:
            return None
        return pid
    return pid if FRONT_MODULE.encode() in command else None


def front_url(folder: Path) -> str | None:
    if _front_pid(folder) is None:
        return None
    return json.loads((folder / FRONT_FILE).read_text())["url"]


def stop_front(folder: Path) -> None:
    pid = _front_pid(folder)
    if pid is None:
        return
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and _front_pid(folder) is not None:
        _reaped(pid)  # our child (started by this command): no zombie left
        time.sleep(0.05)
    if _front_pid(folder) is not None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)

"""The Docker engine as the local backend uses it: labelled containers, removed by id.

Every container carries labels naming its project, its kind (training-job,
processing-job, endpoint), its job or endpoint name and the state folder it
belongs to, so `cleanup` finds even one a crashed command never recorded, and
never touches another project's. Containers are removed by id only.
"""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from container.contract.paths import DEFAULT_ROOT
from orchestration.backends.base import BackendError, Progress
from orchestration.config import REPO_ROOT

LABEL_PREFIX = "sklearn-byoc"
STATE_LABEL = f"{LABEL_PREFIX}.state"
STOP_GRACE_SECONDS = 120  # SageMaker: SIGTERM, then SIGKILL 120 s later


@dataclass(frozen=True)
class JobRun:
    """How one job container ended: its exit code (None if stopped), its log lines."""

    exit_code: int | None
    lines: list[str]
    timed_out: bool


class Engine:
    """One project's containers on the Docker engine (connected on first use)."""

    def __init__(self, image: str, project: str, state_root: Path, client: Any = None):
        self.image = image
        self.project = project
        self.state_root = Path(state_root)
        self.stop_grace_seconds = STOP_GRACE_SECONDS
        self._client = client
        self.before_remove: list[Callable[[Any], None]] = []

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
                    f"no Docker engine answers ({type(exc).__name__}); start Docker (`make engine`) or use --backend aws"
                ) from None
        return self._client

    # --- the image ---------------------------------------------------------
    def image_id(self) -> str:
        """The image's id (sha256:...); it is built with `make image` if missing."""
        import docker.errors

        try:
            return self.client.images.get(self.image).id
        except docker.errors.ImageNotFound:
            self._build_image()
            return self.client.images.get(self.image).id

    def _build_image(self) -> None:
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
            said = (done.stderr or done.stdout).strip()[-500:]
            raise BackendError(
                f"image {self.image} is missing and `{' '.join(command)}` failed: {said}"
            )

    # --- containers ----------------------------------------------------------
    def labels(self, kind: str, name: str) -> dict[str, str]:
        return {
            f"{LABEL_PREFIX}.project": self.project,
            f"{LABEL_PREFIX}.kind": kind,
            f"{LABEL_PREFIX}.name": name,
            STATE_LABEL: str(self.state_root),
        }

    def create(
        self,
        command: str,
        kind: str,
        name: str,
        environment: dict[str, str],
        volumes: dict[str, dict[str, str]],
        ports: dict[str, Any] | None = None,
        labels: dict[str, str] | None = None,
    ) -> Any:
        """A labelled container of the image running `command`, not started yet."""
        extra = {"ports": ports} if ports else {}
        return self.client.containers.create(
            self.image,
            [command],
            environment=environment,
            volumes=volumes,
            labels={**self.labels(kind, name), **(labels or {})},
            detach=True,
            **extra,
        )

    def remove(self, container_id: str | None) -> None:
        """Remove a container by id, running or not; already gone is fine.

        Each `before_remove` hook sees the container first (the endpoints keep
        its request log); a failing hook never stops the removal.
        """
        if not container_id:
            return
        import docker.errors

        try:
            container = self.client.containers.get(container_id)
            for hook in self.before_remove:
                try:
                    hook(container)
                except Exception:  # noqa: BLE001 - keeping a log must not keep a container
                    pass
            container.remove(force=True)
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError as exc:
            # 409: another thread's removal of it is under way (a tuning job's
            # trial stopped by Ctrl-C while its own job removes it too).
            if exc.status_code != 409:
                raise

    def running(self, container_id: str | None) -> bool:
        if not container_id:
            return False
        import docker.errors

        try:
            return self.client.containers.get(container_id).status == "running"
        except docker.errors.NotFound:
            return False

    def labelled_ids(self) -> list[str]:
        """Every container of this state folder, recorded or not."""
        found = self.client.containers.list(
            all=True, filters={"label": f"{STATE_LABEL}={self.state_root}"}
        )
        return [container.id for container in found]

    # --- jobs ------------------------------------------------------------------
    def run_job(
        self, container: Any, job_name: str, max_runtime: float, progress: Progress
    ) -> JobRun:
        """Start a job container, stream its logs, wait for it; then remove it.

        Past `max_runtime` it is stopped as SageMaker stops a job: SIGTERM,
        then SIGKILL after the grace period. It is removed however the wait
        ends, Ctrl-C included.
        """
        lines: list[str] = []
        try:
            container.start()
            reader = threading.Thread(
                target=_stream, args=(container, lines, progress), daemon=True
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
            self.remove(container.id)
        return JobRun(exit_code, lines, timed_out)

    @staticmethod
    def job_volumes(opt_ml: Path) -> dict[str, dict[str, str]]:
        """A job's own /opt/ml folder, mounted read-write."""
        return {str(opt_ml): {"bind": DEFAULT_ROOT, "mode": "rw"}}


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

"""Run the built image the way SageMaker does: jobs with /opt/ml mounted, servers
with the model mounted read-only. Every container started here is removed by id."""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import requests

REPO_ROOT = Path(__file__).resolve().parents[2]
TEST_DIR = REPO_ROOT / "local_test" / "test_dir"
PAYLOADS = REPO_ROOT / "local_test" / "payloads"


@dataclass
class JobRun:
    exit_code: int
    logs: str
    root: Path

    @property
    def failure(self) -> str | None:
        path = self.root / "output" / "failure"
        return path.read_text() if path.exists() else None


def run_job(
    docker_client, image: str, root: Path, *command: str, timeout: float = 300, **kwargs
) -> JobRun:
    """`docker run -v root:/opt/ml IMAGE command...`, waited for and removed."""
    container = docker_client.containers.run(
        image,
        list(command) or None,
        detach=True,
        volumes={str(root): {"bind": "/opt/ml", "mode": "rw"}},
        **kwargs,
    )
    try:
        result = container.wait(timeout=timeout)
        logs = container.logs().decode(errors="replace")
    finally:
        container.remove(force=True)
    return JobRun(exit_code=result["StatusCode"], logs=logs, root=root)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Server:
    container: object
    url: str
    seconds_to_first_ping: float
    seconds_to_first_connection: float
    # Pings accepted but not answered within SageMaker's 2 s while starting.
    unanswered_pings: int = 0


@dataclass
class PingWait:
    connected: float
    first_200: float
    unanswered: int


def wait_for_ping(url: str, timeout: float) -> PingWait:
    """Poll /ping until a 200; when it first connected, and pings left unanswered."""
    start = time.monotonic()
    connected = None
    unanswered = 0
    while time.monotonic() - start < timeout:
        try:
            response = requests.get(f"{url}/ping", timeout=2)
        except requests.ConnectionError:
            time.sleep(0.02)
            continue
        except requests.Timeout:
            # Accepted but not answered within 2 s, which SageMaker counts as a
            # failed health check. The connection counts; keep polling.
            response = None
            unanswered += 1
        if connected is None:
            connected = time.monotonic() - start
        if response is not None and response.status_code == 200:
            return PingWait(connected, time.monotonic() - start, unanswered)
        time.sleep(0.05)
    raise AssertionError(f"{url}/ping did not answer 200 within {timeout} s")


@contextlib.contextmanager
def serving(
    docker_client,
    image: str,
    model_dir: Path,
    *,
    port: int = 8080,
    environment: dict | None = None,
    command: tuple[str, ...] = ("serve",),
    ping_timeout: float = 60,
    **kwargs,
) -> Iterator[Server]:
    """Serve model_dir (mounted read-only at /opt/ml/model) and wait for a 200 /ping."""
    host_port = free_port()
    container = docker_client.containers.run(
        image,
        list(command) or None,
        detach=True,
        volumes={str(model_dir): {"bind": "/opt/ml/model", "mode": "ro"}},
        ports={f"{port}/tcp": ("127.0.0.1", host_port)},
        environment=environment or {},
        **kwargs,
    )
    url = f"http://127.0.0.1:{host_port}"
    try:
        try:
            wait = wait_for_ping(url, ping_timeout)
        except AssertionError:
            container.reload()
            raise AssertionError(
                f"server not ready (status {container.status}); logs:\n"
                + container.logs().decode(errors="replace")[-3000:]
            ) from None
        yield Server(container, url, wait.first_200, wait.connected, wait.unanswered)
    finally:
        container.remove(force=True)

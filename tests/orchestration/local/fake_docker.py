"""A stand-in for the Docker SDK client, for what a real engine cannot do on cue.

Ctrl-C at a chosen moment of a job or an endpoint start is hard to time
against real containers; this fake records what was created, started and
removed, and raises what a test asks for at the step it names. Everything
else about the local backend is tested against the real engine.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import docker.errors

_ids = itertools.count(1)


class FakeContainer:
    def __init__(self, client: FakeDocker, command: list[str], labels: dict[str, str]):
        self.client = client
        self.id = f"fake{next(_ids):060d}"
        self.command = command
        self.labels = labels
        self.status = "created"
        self.attrs: dict[str, Any] = {"NetworkSettings": {"Ports": {}}}
        self.options: dict[str, Any] = {}  # what containers.create was given

    def _step(self, name: str) -> None:
        action = self.client.on.get(name)
        if action is not None:
            action(self)

    def start(self) -> None:
        self._step("start")
        self.status = "running"

    def wait(self, timeout: float | None = None) -> dict[str, int]:
        self._step("wait")
        self.status = "exited"
        return {"StatusCode": 0}

    def stop(self, timeout: float | None = None) -> None:
        self.status = "exited"

    def reload(self) -> None:
        self._step("reload")

    def logs(self, stream: bool = False, follow: bool = False, tail: int | None = None):
        return iter([b"[fake] started\n"]) if stream else b"[fake] started"

    def remove(self, force: bool = False) -> None:
        self.client.removed.append(self.id)
        self.client.by_id.pop(self.id, None)


class _Containers:
    def __init__(self, client: FakeDocker):
        self.client = client

    def create(self, image: str, command: list[str], **options: Any) -> FakeContainer:
        made = FakeContainer(self.client, command, options.get("labels") or {})
        made.options = options
        self.client.by_id[made.id] = made
        self.client.created.append(made)
        return made

    def get(self, container_id: str) -> FakeContainer:
        try:
            return self.client.by_id[container_id]
        except KeyError:
            raise docker.errors.NotFound(f"no container {container_id}") from None

    def list(
        self, all: bool = False, filters: dict | None = None
    ) -> list[FakeContainer]:
        key, _, value = (filters or {}).get("label", "=").partition("=")
        return [c for c in self.client.by_id.values() if c.labels.get(key) == value]


class _Image:
    id = "sha256:fake"


class _Images:
    def get(self, name: str) -> _Image:
        return _Image()


class FakeDocker:
    """`on` maps a container step (start, wait, reload) to what it does first."""

    def __init__(self) -> None:
        self.by_id: dict[str, FakeContainer] = {}
        self.created: list[FakeContainer] = []
        self.removed: list[str] = []
        self.on: dict[str, Callable[[FakeContainer], None]] = {}
        self.containers = _Containers(self)
        self.images = _Images()

    def running(self) -> list[FakeContainer]:
        return [c for c in self.by_id.values() if c.status == "running"]


def interrupt(container: FakeContainer) -> None:
    """What Ctrl-C does to the CLI: KeyboardInterrupt wherever it is."""
    raise KeyboardInterrupt

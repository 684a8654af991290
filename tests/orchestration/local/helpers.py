"""What the local backend's tests share: hyperparameters, channels, leftovers."""

from __future__ import annotations

from pathlib import Path

from orchestration.backends.local import LocalBackend
from orchestration.local.engine import STATE_LABEL

HPS = {"target": "species", "algorithm": "random_forest", "n_estimators": "20"}


def channels(processed: Path) -> dict[str, str]:
    return {c: str(processed / c) for c in ("train", "validation", "test")}


def leftovers(docker_client, backend: LocalBackend) -> list[str]:
    found = docker_client.containers.list(
        all=True, filters={"label": f"{STATE_LABEL}={backend.root}"}
    )
    return [c.id for c in found]

"""Where the lifecycle runs: `local` (Docker on this machine) or `aws` (SageMaker).

Each backend module exposes ``create_backend(config) -> Backend``; this module
imports it only when asked, so a local run never imports boto3 and an AWS run
never needs a Docker engine.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from orchestration.backends.base import Backend, BackendError

if TYPE_CHECKING:
    from orchestration.config import ProjectConfig

BACKENDS = ("local", "aws")


def get_backend(name: str, config: ProjectConfig) -> Backend:
    """The backend called `name`, built from the project config."""
    if name not in BACKENDS:
        raise BackendError(
            f"unknown backend {name!r}: use one of {', '.join(BACKENDS)}"
        )
    module = importlib.import_module(f"orchestration.backends.{name}")
    return module.create_backend(config)

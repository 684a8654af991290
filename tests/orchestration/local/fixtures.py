"""Fixtures of the local backend's tests, against the real image on the engine.

Each test uses its own state folder; every container it starts carries that
folder in a label, and the `backend` fixture's check proves they were all
removed. tests/orchestration/{local,backends}/conftest.py make them available.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from orchestration.backends.base import COMPLETED, TrainingJobSpec
from orchestration.backends.local import LocalBackend
from orchestration.config import load_config
from orchestration.dataprep import prepare
from tests.orchestration.local.helpers import HPS, channels, leftovers


@pytest.fixture(scope="module")
def processed(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("processed")
    prepare(dataclasses.replace(load_config().data, processed=folder))
    return folder


@pytest.fixture
def backend(tmp_path, image, docker_client):
    made = LocalBackend(
        tmp_path / "state",
        image,
        project="test",
        startup_timeout=90,
        client=docker_client,
    )
    yield made
    made.cleanup()
    assert leftovers(docker_client, made) == []


@pytest.fixture(scope="module")
def model_tarball(tmp_path_factory, image, docker_client, processed) -> Path:
    root = tmp_path_factory.mktemp("trained")
    made = LocalBackend(root / "state", image, client=docker_client)
    result = made.run_training_job(
        TrainingJobSpec(
            "fixture-train",
            image,
            HPS,
            channels(processed),
            output_location=str(root / "out"),
        ),
        lambda line: None,
    )
    assert result.status == COMPLETED, result.failure_reason
    return Path(result.model_artifact)

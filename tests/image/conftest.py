"""Fixtures for the image tests.

`image` and `docker_client` come from tests/conftest.py;
the helpers that run containers live in tests/image/docker_helpers.py."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.image.docker_helpers import TEST_DIR, run_job


def copy_test_dir(root: Path) -> Path:
    shutil.copytree(TEST_DIR, root, ignore=shutil.ignore_patterns("model", "output"))
    (root / "model").mkdir()
    (root / "output").mkdir()
    return root


@pytest.fixture
def test_dir(tmp_path: Path) -> Path:
    """A private copy of local_test/test_dir: an /opt/ml tree with penguins data."""
    return copy_test_dir(tmp_path / "opt_ml")


@pytest.fixture(scope="session")
def trained_model_dir(docker_client, image: str, tmp_path_factory) -> Path:
    """The bundled penguins data trained by the image itself (local_test/test_dir)."""
    root = copy_test_dir(tmp_path_factory.mktemp("trained") / "opt_ml")
    run = run_job(docker_client, image, root, "train")
    assert run.exit_code == 0, f"training failed:\n{run.logs[-3000:]}\n{run.failure}"
    return root / "model"

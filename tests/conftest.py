"""Shared fixtures: a temporary /opt/ml tree and a small model bundle.

The bundle is built directly with scikit-learn (tests/bundles.py), not
through `train`, so that serving and monitoring tests do not depend on the
training code; the training tests and the image tests exercise `train` itself.
"""

from __future__ import annotations

import gc
import json
from pathlib import Path

import pandas as pd
import pytest

from container.contract.paths import ROOT_ENV_VAR, OptMl
from tests import service_model
from tests.bundles import (  # noqa: F401 - re-exported for tests
    PENGUIN_CATEGORICALS,
    PENGUIN_NUMERICS,
    PENGUINS_CSV,
    REPO_ROOT,
    build_penguins_bundle,
)


@pytest.fixture(scope="module", autouse=True)
def _collect_garbage_per_module():
    """Collect after each module, so a file or pipe a module leaks is reported
    against that module's tests instead of whichever later test's collection
    happens to find it (a leak in one module once failed an unrelated test)."""
    yield
    gc.collect()


@pytest.fixture
def opt_ml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> OptMl:
    """An empty /opt/ml tree under tmp_path, which `OptMl.from_env()` also finds."""
    root = tmp_path / "opt_ml"
    for sub in ("input/config", "input/data", "model", "output"):
        (root / sub).mkdir(parents=True)
    monkeypatch.setenv(ROOT_ENV_VAR, str(root))
    return OptMl(root)


@pytest.fixture(scope="session")
def penguins() -> pd.DataFrame:
    return pd.read_csv(PENGUINS_CSV)


@pytest.fixture(scope="session")
def penguins_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model folder (model.joblib + model.json): a tree on the penguins data."""
    return build_penguins_bundle(tmp_path_factory.mktemp("penguins_model"))


def write_json(path: Path, data: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))


# --- Docker --------------------------------------------------------------------------
# Tests that need an engine (or the built image) skip only when no engine answers
# AND the environment does not demand one; CI sets REQUIRE_DOCKER=1, so there a
# missing engine fails the run instead of skipping it into green.
DOCKER_FIXTURES = {"docker_client", "image"}
DEFAULT_IMAGE = "sklearn-byoc:latest"


def pytest_configure(config: pytest.Config) -> None:
    # Every botocore client of the run checks its requests as AWS would.
    service_model.install()


@pytest.fixture(autouse=True)
def service_model_violations():
    """Fail any test during which a request broke the service model.

    The check already answers such a request with AWS's ValidationException;
    this catches code under test that swallows it. A test that sends invalid
    requests on purpose takes the list and clears it.
    """
    service_model.RECORDED.clear()
    yield service_model.RECORDED
    found = [str(v) for v in service_model.RECORDED]
    service_model.RECORDED.clear()
    assert not found, "requests AWS would refuse:\n" + "\n".join(found)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if DOCKER_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.docker)


def _docker_unavailable(reason: str) -> None:
    import os

    if os.environ.get("REQUIRE_DOCKER"):
        pytest.fail(f"REQUIRE_DOCKER is set but {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def docker_client():
    """A Docker SDK client to a live engine (skip/fail as described above)."""
    try:
        import docker
    except ImportError:
        _docker_unavailable("the docker Python package is not installed")
    try:
        client = docker.from_env(timeout=300)
        client.ping()
    except Exception as exc:  # noqa: BLE001 - any failure means "no engine"
        _docker_unavailable(f"no Docker engine answers ({type(exc).__name__}: {exc})")
    yield client
    client.close()


@pytest.fixture(scope="session")
def image(docker_client) -> str:
    """The image under test: $SKLEARN_BYOC_IMAGE, built with `make image` if absent."""
    import os
    import subprocess

    import docker.errors

    name = os.environ.get("SKLEARN_BYOC_IMAGE", DEFAULT_IMAGE)
    try:
        docker_client.images.get(name)
    except docker.errors.ImageNotFound:
        repo, _, tag = name.partition(":")
        subprocess.run(
            [
                "make",
                "-C",
                str(REPO_ROOT),
                "image",
                f"IMAGE_REPO={repo}",
                f"IMAGE_TAG={tag or 'latest'}",
            ],
            check=True,
        )
    return name

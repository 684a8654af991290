"""The local backend's own glue: teardown of everything labelled, and locations."""

from __future__ import annotations

import pytest

from orchestration.backends.base import ResourceNotFound
from orchestration.config import REPO_ROOT
from tests.orchestration.local.helpers import leftovers


def test_cleanup_also_removes_unrecorded_containers_of_this_state(
    backend, docker_client, image
):
    stray = docker_client.containers.create(
        image, ["serve"], labels=backend.engine.labels("endpoint", "half-made")
    )
    other = docker_client.containers.create(
        image, ["serve"], labels={"sklearn-byoc.state": "/somewhere/else"}
    )
    try:
        assert stray.id in backend.cleanup()
        assert leftovers(docker_client, backend) == []
        other.reload()  # another project's container is left alone
    finally:
        other.remove(force=True)


def test_fetch_and_upload_are_local_folders(backend, processed, tmp_path):
    assert backend.upload_data(processed / "train", "x") == str(processed / "train")
    copied = backend.fetch(str(processed / "train"), tmp_path / "copy")
    assert (copied / "train.csv").read_bytes() == (
        processed / "train" / "train.csv"
    ).read_bytes()
    with pytest.raises(ResourceNotFound):
        backend.fetch(str(REPO_ROOT / "no-such"), tmp_path / "x")

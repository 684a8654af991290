"""Endpoints: the real image on the engine; names and Ctrl-C without one."""

from __future__ import annotations

import json
import tarfile

import pytest

from orchestration.backends.base import (
    FAILED,
    IN_SERVICE,
    CaptureSpec,
    EndpointSpec,
    ResourceNotFound,
)
from orchestration.backends.local import LocalBackend
from orchestration.local.hosting import EndpointInvocationError
from tests.orchestration.local.helpers import leftovers


def test_endpoint_serves_captures_updates_and_survives_a_restart(
    backend, model_tarball, tmp_path, docker_client, image
):
    capture = tmp_path / "capture"
    spec = EndpointSpec(
        "ep-test",
        "m1",
        str(model_tarball),
        image,
        capture=CaptureSpec(destination=str(capture)),
    )
    info = backend.create_endpoint(spec)
    assert info.status == IN_SERVICE and info.url.startswith("http://127.0.0.1:")
    body = backend.invoke_endpoint(
        "ep-test",
        b"Biscoe,49.5,16.2,229,5800,male\n",
        "text/csv",
        "text/csv",
        inference_id="req-1",
    )
    assert body.decode().strip() == "Gentoo"
    record = backend.state.endpoint("ep-test")
    mounts = docker_client.containers.get(record.container_id).attrs["Mounts"]
    model_mount = next(m for m in mounts if m["Destination"] == "/opt/ml/model")
    assert model_mount["RW"] is False

    # Capture in SageMaker's layout: {endpoint}/{variant}/yyyy/mm/dd/hh/*.jsonl
    files = list(capture.glob("ep-test/AllTraffic/*/*/*/*/*.jsonl"))
    assert len(files) == 1
    event = json.loads(files[0].read_text().splitlines()[0])
    assert event["captureData"]["endpointOutput"]["data"].strip() == "Gentoo"
    assert event["eventMetadata"]["inferenceId"] == "req-1"

    with pytest.raises(EndpointInvocationError) as bad:
        backend.invoke_endpoint("ep-test", b"not,enough\n", "text/csv", "text/csv")
    assert 400 <= bad.value.container_status < 500

    old = record.container_id
    updated = backend.update_endpoint(
        EndpointSpec("ep-test", "m2", str(model_tarball), image, capture=spec.capture)
    )
    assert updated.status == IN_SERVICE and updated.model_name == "m2"
    assert old not in leftovers(docker_client, backend)

    # A new CLI process: a fresh backend over the same state folder.
    again = LocalBackend(
        backend.root.parent, image, project="test", client=docker_client
    )
    assert again.describe_endpoint("ep-test").status == IN_SERVICE
    assert (
        again.invoke_endpoint(
            "ep-test", b"Dream,46.5,17.9,192,3500,female\n", "text/csv", "text/csv"
        ).strip()
        == b"Chinstrap"
    )
    again.delete_endpoint("ep-test")
    assert leftovers(docker_client, backend) == []
    with pytest.raises(ResourceNotFound):
        again.invoke_endpoint("ep-test", b"x", "text/csv", "text/csv")


def test_an_endpoint_that_cannot_load_its_model_is_failed(backend, tmp_path, image):
    broken = tmp_path / "broken.tar.gz"
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "model.json").write_text("{}")
    with tarfile.open(broken, "w:gz") as tar:
        tar.add(junk / "model.json", arcname="model.json")
    backend.endpoints.startup_timeout = 20
    info = backend.create_endpoint(EndpointSpec("ep-broken", "m", str(broken), image))
    assert info.status == FAILED and info.failure_reason

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
    InvalidName,
    ResourceNotFound,
)
from orchestration.backends.local import LocalBackend
from orchestration.local.hosting import EndpointInvocationError
from tests.orchestration.local.fake_docker import FakeDocker, interrupt
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


@pytest.fixture
def fake_backend(tmp_path):
    fake = FakeDocker()
    backend = LocalBackend(tmp_path / "state", "sklearn-byoc:test", client=fake)
    model = tmp_path / "model"
    model.mkdir()
    (model / "model.json").write_text("{}")
    tarball = tmp_path / "model.tar.gz"
    with tarfile.open(tarball, "w:gz") as tar:
        tar.add(model / "model.json", arcname="model.json")
    backend.fake = fake  # type: ignore[attr-defined]
    backend.tarball = str(tarball)  # type: ignore[attr-defined]
    return backend


def test_ctrl_c_while_an_endpoint_starts_leaves_nothing_running(fake_backend):
    fake = fake_backend.fake
    fake.on["reload"] = interrupt
    spec = EndpointSpec("ep-x", "m1", fake_backend.tarball, "sklearn-byoc:test")
    with pytest.raises(KeyboardInterrupt):
        fake_backend.create_endpoint(spec)
    assert fake.running() == [] and fake.removed == [fake.created[0].id]
    record = fake_backend.state.endpoint("ep-x")
    assert record.status == FAILED and record.container_id is None
    assert record.failure_reason == "creation not finished: stopped by the user"


def test_ctrl_c_during_an_update_keeps_the_old_version_serving(fake_backend):
    fake = fake_backend.fake
    old = fake.containers.create("sklearn-byoc:test", ["serve"])
    old.start()
    fake_backend.state.save_endpoint(
        "ep-x", status=IN_SERVICE, container_id=old.id, url="http://127.0.0.1:1"
    )
    fake.on["reload"] = interrupt
    spec = EndpointSpec("ep-x", "m2", fake_backend.tarball, "sklearn-byoc:test")
    with pytest.raises(KeyboardInterrupt):
        fake_backend.update_endpoint(spec)
    assert fake.running() == [old]  # the new container is gone, the old one serves
    record = fake_backend.state.endpoint("ep-x")
    assert (record.status, record.container_id) == (IN_SERVICE, old.id)
    assert record.failure_reason == "update not finished: stopped by the user"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("endpoint_name", "../../../tmp/x"),
        ("endpoint_name", "../../etc"),
        ("endpoint_name", "ep_under_score"),
        ("model_name", "../m"),
        ("variant_name", "All/Traffic"),
    ],
)
def test_names_sagemaker_refuses_are_refused_before_anything_is_made(
    fake_backend, tmp_path, field, value
):
    values = dict(
        endpoint_name="ep-x",
        model_name="m1",
        model_artifact=fake_backend.tarball,
        image="sklearn-byoc:test",
        capture=CaptureSpec(destination=str(tmp_path / "capture")),
    )
    spec = EndpointSpec(**{**values, field: value})
    with pytest.raises(InvalidName, match="is not valid on SageMaker"):
        fake_backend.create_endpoint(spec)
    assert fake_backend.fake.created == []
    assert not (tmp_path / "tmp").exists() and not (tmp_path / "capture").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "model",
        "model.tar.gz",
        "state",
    ]


@pytest.mark.parametrize("call", ["invoke", "delete", "capture"])
def test_every_endpoint_call_checks_the_name(fake_backend, tmp_path, call):
    name = "../../etc"
    with pytest.raises(InvalidName):
        if call == "invoke":
            fake_backend.invoke_endpoint(name, b"x", "text/csv", "text/csv")
        elif call == "delete":
            fake_backend.delete_endpoint(name)
        else:
            fake_backend.wait_for_capture(
                str(tmp_path), name, "2026-04-18T09:00:00Z", "2026-04-18T10:00:00Z"
            )

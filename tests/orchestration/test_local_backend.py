"""The local backend against the real image on the Docker engine.

Each test uses its own state folder; every container it starts carries that
folder in a label, and the `no_leftovers` check proves they were all removed.
"""

from __future__ import annotations

import json
import tarfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from orchestration.backends.base import (
    COMPLETED,
    FAILED,
    IN_SERVICE,
    STOPPED,
    CaptureSpec,
    EndpointSpec,
    ProcessingJobSpec,
    ResourceNotFound,
    TrainingJobSpec,
)
from orchestration.backends.local import EndpointInvocationError, LocalBackend
from orchestration.config import REPO_ROOT, load_config
from orchestration.dataprep import prepare

HPS = {"target": "species", "algorithm": "random_forest", "n_estimators": "20"}


@pytest.fixture(scope="module")
def processed(tmp_path_factory) -> Path:
    import dataclasses

    folder = tmp_path_factory.mktemp("processed")
    prepare(dataclasses.replace(load_config().data, processed=folder))
    return folder


def channels(processed: Path) -> dict[str, str]:
    return {c: str(processed / c) for c in ("train", "validation", "test")}


def leftovers(docker_client, backend: LocalBackend) -> list[str]:
    found = docker_client.containers.list(
        all=True, filters={"label": f"sklearn-byoc.state={backend.root}"}
    )
    return [c.id for c in found]


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


def test_training_job_lays_out_opt_ml_and_returns_model_tar_gz(
    backend, processed, docker_client
):
    lines: list[str] = []
    spec = TrainingJobSpec(
        "t-ok",
        backend.image,
        HPS,
        channels(processed),
        output_location=str(backend.root / "out"),
    )
    result = backend.run_training_job(spec, lines.append)
    assert result.status == COMPLETED and result.failure_reason is None
    assert result.model_artifact == str(
        backend.root / "out" / "t-ok" / "output" / "model.tar.gz"
    )
    with tarfile.open(result.model_artifact) as tar:
        assert {"model.joblib", "model.json"} <= set(tar.getnames())
    assert 0.8 <= result.metrics["validation:accuracy"] <= 1.0
    assert any(line.startswith("[train]") for line in lines)  # logs were streamed
    config = backend.root / "jobs" / "t-ok" / "opt_ml" / "input" / "config"
    assert json.loads((config / "hyperparameters.json").read_text()) == HPS
    assert sorted(json.loads((config / "inputdataconfig.json").read_text())) == [
        "test",
        "train",
        "validation",
    ]
    job = backend.status()["jobs"][0]
    assert (job["job_name"], job["status"]) == ("t-ok", COMPLETED)
    assert leftovers(docker_client, backend) == []


def test_failed_training_reports_the_failure_file(backend, processed):
    spec = TrainingJobSpec(
        "t-bad",
        backend.image,
        {**HPS, "algorithm": "telepathy"},
        channels(processed),
        output_location=str(backend.root / "out"),
    )
    result = backend.run_training_job(spec, lambda line: None)
    assert result.status == FAILED and result.model_artifact is None
    assert result.failure_reason.startswith("AlgorithmError: ")
    assert "telepathy" in result.failure_reason
    assert not (backend.root / "out" / "t-bad").exists()


def test_job_names_are_unique_like_on_sagemaker(backend, processed):
    spec = TrainingJobSpec(
        "t-twice", backend.image, {**HPS, "algorithm": "nope"}, channels(processed)
    )
    backend.run_training_job(spec, lambda line: None)
    with pytest.raises(Exception, match="already exists"):
        backend.run_training_job(spec, lambda line: None)


def test_a_job_past_its_max_runtime_is_stopped(backend, processed):
    backend.stop_grace_seconds = 1
    spec = TrainingJobSpec(
        "t-slow",
        backend.image,
        {**HPS, "n_estimators": "20000"},
        channels(processed),
        max_runtime_seconds=2,
    )
    result = backend.run_training_job(spec, lambda line: None)
    assert result.status == STOPPED
    assert result.failure_reason.startswith("MaxRuntimeExceeded")


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
    backend.startup_timeout = 20
    info = backend.create_endpoint(EndpointSpec("ep-broken", "m", str(broken), image))
    assert info.status == FAILED and info.failure_reason


def test_processing_jobs_publish_outputs_or_fail_with_the_message(
    backend, processed, tmp_path
):
    out = tmp_path / "baseline"
    spec = ProcessingJobSpec(
        "b-1",
        backend.image,
        "baseline",
        {"input/baseline_dataset_input": str(processed / "baseline")},
        str(out),
        {
            "dataset_format": json.dumps({"csv": {"header": True}}),
            "dataset_source": "/opt/ml/processing/input/baseline_dataset_input",
            "output_path": "/opt/ml/processing/output",
        },
    )
    result = backend.run_processing_job(spec, lambda line: None)
    assert result.status == COMPLETED and result.exit_message.startswith("Completed")
    assert {"statistics.json", "constraints.json"} <= {p.name for p in out.iterdir()}

    empty = tmp_path / "empty-capture"
    empty.mkdir()
    now = datetime.now(UTC)
    monitor = ProcessingJobSpec(
        "m-empty",
        backend.image,
        "monitor",
        {
            "input/endpoint": str(empty),
            "baseline/stats": str(out / "statistics.json"),
            "baseline/constraints": str(out / "constraints.json"),
        },
        str(tmp_path / "report"),
        {
            "dataset_format": json.dumps({"sagemakerCaptureJson": {}}),
            "dataset_source": "/opt/ml/processing/input/endpoint",
            "output_path": "/opt/ml/processing/output",
            "start_time": (now - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "end_time": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "baseline_statistics": "/opt/ml/processing/baseline/stats/statistics.json",
            "baseline_constraints": "/opt/ml/processing/baseline/constraints/"
            "constraints.json",
        },
    )
    failed = backend.run_processing_job(monitor, lambda line: None)
    assert failed.status == FAILED and failed.failure_reason
    assert not (tmp_path / "report").exists()  # nothing half-published


def test_cleanup_also_removes_unrecorded_containers_of_this_state(
    backend, docker_client, image
):
    stray = docker_client.containers.create(
        image, ["serve"], labels=backend._labels("endpoint", "half-made")
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

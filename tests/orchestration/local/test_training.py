"""Training jobs: the real image on the engine, and Ctrl-C on a fake one."""

from __future__ import annotations

import json
import tarfile

import pytest

from orchestration.backends.base import COMPLETED, FAILED, STOPPED, TrainingJobSpec
from orchestration.backends.local import LocalBackend
from tests.orchestration.local.fake_docker import FakeDocker, interrupt
from tests.orchestration.local.helpers import HPS, channels, leftovers


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
    backend.engine.stop_grace_seconds = 1
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


def test_an_interrupted_training_job_is_stopped_by_the_user(tmp_path):
    fake = FakeDocker()
    fake.on["wait"] = interrupt
    backend = LocalBackend(tmp_path / "state", "sklearn-byoc:test", client=fake)
    data = tmp_path / "data"
    for channel in ("train", "validation", "test"):
        (data / channel).mkdir(parents=True)
    spec = TrainingJobSpec("t-interrupted", "sklearn-byoc:test", HPS, channels(data))
    with pytest.raises(KeyboardInterrupt):
        backend.run_training_job(spec, lambda line: None)
    (job,) = backend.status()["jobs"]
    assert (job["status"], job["failure_reason"]) == (STOPPED, "stopped by the user")
    assert fake.removed == [fake.created[0].id] and fake.running() == []

"""Runs logged to MLflow (`tracking.mlflow_uri`), read back with MlflowClient.

The steps run over the in-memory backend of test_lifecycle, whose training
jobs here leave real model.tar.gz and output.tar.gz archives; MLflow stores
in a temporary folder (sqlite, and the file store) hold what was logged.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import socket
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from orchestration import lifecycle, mlflow_runs, training_outputs, tune
from orchestration.backends.base import COMPLETED, TrainingJobResult
from orchestration.cli import main
from orchestration.config import REPO_ROOT, TrackingConfig
from tests import iam_policies as iam
from tests.orchestration import aws_conftest_helpers as helpers
from tests.orchestration.test_lifecycle import MemoryBackend
from tests.orchestration.test_lifecycle import project as project  # noqa: F401
from tests.orchestration.test_tune import TuningBackend

moto_url = helpers.moto_url
aws_settings = helpers.aws_settings
backend = helpers.backend

SEARCH = {
    "strategy": "grid",
    "scoring": "accuracy",
    "cv_folds": 3,
    "best_params": {"max_depth": 8},
    "best_score": 0.96,
    "trials": [
        {"params": {"max_depth": 4}, "mean_score": 0.91, "std_score": 0.02, "rank": 2},
        {"params": {"max_depth": 8}, "mean_score": 0.96, "std_score": 0.01, "rank": 1},
    ],
}


def tarball(path: Path, members: dict[str, bytes]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as tar:
        for name, content in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    return path


class ArchivingBackend(MemoryBackend):
    """Training jobs leave what the image leaves: a bundle with model.json, and
    output.tar.gz with the evaluation and the job's own search."""

    def run_training_job(self, spec, progress):
        self.calls.append(("train", spec))
        folder = Path(spec.output_location) / spec.job_name / "output"
        bundle = {"schema": {"target": "species"}, "search": SEARCH}
        artifact = tarball(
            folder / "model.tar.gz",
            {
                "model.joblib": b"not loaded",
                "./model.json": json.dumps(bundle).encode(),
            },
        )
        tarball(
            folder / "output.tar.gz",
            {
                "evaluation.json": b'{"confusion_matrix": [[1]]}',
                "metrics.json": b'{"validation": {"accuracy": 0.97}}',
                "report.html": b"<html>report</html>",
                "search_trials.json": json.dumps(SEARCH).encode(),
            },
        )
        metrics = {"validation:accuracy": 0.97, "train:accuracy": 1.0}
        return TrainingJobResult(
            spec.job_name, COMPLETED, str(artifact), None, metrics, 1.5
        )


def tracked(project, uri: str, backend=None):  # noqa: F811
    """The project with `tracking.mlflow_uri` set, over `backend`."""
    config = dataclasses.replace(
        project.config, tracking=TrackingConfig(mlflow_uri=uri, experiment="penguins")
    )
    backend = backend or ArchivingBackend(project.backend.root)
    made = lifecycle.open_project(config, say=project.said.append, backend=backend)
    made.said = project.said  # type: ignore[attr-defined]
    lifecycle.prepare(made)
    return made


def sqlite_uri(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'mlflow.db'}"


def runs_of(client, experiment: str):
    found = client.get_experiment_by_name(experiment)
    assert found is not None, f"no experiment {experiment}"
    return client.search_runs([found.experiment_id], max_results=1000)


def test_a_training_run_is_logged_with_what_went_in_and_came_out(
    project,  # noqa: F811
    tmp_path,
    capsys,
):
    made = tracked(project, sqlite_uri(tmp_path))
    run = lifecycle.train(made)
    client = MlflowClient(tracking_uri=sqlite_uri(tmp_path))
    runs = runs_of(client, "penguins")
    (top,) = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    assert top.info.run_name == run.job_name
    assert top.info.status == "FINISHED"
    assert top.data.params == run.hyperparameters
    assert top.data.metrics == {"validation:accuracy": 0.97, "train:accuracy": 1.0}
    tags = top.data.tags
    assert tags["sklearn_byoc.training_job"] == run.job_name
    assert tags["sklearn_byoc.image_digest"] == "sha256:abc"
    assert tags["sklearn_byoc.code_revision"] == run.code_revision
    assert tags["mlflow.source.git.commit"] == run.code_revision.removesuffix("-dirty")
    for name, digest in run.data_hashes.items():
        assert tags[f"sklearn_byoc.data.{name}.sha256"] == digest
    artifacts = {
        f.path
        for folder in ("bundle", "evaluation", "search")
        for f in client.list_artifacts(top.info.run_id, folder)
    }
    assert artifacts == {
        "bundle/model.json",
        "evaluation/evaluation.json",
        "evaluation/metrics.json",
        "evaluation/report.html",
        "search/search_trials.json",
    }
    report = client.download_artifacts(
        top.info.run_id, "evaluation/report.html", str(tmp_path)
    )
    assert Path(report).read_text() == "<html>report</html>"
    # The job's own search: one nested run per candidate.
    nested = [
        r for r in runs if r.data.tags.get("mlflow.parentRunId") == top.info.run_id
    ]
    assert sorted(r.data.params["max_depth"] for r in nested) == ["4", "8"]
    assert sorted(r.data.metrics["cv:accuracy:mean"] for r in nested) == [0.91, 0.96]
    # Where it went is said, and kept with the local run.
    assert made.tracker.get(run.run_id).mlflow_run_id == top.info.run_id
    assert any(top.info.run_id in line and "penguins" in line for line in made.said)
    # `runs list` names it too.
    assert main(["runs", "list", "--state-dir", str(made.config.state_dir)]) == 0
    assert f"mlflow={top.info.run_id}" in capsys.readouterr().out


def test_tuning_trials_are_runs_nested_under_the_tuning_job(
    project,  # noqa: F811
    tmp_path,
    monkeypatch,
):
    monkeypatch.delenv(mlflow_runs.ALLOW_FILE_STORE, raising=False)
    uri = (tmp_path / "mlruns").as_uri()  # the file store, this time
    backend = TuningBackend(project.backend.root)
    backend.fail_all = False
    made = tracked(project, uri, backend)
    made.config = dataclasses.replace(
        made.config,
        tuning=dataclasses.replace(made.config.tuning, max_jobs=4, random_seed=3),
    )
    result = tune.tune(made)
    # MLflow's settings were for the logging only.
    assert mlflow_runs.ALLOW_FILE_STORE not in os.environ
    monkeypatch.setenv(mlflow_runs.ALLOW_FILE_STORE, "true")  # to read it back
    client = MlflowClient(tracking_uri=uri)
    runs = runs_of(client, "penguins")
    (parent,) = [r for r in runs if r.info.run_name == result.tuning_job_name]
    assert parent.data.params["objective_metric"] == "validation:accuracy"
    assert parent.data.tags["sklearn_byoc.best_training_job"] == result.best_job_name
    assert parent.data.metrics["best:validation:accuracy"] == pytest.approx(
        result.best.objective_value
    )
    trials = [
        r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id
    ]
    assert sorted(r.info.run_name for r in trials) == sorted(
        t.job_name for t in result.trials
    )
    by_name = {r.info.run_name: r for r in trials}
    for trial in result.trials:
        logged = by_name[trial.job_name]
        assert logged.data.params["max_depth"] == trial.hyperparameters["max_depth"]
        assert logged.info.status == (
            "FINISHED" if trial.status == COMPLETED else "FAILED"
        )
        local = made.tracker.get(trial.job_name)
        assert local.mlflow_run_id == logged.info.run_id


def test_a_run_half_logged_is_marked_failed_in_mlflow(project, tmp_path, monkeypatch):  # noqa: F811
    def refuse(*args, **kwargs):
        raise OSError("artifact store full")

    monkeypatch.setattr(MlflowClient, "log_artifacts", refuse)
    made = tracked(project, sqlite_uri(tmp_path))
    run = lifecycle.train(made)
    (warning,) = [line for line in made.said if "warning:" in line]
    assert "artifact store full" in warning
    (logged,) = runs_of(MlflowClient(tracking_uri=sqlite_uri(tmp_path)), "penguins")
    assert logged.info.status == "FAILED"  # not left RUNNING
    assert made.tracker.get(run.run_id).mlflow_run_id is None


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_tracking_server_that_does_not_answer_is_one_warning(project, monkeypatch):  # noqa: F811
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    made = tracked(project, f"http://127.0.0.1:{closed_port()}")
    run = lifecycle.train(made)  # does not raise
    warnings = [line for line in made.said if "warning:" in line]
    assert len(warnings) == 1 and "\n" not in warnings[0]
    assert f"run {run.run_id} was not logged to MLflow" in warnings[0]
    assert "recorded locally" in warnings[0]
    kept = made.tracker.get(run.run_id)
    assert kept.status == COMPLETED and kept.mlflow_run_id is None
    assert made.state["last_run"] == run.run_id


ARN = "arn:aws:sagemaker:eu-west-1:123456789012:mlflow-tracking-server/penguins"


def test_a_sagemaker_tracking_server_without_its_plugin_names_the_package(
    project,  # noqa: F811
    monkeypatch,
):
    real = mlflow_runs._installed
    monkeypatch.setattr(
        mlflow_runs, "_installed", lambda m: m != "sagemaker_mlflow" and real(m)
    )
    made = tracked(project, ARN)
    run = lifecycle.train(made)
    (warning,) = [line for line in made.said if "warning:" in line]
    assert "pip install sagemaker-mlflow" in warning
    assert made.tracker.get(run.run_id).status == COMPLETED


def test_a_sagemaker_tracking_server_is_reached_signed_by_its_plugin(
    project,  # noqa: F811
    monkeypatch,
):
    """The ARN becomes the server's URL and each request is SigV4-signed; the
    request is caught before it leaves this machine."""
    import requests.adapters

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    sent = []

    def refuse(adapter, request, *args, **kwargs):
        sent.append(request)
        raise requests.exceptions.ConnectionError("no network in this test")

    monkeypatch.setattr(requests.adapters.HTTPAdapter, "send", refuse)
    made = tracked(project, ARN)
    run = lifecycle.train(made)
    assert sent, "no request was made"
    assert sent[0].url.startswith(
        "https://eu-west-1.experiments.sagemaker.aws/api/2.0/mlflow/"
    )
    assert sent[0].headers["Authorization"].startswith("AWS4-HMAC-SHA256")
    (warning,) = [line for line in made.said if "warning:" in line]
    assert "no network in this test" in warning
    assert made.tracker.get(run.run_id).mlflow_run_id is None
    assert "MLFLOW_TRACKING_URI" not in os.environ  # for the logging only


def test_an_sqlite_store_keeps_artifacts_beside_the_database(tmp_path):
    settings = TrackingConfig(sqlite_uri(tmp_path), "e")
    assert (
        mlflow_runs.artifact_location(settings) == (tmp_path / "mlartifacts").as_uri()
    )
    given = TrackingConfig("http://mlflow:5000", "e", "s3://b/artifacts")
    assert mlflow_runs.artifact_location(given) == "s3://b/artifacts"
    assert mlflow_runs.artifact_location(TrackingConfig("http://h:5000", "e")) is None


def test_the_cli_runs_without_mlflow_installed(tmp_path):
    """MLflow is imported only when configured: blocked, `runs list` still works."""
    script = (
        "import sys; sys.modules['mlflow'] = None\n"
        "from orchestration.cli import main\n"
        f"sys.exit(main(['runs', 'list', '--state-dir', {str(tmp_path)!r}]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "no runs yet" in done.stdout


def test_on_aws_the_documents_come_from_s3_under_the_train_policy(backend, tmp_path):  # noqa: F811
    """The bundle's and the output's documents, fetched beside model.tar.gz."""
    job = "penguins-train-20261201-100000-000-0a1b2c3d"
    folder = f"penguins/training/{job}/output"
    model = tarball(tmp_path / "model.tar.gz", {"model.json": b'{"search": null}'})
    output = tarball(tmp_path / "output.tar.gz", {"report.html": b"<html/>"})
    for path in (model, output):
        backend.clients.s3.upload_file(
            str(path), helpers.BUCKET, f"{folder}/{path.name}"
        )
    log = helpers.CallLog()
    log.attach(backend.clients)
    log.step = "train"
    found = training_outputs.read(
        backend, f"s3://{helpers.BUCKET}/{folder}/model.tar.gz"
    )
    assert found.files == {
        "bundle/model.json": b'{"search": null}',
        "evaluation/report.html": b"<html/>",
    }
    assert found.missing == () and found.search is None
    assert iam.audit(log.requests) == [], "change STEP_CALLS and train.json"

"""`tune` then `register` through the CLI, on the real image and the penguins data."""

from __future__ import annotations

import json
import sqlite3

import yaml

from orchestration.registry import LocalRegistry
from tests.e2e.conftest import project_containers, write_project
from tests.e2e.test_demo import cli

METRIC = "validation:accuracy"


def small_tuning(path):
    """Three small trials, two at a time, so the test stays quick."""
    config = yaml.safe_load(path.read_text())
    config["training"]["hyperparameters"].update(
        n_estimators=10, compile_predictor=False
    )
    config["tuning"] = {
        "strategy": "Random",
        "objective": {"metric": METRIC, "type": "Maximize"},
        "max_jobs": 3,
        "max_parallel_jobs": 2,
        "random_seed": 5,
        "ranges": {
            "n_estimators": {"type": "integer", "min": 5, "max": 15},
            "max_depth": {"type": "integer", "min": 1, "max": 4},
        },
    }
    path.write_text(yaml.safe_dump(config))
    return path


def test_tune_runs_trials_on_the_image_and_register_takes_the_best(
    tmp_path, image, docker_client
):
    config = small_tuning(write_project(tmp_path, image))
    store = tmp_path / "mlflow.db"
    settings = yaml.safe_load(config.read_text())
    settings["tracking"] = {"mlflow_uri": f"sqlite:///{store}", "experiment": "e2e"}
    config.write_text(yaml.safe_dump(settings))
    state = tmp_path / "state"
    for step in ("prepare", "tune", "register"):
        done = cli(step, "--config", str(config))
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr
        if step == "tune":
            tuned = done.stdout
    (folder,) = (state / "tuning").iterdir()
    document = json.loads((folder / "trials.json").read_text())
    trials = document["trials"]
    assert len(trials) == 3 and {t["status"] for t in trials} == {"Completed"}
    for trial in trials:
        assert trial["job_name"].startswith(f"{folder.name}-")
        assert 1 <= int(trial["hyperparameters"]["max_depth"]) <= 4
        assert trial["objective_value"] == trial["metrics"][METRIC]
        assert f"{trial['job_name']}: " in tuned  # progress named by trial
    best = next(t for t in trials if t["job_name"] == document["best_job_name"])
    assert best["objective_value"] == max(t["objective_value"] for t in trials)
    assert "at most 2 at a time" in tuned and "(best)" in tuned
    assert "<svg" in (folder / "report.html").read_text()

    registry = LocalRegistry(state)
    (version,) = registry.list("penguins-species")
    registry.close()
    assert version.lineage["run_id"] == best["job_name"]
    assert version.model_artifact == best["model_artifact"]
    lineage = version.lineage["tuning_job"]
    assert lineage["name"] == folder.name
    assert lineage["best_training_job"] == best["job_name"]
    assert [(t["training_job"], t["objective_value"]) for t in lineage["trials"]] == [
        (t["job_name"], t["objective_value"]) for t in trials
    ]
    assert lineage["trials"][0]["hyperparameters"] == trials[0]["hyperparameters"]

    with sqlite3.connect(state / "state.sqlite") as db:
        kinds = [k for (k,) in db.execute("SELECT kind FROM local_jobs")]
    db.close()
    assert kinds.count("hyper-parameter-tuning-job") == 1
    assert kinds.count("training-job") == 3
    assert project_containers(docker_client, state) == []

    # MLflow shows the tuning job with its trials nested, and their artifacts.
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{store}")
    experiment = client.get_experiment_by_name("e2e")
    runs = client.search_runs([experiment.experiment_id])
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    (parent,) = parents
    children = [
        r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id
    ]
    assert sorted(r.info.run_name for r in children) == sorted(
        t["job_name"] for t in trials
    )
    for child in children:
        trial = next(t for t in trials if t["job_name"] == child.info.run_name)
        assert child.data.metrics[METRIC] == trial["metrics"][METRIC]
        assert child.data.params["max_depth"] == trial["hyperparameters"]["max_depth"]
        artifacts = {
            a.path
            for folder in client.list_artifacts(child.info.run_id)
            for a in (
                client.list_artifacts(child.info.run_id, folder.path)
                if folder.is_dir
                else [folder]
            )
        }
        assert any(path.endswith("model.json") for path in artifacts), artifacts

import dataclasses
import sqlite3

import pytest

from orchestration.store import DB_FILE
from orchestration.tracking import (
    Run,
    RunNotFound,
    Tracker,
    TuningJobRecord,
    code_revision,
    compare,
    tuning_lineage,
)


def run(run_id, n_estimators, accuracy, data="abc"):
    return Run(
        run_id=run_id,
        project="p",
        job_name=run_id,
        backend="local",
        status="Completed",
        started_at=f"2026-01-01T00:00:0{run_id[-1]}Z",
        duration_seconds=3.5,
        hyperparameters={"n_estimators": n_estimators, "target": "species"},
        metrics={"validation:accuracy": accuracy},
        data_hashes={"train": data},
        image="img",
        image_digest="sha256:1",
        code_revision="deadbeef",
        model_artifact="/m.tar.gz",
    )


def test_runs_are_recorded_with_everything_and_survive_reopening(tmp_path):
    tracker = Tracker(tmp_path)
    tracker.record(run("r1", "10", 0.9))
    tracker.record(run("r2", "100", 0.97))
    tracker.close()
    again = Tracker(tmp_path)
    runs = again.list("p")
    assert [r.run_id for r in runs] == ["r1", "r2"]
    assert runs[1] == run("r2", "100", 0.97)
    assert again.latest("p").run_id == "r2"
    with pytest.raises(RunNotFound, match="runs list"):
        again.get("nope")


def test_compare_shows_what_differs():
    table = compare([run("r1", "10", 0.9), run("r2", "100", 0.97, data="xyz")])
    assert table["differing_hyperparameters"] == ["n_estimators"]
    assert table["metrics"]["validation:accuracy"] == [0.9, 0.97]
    assert table["data_changed"] is True


def test_code_revision_is_a_git_commit():
    revision = code_revision()
    assert revision is not None and len(revision.split("-")[0]) == 40


OLD_RUNS_TABLE = """
CREATE TABLE runs (
    run_id TEXT PRIMARY KEY, project TEXT NOT NULL, job_name TEXT NOT NULL,
    backend TEXT NOT NULL, status TEXT NOT NULL, started_at TEXT NOT NULL,
    duration_seconds REAL, hyperparameters TEXT NOT NULL, metrics TEXT NOT NULL,
    data_hashes TEXT NOT NULL, image TEXT, image_digest TEXT, code_revision TEXT,
    model_artifact TEXT, failure_reason TEXT
);
INSERT INTO runs VALUES ('old', 'p', 'old', 'local', 'Completed',
    '2025-01-01T00:00:00Z', 1.0, '{}', '{}', '{}', NULL, NULL, NULL, NULL, NULL);
"""


def test_a_store_from_before_tuning_gets_the_tuning_job_column(tmp_path):
    with sqlite3.connect(tmp_path / DB_FILE) as conn:
        conn.executescript(OLD_RUNS_TABLE)
    conn.close()
    tracker = Tracker(tmp_path)
    assert tracker.get("old").tuning_job is None  # older runs: no tuning job
    trial = dataclasses.replace(run("t1", "10", 0.9), tuning_job="tune-1")
    tracker.record(trial)
    assert tracker.trials("tune-1") == [trial]
    assert tracker.get("old").mlflow_run_id is None  # nor an MLflow run
    tracker.set_mlflow_run("old", "0123abcd")
    assert tracker.get("old").mlflow_run_id == "0123abcd"
    tracker.close()
    Tracker(tmp_path).close()  # opening it again adds nothing twice


def test_a_trials_lineage_names_its_tuning_job_and_every_trial(tmp_path):
    tracker = Tracker(tmp_path)
    trials = [
        dataclasses.replace(run(f"t{i}", str(n), acc), tuning_job="tune-1")
        for i, (n, acc) in enumerate([("10", 0.9), ("50", 0.95)], 1)
    ]
    for trial in trials:
        tracker.record(trial)
    tracker.record_tuning_job(
        TuningJobRecord(
            "tune-1",
            "p",
            "local",
            "Completed",
            "2026-01-01T00:00:00Z",
            "Random",
            "validation:accuracy",
            "Maximize",
            ("n_estimators",),
            best_run="t2",
        )
    )
    assert tuning_lineage(tracker, run("r1", "10", 0.9)) is None  # no trial
    lineage = tuning_lineage(tracker, trials[1])
    assert lineage["best_training_job"] == "t2"
    assert lineage["trials"] == [
        {
            "training_job": "t1",
            "status": "Completed",
            "hyperparameters": {"n_estimators": "10"},
            "objective_value": 0.9,
        },
        {
            "training_job": "t2",
            "status": "Completed",
            "hyperparameters": {"n_estimators": "50"},
            "objective_value": 0.95,
        },
    ]
    tracker.close()

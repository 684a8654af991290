"""Experiment tracking: every training run, with what went in and what came out.

A run records hyperparameters, metrics, data hashes, the image and its digest,
the code revision, duration and status, in the project's SQLite state
database: the record every step reads, with no server. When the config sets
`tracking.mlflow_uri`, each run is also logged to MLflow
(`orchestration.mlflow_runs`), and the MLflow run's id is kept here.

A trial of a hyperparameter tuning job is a run like any other, naming its
tuning job; the tuning job itself (strategy, objective, best run) is a row of
its own, so a model version trained by a trial can carry the whole search in
its lineage (`tuning_lineage`).
"""

from __future__ import annotations

import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from container.contract.errors import ByocError
from orchestration import store
from orchestration.config import REPO_ROOT

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    project TEXT NOT NULL,
    job_name TEXT NOT NULL,
    backend TEXT NOT NULL,
    status TEXT NOT NULL,
    started_at TEXT NOT NULL,
    duration_seconds REAL,
    hyperparameters TEXT NOT NULL,
    metrics TEXT NOT NULL,
    data_hashes TEXT NOT NULL,
    image TEXT,
    image_digest TEXT,
    code_revision TEXT,
    model_artifact TEXT,
    failure_reason TEXT,
    tuning_job TEXT,
    mlflow_run_id TEXT
);
CREATE TABLE IF NOT EXISTS tuning_jobs (
    tuning_job TEXT PRIMARY KEY,
    project TEXT NOT NULL,
    backend TEXT NOT NULL,
    status TEXT NOT NULL,
    started_at TEXT NOT NULL,
    strategy TEXT NOT NULL,
    objective_metric TEXT NOT NULL,
    objective_type TEXT NOT NULL,
    searched TEXT NOT NULL,
    best_run TEXT,
    failure_reason TEXT
);
"""
# Columns added since the table was first made: a database an older version
# of this module created gets them on opening, its runs with NULL.
ADDED_COLUMNS = {"tuning_job": "TEXT", "mlflow_run_id": "TEXT"}


class RunNotFound(ByocError):
    status_code = 404
    code = "run_not_found"


@dataclass(frozen=True)
class TuningJobRecord:
    """A tuning job as tracked: its search, and the run it found best."""

    tuning_job: str
    project: str
    backend: str
    status: str
    started_at: str
    strategy: str
    objective_metric: str
    objective_type: str
    searched: tuple[str, ...]  # the hyperparameters its ranges searched
    best_run: str | None = None
    failure_reason: str | None = None


@dataclass(frozen=True)
class Run:
    run_id: str
    project: str
    job_name: str
    backend: str
    status: str
    started_at: str
    duration_seconds: float | None
    hyperparameters: dict[str, str]
    metrics: dict[str, float]
    data_hashes: dict[str, str]
    image: str | None = None
    image_digest: str | None = None
    code_revision: str | None = None
    model_artifact: str | None = None
    failure_reason: str | None = None
    tuning_job: str | None = None  # the tuning job this run is a trial of
    mlflow_run_id: str | None = None  # where it was also logged (`tracking:`)
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.pop("extra")
        return out


def code_revision(repo: Path = REPO_ROOT) -> str | None:
    """The git commit the code came from, marked -dirty when it has local changes."""
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=repo,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=repo,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{rev}-dirty" if dirty.strip() else rev


class Tracker:
    """Runs in <state_dir>/state.sqlite."""

    def __init__(self, state_dir: Path):
        self.conn = store.connect(state_dir, SCHEMA)
        # In a transaction: two processes opening an older database add each
        # column once.
        with store.transaction(self.conn) as conn:
            have = {r["name"] for r in conn.execute("PRAGMA table_info(runs)")}
            for column, declaration in ADDED_COLUMNS.items():
                if column not in have:
                    conn.execute(f"ALTER TABLE runs ADD COLUMN {column} {declaration}")

    def record(self, run: Run) -> Run:
        row = run.to_dict()
        for key in ("hyperparameters", "metrics", "data_hashes"):
            row[key] = store.dumps(row[key])
        columns = ", ".join(row)
        marks = ", ".join(f":{k}" for k in row)
        with store.transaction(self.conn) as conn:
            conn.execute(
                f"INSERT OR REPLACE INTO runs ({columns}) VALUES ({marks})", row
            )
        return run

    def set_mlflow_run(self, run_id: str, mlflow_run_id: str) -> None:
        """Keep the MLflow run a recorded run was logged as."""
        with store.transaction(self.conn) as conn:
            conn.execute(
                "UPDATE runs SET mlflow_run_id = ? WHERE run_id = ?",
                (mlflow_run_id, run_id),
            )

    def get(self, run_id: str) -> Run:
        row = self.conn.execute(
            "SELECT * FROM runs WHERE run_id = ?", (run_id,)
        ).fetchone()
        if row is None:
            raise RunNotFound(f"no run {run_id!r}: `runs list` shows the recorded runs")
        return _run(row)

    def list(self, project: str | None = None) -> list[Run]:
        query = "SELECT * FROM runs"
        args: tuple = ()
        if project:
            query += " WHERE project = ?"
            args = (project,)
        return [
            _run(r)
            for r in self.conn.execute(query + " ORDER BY started_at, rowid", args)
        ]

    def latest(self, project: str, status: str | None = "Completed") -> Run | None:
        runs = [r for r in self.list(project) if status is None or r.status == status]
        return runs[-1] if runs else None

    def record_tuning_job(self, job: TuningJobRecord) -> TuningJobRecord:
        row = asdict(job)
        row["searched"] = store.dumps(list(job.searched))
        columns = ", ".join(row)
        marks = ", ".join(f":{k}" for k in row)
        with store.transaction(self.conn) as conn:
            conn.execute(
                f"INSERT OR REPLACE INTO tuning_jobs ({columns}) VALUES ({marks})", row
            )
        return job

    def tuning_job(self, name: str) -> TuningJobRecord | None:
        row = self.conn.execute(
            "SELECT * FROM tuning_jobs WHERE tuning_job = ?", (name,)
        ).fetchone()
        if row is None:
            return None
        data = dict(row)
        data["searched"] = tuple(store.loads(data["searched"]) or ())
        return TuningJobRecord(**data)

    def trials(self, tuning_job: str) -> list[Run]:
        """The runs of a tuning job's trials, in the order they were recorded."""
        rows = self.conn.execute(
            "SELECT * FROM runs WHERE tuning_job = ? ORDER BY rowid", (tuning_job,)
        )
        return [_run(r) for r in rows]

    def close(self) -> None:
        self.conn.close()


def _run(row) -> Run:
    data = dict(row)
    for key in ("hyperparameters", "metrics", "data_hashes"):
        data[key] = store.loads(data[key])
    return Run(**data)


def tuning_lineage(tracker: Tracker, run: Run) -> dict[str, Any] | None:
    """The tuning job `run` is a trial of, with every trial, for a version's lineage.

    Each trial: its training job, status, searched hyperparameters and
    objective value. None when `run` is no trial.
    """
    if not run.tuning_job:
        return None
    job = tracker.tuning_job(run.tuning_job)
    if job is None:
        return {"name": run.tuning_job}
    return {
        "name": job.tuning_job,
        "strategy": job.strategy,
        "objective_metric": job.objective_metric,
        "objective_type": job.objective_type,
        "best_training_job": job.best_run,
        "trials": [
            {
                "training_job": trial.job_name,
                "status": trial.status,
                "hyperparameters": {
                    k: trial.hyperparameters.get(k) for k in job.searched
                },
                "objective_value": trial.metrics.get(job.objective_metric),
            }
            for trial in tracker.trials(job.tuning_job)
        ],
    }


def compare(runs: list[Run]) -> dict[str, Any]:
    """Side by side: hyperparameters and metrics that differ, and all metrics."""
    hp_keys = sorted({k for r in runs for k in r.hyperparameters})
    metric_keys = sorted({k for r in runs for k in r.metrics})
    differing = [
        k for k in hp_keys if len({r.hyperparameters.get(k) for r in runs}) > 1
    ]
    return {
        "runs": [r.run_id for r in runs],
        "hyperparameters": {
            k: [r.hyperparameters.get(k) for r in runs] for k in hp_keys
        },
        "differing_hyperparameters": differing,
        "metrics": {k: [r.metrics.get(k) for r in runs] for k in metric_keys},
        "data_changed": len({store.dumps(r.data_hashes) for r in runs}) > 1,
        "status": [r.status for r in runs],
    }

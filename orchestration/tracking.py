"""Experiment tracking: every training run, with what went in and what came out.

A run records hyperparameters, metrics, data hashes, the image and its digest,
the code revision, duration and status, in the project's SQLite state
database. MLflow would add a server or a file store and a dependency for what
is here one table and two queries; runs can still be exported as JSON.
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
    failure_reason TEXT
);
"""


class RunNotFound(ByocError):
    status_code = 404
    code = "run_not_found"


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

    def close(self) -> None:
        self.conn.close()


def _run(row) -> Run:
    data = dict(row)
    for key in ("hyperparameters", "metrics", "data_hashes"):
        data[key] = store.loads(data[key])
    return Run(**data)


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

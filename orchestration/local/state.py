"""The local backend's jobs and endpoints, in the project's SQLite state database.

Every container the backend starts is recorded here (by id) before it runs,
so a CLI that crashed or was interrupted can still find and remove it, and
`status` after a restart shows what is running.

One `LocalState` may be used from several threads (a tuning job's trials run
side by side): its one connection is used by one thread at a time, under a
lock, so no two threads' transactions interleave.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orchestration import store
from orchestration.backends.base import (
    CREATING,
    FAILED,
    IN_PROGRESS,
    STOPPED,
    BackendError,
)
from orchestration.times import utc_now

# Why a job ended when its command was interrupted (Ctrl-C), as SageMaker
# reports a job stopped on request.
STOPPED_BY_USER = "stopped by the user"

SCHEMA = """
CREATE TABLE IF NOT EXISTS local_jobs (
    job_name TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    status TEXT NOT NULL,
    container_id TEXT,
    started_at TEXT NOT NULL,
    ended_at TEXT,
    spec TEXT NOT NULL,
    result TEXT
);
CREATE TABLE IF NOT EXISTS local_endpoints (
    endpoint_name TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    container_id TEXT,
    url TEXT,
    model_name TEXT,
    model_artifact TEXT,
    capture_destination TEXT,
    failure_reason TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
"""


@dataclass(frozen=True)
class EndpointRecord:
    endpoint_name: str
    status: str
    container_id: str | None
    url: str | None
    model_name: str | None
    model_artifact: str | None
    capture_destination: str | None
    failure_reason: str | None
    created_at: str
    updated_at: str


class LocalState:
    def __init__(self, state_dir: Path):
        self.conn = store.connect(state_dir, SCHEMA, any_thread=True)
        # Reentrant: `save_endpoint` reads the endpoint it writes.
        self._lock = threading.RLock()

    # --- jobs ------------------------------------------------------------
    def job_exists(self, job_name: str) -> bool:
        return bool(self._read("SELECT 1 FROM local_jobs WHERE job_name = ?", job_name))

    @contextmanager
    def recording_job(
        self, job_name: str, kind: str, spec: dict[str, Any]
    ) -> Iterator[None]:
        """Record a job from its start; if it raises, it ends Failed (Stopped on Ctrl-C).

        The block records the job's own end with `finish_job`. Job names are
        unique, as on SageMaker: a name used before is refused.
        """
        if self.job_exists(job_name):
            raise BackendError(
                f"a job named {job_name!r} already exists: job names must be unique, as on SageMaker"
            )
        self.start_job(job_name, kind, spec)
        try:
            yield
        except KeyboardInterrupt:
            self.finish_job(job_name, STOPPED, {"failure_reason": STOPPED_BY_USER})
            raise
        except BaseException as exc:
            reason = str(exc) or type(exc).__name__
            self.finish_job(job_name, FAILED, {"failure_reason": reason})
            raise

    def start_job(self, job_name: str, kind: str, spec: dict[str, Any]) -> None:
        with self._writing() as conn:
            conn.execute(
                "INSERT INTO local_jobs (job_name, kind, status, started_at, spec) "
                "VALUES (?, ?, ?, ?, ?)",
                (job_name, kind, IN_PROGRESS, utc_now(), store.dumps(spec)),
            )

    def set_job_container(self, job_name: str, container_id: str) -> None:
        with self._writing() as conn:
            conn.execute(
                "UPDATE local_jobs SET container_id = ? WHERE job_name = ?",
                (container_id, job_name),
            )

    def finish_job(self, job_name: str, status: str, result: dict[str, Any]) -> None:
        with self._writing() as conn:
            conn.execute(
                "UPDATE local_jobs SET status = ?, ended_at = ?, result = ?, "
                "container_id = NULL WHERE job_name = ?",
                (status, utc_now(), store.dumps(result), job_name),
            )

    def job(self, job_name: str) -> dict[str, Any] | None:
        """One job's record (as `jobs` gives them), or None."""
        rows = self._read("SELECT * FROM local_jobs WHERE job_name = ?", job_name)
        return _job(rows[0]) if rows else None

    def jobs(self) -> list[dict[str, Any]]:
        rows = self._read("SELECT * FROM local_jobs ORDER BY started_at, rowid")
        return [_job(row) for row in rows]

    # --- endpoints ---------------------------------------------------------
    def endpoint(self, name: str) -> EndpointRecord | None:
        rows = self._read("SELECT * FROM local_endpoints WHERE endpoint_name = ?", name)
        return EndpointRecord(**dict(rows[0])) if rows else None

    def endpoints(self) -> list[EndpointRecord]:
        rows = self._read("SELECT * FROM local_endpoints ORDER BY created_at")
        return [EndpointRecord(**dict(r)) for r in rows]

    def save_endpoint(self, name: str, **values: Any) -> EndpointRecord:
        now = utc_now()
        with self._writing() as conn:
            current = self.endpoint(name)
            if current is None:
                conn.execute(
                    "INSERT INTO local_endpoints (endpoint_name, status, created_at, "
                    "updated_at) VALUES (?, ?, ?, ?)",
                    (name, CREATING, now, now),
                )
            sets = ", ".join(f"{k} = ?" for k in values)
            conn.execute(
                f"UPDATE local_endpoints SET {sets}, updated_at = ? "
                "WHERE endpoint_name = ?",
                (*values.values(), now, name),
            )
        record = self.endpoint(name)
        assert record is not None
        return record

    def delete_endpoint(self, name: str) -> None:
        with self._writing() as conn:
            conn.execute("DELETE FROM local_endpoints WHERE endpoint_name = ?", (name,))

    # --- one thread at a time on the connection ----------------------------
    def _read(self, sql: str, *args: Any) -> list[sqlite3.Row]:
        with self._lock:
            return self.conn.execute(sql, args).fetchall()

    @contextmanager
    def _writing(self) -> Iterator[sqlite3.Connection]:
        with self._lock, store.transaction(self.conn) as conn:
            yield conn

    def close(self) -> None:
        with self._lock:
            self.conn.close()


def _job(row: sqlite3.Row) -> dict[str, Any]:
    item = dict(row)
    item["spec"] = store.loads(item["spec"])
    item["result"] = store.loads(item["result"])
    return item

"""The local backend's jobs and endpoints, in the project's SQLite state database.

Every container the backend starts is recorded here (by id) before it runs,
so a CLI that crashed or was interrupted can still find and remove it, and
`status` after a restart shows what is running.
"""

from __future__ import annotations

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
        self.conn = store.connect(state_dir, SCHEMA)

    # --- jobs ------------------------------------------------------------
    def job_exists(self, job_name: str) -> bool:
        row = self.conn.execute(
            "SELECT 1 FROM local_jobs WHERE job_name = ?", (job_name,)
        ).fetchone()
        return row is not None

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
        with store.transaction(self.conn) as conn:
            conn.execute(
                "INSERT INTO local_jobs (job_name, kind, status, started_at, spec) "
                "VALUES (?, ?, ?, ?, ?)",
                (job_name, kind, IN_PROGRESS, utc_now(), store.dumps(spec)),
            )

    def set_job_container(self, job_name: str, container_id: str) -> None:
        with store.transaction(self.conn) as conn:
            conn.execute(
                "UPDATE local_jobs SET container_id = ? WHERE job_name = ?",
                (container_id, job_name),
            )

    def finish_job(self, job_name: str, status: str, result: dict[str, Any]) -> None:
        with store.transaction(self.conn) as conn:
            conn.execute(
                "UPDATE local_jobs SET status = ?, ended_at = ?, result = ?, "
                "container_id = NULL WHERE job_name = ?",
                (status, utc_now(), store.dumps(result), job_name),
            )

    def jobs(self) -> list[dict[str, Any]]:
        rows = self.conn.execute("SELECT * FROM local_jobs ORDER BY started_at, rowid")
        out = []
        for row in rows:
            item = dict(row)
            item["spec"] = store.loads(item["spec"])
            item["result"] = store.loads(item["result"])
            out.append(item)
        return out

    # --- endpoints ---------------------------------------------------------
    def endpoint(self, name: str) -> EndpointRecord | None:
        row = self.conn.execute(
            "SELECT * FROM local_endpoints WHERE endpoint_name = ?", (name,)
        ).fetchone()
        return EndpointRecord(**dict(row)) if row else None

    def endpoints(self) -> list[EndpointRecord]:
        rows = self.conn.execute("SELECT * FROM local_endpoints ORDER BY created_at")
        return [EndpointRecord(**dict(r)) for r in rows]

    def save_endpoint(self, name: str, **values: Any) -> EndpointRecord:
        now = utc_now()
        current = self.endpoint(name)
        with store.transaction(self.conn) as conn:
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
        with store.transaction(self.conn) as conn:
            conn.execute("DELETE FROM local_endpoints WHERE endpoint_name = ?", (name,))

    def close(self) -> None:
        self.conn.close()

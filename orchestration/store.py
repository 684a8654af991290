"""The project state folder's embedded database (SQLite), shared by local modules.

Runs, model versions and the local backend's jobs and endpoints live in one
file, ``<state_dir>/state.sqlite``, so they survive a restart of the CLI and
can be inspected with any SQLite tool. Each module creates its own tables.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

DB_FILE = "state.sqlite"


def connect(
    state_dir: Path, schema_sql: str, any_thread: bool = False
) -> sqlite3.Connection:
    """Open (and create if needed) the state database with the given tables.

    A connection serves the thread that opened it, unless `any_thread`: the
    caller then lets one thread use it at a time (a lock around each use).
    """
    state_dir = Path(state_dir)
    state_dir.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(
        state_dir / DB_FILE,
        timeout=30,
        isolation_level=None,
        check_same_thread=not any_thread,
    )
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA journal_mode=WAL")
    conn.executescript(schema_sql)
    return conn


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """All-or-nothing writes: a failure rolls back, so no half-recorded state."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def loads(text: str | None) -> Any:
    return json.loads(text) if text else {}

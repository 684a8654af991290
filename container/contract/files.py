"""Whole-or-nothing file writes: a reader sees the old file or the new one, never half.

Every file a command publishes (the model bundle, metrics, statistics,
violations, reports, status files) is written to a temporary file beside it,
flushed to disk, and renamed over the target. A command that dies mid-write
leaves at most a ``.<name>.*`` temporary file, which the bundle cleanup removes.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

# mkstemp creates 0600 files; a server running as another (non-root) user must
# still read what a job wrote.
FILE_MODE = 0o644


def temporary_prefix(path: Path) -> str:
    """The name prefix of `path`'s temporary files (``.model.joblib.`` ...)."""
    return f".{path.name}."


def write_atomic(path: Path, content: bytes | str | Callable[[IO[bytes]], Any]) -> None:
    """Write bytes, UTF-8 text, or what a function writes to the open file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=temporary_prefix(path), dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            if callable(content):
                content(fh)
            else:
                fh.write(
                    content.encode("utf-8") if isinstance(content, str) else content
                )
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, FILE_MODE)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(
    path: Path, document: Any, default: Callable[[Any], Any] | None = None
) -> None:
    """`document` as indented JSON and a final newline, atomically.

    `default` renders values JSON has no type for (the manifest records some
    estimator parameters by their text); without it such a value is an error.
    """
    write_atomic(path, json.dumps(document, indent=2, default=default) + "\n")

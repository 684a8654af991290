"""State files: written whole or not at all, changed by one command at a time.

`replacing` gives a temporary path beside a target that takes the target's
place only when the block ends without error, so a reader sees the old
content or the new, never half of it (the lifecycle state, model.tar.gz, a
downloaded report). `exclusive` holds a lock file of the state folder for
the length of a step that must not run twice at once (deploy, teardown): a
second command waits for the first instead of racing it.
"""

from __future__ import annotations

import fcntl
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

LOCK_FILE = ".lock"


@contextmanager
def replacing(target: Path) -> Iterator[Path]:
    """A temporary path beside `target`, moved over it if the block succeeds."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text(target: Path, text: str) -> Path:
    with replacing(target) as tmp:
        tmp.write_text(text)
    return Path(target)


def write_json(target: Path, data: Any) -> Path:
    return write_text(target, json.dumps(data, indent=2, default=str))


@contextmanager
def exclusive(
    state_dir: Path, what: str, say: Callable[[str], None] = print
) -> Iterator[None]:
    """Hold the state folder's lock while `what` runs; wait if another command has it.

    An advisory lock (flock) on <state_dir>/.lock: the operating system
    releases it when the holder exits, even killed, so it never goes stale.
    """
    path = Path(state_dir) / LOCK_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.seek(0)
            holder = lock.read().strip() or "another command"
            say(f"waiting for {holder} on {state_dir} to finish before {what}")
            fcntl.flock(lock, fcntl.LOCK_EX)
        lock.seek(0)
        lock.truncate()
        lock.write(f"{what} (pid {os.getpid()})")
        lock.flush()
        try:
            yield
        finally:
            lock.truncate(0)
            fcntl.flock(lock, fcntl.LOCK_UN)

"""The one job shell of `train`, `baseline` and `monitor`.

A job is a function that does the work and returns its success message (or
None). `run` turns everything else into what SageMaker shows a user:

- /opt/ml/output/failure: the reason, as one line of at most 1024 characters
  (and 1024 UTF-8 bytes, so no reader's cut splits a character); a longer
  reason is cut at a character boundary and ends with " ...". SageMaker
  keeps the first 1024 characters as the job's FailureReason.
- /opt/ml/output/message (processing jobs): the success message, or
  ``Failed: <reason>``, under the same rule; it becomes the exit message.
- one ``[<job>] FAILED: <reason>`` line on stderr (plus the traceback, for a
  bug only), and the exit code: 0 done, 1 failed, 130 SIGINT, 143 SIGTERM.

SIGTERM (StopTrainingJob, StopProcessingJob, MaxRuntimeInSeconds) makes the
main thread unwind through `JobStopped` at its next Python instruction. A
watcher thread hears it too, so a main thread stuck in native code cannot
hide it: if the main thread has not finished within STOP_DEADLINE_SECONDS,
the watcher cleans up, writes the failure file and exits the process itself,
inside SageMaker's 120 s before SIGKILL.
"""

from __future__ import annotations

import os
import select
import signal
import sys
import threading
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from container.contract.errors import ByocError
from container.contract.files import write_atomic
from container.contract.paths import OptMl

STATUS_LIMIT = 1024
CUT_MARK = " ..."
EXIT_OK = 0
EXIT_FAILED = 1
EXIT_INTERRUPTED = 128 + signal.SIGINT
EXIT_STOPPED = 128 + signal.SIGTERM  # what a shell reports for a SIGTERM-ed process
# SageMaker sends SIGKILL 120 s after SIGTERM; if the work has not given control
# back by then, clean up from the watcher thread and exit anyway.
STOP_DEADLINE_SECONDS = 90.0
# How long the watcher waits for outputs being published before removing them.
PUBLISH_WAIT_SECONDS = 10.0


class JobStopped(BaseException):
    """SIGTERM arrived: unwind (a BaseException: `except Exception` cannot eat it)."""


@dataclass
class Job:
    """What the shell needs to know about one kind of job."""

    name: str  # train | baseline | monitor: prefixes the log lines
    opt_ml: OptMl
    activity: str  # "training", "profiling the baseline", ...: for internal errors
    stopped_reason: str
    out_of_memory_reason: str
    # Processing jobs report through /opt/ml/output/message too.
    writes_message: bool = False
    # Removes partial outputs after a failure (training: the bundle).
    cleanup: Callable[[], None] = field(default=lambda: None)

    def log(self, message: str) -> None:
        logger(self.name)(message)


def logger(name: str) -> Callable[[str], None]:
    """A function writing ``[<name>] <message>`` lines to stderr, the job log."""

    def log(message: str) -> None:
        print(f"[{name}] {message}", file=sys.stderr, flush=True)

    return log


# --- status files ------------------------------------------------------------------
def status_line(text: str, limit: int = STATUS_LIMIT) -> str:
    """`text` as one line of at most `limit` characters and `limit` UTF-8 bytes."""
    line = " ".join(text.split())
    if len(line.encode("utf-8")) <= limit:
        return line
    budget = limit - len(CUT_MARK)
    cut = line.encode("utf-8")[:budget].decode("utf-8", errors="ignore")
    return cut.rstrip() + CUT_MARK


def write_failure(job: Job, reason: str) -> None:
    line = status_line(reason)
    write_atomic(job.opt_ml.failure_file, line)
    if job.writes_message:
        write_atomic(job.opt_ml.message_file, status_line(f"Failed: {line}"))


def write_message(job: Job, message: str) -> None:
    write_atomic(job.opt_ml.message_file, status_line(message))


# --- stopping on SIGTERM ----------------------------------------------------------
class StopGuard:
    """Turns SIGTERM into `JobStopped` in the main thread, with a hard deadline.

    Python runs signal handlers in the main thread only, between bytecodes; a
    main thread inside a long native call (a C-level fit) would not see the
    signal until it returns. So the signal also reaches a watcher thread,
    through the wakeup file descriptor Python writes the signal number to
    whichever thread the kernel picked (threads started by native libraries
    at import time included), and the watcher enforces the deadline.
    """

    def __init__(self, job: Job):
        self.job = job
        self.stopping = threading.Event()
        self.finished = threading.Event()
        # Held while outputs are published, so the watcher never removes half.
        self._publish_lock = threading.Lock()

    @contextmanager
    def publishing(self) -> Iterator[None]:
        """Hold off the watcher's cleanup while the job writes its results."""
        with self._publish_lock:
            if self.stopping.is_set():
                raise JobStopped()
            yield

    def _on_sigterm(self, signum: int, frame: Any) -> None:
        # Once is enough: a second SIGTERM must not interrupt the cleanup.
        if self.stopping.is_set() or self.finished.is_set():
            return
        self.stopping.set()
        raise JobStopped()

    def _watch(self, wakeup: int) -> None:
        while not self.finished.is_set():
            if not select.select([wakeup], [], [], 0.2)[0]:
                continue
            try:
                received = os.read(wakeup, 64)
            except BlockingIOError:
                continue
            if signal.SIGTERM not in received:
                continue
            self.job.log("SIGTERM received: stopping")
            self.stopping.set()
            if self.finished.wait(STOP_DEADLINE_SECONDS):
                return
            self._publish_lock.acquire(timeout=PUBLISH_WAIT_SECONDS)
            _fail(self.job, self.job.stopped_reason)
            os._exit(EXIT_STOPPED)

    @contextmanager
    def installed(self) -> Iterator[StopGuard]:
        if threading.current_thread() is not threading.main_thread():
            yield self  # signals can only be handled from the main thread
            return
        wakeup, notify = os.pipe()
        os.set_blocking(wakeup, False)
        os.set_blocking(notify, False)
        previous_handler = signal.signal(signal.SIGTERM, self._on_sigterm)
        previous_fd = signal.set_wakeup_fd(notify, warn_on_full_buffer=False)
        watcher = threading.Thread(
            target=self._watch, args=(wakeup,), name="sigterm-watch", daemon=True
        )
        watcher.start()
        try:
            yield self
        finally:
            self.finished.set()
            watcher.join()
            signal.set_wakeup_fd(previous_fd)
            signal.signal(signal.SIGTERM, previous_handler)
            os.close(wakeup)
            os.close(notify)


# --- the shell ---------------------------------------------------------------------
def run(job: Job, work: Callable[[StopGuard], str | None]) -> int:
    """Run `work`; its message (if any) is printed and, for processing jobs, kept."""
    for stale in (job.opt_ml.failure_file, job.opt_ml.message_file):
        stale.unlink(missing_ok=True)  # left by an earlier run in the same folder
    guard = StopGuard(job)
    with guard.installed():
        try:
            message = work(guard)
        except JobStopped:
            return _fail(job, job.stopped_reason, EXIT_STOPPED)
        except KeyboardInterrupt:
            return _fail(
                job, f"Interrupted (SIGINT) while {job.activity}.", EXIT_INTERRUPTED
            )
        except ByocError as exc:
            return _fail(job, exc.message)
        except MemoryError:
            traceback.print_exc(file=sys.stderr)
            return _fail(job, job.out_of_memory_reason)
        except Exception as exc:  # noqa: BLE001 - the edge: anything else is reported
            traceback.print_exc(file=sys.stderr)
            return _fail(job, internal_error_reason(job, exc))
        finally:
            guard.finished.set()
    if message is not None:
        if job.writes_message:
            write_message(job, message)
        print(message, flush=True)
    return EXIT_OK


def internal_error_reason(job: Job, exc: BaseException) -> str:
    return (
        f"Internal error while {job.activity}: {type(exc).__name__}: {exc}. "
        "The job log holds the traceback."
    )


def _fail(job: Job, reason: str, code: int = EXIT_FAILED) -> int:
    try:
        job.cleanup()
    finally:
        try:
            write_failure(job, reason)
        except OSError:
            pass  # the stderr line below still tells the user
        job.log(f"FAILED: {status_line(reason)}")
    return code

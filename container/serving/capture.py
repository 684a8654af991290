"""Data capture in SageMaker's JSON Lines layout, written by the server itself.

On AWS the platform captures; locally the server does, in the same format, so
the `monitor` job reads both alike:

    {destination}/{endpoint}/{variant}/yyyy/mm/dd/hh/MM-SS-mmm-<uuid>.jsonl

(hour folder in UTC), one JSON object per line (see
shared reference model-monitor.md, section 1).

Why it is safe with several gunicorn workers and on SIGTERM:

- each worker process writes its own file (the writer notices a fork by its
  process id and opens a new file), so records of different workers never
  share a file, let alone a line;
- each record is one ``os.write`` of one whole line on an ``O_APPEND`` file
  descriptor, with no user-space buffer: once `record` returns, the record is
  in the kernel, and a worker that exits (gracefully or not) loses nothing;
- a lock orders writes and hour rotation between threads of one worker;
- a record is written whole or not at all: the writer knows where its file's
  last whole record ends, and when a write fails or stops short (a full disk:
  ENOSPC, EDQUOT; EIO) it truncates the file back to that offset, so the file
  always ends at a line boundary and the next record does not land glued to
  half a line. If the truncation fails too, the file is abandoned and the next
  record starts a new one: nothing is ever appended after a partial line.

A capture failure is never turned into a failed invocation: the caller's
prediction is still right. The record is dropped and counted: the first drop
is logged on stderr, later ones in one summary line at most every
`SUMMARY_SECONDS` and on close, and each capture file's drops are kept in its
sidecar (container.contract.capture_drops), which `monitor` reads. The sidecar
is created with a fixed size when its capture file is opened and later
overwritten in place, so it can be updated on a disk that has since filled.
"""

from __future__ import annotations

import errno
import json
import os
import random
import sys
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from container.contract.capture_drops import DropCounts, sidecar_name
from container.contract.codecs import capture_text
from container.contract.settings import CaptureSettings

EVENT_VERSION = "0"
# At most one stderr line about dropped records per this many seconds.
SUMMARY_SECONDS = 10.0


def utc_now() -> datetime:
    return datetime.now(UTC)


def hour_folder(root: Path, settings: CaptureSettings, when: datetime) -> Path:
    """Where records captured at `when` (UTC) belong."""
    when = when.astimezone(UTC)
    return (
        root
        / settings.endpoint_name
        / settings.variant_name
        / f"{when:%Y}"
        / f"{when:%m}"
        / f"{when:%d}"
        / f"{when:%H}"
    )


def capture_record(
    settings: CaptureSettings,
    request_body: bytes,
    request_content_type: str | None,
    response_body: bytes,
    response_content_type: str,
    when: datetime,
    inference_id: str | None = None,
    event_id: str | None = None,
) -> dict:
    """One capture record, in SageMaker's format (``data`` is always a string)."""
    capture: dict = {}
    if settings.capture_input:
        data, encoding = capture_text(
            request_body,
            request_content_type,
            settings.csv_content_types,
            settings.json_content_types,
        )
        capture["endpointInput"] = {
            "observedContentType": request_content_type or "",
            "mode": "INPUT",
            "data": data,
            "encoding": encoding,
        }
    if settings.capture_output:
        data, encoding = capture_text(
            response_body,
            response_content_type,
            settings.csv_content_types,
            settings.json_content_types,
        )
        capture["endpointOutput"] = {
            "observedContentType": response_content_type,
            "mode": "OUTPUT",
            "data": data,
            "encoding": encoding,
        }
    metadata = {
        "eventId": event_id or str(uuid.uuid4()),
        "inferenceTime": when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    if inference_id:
        metadata["inferenceId"] = inference_id
    return {
        "captureData": capture,
        "eventMetadata": metadata,
        "eventVersion": EVENT_VERSION,
    }


class Sidecar:
    """One capture file's drop counts, on disk in a file of fixed size.

    `save` creates the file (temporary file + rename, so a reader never sees
    half of it) and afterwards overwrites it in place with a ``pwrite`` of the
    same length: blocks already allocated need no new space, so the update
    works on a full disk (on tmpfs, ext4 and xfs; a copy-on-write filesystem
    may still refuse it, and then the counts are retried and logged on close).
    """

    def __init__(self, folder: Path, capture_name: str):
        self.path = folder / sidecar_name(capture_name)
        self.counts = DropCounts(capture_file=capture_name)
        self._fd: int | None = None
        self.saved = False  # the file holds the current counts

    @property
    def created(self) -> bool:
        return self._fd is not None

    def add(self, reason: str, when: datetime) -> None:
        self.counts.add(reason, when.strftime("%Y-%m-%dT%H:%M:%SZ"))
        self.saved = False

    def save(self) -> bool:
        """Write the current counts; False (and retry later) when it cannot."""
        content = self.counts.encode()
        try:
            if self._fd is None:
                self._create(content)
            elif os.pwrite(self._fd, content, 0) != len(content):
                return False
        except OSError:
            return False
        self.saved = True
        return True

    def _create(self, content: bytes) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{uuid.uuid4().hex}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
        try:
            _write_all(fd, content)
            os.rename(tmp, self.path)
        except BaseException:
            os.close(fd)
            _unlink(tmp)
            raise
        self._fd = fd

    def close(self) -> None:
        if self._fd is not None:
            _close(self._fd)
        self._fd = None

    def forget(self) -> None:
        """After a fork: this descriptor is the parent's file's."""
        self.close()
        self.saved = True


class Segment:
    """The file a process is appending to, and where its last whole record ends."""

    def __init__(self, folder: Path, name: str, hour: tuple[int, int, int, int]):
        self.path = folder / name
        self.hour = hour
        self.fd: int | None = None
        self.end = 0
        self.sidecar = Sidecar(folder, name)

    def open(self) -> int:
        if self.fd is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(
                self.path,
                os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC,
                0o644,
            )
            try:
                self.end = os.fstat(fd).st_size
            except OSError:
                _close(fd)
                raise
            self.fd = fd
        return self.fd

    def cut_back(self) -> bool:
        """After a failed write: end the file at its last whole record again.

        False when the file must not be appended to any more: its end could
        not be cut back (it was blanked out instead, if that worked).
        """
        if self.fd is None:
            return True
        try:
            os.ftruncate(self.fd, self.end)
            return True
        except OSError:
            pass
        try:  # a write that failed before writing anything leaves nothing to cut
            size = os.fstat(self.fd).st_size
        except OSError:
            return False
        if size == self.end:
            return True
        self._blank_out(size)
        return False

    def _blank_out(self, size: int) -> None:
        """Overwrite the partial record with spaces and a newline, in place (no new
        space needed): a blank line, which readers skip, instead of half a record.
        An O_APPEND descriptor ignores pwrite's offset, hence a second one."""
        tail = size - self.end
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_CLOEXEC)
        except OSError:
            return
        try:
            os.pwrite(fd, b" " * (tail - 1) + b"\n", self.end)
        except OSError:
            pass
        finally:
            _close(fd)

    def close(self) -> None:
        if self.fd is not None:
            _close(self.fd)
        self.fd = None


class CaptureWriter:
    """Appends capture records to this process's file for the current hour."""

    def __init__(
        self,
        settings: CaptureSettings,
        clock: Callable[[], datetime] = utc_now,
        sample: Callable[[], float] = random.random,
        monotonic: Callable[[], float] = time.monotonic,
    ):
        if settings.destination is None:
            raise ValueError("capture needs a destination folder")
        self.settings = settings
        self.root = Path(settings.destination)
        self._clock = clock
        self._sample = sample
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._pid: int | None = None
        self._reset()

    def _reset(self) -> None:
        self._segment: Segment | None = None
        self.path: Path | None = None  # this process's latest capture file
        # Sidecars of earlier segments whose counts are not on disk yet.
        self._unsaved: list[Sidecar] = []
        self.written = 0
        self.dropped = 0
        self.reasons: dict[str, int] = {}
        self._unlogged: dict[str, int] = {}
        self._last_log: float | None = None

    def sampled(self) -> bool:
        """Whether this invocation falls in the sampling percentage."""
        percentage = self.settings.sampling_percentage
        return percentage >= 100 or self._sample() * 100 < percentage

    def record(
        self,
        request_body: bytes,
        request_content_type: str | None,
        response_body: bytes,
        response_content_type: str,
        inference_id: str | None = None,
    ) -> bool:
        """Capture one invocation if sampled; True when a record was written."""
        if not self.sampled():
            return False
        when = self._clock().astimezone(UTC)
        record = capture_record(
            self.settings,
            request_body,
            request_content_type,
            response_body,
            response_content_type,
            when,
            inference_id=inference_id,
        )
        line = (json.dumps(record, separators=(",", ":")) + "\n").encode()
        with self._lock:
            self._own_process()
            segment = self._segment_for(when)
            try:
                _write_all(segment.open(), line)
            except OSError as exc:
                self._drop(segment, exc, when)
                return False
            segment.end += len(line)
            self.written += 1
            self._save_sidecars()
            self._maybe_summarise()
        return True

    def _own_process(self) -> None:
        pid = os.getpid()
        if self._pid == pid:
            return
        # After a fork the inherited files are the parent's: forget them (our
        # copies of the descriptors only) and count this process's own records.
        if self._segment is not None:
            self._segment.close()
            self._segment.sidecar.forget()
        for sidecar in self._unsaved:
            sidecar.forget()
        self._reset()
        self._pid = pid

    def _segment_for(self, when: datetime) -> Segment:
        # Compared on every record, so a cheap tuple rather than a Path.
        hour = (when.year, when.month, when.day, when.hour)
        segment = self._segment
        if segment is not None and segment.hour == hour:
            return segment
        if segment is not None:
            self._retire(segment)
        name = f"{when:%M-%S}-{when.microsecond // 1000:03d}-{uuid.uuid4().hex}.jsonl"
        segment = Segment(hour_folder(self.root, self.settings, when), name, hour)
        self._segment, self.path = segment, segment.path
        # Reserve the sidecar while there is room (a failure is retried later).
        try:
            segment.open()
        except OSError:
            pass
        segment.sidecar.save()
        return segment

    def _retire(self, segment: Segment) -> None:
        """Stop appending to `segment`; its sidecar is kept until it is saved."""
        segment.close()
        if self._segment is segment:
            self._segment = None
        sidecar = segment.sidecar
        if sidecar.counts.dropped_records and not sidecar.saved:
            sidecar.save()
        if sidecar.counts.dropped_records and not sidecar.saved:
            self._unsaved.append(sidecar)
        else:
            sidecar.close()

    def _drop(self, segment: Segment, exc: OSError, when: datetime) -> None:
        reason = _reason(exc)
        segment.sidecar.add(reason, when)
        if not segment.cut_back():
            # Never append after a partial line: the next record starts a new file.
            self._retire(segment)
        elif segment.sidecar.created:  # an in-place update: worth trying now
            segment.sidecar.save()
        self.dropped += 1
        self.reasons[reason] = self.reasons.get(reason, 0) + 1
        now = self._monotonic()
        quiet = self._last_log is None or now - self._last_log >= SUMMARY_SECONDS
        if quiet and not self._unlogged:
            self._log(
                f"data capture failed, record dropped: {exc}; further drops are "
                f"summarised at most every {SUMMARY_SECONDS:g} s"
            )
            return
        self._unlogged[reason] = self._unlogged.get(reason, 0) + 1
        self._maybe_summarise()

    def _save_sidecars(self) -> None:
        """Retry counts that could not be written (on a success: there is room)."""
        segment = self._segment
        if segment is not None and not segment.sidecar.saved:
            segment.sidecar.save()
        if self._unsaved:
            for sidecar in self._unsaved:
                if sidecar.save():
                    sidecar.close()
            self._unsaved = [s for s in self._unsaved if not s.saved]

    def _maybe_summarise(self, closing: bool = False) -> None:
        if not self._unlogged:
            return
        now = self._monotonic()
        if not closing and self._last_log is not None:
            if now - self._last_log < SUMMARY_SECONDS:
                return
        count = sum(self._unlogged.values())
        since = (
            f" in the last {now - self._last_log:.0f} s"
            if self._last_log is not None
            else ""
        )
        self._log(
            f"data capture dropped {count} more records{since} "
            f"({_describe(self._unlogged)}); {self.dropped} dropped and "
            f"{self.written} written by this worker so far"
        )
        self._unlogged = {}

    def _log(self, message: str) -> None:
        self._last_log = self._monotonic()
        sys.stderr.write(message + "\n")
        sys.stderr.flush()

    def close(self) -> None:
        """Close this process's files (records are already on disk: nothing to
        flush), write the drop counts still unsaved, and report the drops."""
        with self._lock:
            if self._pid != os.getpid():
                return
            if self._segment is not None:
                self._retire(self._segment)
            self._maybe_summarise(closing=True)
            for sidecar in self._unsaved:
                if not sidecar.save():
                    self._log(
                        f"data capture: {sidecar.counts.dropped_records} dropped "
                        f"records of {sidecar.counts.capture_file} could not be "
                        f"written to {sidecar.path}"
                    )
                sidecar.close()
            self._unsaved = []
            if self.dropped:
                self._log(
                    f"data capture closed: {self.written} records written, "
                    f"{self.dropped} dropped ({_describe(self.reasons)}) by this "
                    "worker"
                )


def _reason(exc: OSError) -> str:
    return errno.errorcode.get(exc.errno or 0) or type(exc).__name__


def _describe(reasons: dict[str, int]) -> str:
    return ", ".join(f"{k}: {v}" for k, v in sorted(reasons.items()))


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        if written <= 0:
            raise OSError(errno.EIO, "write wrote nothing")
        view = view[written:]


def _close(fd: int) -> None:
    try:
        os.close(fd)
    except OSError:
        pass


def _unlink(path: Path) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass

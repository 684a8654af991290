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
- a lock orders writes and hour rotation between threads of one worker.

A capture failure (disk full, permissions) is logged and counted, never turned
into a failed invocation: the caller's prediction is still right.
"""

from __future__ import annotations

import json
import os
import random
import sys
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from container.contract.codecs import capture_text
from container.contract.settings import CaptureSettings

EVENT_VERSION = "0"


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


class CaptureWriter:
    """Appends capture records to this process's file for the current hour."""

    def __init__(
        self,
        settings: CaptureSettings,
        clock: Callable[[], datetime] = utc_now,
        sample: Callable[[], float] = random.random,
    ):
        if settings.destination is None:
            raise ValueError("capture needs a destination folder")
        self.settings = settings
        self.root = Path(settings.destination)
        self._clock = clock
        self._sample = sample
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._pid: int | None = None
        self._hour: tuple[int, int, int, int] | None = None
        self.path: Path | None = None
        self.written = 0
        self.failed = 0

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
        try:
            with self._lock:
                fd = self._file_for(when)
                _write_all(fd, line)
                self.written += 1
        except OSError as exc:
            self.failed += 1
            sys.stderr.write(f"data capture failed, record dropped: {exc}\n")
            sys.stderr.flush()
            return False
        return True

    def _file_for(self, when: datetime) -> int:
        # Compared on every record, so a cheap tuple rather than a Path.
        hour = (when.year, when.month, when.day, when.hour)
        pid = os.getpid()
        if self._fd is not None and self._pid == pid and self._hour == hour:
            return self._fd
        folder = hour_folder(self.root, self.settings, when)
        if self._pid == pid:
            self._close_fd()
        # After a fork the inherited descriptor belongs to the parent's file:
        # forget it (without closing the parent's) and start our own.
        self._fd = None
        folder.mkdir(parents=True, exist_ok=True)
        when = when.astimezone(UTC)
        name = f"{when:%M-%S}-{when.microsecond // 1000:03d}-{uuid.uuid4().hex}.jsonl"
        self.path = folder / name
        self._fd = os.open(
            self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o644
        )
        self._pid, self._hour = pid, hour
        return self._fd

    def _close_fd(self) -> None:
        if self._fd is not None:
            try:
                os.close(self._fd)
            except OSError:
                pass
        self._fd = None

    def close(self) -> None:
        """Close this process's file (records are already on disk: nothing to flush)."""
        with self._lock:
            if self._pid == os.getpid():
                self._close_fd()
            self._hour = None


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]

"""Read SageMaker data-capture files for a time window.

Captures live at `{endpoint}/{variant}/yyyy/mm/dd/hh/*.jsonl` (hour folders
in UTC), one JSON record per line. The folder may hold more than the window:
hour folders outside it are not opened, and records inside the edge hours are
kept only when their `eventMetadata.inferenceTime` lies in [start, end).

A line that is not a capture record is counted and described in the scan, not
fatal: one truncated write must not hide an hour of traffic.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from container.monitoring.errors import MonitoringInputError

HOUR_FOLDER = re.compile(r"^\d{4}/\d{2}/\d{2}/\d{2}$")
MAX_EXAMPLES = 20


@dataclass(frozen=True)
class Payload:
    content_type: str
    encoding: str  # CSV | JSON | BASE64
    data: str


@dataclass(frozen=True)
class CaptureRecord:
    input: Payload | None
    output: Payload | None


@dataclass
class CaptureScan:
    """What reading the window found, for the report and the job's message."""

    files: int = 0
    lines: int = 0
    records: int = 0
    outside_window: int = 0
    malformed: int = 0
    undecodable: int = 0
    examples: list[str] = field(default_factory=list)

    def problem(self, where: str, reason: str, kind: str = "malformed") -> None:
        setattr(self, kind, getattr(self, kind) + 1)
        if len(self.examples) < MAX_EXAMPLES:
            self.examples.append(f"{where}: {reason}")

    def to_dict(self) -> dict[str, object]:
        return {
            "files": self.files, "lines": self.lines, "records": self.records,
            "outside_window": self.outside_window, "malformed_lines": self.malformed,
            "undecodable_records": self.undecodable, "examples": self.examples,
        }


def parse_time(value: str | None, name: str) -> datetime | None:
    """An ISO 8601 time (a trailing Z allowed) as an aware UTC datetime."""
    if value is None or value == "":
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("z", "Z"))
    except ValueError:
        raise MonitoringInputError(
            f"{name}={value!r} is not an ISO 8601 time; expected e.g. "
            f"2026-04-18T00:00:00Z"
        ) from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def capture_files(
    source: Path, start: datetime | None, end: datetime | None,
    endpoint_name: str | None = None,
) -> list[Path]:
    """The .jsonl files under `source` whose hour folder overlaps [start, end)."""
    if not source.is_dir():
        raise MonitoringInputError(
            f"capture folder {source} does not exist: expected a folder holding "
            f"{{endpoint}}/{{variant}}/yyyy/mm/dd/hh/*.jsonl capture files"
        )
    # A folder holding several endpoints' captures: keep the monitored one.
    if endpoint_name and (source / endpoint_name).is_dir():
        source = source / endpoint_name
    files = []
    for path in sorted(source.rglob("*.jsonl")):
        hour = _hour_of(path)
        if hour is not None and (
            (end is not None and hour >= end)
            or (start is not None and hour + timedelta(hours=1) <= start)
        ):
            continue
        files.append(path)
    return files


def _hour_of(path: Path) -> datetime | None:
    parts = path.parent.parts[-4:]
    if len(parts) < 4 or not HOUR_FOLDER.match("/".join(parts)):
        return None
    try:
        return datetime(*(int(p) for p in parts), tzinfo=UTC)
    except ValueError:
        return None


def iter_records(
    files: list[Path], start: datetime | None, end: datetime | None, scan: CaptureScan
) -> Iterator[CaptureRecord]:
    """Capture records of `files` inside [start, end); problems go to `scan`."""
    for path in files:
        scan.files += 1
        with path.open(encoding="utf-8", errors="replace") as fh:
            for number, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                scan.lines += 1
                record = _parse_line(line, f"{path.name}:{number}", scan)
                if record is None:
                    continue
                when, capture = record
                if when is not None and (
                    (start is not None and when < start) or (end is not None and when >= end)
                ):
                    scan.outside_window += 1
                    continue
                scan.records += 1
                yield capture


def _parse_line(
    line: str, where: str, scan: CaptureScan
) -> tuple[datetime | None, CaptureRecord] | None:
    try:
        doc = json.loads(line)
    except json.JSONDecodeError as exc:
        scan.problem(where, f"not JSON ({exc.msg})")
        return None
    data = doc.get("captureData") if isinstance(doc, dict) else None
    if not isinstance(data, dict):
        scan.problem(where, "no captureData object")
        return None
    payloads = {}
    for key in ("endpointInput", "endpointOutput"):
        part = data.get(key)
        if part is None:
            payloads[key] = None
            continue
        if not isinstance(part, dict) or not isinstance(part.get("data"), str):
            scan.problem(where, f"{key} has no 'data' string")
            return None
        payloads[key] = Payload(
            content_type=str(part.get("observedContentType") or ""),
            encoding=str(part.get("encoding") or "").upper(),
            data=part["data"],
        )
    meta = doc.get("eventMetadata") or {}
    when = None
    raw_time = meta.get("inferenceTime") if isinstance(meta, dict) else None
    if raw_time:
        try:
            when = parse_time(str(raw_time), "inferenceTime")
        except MonitoringInputError:
            scan.problem(where, f"inferenceTime {raw_time!r} is not an ISO 8601 time")
            return None
    return when, CaptureRecord(payloads["endpointInput"], payloads["endpointOutput"])

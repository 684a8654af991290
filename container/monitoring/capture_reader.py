"""Read SageMaker data-capture files for a time window.

Captures live at `{endpoint}/{variant}/yyyy/mm/dd/hh/*.jsonl` (hour folders
in UTC), one JSON record per line. The folder may hold more than the window:
hour folders outside it are not opened, and records inside the edge hours are
kept only when their `eventMetadata.inferenceTime` lies in [start, end).

A line that is not a capture record is counted and described in the scan, not
fatal: one truncated write must not hide an hour of traffic.

Beside the records, this image's own capture writer leaves `*.drops.json`
sidecars (container.contract.capture_drops) counting records it could not
write; `capture_drops` sums those of the window. They are never read as
records (only `*.jsonl` are); SageMaker's capture on AWS writes none.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import NamedTuple

from container.contract.capture_drops import (
    SIDECAR_SUFFIX,
    DropCounts,
    parse_sidecar,
)
from container.monitoring.errors import MonitoringInputError
from container.monitoring.json_lines import line_blocks, parse_block

HOUR_FOLDER = re.compile(r"^\d{4}/\d{2}/\d{2}/\d{2}$")
CAPTURE_LAYOUT = ("endpoint", "variant", "yyyy", "mm", "dd", "hh", "file.jsonl")
MAX_EXAMPLES = 20


class Payload(NamedTuple):
    content_type: str
    encoding: str  # CSV | JSON | BASE64
    data: str


class CaptureRecord(NamedTuple):
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
    # Records a record preprocessor returned nothing for.
    filtered: int = 0
    # Records the server's capture writer dropped (its sidecars), and why.
    dropped: int = 0
    drop_reasons: dict[str, int] = field(default_factory=dict)
    drop_sidecars: int = 0
    unreadable_sidecars: int = 0
    examples: list[str] = field(default_factory=list)

    def problem(self, where: str, reason: str, kind: str = "malformed") -> None:
        setattr(self, kind, getattr(self, kind) + 1)
        if len(self.examples) < MAX_EXAMPLES:
            self.examples.append(f"{where}: {reason}")

    def to_dict(self) -> dict[str, object]:
        return {
            "files": self.files,
            "lines": self.lines,
            "records": self.records,
            "outside_window": self.outside_window,
            "malformed_lines": self.malformed,
            "undecodable_records": self.undecodable,
            "filtered_by_preprocessor": self.filtered,
            "dropped_records": self.dropped,
            "drop_reasons": dict(sorted(self.drop_reasons.items())),
            "drop_sidecars": self.drop_sidecars,
            "unreadable_drop_sidecars": self.unreadable_sidecars,
            "examples": self.examples,
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
    return (
        parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    )


def capture_files(
    source: Path,
    start: datetime | None,
    end: datetime | None,
    endpoint_name: str | None = None,
) -> list[Path]:
    """The .jsonl files under `source` whose hour folder overlaps [start, end)."""
    if not source.is_dir():
        raise MonitoringInputError(
            f"capture folder {source} does not exist: expected a folder holding {{endpoint}}/{{variant}}/yyyy/mm/dd/hh/*.jsonl capture files"  # noqa: E501
        )
    source = _monitored(source, endpoint_name)
    files, endpoints = _files_in_window(source, "*.jsonl", start, end)
    if len(endpoints) > 1:
        raise several_endpoints(source, sorted(endpoints), endpoint_name)
    return files


def capture_drops(
    source: Path,
    start: datetime | None,
    end: datetime | None,
    scan: CaptureScan,
    endpoint_name: str | None = None,
) -> None:
    """Add the writer's dropped records of the window (its sidecars) to `scan`.

    A sidecar counts its capture file's drops: it is kept when its hour folder
    overlaps the window and its drops (first_drop..last_drop) are not all
    outside it, so in the window's edge hours the count may include drops
    just outside the window.
    """
    source = _monitored(source, endpoint_name)
    sidecars, _ = _files_in_window(source, "*" + SIDECAR_SUFFIX, start, end)
    for path in sidecars:
        try:
            counts = parse_sidecar(path.read_text(encoding="utf-8", errors="replace"))
        except (OSError, ValueError) as exc:
            scan.problem(
                path.name, f"unreadable drop sidecar ({exc})", "unreadable_sidecars"
            )
            continue
        scan.drop_sidecars += 1
        if not counts.dropped_records or _drops_outside(counts, start, end):
            continue
        scan.dropped += counts.dropped_records
        for reason, count in counts.reasons.items():
            scan.drop_reasons[reason] = scan.drop_reasons.get(reason, 0) + count


def _drops_outside(
    counts: DropCounts, start: datetime | None, end: datetime | None
) -> bool:
    """Whether all of a sidecar's drops fall before `start` or from `end` on."""
    try:
        first = parse_time(counts.first_drop, "first_drop")
        last = parse_time(counts.last_drop, "last_drop")
    except MonitoringInputError:
        return False
    return (start is not None and last is not None and last < start) or (
        end is not None and first is not None and first >= end
    )


def _monitored(source: Path, endpoint_name: str | None) -> Path:
    # A folder holding several endpoints' captures: keep the monitored one.
    if endpoint_name and (source / endpoint_name).is_dir():
        return source / endpoint_name
    return source


def _files_in_window(
    source: Path, pattern: str, start: datetime | None, end: datetime | None
) -> tuple[list[Path], set[str]]:
    """Files matching `pattern` whose hour folder overlaps [start, end), and the
    endpoints whose folders hold such files."""
    files = []
    endpoints = set()
    for path in sorted(source.rglob(pattern)):
        hour = hour_of(path)
        relative = path.relative_to(source).parts
        if hour is not None and len(relative) == len(CAPTURE_LAYOUT):
            endpoints.add(relative[0])
        if hour is not None and (
            (end is not None and hour >= end)
            or (start is not None and hour + timedelta(hours=1) <= start)
        ):
            continue
        files.append(path)
    return files, endpoints


def several_endpoints(
    source: Path, endpoints: list[str], endpoint_name: str | None
) -> MonitoringInputError:
    """Merging several endpoints' traffic would compare a mixture with a baseline."""
    found = ", ".join(endpoints)
    if endpoint_name:
        advice = f"sagemaker_endpoint_name={endpoint_name!r} is none of them"
    else:
        advice = (
            "set sagemaker_endpoint_name (or --endpoint-name) to the one to monitor"
        )
    return MonitoringInputError(
        f"capture folder {source} holds the capture of several endpoints ({found}): {advice}"  # noqa: E501
    )


def hour_of(path: Path) -> datetime | None:
    """The UTC hour of a file in a yyyy/mm/dd/hh folder, or None elsewhere."""
    parts = path.parent.parts[-4:]
    if len(parts) < 4 or not HOUR_FOLDER.match("/".join(parts)):
        return None
    try:
        return datetime(*(int(p) for p in parts), tzinfo=UTC)
    except ValueError:
        return None


def iter_record_blocks(
    files: list[Path],
    start: datetime | None,
    end: datetime | None,
    scan: CaptureScan,
    with_documents: bool = False,
    outputs_only: bool = False,
) -> Iterator[list]:
    """Capture records of `files` inside [start, end), a block at a time.

    Blocks, because per-record generators cost more than the work at a hundred
    thousand records; problems go to `scan`. With `with_documents`, each item
    is (record, the parsed JSON line), for a record preprocessor or the
    model-quality merge. With `outputs_only`, records carry no input (the
    model-quality merge reads only what the model answered).
    """
    in_window = WindowTest(start, end)
    to_record = _to_output_record if outputs_only else _to_record
    for path in files:
        scan.files += 1
        with path.open(encoding="utf-8", errors="replace") as fh:
            for numbers, texts in line_blocks(fh):
                scan.lines += len(texts)
                block = []
                for number, doc in parse_block(numbers, texts, path.name, scan.problem):
                    record = to_record(doc, path, number, scan)
                    if record is None:
                        continue
                    when, capture = record
                    verdict = in_window(when)
                    if verdict:
                        block.append((capture, doc) if with_documents else capture)
                    elif verdict is None:
                        scan.problem(
                            f"{path.name}:{number}",
                            f"inferenceTime {when!r} is not an ISO 8601 time",
                        )
                    else:
                        scan.outside_window += 1
                scan.records += len(block)
                if block:
                    yield block


class WindowTest:
    """Is an inferenceTime string inside [start, end)? None when it is unreadable.

    SageMaker writes `2026-04-18T00:21:48Z` (or with milliseconds). For those,
    comparing the first 19 characters as text decides without parsing, which
    matters at a hundred thousand records; anything else is parsed.
    """

    def __init__(self, start: datetime | None, end: datetime | None):
        self.start, self.end = start, end
        whole = all(t is None or t.microsecond == 0 for t in (start, end))
        self.fast = whole
        self.start_text = start.strftime("%Y-%m-%dT%H:%M:%S") if start else None
        self.end_text = end.strftime("%Y-%m-%dT%H:%M:%S") if end else None

    def __call__(self, raw: str | None) -> bool | None:
        if raw is None:
            return True
        if (
            self.fast
            and len(raw) >= 20
            and raw[-1] == "Z"
            and raw[10] == "T"
            and (len(raw) == 20 or raw[19] == ".")
        ):
            head = raw[:19]
            return not (
                (self.start_text is not None and head < self.start_text)
                or (self.end_text is not None and head >= self.end_text)
            )
        try:
            when = parse_time(raw, "inferenceTime")
        except MonitoringInputError:
            return None
        return not (
            (self.start is not None and when < self.start)
            or (self.end is not None and when >= self.end)
        )


def _to_record(
    doc: object, path: Path, number: int, scan: CaptureScan
) -> tuple[str | None, CaptureRecord] | None:
    # The common, well-formed record takes a lean path: this runs once per record.
    try:
        data = doc["captureData"]
        payload = _lean_payload(data["endpointInput"])
        output = data.get("endpointOutput")
        if payload is not None and (
            output is None or (output := _lean_payload(output)) is not None
        ):
            meta = doc.get("eventMetadata")
            raw_time = meta.get("inferenceTime") if type(meta) is dict else None
            return (str(raw_time) if raw_time else None), _new(
                CaptureRecord, (payload, output)
            )
    except (KeyError, TypeError, AttributeError):
        pass
    return _to_record_checked(doc, path, number, scan)


def _to_output_record(
    doc: object, path: Path, number: int, scan: CaptureScan
) -> tuple[str | None, CaptureRecord] | None:
    """As `_to_record`, without the input."""
    try:
        output = doc["captureData"].get("endpointOutput")
        if output is None or (output := _lean_payload(output)) is not None:
            meta = doc.get("eventMetadata")
            raw_time = meta.get("inferenceTime") if type(meta) is dict else None
            return (str(raw_time) if raw_time else None), _new(
                CaptureRecord, (None, output)
            )
    except (KeyError, TypeError, AttributeError):
        pass
    checked = _to_record_checked(doc, path, number, scan)
    return None if checked is None else (checked[0], checked[1]._replace(input=None))


def _lean_payload(part: dict) -> Payload | None:
    """A well-formed captured payload, or None for the checked path to explain."""
    text = part["data"]
    content_type = part.get("observedContentType") or ""
    if type(text) is not str or type(content_type) is not str:
        return None
    encoding = part.get("encoding") or ""
    if encoding not in _ENCODINGS:
        encoding = str(encoding).upper()
    # tuple.__new__ builds the named tuple without its Python-level __new__:
    # a measurable saving at a hundred thousand records.
    return _new(Payload, (content_type, encoding, text))


_ENCODINGS = frozenset({"CSV", "JSON", "BASE64"})
_new = tuple.__new__


def _to_record_checked(
    doc: object, path: Path, number: int, scan: CaptureScan
) -> tuple[str | None, CaptureRecord] | None:
    data = doc.get("captureData") if isinstance(doc, dict) else None
    if not isinstance(data, dict):
        scan.problem(f"{path.name}:{number}", "no captureData object")
        return None
    payloads = []
    for key in ("endpointInput", "endpointOutput"):
        part = data.get(key)
        if part is None:
            payloads.append(None)
            continue
        if not isinstance(part, dict) or not isinstance(part.get("data"), str):
            scan.problem(f"{path.name}:{number}", f"{key} has no 'data' string")
            return None
        payloads.append(
            Payload(
                str(part.get("observedContentType") or ""),
                str(part.get("encoding") or "").upper(),
                part["data"],
            )
        )
    meta = doc.get("eventMetadata")
    raw_time = meta.get("inferenceTime") if isinstance(meta, dict) else None
    return (str(raw_time) if raw_time else None), CaptureRecord(*payloads)


def record_id(document: object) -> str | None:
    """The id a capture record is labelled by: its inferenceId (the id the
    caller passed to InvokeEndpoint), else its eventId, as SageMaker merges."""
    meta = document.get("eventMetadata") if isinstance(document, dict) else None
    if not isinstance(meta, dict):
        return None
    for key in ("inferenceId", "eventId"):
        value = meta.get(key)
        if value not in (None, ""):
            return str(value)
    return None

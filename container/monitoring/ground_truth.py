"""Read ground-truth labels as SageMaker's model-quality merge expects them.

One JSON record per line,

    {"groundTruthData": {"data": "1", "encoding": "CSV"},
     "eventMetadata": {"eventId": "<the capture's inferenceId or eventId>"},
     "eventVersion": "0"}

in `yyyy/mm/dd/hh/` folders named for the hour the labels were collected.
Labels arrive after the inference, often hours or days later, so every hour
folder from the window's start up to now is read (not only the window's
hours); folders before the window's start hold labels collected before any of
its inferences and are skipped, as are folders dated in the future. Files
outside hour folders are always read.

`data` is decoded by its `encoding`: CSV (one label per line, the first field,
or the field at a numeric `ground_truth_attribute`), JSON (a value, a list of
values, or objects holding `ground_truth_attribute`), or BASE64 (CSV or JSON
text, base64-encoded). A record with several labels answers a captured
request with as many predictions.

An eventId labelled more than once keeps the label collected last: the latest
hour folder, then the last file in name order, then the last line. Lines that
are not ground-truth records are counted, not fatal.
"""

from __future__ import annotations

import base64
import binascii
import csv
import io
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from container.monitoring.arrow_lines import plain_labels
from container.monitoring.capture_reader import hour_of
from container.monitoring.errors import MonitoringInputError
from container.monitoring.json_lines import line_blocks, parse_block

DUPLICATE_RULE = (
    "the label collected last wins: latest hour folder, then last file in name "
    "order, then last line"
)
LABEL_KEYS = ("label", "ground_truth", "groundTruth", "target", "value")
MAX_EXAMPLES = 20
_CSV_SPECIAL = frozenset(',"\r\n')
_PLAIN_CSV = frozenset({"CSV", None})


@dataclass
class GroundTruthScan:
    files: int = 0
    records: int = 0
    malformed: int = 0
    duplicated: int = 0
    skipped_folders: int = 0
    examples: list[str] = field(default_factory=list)

    def problem(self, where: str, reason: str) -> None:
        self.malformed += 1
        if len(self.examples) < MAX_EXAMPLES:
            self.examples.append(f"{where}: {reason}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "files": self.files,
            "records": self.records,
            "malformed_records": self.malformed,
            "duplicated_labels": self.duplicated,
            "duplicate_rule": DUPLICATE_RULE,
            "hour_folders_skipped": self.skipped_folders,
            "examples": self.examples,
        }


def ground_truth_files(
    source: Path, start: datetime | None, now: datetime, scan: GroundTruthScan
) -> list[Path]:
    """The label files to read, oldest collection hour first."""
    if not source.is_dir():
        raise MonitoringInputError(
            f"ground-truth folder {source} does not exist: expected yyyy/mm/dd/hh/ folders of JSON Lines records "  # noqa: E501
            '{"groundTruthData": {"data": ..., "encoding": "CSV"}, "eventMetadata": {"eventId": ...}} '  # noqa: E501
            "(ground_truth_source, or --ground-truth)"
        )
    keyed = []
    skipped = set()
    for path in source.rglob("*"):
        if not path.is_file() or any(
            part.startswith(".") for part in path.relative_to(source).parts
        ):
            continue
        hour = hour_of(path)
        if hour is not None and (
            (start is not None and hour + timedelta(hours=1) <= start) or hour > now
        ):
            skipped.add(path.parent)
            continue
        keyed.append((hour or datetime.min.replace(tzinfo=UTC), str(path), path))
    scan.skipped_folders = len(skipped)
    return [path for _, _, path in sorted(keyed)]


def read_labels(
    files: list[Path], scan: GroundTruthScan, attribute: str | None = None
) -> dict[str, tuple[Any, ...]]:
    """eventId → its labels (one per record of the captured request).

    A window may hold millions of labels of a few distinct values, so a
    single label is one shared tuple per value, not a list per record.
    """
    labels: dict[str, tuple[Any, ...]] = {}
    single: dict[str, tuple[str]] = {}

    def keep(event_id: str, values: list[Any]) -> None:
        scan.records += 1
        if event_id in labels:
            scan.duplicated += 1
        value = values[0]
        if len(values) == 1 and type(value) is str:
            labels[event_id] = single.get(value) or single.setdefault(value, (value,))
        else:
            labels[event_id] = tuple(values)

    for path in files:
        scan.files += 1
        plain = plain_labels(path) if attribute is None else None
        if plain is not None:
            for event_id, label in zip(*plain, strict=True):
                keep(event_id, [label])
            continue
        with path.open(encoding="utf-8", errors="replace") as fh:
            for numbers, texts in line_blocks(fh):
                for number, doc in parse_block(numbers, texts, path.name, scan.problem):
                    parsed = _parse_record(
                        doc, f"{path.name}:{number}", scan, attribute
                    )
                    if parsed is not None:
                        keep(*parsed)
    return labels


def _parse_record(
    doc: Any, where: str, scan: GroundTruthScan, attribute: str | None
) -> tuple[str, list[Any]] | None:
    # The common record, one plain CSV label, takes a lean path: this runs
    # once per label.
    try:
        data = doc["groundTruthData"]
        text = data["data"]
        event_id = doc["eventMetadata"]["eventId"]
        if (
            type(text) is str
            and text
            and type(event_id) is str
            and event_id
            and attribute is None
            and data.get("encoding") in _PLAIN_CSV
            and not _CSV_SPECIAL.intersection(text)
        ):
            return event_id, [text]
    except (KeyError, TypeError):
        pass
    data = doc.get("groundTruthData") if isinstance(doc, dict) else None
    meta = doc.get("eventMetadata") if isinstance(doc, dict) else None
    event_id = meta.get("eventId") if isinstance(meta, dict) else None
    if not isinstance(data, dict) or "data" not in data:
        scan.problem(where, "no groundTruthData.data")
        return None
    if not isinstance(event_id, str | int) or event_id == "":
        scan.problem(where, "no eventMetadata.eventId")
        return None
    try:
        values = decode_label_data(data["data"], data.get("encoding"), attribute)
    except ValueError as exc:
        scan.problem(where, str(exc))
        return None
    if not values:
        scan.problem(where, "groundTruthData.data holds no label")
        return None
    return str(event_id), values


def decode_label_data(
    data: Any, encoding: Any, attribute: str | None = None
) -> list[Any]:
    """The labels a groundTruthData holds."""
    kind = str(encoding or "CSV").upper()
    if not isinstance(data, str):
        return _json_labels(data, attribute)  # already structured
    if kind == "BASE64":
        try:
            text = base64.b64decode(data, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise ValueError("BASE64 groundTruthData.data does not decode") from None
        kind = "JSON" if text.lstrip()[:1] in ("{", "[") else "CSV"
        data = text
    if kind == "JSON":
        try:
            return _json_labels(json.loads(data), attribute)
        except json.JSONDecodeError:
            raise ValueError("JSON groundTruthData.data is not JSON") from None
    if kind != "CSV":
        raise ValueError(f"encoding {encoding!r}: expected CSV, JSON or BASE64")
    index = int(attribute) if attribute and attribute.strip().isdigit() else 0
    if index == 0 and not _CSV_SPECIAL.intersection(data):
        return [data] if data else []  # one unquoted field: what csv.reader gives
    try:
        rows = [fields for fields in csv.reader(io.StringIO(data)) if fields]
    except csv.Error as exc:
        raise ValueError(f"CSV groundTruthData.data does not parse ({exc})") from None
    if any(index >= len(fields) for fields in rows):
        raise ValueError(f"CSV label has no field {index}")
    return [fields[index] for fields in rows]


def _json_labels(value: Any, attribute: str | None) -> list[Any]:
    if isinstance(value, list):
        return [_json_label(v, attribute) for v in value]
    return [_json_label(value, attribute)]


def _json_label(value: Any, attribute: str | None) -> Any:
    if not isinstance(value, dict):
        return value
    for key in (attribute, *LABEL_KEYS):
        if key is not None and key in value:
            return value[key]
    if len(value) == 1:
        return next(iter(value.values()))
    raise ValueError(
        f"JSON label object has keys {sorted(value)[:10]}: set ground_truth_attribute "
        "to the one holding the label"
    )

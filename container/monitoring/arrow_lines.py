"""Read regular capture and ground-truth files with pyarrow's JSON reader.

The model-quality merge reads a hundred thousand small JSON records from
each side; pyarrow parses a whole file in C++ (several threads) and hands
back columns, several times faster than json.loads and building the records
in Python. Only regular files take this path: each reader returns None when
a file is anything but well-formed records of the expected types (a line
that is not JSON, a field of another type, a label that needs decoding), and
the caller then reads that file record by record, which explains every bad
line. Files larger than MAX_BYTES are always read record by record, whose
memory stays bounded.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pajson

from container.monitoring.capture_reader import (
    CaptureScan,
    Payload,
    WindowTest,
    iter_record_blocks,
    record_id,
)

MAX_BYTES = 64 << 20
ENCODINGS = frozenset({"CSV", "JSON", "BASE64"})
# What a plain CSV label may not hold: a field separator, a quote or a line end.
NOT_PLAIN_LABEL = '[,"\\r\\n]'
_new = tuple.__new__


@dataclass
class CapturedOutputs:
    """The window's records of one capture file: their ids (None when the
    record has neither an inferenceId nor an eventId) and their outputs
    (None when the endpointOutput was not captured)."""

    keys: list[str | None]
    outputs: list[Payload | None]
    records: int  # records in the file
    outside_window: int


def captured_outputs(
    path: Path, start: datetime | None, end: datetime | None
) -> CapturedOutputs | None:
    """The window's (id, endpointOutput) of a capture file, or None when the
    file must be read record by record."""
    table = _read(path)
    if table is None or "captureData" not in table.column_names:
        return None
    if table.column("captureData").null_count:
        return None
    once = table.flatten()
    flat = once.flatten()
    data = _strings(flat, "captureData.endpointOutput.data")
    if data is None or "captureData.endpointOutput" not in once.column_names:
        return None
    has_output = pc.is_valid(once.column("captureData.endpointOutput"))
    if pc.any(pc.and_(has_output, pc.is_null(data))).as_py():
        return None  # an endpointOutput without its data string: explain it
    content_types = _strings(flat, "captureData.endpointOutput.observedContentType")
    encodings = _strings(flat, "captureData.endpointOutput.encoding")
    inference_ids = _strings(flat, "eventMetadata.inferenceId")
    event_ids = _strings(flat, "eventMetadata.eventId")
    if None in (content_types, encodings, inference_ids, event_ids):
        return None
    in_window = _in_window(flat, start, end)
    if in_window is None:
        return None
    keys, outputs = [], []
    for (
        inside,
        output,
        inference_id,
        event_id,
        data_text,
        content_type,
        encoding,
    ) in zip(
        in_window,
        has_output.to_pylist(),
        inference_ids.to_pylist(),
        event_ids.to_pylist(),
        data.to_pylist(),
        content_types.to_pylist(),
        encodings.to_pylist(),
        strict=True,
    ):
        if not inside:
            continue
        keys.append(inference_id or event_id or None)
        if not output:
            outputs.append(None)
            continue
        if encoding not in ENCODINGS:
            encoding = (encoding or "").upper()
        outputs.append(_new(Payload, (content_type or "", encoding, data_text)))
    rows = table.num_rows
    return CapturedOutputs(keys, outputs, rows, rows - len(keys))


def plain_labels(path: Path) -> tuple[list[str], list[str]] | None:
    """(eventIds, labels) of a ground-truth file whose every record holds one
    plain CSV label, or None when the file must be read record by record."""
    table = _read(path)
    if table is None:
        return None
    flat = table.flatten().flatten()
    labels = _strings(flat, "groundTruthData.data")
    event_ids = _strings(flat, "eventMetadata.eventId")
    encodings = _strings(flat, "groundTruthData.encoding")
    if labels is None or event_ids is None or encodings is None:
        return None
    if labels.null_count or event_ids.null_count:
        return None
    plain = (
        pc.all(pc.is_in(pc.fill_null(encodings, "CSV"), pa.array(["CSV"]))).as_py()
        and not pc.any(pc.equal(labels, "")).as_py()
        and not pc.any(pc.equal(event_ids, "")).as_py()
        and not pc.any(pc.match_substring_regex(labels, NOT_PLAIN_LABEL)).as_py()
    )
    return (event_ids.to_pylist(), labels.to_pylist()) if plain else None


def _read(path: Path) -> pa.Table | None:
    try:
        if path.stat().st_size > MAX_BYTES:
            return None
        table = pajson.read_json(path)
    except (pa.ArrowException, OSError):
        return None
    return table if table.num_rows else None


def _strings(flat: pa.Table, name: str) -> pa.ChunkedArray | None:
    """A string column; all nulls when the files never has the field; None
    when it holds another type (the record-by-record path decides)."""
    if name not in flat.column_names:
        return pa.chunked_array([pa.nulls(flat.num_rows, pa.string())])
    column = flat.column(name)
    if pa.types.is_null(column.type):
        return column.cast(pa.string())
    return column if pa.types.is_string(column.type) else None


def _in_window(
    flat: pa.Table, start: datetime | None, end: datetime | None
) -> list[bool] | None:
    """Whether each record's inferenceTime is in [start, end) (a record without
    one is); None when a time does not read."""
    name = "eventMetadata.inferenceTime"
    if name not in flat.column_names or pa.types.is_null(flat.column(name).type):
        return [True] * flat.num_rows
    times = flat.column(name)
    if start is None and end is None:
        return [True] * flat.num_rows
    if pa.types.is_timestamp(times.type):
        # pyarrow has already read them, offsets applied, as UTC instants.
        instants = times.cast(pa.timestamp("us"))
        masks = [
            compare(instants, pa.scalar(_naive_utc(bound), type=pa.timestamp("us")))
            for bound, compare in ((start, pc.greater_equal), (end, pc.less))
            if bound is not None
        ]
        inside = masks[0] if len(masks) == 1 else pc.and_(*masks)
        return pc.fill_null(inside, True).to_pylist()
    if not pa.types.is_string(times.type):
        return None
    test = WindowTest(start, end)
    verdicts = [test(text or None) for text in times.to_pylist()]
    return None if None in verdicts else verdicts


def window_outputs(
    files: list[Path],
    start: datetime | None,
    end: datetime | None,
    scan: CaptureScan,
) -> Iterator[tuple[str | None, Payload | None]]:
    """(id, endpointOutput) of each captured record of the window: columnar
    where a file allows it, else record by record (which explains bad lines)."""
    for path in files:
        found = captured_outputs(path, start, end)
        if found is None:
            for block in iter_record_blocks(
                [path], start, end, scan, with_documents=True, outputs_only=True
            ):
                for record, document in block:
                    yield record_id(document), record.output
            continue
        scan.files += 1
        scan.lines += found.records
        scan.records += len(found.keys)
        scan.outside_window += found.outside_window
        yield from zip(found.keys, found.outputs, strict=True)


def _naive_utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None)

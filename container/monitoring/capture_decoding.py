"""Turn captured payloads into DataFrames, named from the baseline.

Payloads are decoded by `container.contract.codecs.decode`, the function the
server reads requests with, so a record is analysed exactly as it was scored.
Decoding one record at a time costs more than parsing the capture file, so
records are grouped: CSV payloads of a chunk are joined into one body, and
single-record JSON payloads (one list or object) into one JSON Lines body,
each decoded in one call. A group that fails falls back to one call per
record, which isolates the bad ones; they are counted, not fatal.

Naming: columns the payload names keep their names. With the model bundle's
schema, positional input columns take its feature names. Without it,
positional columns take the baseline's names when the counts match, else
`_c0`, `_c1`, ... When captureIndexNames asks for endpointOutput, each
record's predicted label joins its rows as one more column, named as
`container.monitoring.predictions` says (the schema's target, the baseline's
spare column, or `prediction`), first for output_columns_position START and
last for END.
"""

from __future__ import annotations

import base64
import binascii
import io
import re
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from container.contract.columns import positional_names
from container.contract.errors import ByocError
from container.contract.schema import Schema
from container.monitoring.capture_reader import CaptureRecord, CaptureScan, Payload
from container.monitoring.predictions import (
    DEFAULT_OUTPUT_NAME,
    OutputColumn,
    predicted_labels,
    split_baseline_names,
    unique_name,
)

CHUNK_RECORDS = 20_000
_NUMBER_START = frozenset("0123456789-+.")
_ENVELOPE = re.compile(
    r'^\s*\{\s*"(instances|inputs|dataframe_split|dataframe_records)"'
)


def _codecs():
    from container.contract import codecs

    return codecs


def payload_bytes(payload: Payload) -> bytes:
    if payload.encoding == "BASE64":
        return base64.b64decode(payload.data, validate=True)
    return payload.data.encode("utf-8")


def capture_frames(
    blocks: Iterable[list[CaptureRecord]],
    baseline_names: Sequence[str],
    scan: CaptureScan,
    include_output: bool = False,
    schema: Schema | None = None,
    output: OutputColumn | None = None,
    position: str = "START",
) -> Iterator[pd.DataFrame]:
    """DataFrames of the decoded records, about CHUNK_RECORDS at a time.

    With `include_output`, the predicted label of each record's endpointOutput
    is a column too; `output` learns its name and counts.
    """
    chunk: list[CaptureRecord] = []
    for block in blocks:
        chunk.extend(block)
        if len(chunk) >= CHUNK_RECORDS:
            frame = _decode_chunk(
                chunk, baseline_names, scan, include_output, schema, output, position
            )
            chunk = []
            if frame is not None and len(frame):
                yield frame
    if chunk:
        frame = _decode_chunk(
            chunk, baseline_names, scan, include_output, schema, output, position
        )
        if frame is not None and len(frame):
            yield frame


def _decode_chunk(
    chunk: list[CaptureRecord],
    names: Sequence[str],
    scan: CaptureScan,
    include_output: bool,
    schema: Schema | None = None,
    output: OutputColumn | None = None,
    position: str = "START",
) -> pd.DataFrame | None:
    with_input = [r for r in chunk if r.input is not None]
    if len(with_input) < len(chunk):
        for _ in range(len(chunk) - len(with_input)):
            scan.problem("record", "no endpointInput captured", "undecodable")
    if not with_input:
        return None
    input_names = schema.feature_names if schema is not None else names
    inputs = decode_payloads([r.input for r in with_input], input_names, scan)
    if inputs is None:
        return None
    if schema is not None:
        inputs = name_columns(inputs, input_names)
    if not include_output or all(r.output is None for r in with_input):
        return name_columns(inputs, names)
    output = output if output is not None else OutputColumn()
    aligned = _aligned_labels(with_input, inputs, input_names, output)
    if aligned is None:  # rows cannot be matched with predictions: inputs only
        return name_columns(inputs, names)
    inputs, labels = aligned
    if schema is not None:
        inputs = name_columns(inputs, input_names)
    return _join_labels(inputs, labels, names, schema, output, position)


def _aligned_labels(
    records: list[CaptureRecord],
    inputs: pd.DataFrame,
    input_names: Sequence[str],
    output: OutputColumn,
) -> tuple[pd.DataFrame, list[Any]] | None:
    """The input rows and one predicted label per row (None where none was
    captured).

    Usually every record's output holds as many predictions as its input has
    rows, and the inputs were decoded in record order: the labels are the
    outputs' in order. Otherwise each record's input is decoded alone, in
    record order, and a record whose counts differ gets missing predictions.
    """
    per_record: list[list[Any] | None] = []
    for record in records:
        if record.output is None:
            per_record.append(None)
            continue
        try:
            per_record.append(predicted_labels(record.output))
        except (ValueError, UnicodeDecodeError, binascii.Error):
            output.undecodable += 1
            per_record.append(None)
    flat = [label for labels in per_record if labels is not None for label in labels]
    if (
        all(labels is not None for labels in per_record)
        and len(flat) == len(inputs)
        and _decodes_in_order([r.input for r in records], input_names)
    ):
        return inputs, flat
    frames: list[pd.DataFrame] = []
    aligned: list[Any] = []
    quiet = CaptureScan()  # the inputs' problems were counted already
    for record, labels in zip(records, per_record, strict=True):
        frame = decode_payloads([record.input], input_names, quiet, count=False)
        rows = 0 if frame is None else len(frame)
        if labels is not None and len(labels) != rows:
            output.unaligned += 1
            labels = None
        if rows:
            frames.append(frame)
            aligned.extend(labels if labels is not None else [None] * rows)
    if not frames:
        return None
    return pd.concat(frames, ignore_index=True, sort=False), aligned


def _join_labels(
    inputs: pd.DataFrame,
    labels: list[Any],
    names: Sequence[str],
    schema: Schema | None,
    output: OutputColumn,
    position: str,
) -> pd.DataFrame:
    """Inputs named as without an output, with the predictions as one column
    (first for output_columns_position START, last for END)."""
    wanted = None
    if schema is not None:
        wanted = schema.target
    elif all(not isinstance(c, str) for c in inputs.columns):
        split = split_baseline_names(names, inputs.shape[1], position)
        if split is not None:
            inputs.columns = split[0]
            wanted = split[1]
    inputs = name_columns(inputs, names)
    name = unique_name(wanted or DEFAULT_OUTPUT_NAME, inputs.columns)
    output.name = output.name or name
    output.rows += sum(label is not None for label in labels)
    column = pd.Series(labels, dtype=object, name=name)
    parts = [column, inputs.reset_index(drop=True)]
    if position == "END":
        parts.reverse()
    return pd.concat(parts, axis=1)


def name_columns(frame: pd.DataFrame, names: Sequence[str]) -> pd.DataFrame:
    """Positional columns → baseline names (when the count fits) or `_cN`."""
    positional = [c for c in frame.columns if not isinstance(c, str)]
    if not positional:
        return frame
    if len(frame.columns) == len(names) and len(positional) == len(frame.columns):
        chosen = list(names)
    elif len(positional) == len(frame.columns) and names:
        # Fewer values than the baseline: named in order, the rest go missing. More:
        # the baseline's names, then Spark's for the extra positions.
        width = len(frame.columns)
        chosen = list(names[:width]) + positional_names(width, start=len(names))
    else:
        chosen = (
            positional_names(len(frame.columns))
            if len(positional) == len(frame.columns)
            else [str(c) for c in frame.columns]
        )
    frame.columns = chosen
    return frame


def decode_payloads(
    payloads: list[Payload],
    names: Sequence[str] | None,
    scan: CaptureScan,
    count: bool = True,
) -> pd.DataFrame | None:
    """Decode many payloads into one frame; undecodable ones are counted in `scan`."""
    codecs = _codecs()
    csv_group: list[str] = []
    lines_group: list[str] = []
    single: list[Payload] = []
    header_words = set(names or ())
    kinds: dict[str, str] = {}
    for payload in payloads:
        group = _group(payload, kinds, header_words)
        if group == "csv":
            csv_group.append(payload.data)
        elif group == "lines":
            lines_group.append(payload.data)
        else:
            single.append(payload)
    frames = []
    for group, content_type in (
        (csv_group, codecs.CSV),
        (lines_group, codecs.JSONLINES),
    ):
        if not group:
            continue
        fast = (
            _fast_csv("\n".join(group), names) if content_type == codecs.CSV else None
        )
        if fast is not None:
            frames.append(fast)
            continue
        try:
            frames.append(
                codecs.decode("\n".join(group).encode("utf-8"), content_type, names)
            )
        except (ByocError, ValueError):
            single.extend(Payload(content_type, "CSV", g) for g in group)
    for payload in single:
        try:
            frames.append(
                codecs.decode(payload_bytes(payload), payload.content_type, names)
            )
        except (ByocError, ValueError, binascii.Error) as exc:
            if count:
                reason = getattr(exc, "message", None) or str(exc)
                scan.problem(
                    f"{payload.content_type or 'no content type'} payload",
                    reason.splitlines()[0][:300],
                    "undecodable",
                )
    frames = [f for f in frames if len(f)]
    if not frames:
        return None
    if len(frames) == 1:
        return frames[0]
    return pd.concat(frames, ignore_index=True, sort=False)


def _group(payload: Payload, kinds: dict[str, str], header_words: set[str]) -> str:
    """How `decode_payloads` decodes a payload: joined with the other CSV ones
    ("csv"), with the other single-record JSON ones ("lines"), or alone."""
    codecs = _codecs()
    kind = kinds.get(payload.content_type)
    if kind is None:
        kind = kinds[payload.content_type] = codecs.media_type(payload.content_type)
    if payload.encoding == "BASE64":
        return "single"
    if kind == codecs.CSV and not _starts_with_header(payload.data, header_words):
        return "csv"
    if kind == codecs.JSON and _is_single_json_record(payload.data):
        return "lines"
    return "single"


def _decodes_in_order(payloads: list[Payload], names: Sequence[str] | None) -> bool:
    """Whether `decode_payloads` returns these payloads' rows in their order:
    when they are all decoded the same way (one group, or each alone)."""
    kinds: dict[str, str] = {}
    header_words = set(names or ())
    return len({_group(p, kinds, header_words) for p in payloads}) <= 1


_PLAIN_TYPES = (pa.int64(), pa.float64(), pa.string(), pa.null())


def _fast_csv(text: str, names: Sequence[str] | None) -> pd.DataFrame | None:
    """Headerless CSV of plain numbers and text, read by pyarrow in one go.

    The codec types values in Python-visible steps that cost ten times more at
    this size; for data that is only numbers, text and the codec's missing
    tokens both give the same values. Anything else (ragged rows, dates,
    booleans) returns None and goes through the codec.
    """
    codecs = _codecs()
    try:
        table = pacsv.read_csv(
            io.BytesIO(text.encode("utf-8")),
            read_options=pacsv.ReadOptions(autogenerate_column_names=True),
            convert_options=pacsv.ConvertOptions(
                null_values=sorted(codecs.MISSING_TOKENS),
                strings_can_be_null=True,
                true_values=[],
                false_values=[],
            ),
        )
    except (pa.ArrowInvalid, UnicodeError):
        return None
    if any(t not in _PLAIN_TYPES for t in table.schema.types):
        return None
    frame = table.to_pandas()
    width = frame.shape[1]
    frame.columns = (
        list(names) if names is not None and len(names) == width else list(range(width))
    )
    return frame


def _starts_with_header(data: str, names: set[str]) -> bool:
    # A line starting like a number is data; column names do not start so.
    if not names or data[:1] in _NUMBER_START:
        return False
    first = data.lstrip().split("\n", 1)[0]
    return not names.isdisjoint(map(str.strip, first.replace('"', "").split(",")))


def _is_single_json_record(data: str) -> bool:
    text = data.strip()
    if "\n" in text or not text:
        return False
    if text[0] == "{":
        return not _ENVELOPE.match(text)
    return text[0] == "[" and not text[1:].lstrip().startswith(("[", "{"))

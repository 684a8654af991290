"""Turn captured payloads into DataFrames, named from the baseline.

Payloads are decoded by `container.contract.codecs.decode`, the function the
server reads requests with, so a record is analysed exactly as it was scored.
Decoding one record at a time costs more than parsing the capture file, so
records are grouped: CSV payloads of a chunk are joined into one body, and
single-record JSON payloads (one list or object) into one JSON Lines body,
each decoded in one call. A group that fails falls back to one call per
record, which isolates the bad ones; they are counted, not fatal.

Naming: columns the payload names keep their names. With the model bundle's
schema, positional input columns take its feature names and a one-column
output takes the target's name: the only unambiguous naming when the baseline
also holds the output column. Without it, positional columns take the
baseline's names when the counts match, else `_c0`, `_c1`, ... The model's
output (endpointOutput) joins the data only when asked for in
captureIndexNames and the baseline has room for it: it then comes first, as
in a baseline dataset with output_columns_position START.
"""

from __future__ import annotations

import base64
import binascii
import io
import re
from collections.abc import Iterable, Iterator, Sequence

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from container.contract.columns import positional_names
from container.contract.errors import ByocError
from container.contract.schema import Schema
from container.monitoring.capture_reader import CaptureRecord, CaptureScan, Payload

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
) -> Iterator[pd.DataFrame]:
    """DataFrames of the decoded records, about CHUNK_RECORDS at a time."""
    chunk: list[CaptureRecord] = []
    for block in blocks:
        chunk.extend(block)
        if len(chunk) >= CHUNK_RECORDS:
            frame = _decode_chunk(chunk, baseline_names, scan, include_output, schema)
            chunk = []
            if frame is not None and len(frame):
                yield frame
    if chunk:
        frame = _decode_chunk(chunk, baseline_names, scan, include_output, schema)
        if frame is not None and len(frame):
            yield frame


def _decode_chunk(
    chunk: list[CaptureRecord],
    names: Sequence[str],
    scan: CaptureScan,
    include_output: bool,
    schema: Schema | None = None,
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
    if include_output and all(r.output is not None for r in with_input):
        if schema is not None:
            return _join_target(inputs, [r.output for r in with_input], schema, scan)
        joined = _join_output(inputs, [r.output for r in with_input], names, scan)
        if joined is not None:
            return joined
    return name_columns(inputs, names)


def _join_output(
    inputs: pd.DataFrame,
    outputs: list[Payload],
    names: Sequence[str],
    scan: CaptureScan,
) -> pd.DataFrame | None:
    """Inputs with the model's output columns in front, or None if they do not fit."""
    decoded = decode_payloads(outputs, None, scan, count=False)
    if decoded is None or len(decoded) != len(inputs):
        return None  # predictions that do not line up with rows are left out
    width = decoded.shape[1]
    if all(not isinstance(c, str) for c in inputs.columns):
        if len(names) != inputs.shape[1] + width:
            return None
        inputs.columns = list(names[width:])
        decoded.columns = list(names[:width])
    else:
        spare = [n for n in names if n not in set(map(str, inputs.columns))]
        if len(spare) < width:
            return None
        decoded.columns = spare[:width]
    return pd.concat(
        [decoded.reset_index(drop=True), inputs.reset_index(drop=True)], axis=1
    )


def _join_target(
    inputs: pd.DataFrame,
    outputs: list[Payload],
    schema: Schema,
    scan: CaptureScan,
) -> pd.DataFrame:
    """Inputs with a one-column prediction named as the schema's target.

    Wider outputs (probabilities) have no baseline column to compare with, and
    predictions that do not line up with the rows are left out.
    """
    decoded = decode_payloads(outputs, None, scan, count=False)
    if decoded is None or len(decoded) != len(inputs) or decoded.shape[1] != 1:
        return inputs
    decoded.columns = [schema.target]
    return pd.concat(
        [decoded.reset_index(drop=True), inputs.reset_index(drop=True)], axis=1
    )


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
        kind = kinds.get(payload.content_type)
        if kind is None:
            kind = kinds[payload.content_type] = codecs.media_type(payload.content_type)
        if payload.encoding == "BASE64":
            single.append(payload)
        elif kind == codecs.CSV and not _starts_with_header(payload.data, header_words):
            csv_group.append(payload.data)
        elif kind == codecs.JSON and _is_single_json_record(payload.data):
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

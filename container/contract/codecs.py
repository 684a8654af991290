"""Content types: decode request bodies into DataFrames, encode predictions.

Serving uses both halves; monitoring uses `decode` on captured payloads, so a
record is read the same way when it is scored and when it is analysed.

Decoding rules (the public contract, also in docs/serving.md):

- ``text/csv``: one record per line, blank lines skipped. The first line is a
  header when ``feature_names`` is given and one of its fields equals a
  feature name; without ``feature_names`` every line is data. Fields are
  stripped of surrounding whitespace; ``""``, ``NA``, ``N/A``, ``NaN``,
  ``nan``, ``null``, ``NULL``, ``None`` are missing values. A column whose
  values all parse as whole numbers is ``int64`` (``float64`` when it also has
  missing values), one whose values all parse as numbers is ``float64``,
  anything else keeps its text.
- ``application/json``: ``{"instances": [...]}``, ``{"inputs": [...]}`` or
  ``{"inputs": {column: [values]}}``, ``{"dataframe_split": {"columns": [...],
  "data": [...]}}``, ``{"dataframe_records": [...]}``, a bare list of rows or
  objects, or one object (one record). A flat list of scalars is ONE row.
- ``application/jsonlines``: one JSON list or object per line.
- ``application/x-npy``: a 1-D array is one row, a 2-D array is rows, a
  structured array names its columns. Loaded with ``allow_pickle=False``.

Column names: when the payload carries names (CSV header, JSON objects,
``dataframe_split.columns``, structured arrays) the DataFrame's columns are
those names, as strings. When it does not, the columns are ``feature_names``
if given and the value count matches, else the positional integers 0..n-1.

Content-type parameters (``charset=utf-8`` and the like) are ignored; text
bodies must be UTF-8 (a byte-order mark is allowed).
"""

from __future__ import annotations

import base64
import csv
import functools
import io
import json
import math
import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from container.contract.errors import (
    InvalidInput,
    UnsupportedAccept,
    UnsupportedContentType,
)

CSV = "text/csv"
JSON = "application/json"
JSONLINES = "application/jsonlines"
NPY = "application/x-npy"
# Read by `train` only (a channel's ContentType), never served.
PARQUET = "application/x-parquet"

# Other spellings clients and tools send for the same formats: the one table
# for request bodies, response types, capture content types and channels.
ALIASES = {
    "application/csv": CSV,
    "text/x-csv": CSV,
    "application/x-csv": CSV,
    "text/json": JSON,
    "application/x-jsonlines": JSONLINES,
    "application/jsonl": JSONLINES,
    "application/json-lines": JSONLINES,
    "application/x-ndjson": JSONLINES,
    "application/ndjson": JSONLINES,
    "application/npy": NPY,
    "application/parquet": PARQUET,
    "application/vnd.apache.parquet": PARQUET,
}
SUPPORTED = (CSV, JSON, JSONLINES, NPY)
_SUPPORTED_TEXT = ", ".join(SUPPORTED)

MISSING_TOKENS = frozenset({"", "NA", "N/A", "NaN", "nan", "null", "NULL", "None"})

# Below this size the pure-Python CSV reader is several times faster than
# pyarrow's (which has a fixed set-up cost); above it pyarrow wins by far.
_SMALL_CSV_BYTES = 32 * 1024

# A record may carry columns the model does not use (they are ignored and
# named in a response header), up to this many beyond its features. Wider
# records are refused as soon as their width is known, before they are
# materialised: a 6 MB line of commas would otherwise become millions of
# columns.
EXTRA_FIELDS_ALLOWED = 256

# A quoted CSV field, doubled quotes inside it included.
_QUOTED_FIELD = re.compile(r'"(?:[^"]|"")*"')

# Keys of the JSON envelopes we accept, in the order they are documented.
_JSON_KEYS = ("instances", "inputs", "dataframe_split", "dataframe_records")

_EXAMPLES = {
    CSV: "one line of comma-separated values per record, e.g. '5.1,3.5,red'",
    JSON: 'e.g. {"instances": [[5.1, 3.5, "red"]]} or {"dataframe_records": [{"width": 5.1, "height": 3.5, "colour": "red"}]}',  # noqa: E501
    JSONLINES: 'one JSON list or object per line, e.g. [5.1, 3.5, "red"]',
    NPY: "an array saved with numpy.save (1-D: one record, 2-D: one row per record)",
}


# --- content types -----------------------------------------------------------
def media_type(content_type: str | None) -> str:
    """The bare, lower-case media type: parameters dropped, aliases resolved."""
    if not content_type:
        return ""
    base = content_type.split(";", 1)[0].strip().lower()
    return ALIASES.get(base, base)


def request_type(content_type: str | None) -> str:
    """The media type of a request body this image reads, or UnsupportedContentType."""
    kind = media_type(content_type)
    if kind not in SUPPORTED:
        shown = content_type if content_type else "no Content-Type"
        raise UnsupportedContentType(
            f"Content-Type {shown!r} is not supported: send one of {_SUPPORTED_TEXT}"
        )
    return kind


def spellings(media: str) -> list[str]:
    """`media` and every alias of it, for messages that list what is accepted."""
    return [media, *sorted(a for a, m in ALIASES.items() if m == media)]


def media_params(content_type: str | None) -> dict[str, str]:
    """Parameters of a media type (``text/csv; probabilities=true`` → {...})."""
    if not content_type or ";" not in content_type:
        return {}
    params = {}
    for part in content_type.split(";")[1:]:
        key, _, value = part.partition("=")
        if key.strip():
            params[key.strip().lower()] = value.strip().strip('"')
    return params


def _invalid(content_type: str, problem: str) -> InvalidInput:
    return InvalidInput(
        f"{problem}. Expected {content_type}: {_EXAMPLES[content_type]}."
    )


# --- decoding ------------------------------------------------------------------


def _equal_width(rows: list, kind: str, where: str = "") -> int:
    """The common number of values per record; a ragged record is a 400."""
    width = len(rows[0])
    for number, row in enumerate(rows, start=1):
        if len(row) != width:
            raise _invalid(
                kind,
                f"{where}record {number} has {len(row)} values but record 1 has {width}; "  # noqa: E501
                "every record needs the same count",
            )
    return width


def field_limit(feature_count: int) -> int:
    """The most values a record may hold for a model with `feature_count` features."""
    return feature_count + EXTRA_FIELDS_ALLOWED


def decode(
    body: bytes,
    content_type: str,
    feature_names: Sequence[str] | None = None,
    *,
    max_fields: int | None = None,
) -> pd.DataFrame:
    """Decode a request body into one DataFrame row per record.

    `max_fields` bounds the values (or distinct keys) per record: a wider
    body is refused before its records are built. Raises InvalidInput when
    the body does not match its content type and UnsupportedContentType for
    a content type we do not read.
    """
    kind = request_type(content_type)
    decoder = _DECODERS[kind]
    names = list(feature_names) if feature_names is not None else None
    try:
        frame = decoder(body, names, _Width(kind, max_fields))
    except OverflowError:
        # An integer literal of hundreds of digits parses, then cannot become
        # a float: the client's mistake, not the server's.
        where = _huge_number_place(body, kind, names)
        raise _invalid(
            kind,
            f"{where}a number is too large for a 64-bit float (at most about 1.8e308)",
        ) from None
    if len(frame) == 0:
        raise _invalid(kind, "the body holds no records")
    return frame


class _Width:
    """Refuses records wider than the limit, naming the limit and the cause."""

    def __init__(self, kind: str, limit: int | None) -> None:
        self.kind = kind
        self.limit = limit

    def check(self, width: int, what: str = "a record holds") -> None:
        if self.limit is not None and width > self.limit:
            raise _invalid(
                self.kind,
                f"{what} {width} values, more than the {self.limit} this model accepts "
                f"(its features plus at most {EXTRA_FIELDS_ALLOWED} extra columns)",
            )


def _huge_number_place(body: bytes, kind: str, names: list[str] | None) -> str:
    """'record R, column C: ' for the first number too large for a float, or ''."""
    try:
        if kind == CSV:
            return _huge_csv_number(body.decode("utf-8-sig"), names)
        if kind in (JSON, JSONLINES):
            return _huge_json_number(body.decode("utf-8-sig"), kind, names)
    except Exception:  # noqa: BLE001 - locating is a courtesy; the 400 stands
        return ""
    return ""


def _too_big(value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        return False
    try:
        float(value)
    except OverflowError:
        return True
    except ValueError:
        return False
    return False


def _huge_csv_number(text: str, names: list[str] | None) -> str:
    rows = [r for r in csv.reader(io.StringIO(text)) if r]
    header = [f.strip() for f in rows[0]] if rows else []
    columns = header if _is_header(header, names) else None
    data = rows[1:] if columns else rows
    for number, row in enumerate(data, start=1):
        for index, field in enumerate(row):
            token = field.strip()
            if token.lstrip("+-").isdigit() and _too_big(int(token)):
                return f"record {number}, {_column_label(index, columns, names, len(row))}: "  # noqa: E501
    return ""


def _huge_json_number(text: str, kind: str, names: list[str] | None) -> str:
    if kind == JSONLINES:
        records = [json.loads(line) for line in text.splitlines() if line.strip()]
    else:
        records, names = _json_records(json.loads(text), names)
    for number, record in enumerate(records, start=1):
        if isinstance(record, dict):
            items: Any = record.items()
        else:
            items = enumerate(record if isinstance(record, list) else [record])
        for key, value in items:
            if _too_big(value):
                if isinstance(key, str):
                    return f"record {number}, column {key!r}: "
                return (
                    f"record {number}, {_column_label(key, None, names, len(record))}: "  # noqa: E501
                )
    return ""


def _json_records(payload: Any, names: list[str] | None) -> tuple[list, Any]:
    """The records of a JSON body (any accepted envelope), and their column names."""
    if isinstance(payload, dict):
        key = next((k for k in _JSON_KEYS if k in payload), None)
        if key == "dataframe_split":
            return payload[key].get("data", []), payload[key].get("columns") or names
        if key is None:
            return [payload], names
        payload = payload[key]
        if isinstance(payload, dict):  # {"inputs": {column: [values]}}
            return [
                dict(zip(payload, row, strict=False))
                for row in zip(*payload.values(), strict=False)
            ], names  # noqa: E501
    if isinstance(payload, list) and not any(
        isinstance(i, (dict, list)) for i in payload
    ):  # noqa: E501
        return [payload], names
    return payload, names


def _column_label(
    index: int, header: list[str] | None, names: list[str] | None, width: int
) -> str:
    if header is not None and index < len(header):
        return f"column {header[index]!r}"
    if names is not None and len(names) == width:
        return f"column {names[index]!r}"
    return f"value {index + 1}"


# First bytes of compressed bodies. InvokeEndpoint passes no Content-Encoding
# header to the container, so a compressed body can only be refused, by name.
COMPRESSED_BODY_MAGIC = {
    b"\x1f\x8b": "gzip",
    b"BZh": "bzip2",
    b"\xfd7zXZ\x00": "xz",
    b"\x28\xb5\x2f\xfd": "zstd",
    b"PK\x03\x04": "zip",
}


def _text(body: bytes, kind: str) -> str:
    try:
        return body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        for magic, name in COMPRESSED_BODY_MAGIC.items():
            if body.startswith(magic):
                raise _invalid(
                    kind,
                    f"the body is {name}-compressed; send it uncompressed "
                    "(SageMaker passes no Content-Encoding to the model, and "
                    "compressed request bodies are not read)",
                ) from None
        raise _invalid(
            kind, f"the body is not valid UTF-8 ({exc.reason} at byte {exc.start})"
        ) from None


def _positional_columns(width: int, feature_names: list[str] | None) -> list[Any]:
    if feature_names is not None and len(feature_names) == width:
        return list(feature_names)
    return list(range(width))


# CSV ---------------------------------------------------------------------------
def _split_first_line(text: str) -> list[str]:
    """The first record's fields (a quoted field may span lines)."""
    start = text.lstrip("\r\n")
    first = start.split("\n", 1)[0].rstrip("\r")
    # The reader pulls lines lazily: only the first record is parsed.
    source = io.StringIO(start) if '"' in first else [first]
    try:
        return [f.strip() for f in next(csv.reader(source), [])]
    except csv.Error as exc:
        raise _invalid(CSV, f"the first line could not be parsed: {exc}") from None


def _first_line_width(text: str) -> int:
    """How many fields the first line holds, counted without splitting it.

    Commas inside quoted fields do not count; a quoted field that runs past
    the end of the line counts its commas (an over-estimate, never under).
    """
    start = len(text) - len(text.lstrip("\r\n"))
    end = text.find("\n", start)
    line = text[start:] if end < 0 else text[start:end]
    if '"' in line:
        line = _QUOTED_FIELD.sub("", line)
    return line.count(",") + 1


def _is_header(fields: list[str], feature_names: list[str] | None) -> bool:
    return bool(feature_names) and any(f in set(feature_names) for f in fields)


def _decode_csv(
    body: bytes, feature_names: list[str] | None, width: _Width
) -> pd.DataFrame:
    text = _text(body, CSV)
    if not text.strip():
        raise _invalid(CSV, "the body is empty")
    width.check(_first_line_width(text), "the first line holds")
    header_fields = _split_first_line(text)
    header = header_fields if _is_header(header_fields, feature_names) else None
    if header is not None:
        duplicates = sorted({h for h in header if header.count(h) > 1})
        if duplicates:
            raise _invalid(CSV, f"the header names {duplicates} more than once")
    if len(body) <= _SMALL_CSV_BYTES:
        frame = _csv_small(text, header is not None)
    else:
        frame = _csv_large(body, header is not None, len(header_fields))
    if header is not None:
        if frame.shape[1] != len(header):
            raise _invalid(
                CSV,
                f"the header has {len(header)} fields but the records have {frame.shape[1]}",  # noqa: E501
            )
        frame.columns = header
    else:
        frame.columns = _positional_columns(frame.shape[1], feature_names)
    return frame


def _csv_small(text: str, skip_header: bool) -> pd.DataFrame:
    if '"' in text or "\0" in text:
        try:
            rows = [r for r in csv.reader(io.StringIO(text)) if r]
        except csv.Error as exc:
            raise _invalid(CSV, f"the CSV could not be parsed: {exc}") from None
    else:
        rows = [line.split(",") for line in text.splitlines() if line]
    if skip_header:
        rows = rows[1:]
    if not rows:
        return pd.DataFrame()
    _equal_width(rows, CSV)
    columns = [_typed_column(values) for values in zip(*rows, strict=True)]
    return pd.DataFrame(dict(enumerate(columns)))


def _parse_number(token: str) -> int | float | None:
    """A number, or None if the token is not one (underscores refused, unlike int())."""
    if "_" in token:
        return None
    try:
        return int(token)
    except ValueError:
        pass
    try:
        return float(token)
    except ValueError:
        return None


def _typed_column(raw: Sequence[str]) -> Any:
    tokens = [t.strip() for t in raw]
    values: list[Any] = [None if t in MISSING_TOKENS else t for t in tokens]
    present = [v for v in values if v is not None]
    if not present:
        return pd.Series(values, dtype=object)
    numbers = [_parse_number(v) for v in present]
    if any(n is None for n in numbers):
        return pd.Series(values, dtype=object)
    parsed = iter(numbers)
    filled = [math.nan if v is None else next(parsed) for v in values]
    all_ints = all(isinstance(n, int) for n in numbers) and len(present) == len(values)
    if all_ints:
        try:
            return np.array(filled, dtype=np.int64)
        except OverflowError:
            pass
    return np.array(filled, dtype=np.float64)


def _csv_large(body: bytes, skip_header: bool, width: int) -> pd.DataFrame:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    names = [f"c{i}" for i in range(width)]
    read = pacsv.ReadOptions(
        column_names=names, skip_rows=1 if skip_header else 0, use_threads=False
    )
    # Read every column as text and type it ourselves, so the rules match the
    # small-payload reader exactly (no dates, booleans or locale surprises).
    convert = pacsv.ConvertOptions(
        column_types={n: pa.string() for n in names},
        null_values=[],
        strings_can_be_null=False,
    )
    # Quoted fields may hold newlines (the small reader allows them too);
    # pyarrow parses faster when told they cannot occur.
    parse = pacsv.ParseOptions(newlines_in_values=b'"' in body)
    try:
        table = pacsv.read_csv(
            io.BytesIO(body),
            read_options=read,
            parse_options=parse,
            convert_options=convert,
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError, UnicodeDecodeError) as exc:
        message = str(exc).replace("CSV parse error: ", "")
        raise _invalid(
            CSV,
            f"the CSV could not be parsed: {message}; every record needs {width} values",  # noqa: E501
        ) from None
    return pd.DataFrame(
        {i: _typed_arrow_column(table.column(n)) for i, n in enumerate(names)}
    )


def _typed_arrow_column(column: Any) -> Any:
    import pyarrow as pa
    import pyarrow.compute as pc

    trimmed = pc.utf8_trim_whitespace(column)
    missing = pc.is_in(trimmed, value_set=pa.array(sorted(MISSING_TOKENS)))
    values = pc.if_else(missing, pa.scalar(None, pa.string()), trimmed)
    if values.null_count == len(values):
        return pd.Series([None] * len(values), dtype=object)
    # A column whose first value is not a number is text: skip the casts,
    # which scan the whole column before they fail.
    first = pc.drop_null(values)[0].as_py()
    numeric = _parse_number(first) is not None
    if numeric and not pc.any(pc.match_substring(values, "_")).as_py():
        for target in (pa.int64(), pa.float64()):
            try:
                return pc.cast(values, target).to_pandas()
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                continue
    return values.to_pandas().astype(object).where(lambda s: s.notna(), None)


# JSON ---------------------------------------------------------------------------
def _decode_json(
    body: bytes, feature_names: list[str] | None, width: _Width
) -> pd.DataFrame:
    text = _text(body, JSON)
    try:
        payload = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _invalid(
            JSON,
            f"the body is not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})",  # noqa: E501
        ) from None
    except RecursionError:
        raise _invalid(JSON, "the JSON is nested too deeply") from None
    return _from_json_payload(payload, feature_names, width)


def _from_json_payload(
    payload: Any, feature_names: list[str] | None, width: _Width
) -> pd.DataFrame:
    if isinstance(payload, list):
        return _from_records(payload, feature_names, "the list", width)
    if not isinstance(payload, dict):
        raise _invalid(
            JSON,
            f"the body is a JSON {type(payload).__name__}, not an object or a list",
        )
    keys = [k for k in _JSON_KEYS if k in payload]
    if len(keys) > 1:
        raise _invalid(JSON, f"the object has {keys}; send only one of them")
    if not keys:
        return _from_records([payload], feature_names, "the object", width)
    key = keys[0]
    value = payload[key]
    if key == "dataframe_split":
        return _from_split(value, feature_names, width)
    if key == "inputs" and isinstance(value, dict):
        return _from_columns(value, width)
    if not isinstance(value, list):
        raise _invalid(
            JSON,
            f'"{key}" holds a {type(value).__name__}; it must hold a list of records',
        )
    return _from_records(value, feature_names, f'"{key}"', width)


def _from_split(
    value: Any, feature_names: list[str] | None, width: _Width
) -> pd.DataFrame:
    if not isinstance(value, dict) or not isinstance(value.get("data"), list):
        raise _invalid(
            JSON,
            '"dataframe_split" must be an object with "data" (a list of rows) and optionally "columns"',  # noqa: E501
        )
    columns = value.get("columns")
    rows = value["data"]
    if rows and not all(isinstance(r, list) for r in rows):
        raise _invalid(JSON, '"dataframe_split.data" must be a list of lists')
    if isinstance(columns, list):
        width.check(len(columns), '"dataframe_split.columns" names')
    frame = _from_rows(rows, None, '"dataframe_split.data"', width)
    if columns is None:
        frame.columns = _positional_columns(frame.shape[1], feature_names)
        return frame
    if not isinstance(columns, list) or not all(isinstance(c, str) for c in columns):
        raise _invalid(JSON, '"dataframe_split.columns" must be a list of strings')
    if rows and len(columns) != frame.shape[1]:
        raise _invalid(
            JSON,
            f'"dataframe_split" has {len(columns)} columns but its rows have {frame.shape[1]} values',  # noqa: E501
        )
    _refuse_duplicates(columns)
    if not rows:
        return pd.DataFrame(columns=columns)
    frame.columns = columns
    return frame


def _from_columns(value: dict[str, Any], width: _Width) -> pd.DataFrame:
    if not all(isinstance(v, list) for v in value.values()):
        return _from_records([value], None, '"inputs"', width)
    width.check(len(value), '"inputs" names')
    lengths = {len(v) for v in value.values()}
    if len(lengths) > 1:
        raise _invalid(
            JSON,
            f'the columns of "inputs" have different lengths {sorted(lengths)}; '
            "each must hold one value per record",
        )
    frame = pd.DataFrame(value)
    _refuse_nested(frame, JSON)
    return frame


def _from_records(
    items: list[Any], feature_names: list[str] | None, where: str, width: _Width
) -> pd.DataFrame:
    if not items:
        return pd.DataFrame()
    if all(isinstance(i, dict) for i in items):
        return _from_objects(items, JSON, width)
    if all(isinstance(i, list) for i in items):
        return _from_rows(items, feature_names, where, width)
    if not any(isinstance(i, (dict, list)) for i in items):
        # A flat list of scalars is one record (the common `json.dumps(row)`).
        return _from_rows([items], feature_names, where, width)
    raise _invalid(
        JSON,
        f"{where} mixes lists, objects and single values; "
        "send a list of rows (lists) or a list of objects",
    )


def _from_objects(
    items: list[dict[str, Any]], kind: str, width: _Width
) -> pd.DataFrame:
    if width.limit is not None:
        # Objects may each name different keys: bound the union, which is
        # the width of the frame they become.
        keys: set[Any] = set()
        for item in items:
            width.check(len(item))
            keys.update(item)
            width.check(len(keys), "the records name")
    frame = pd.DataFrame.from_records(items)
    _refuse_duplicates([str(c) for c in frame.columns])
    _refuse_nested(frame, kind)
    # Keys absent from some records mean missing values; pandas gives NaN for them.
    return frame


def _from_rows(
    rows: list[list[Any]],
    feature_names: list[str] | None,
    where: str,
    width: _Width,
) -> pd.DataFrame:
    kind = width.kind
    if not rows:
        return pd.DataFrame()
    width.check(len(rows[0]), f"{where}: record 1 holds")
    values = _equal_width(rows, kind, f"{where}: ")
    if values == 0:
        raise _invalid(kind, f"{where}: the records hold no values")
    frame = pd.DataFrame(rows)
    _refuse_nested(frame, kind)
    frame.columns = _positional_columns(values, feature_names)
    return frame


def _refuse_duplicates(columns: list[str]) -> None:
    duplicates = sorted({c for c in columns if columns.count(c) > 1})
    if duplicates:
        raise _invalid(JSON, f"the columns {duplicates} appear more than once")


def _refuse_nested(frame: pd.DataFrame, kind: str) -> None:
    for column in frame.columns:
        series = frame[column]
        if series.dtype != object:
            continue
        nested = series.map(lambda v: isinstance(v, (list, dict)))
        if nested.any():
            row = int(np.flatnonzero(nested.to_numpy())[0]) + 1
            raise _invalid(
                kind,
                f"record {row} holds a list or object in column {column!r}; "
                "each value must be a number, a string or null",
            )


# JSON Lines ----------------------------------------------------------------------
def _decode_jsonlines(
    body: bytes, feature_names: list[str] | None, width: _Width
) -> pd.DataFrame:
    text = _text(body, JSONLINES)
    records = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise _invalid(
                JSONLINES,
                f"line {number} is not valid JSON ({exc.msg} at column {exc.colno})",
            ) from None
        except RecursionError:
            raise _invalid(JSONLINES, f"line {number} is nested too deeply") from None
        records.append(record if isinstance(record, (list, dict)) else [record])
    if not records:
        return pd.DataFrame()
    if all(isinstance(r, dict) for r in records):
        return _from_objects(records, JSONLINES, width)
    if all(isinstance(r, list) for r in records):
        return _from_rows(records, feature_names, "the lines", width)
    raise _invalid(
        JSONLINES, "the lines mix lists and objects; use one form throughout"
    )


# NPY --------------------------------------------------------------------------------
def _decode_npy(
    body: bytes, feature_names: list[str] | None, width: _Width
) -> pd.DataFrame:
    if not body.startswith(b"\x93NUMPY"):
        # Checked first: np.load would otherwise try to read junk as a pickle.
        raise _invalid(NPY, "the body is not a .npy array (no .npy header)")
    try:
        array = np.load(io.BytesIO(body), allow_pickle=False)
    except ValueError as exc:
        problem = (
            "the array holds Python objects, which are refused for safety"
            if "pickle" in str(exc)
            else f"the body is not a .npy array ({exc})"
        )
        raise _invalid(NPY, problem) from None
    except Exception as exc:  # noqa: BLE001 - np.load raises many types on junk
        raise _invalid(
            NPY, f"the body is not a .npy array ({type(exc).__name__})"
        ) from None
    if not isinstance(array, np.ndarray):
        raise _invalid(NPY, "the body is an .npz archive, not a single array")
    if array.dtype.names:
        width.check(len(array.dtype.names), "the structured array names")
        if array.ndim == 0:
            array = array.reshape(1)
        if array.ndim != 1:
            raise _invalid(NPY, f"a structured array must be 1-D, got {array.ndim}-D")
        return pd.DataFrame({name: array[name] for name in array.dtype.names})
    if array.ndim == 1:
        array = array.reshape(1, -1)
    if array.ndim != 2:
        raise _invalid(
            NPY,
            f"the array is {array.ndim}-D; "
            "send 1-D (one record) or 2-D (one row per record)",
        )
    if array.shape[1] == 0:
        raise _invalid(NPY, "the records hold no values")
    width.check(array.shape[1])
    if array.dtype.kind in "SUV":
        array = array.astype(str).astype(object)
    return pd.DataFrame(
        array, columns=_positional_columns(array.shape[1], feature_names)
    )


_DECODERS = {
    CSV: _decode_csv,
    JSON: _decode_json,
    JSONLINES: _decode_jsonlines,
    NPY: _decode_npy,
}


# --- encoding ------------------------------------------------------------------------
def _plain(values: np.ndarray) -> list[Any]:
    """Python values that json.dumps and str() render faithfully."""
    return np.asarray(values).tolist()


def _csv_field(value: Any) -> str:
    text = repr(value) if isinstance(value, float) else str(value)
    if any(c in text for c in ',"\n\r'):
        return '"' + text.replace('"', '""') + '"'
    return text


def _jsonlines_record(prediction: Any) -> str:
    return json.dumps({"prediction": prediction}, allow_nan=False)


def _rendered(
    predictions: np.ndarray | Sequence[Any], render: Any, labels: list[Any]
) -> list[str]:
    """`render(label)` for each label, rendering each distinct label only once.

    Class labels repeat (a few classes over many rows): rendering the distinct
    ones and repeating them is ~15 times faster on large batches. Only for
    arrays whose equal values render alike (numbers of one dtype, or all
    text); mixed objects (1, 1.0 and True compare equal) take one call each.
    """
    values = np.asarray(predictions)
    if values.dtype.kind == "f" and render in _FLOAT_RENDERERS:
        # Regression values rarely repeat; what costs is the per-value call.
        if not np.isfinite(values).all():
            return [render(label) for label in labels]  # raises as before
        return list(map(_FLOAT_RENDERERS[render], labels))
    repeats = values.dtype.kind in "biuU" or (
        values.dtype.kind == "O" and pd.api.types.infer_dtype(values) == "string"
    )
    if not repeats or len(values) < 64:
        return [render(label) for label in labels]
    codes, uniques = pd.factorize(values.ravel(), use_na_sentinel=False)
    table = np.array([render(u) for u in np.asarray(uniques).tolist()], dtype=object)
    return table[codes].tolist()


def _float_jsonlines_record(value: float) -> str:
    return '{"prediction": ' + float.__repr__(value) + "}"


# Finite floats need no quoting in CSV, and json.dumps writes them as repr.
_FLOAT_RENDERERS = {
    _csv_field: float.__repr__,
    _jsonlines_record: _float_jsonlines_record,
}


def encode(
    predictions: np.ndarray | Sequence[Any],
    accept: str,
    probabilities: np.ndarray | None = None,
    classes: Sequence[Any] | None = None,
) -> bytes:
    """Encode one output record per prediction, in order, as `accept` asks.

    With probabilities (a rows × classes array, columns in `classes` order):
    JSON adds ``"probabilities": [{class: p, ...}, ...]``; JSON Lines adds
    ``"probabilities"`` to each line's object; CSV appends one column per
    class after the prediction; NPY returns a structured array with a
    ``prediction`` field and one field per class.
    """
    kind = media_type(accept)
    labels = _plain(predictions)
    if probabilities is not None and classes is None:
        raise ValueError("classes are needed to label probabilities")
    names = [str(c) for c in classes] if classes is not None else []
    if kind == JSON:
        out: dict[str, Any] = {"predictions": labels}
        if probabilities is not None:
            out["probabilities"] = [
                dict(zip(names, row, strict=True)) for row in probabilities.tolist()
            ]
        return json.dumps(out, allow_nan=False).encode()
    if kind == JSONLINES:
        if probabilities is None:
            lines = _rendered(predictions, _jsonlines_record, labels)
        else:
            lines = [
                json.dumps(
                    {
                        "prediction": p,
                        "probabilities": dict(zip(names, row, strict=True)),
                    }
                )
                for p, row in zip(labels, probabilities.tolist(), strict=True)
            ]
        return "\n".join(lines).encode()
    if kind == CSV:
        if probabilities is None:
            lines = _rendered(predictions, _csv_field, labels)
        else:
            lines = [
                ",".join([_csv_field(p), *(repr(x) for x in row)])
                for p, row in zip(labels, probabilities.tolist(), strict=True)
            ]
        return "\n".join(lines).encode()
    if kind == NPY:
        return _encode_npy(np.asarray(predictions), probabilities, names)
    raise UnsupportedAccept(
        f"Accept {accept!r} is not supported: ask for one of {_SUPPORTED_TEXT}"
    )


def _encode_npy(
    predictions: np.ndarray, probabilities: np.ndarray | None, names: list[str]
) -> bytes:
    if predictions.dtype == object:
        predictions = predictions.astype(str)
    buffer = io.BytesIO()
    if probabilities is None:
        np.save(buffer, predictions, allow_pickle=False)
        return buffer.getvalue()
    dtype = [("prediction", predictions.dtype)] + [(n, np.float64) for n in names]
    out = np.empty(len(predictions), dtype=dtype)
    out["prediction"] = predictions
    for index, name in enumerate(names):
        out[name] = probabilities[:, index]
    np.save(buffer, out, allow_pickle=False)
    return buffer.getvalue()


def capture_text(
    body: bytes,
    content_type: str | None,
    csv_types: Sequence[str] | frozenset[str],
    json_types: Sequence[str] | frozenset[str],
) -> tuple[str, str]:
    """(data, encoding) for a captured payload, as SageMaker's capture records it.

    Listed CSV and JSON types are kept as text; anything else (or text that is
    not UTF-8) is BASE64.
    """
    kind = media_type(content_type)
    encoding = None
    if kind in _media_types(tuple(csv_types)):
        encoding = "CSV"
    elif kind in _media_types(tuple(json_types)):
        encoding = "JSON"
    if encoding is not None:
        try:
            return body.decode("utf-8"), encoding
        except UnicodeDecodeError:
            pass
    return base64.b64encode(body).decode("ascii"), "BASE64"


@functools.lru_cache(maxsize=64)
def _media_types(types: tuple[str, ...]) -> frozenset[str]:
    # Cached: capture calls this twice per request with the same few tuples.
    return frozenset(media_type(t) for t in types)

"""Read a training job's channels into DataFrames, checking what the files hold.

A channel is a folder under /opt/ml/input/data (or the folder named by
``SM_CHANNEL_<NAME>``). Its files may sit in sub-folders, as SageMaker keeps
the S3 key tree. Each file is CSV (with or without a header row), JSON Lines or
Parquet, optionally compressed with gzip, bzip2 or xz (told by the file's
first bytes, whatever its name); the format comes from the channel's
ContentType in inputdataconfig.json, else the file extension, else the file's
first bytes. Several files are concatenated after checking their columns agree.
Columns must be flat: nested values (Parquet lists, structs and maps, JSON
arrays and objects) are refused, as is a compressed file that does not
decompress to its end.

Every problem raises `DataError` with a message that names the channel, the
file and what was expected, so it can go straight into the failure file.
"""

from __future__ import annotations

import bz2
import csv
import gzip
import hashlib
import io
import json
import lzma
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Literal

import numpy as np
import pandas as pd

from container.contract import codecs
from container.contract.columns import describe_difference, positional_names
from container.contract.paths import TRAIN_CHANNELS, OptMl
from container.training.errors import DataError

FileFormat = Literal["csv", "jsonl", "parquet"]

# Channels this job reads; any other channel is listed in the log and ignored.
VALIDATION_CHANNEL = "validation"
TEST_CHANNEL = "test"
EVALUATION_CHANNELS = (VALIDATION_CHANNEL, TEST_CHANNEL)

# Channel ContentTypes (any spelling `codecs.media_type` knows) → file format.
CONTENT_TYPES: dict[str, FileFormat] = {
    codecs.CSV: "csv",
    codecs.JSONLINES: "jsonl",
    codecs.PARQUET: "parquet",
}
EXTENSIONS: dict[str, FileFormat] = {
    ".csv": "csv",
    ".txt": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
}
PARQUET_MAGIC = b"PAR1"
# Compressions read, by the first bytes of the file → (name, opener). The
# names are also what pandas calls them.
COMPRESSIONS: dict[bytes, tuple[str, Any]] = {
    b"\x1f\x8b": ("gzip", gzip.open),
    b"BZh": ("bz2", bz2.open),
    b"\xfd7zXZ\x00": ("xz", lzma.open),
}
# Archives and compressions told apart from data only to say they are not read.
UNREAD_ARCHIVES: dict[bytes, str] = {
    b"PK\x03\x04": "a zip archive",
    b"\x28\xb5\x2f\xfd": "zstd-compressed",
    b"7z\xbc\xaf\x27\x1c": "a 7-Zip archive",
}
# What a stream that does not decompress raises (BadGzipFile is an OSError;
# bz2 says "Invalid data stream" as an OSError; a cut stream is an EOFError).
DECOMPRESSION_ERRORS = (OSError, EOFError, zlib.error, lzma.LZMAError)
# Values that make a column nested rather than flat.
NESTED_TYPES = (list, tuple, dict, set, np.ndarray)
# pandas' names for object columns that cannot hold a nested value.
FLAT_INFERRED_TYPES = frozenset(
    {
        "string",
        "bytes",
        "empty",
        "boolean",
        "integer",
        "floating",
        "decimal",
        "mixed-integer-float",
        "datetime",
        "datetime64",
        "date",
        "time",
        "timedelta",
        "timedelta64",
        "period",
        "complex",
    }
)
# Lines looked at to decide whether a CSV's first row is a header.
HEADER_SAMPLE_BYTES = 64 * 1024
HASH_CHUNK_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True)
class ChannelFile:
    """One input file: where it is (relative to its channel), its hash and size."""

    path: str
    format: FileFormat
    # "gzip", "bz2", "xz", or None when the file is not compressed.
    compression: str | None
    sha256: str
    rows: int

    @property
    def compressed(self) -> bool:
        return self.compression is not None

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "format": self.format,
            "compressed": self.compressed,
            "compression": self.compression,
            "sha256": self.sha256,
            "rows": self.rows,
        }


@dataclass(frozen=True)
class ChannelData:
    name: str
    frame: pd.DataFrame
    files: tuple[ChannelFile, ...]
    # False when the columns were named by position (_c0, _c1, ...).
    has_header: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows": int(len(self.frame)),
            "columns": int(self.frame.shape[1]),
            "has_header": self.has_header,
            "files": [f.to_dict() for f in self.files],
        }


@dataclass(frozen=True)
class ChannelSpec:
    name: str
    folder: Path
    content_type: str | None = None
    input_mode: str | None = None


# --- which channels ---------------------------------------------------------------
def read_inputdataconfig(opt_ml: OptMl) -> dict[str, dict[str, Any]]:
    path = opt_ml.inputdataconfig_file
    if not path.is_file():
        return {}
    try:
        config = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise DataError(f"{path} is not valid JSON: {exc}") from None
    if not isinstance(config, dict) or not all(
        isinstance(v, dict) for v in config.values()
    ):
        raise DataError(
            f"{path} must be a JSON object of channel name → settings, e.g. "
            '{"train": {"ContentType": "text/csv"}}'
        )
    return config


def discover_channels(
    opt_ml: OptMl, env_channels: Mapping[str, str] | None = None
) -> dict[str, ChannelSpec]:
    """Channels named by inputdataconfig.json, SM_CHANNEL_* and the data sub-folders."""
    config = read_inputdataconfig(opt_ml)
    env_channels = dict(env_channels or {})
    names = set(config) | set(env_channels)
    if opt_ml.data_dir.is_dir():
        names |= {p.name for p in opt_ml.data_dir.iterdir() if p.is_dir()}
    specs = {}
    for name in sorted(names):
        settings = config.get(name, {})
        folder = (
            Path(env_channels[name])
            if name in env_channels
            else opt_ml.channel_dir(name)
        )
        specs[name] = ChannelSpec(
            name=name,
            folder=folder,
            content_type=settings.get("ContentType"),
            input_mode=settings.get("TrainingInputMode"),
        )
    return specs


def train_channel(specs: Mapping[str, ChannelSpec], opt_ml: OptMl) -> ChannelSpec:
    present = [specs[n] for n in TRAIN_CHANNELS if n in specs]
    if not present:
        raise DataError(
            f"no training data: expected a channel named 'train' (or 'training') with files under {opt_ml.channel_dir('train')}; "  # noqa: E501
            f"channels found: {sorted(specs) or 'none'}"
        )
    if len(present) > 1:
        raise DataError(
            "both 'train' and 'training' channels were given: "
            "use one of them for the training data"
        )
    return present[0]


# --- formats ------------------------------------------------------------------------
def parse_content_type(
    content_type: str | None,
) -> tuple[FileFormat | None, bool | None]:
    """A channel ContentType → (format, header flag from ``header=present|absent``)."""
    if not content_type:
        return None, None
    fmt = CONTENT_TYPES.get(codecs.media_type(content_type))
    if fmt is None:
        accepted = ", ".join(
            s for media in CONTENT_TYPES for s in codecs.spellings(media)
        )
        raise DataError(
            f"ContentType {content_type!r} is not supported: "
            f"use one of {accepted} (or leave it unset to go by file extension)"
        )
    given = codecs.media_params(content_type).get("header", "").lower()
    return fmt, {"present": True, "absent": False}.get(given)


COMPRESSED_SUFFIXES = (".gz", ".gzip", ".bz2", ".xz")


def _sniff_format(head: bytes) -> FileFormat:
    if head.startswith(PARQUET_MAGIC):
        return "parquet"
    if head.lstrip()[:1] == b"{":
        return "jsonl"
    return "csv"


def file_format(path: Path, head: bytes, declared: FileFormat | None) -> FileFormat:
    if declared is not None:
        return declared
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in COMPRESSED_SUFFIXES:
        suffixes = suffixes[:-1]
    if suffixes and suffixes[-1] in EXTENSIONS:
        return EXTENSIONS[suffixes[-1]]
    return _sniff_format(head)


def list_files(spec: ChannelSpec) -> list[Path]:
    """Data files of a channel, nested folders included, in a stable order.

    Names starting with "." or "_" are skipped: they are markers left by tools
    (``_SUCCESS``, ``.DS_Store``, ``_committed_*``), not data.
    """
    if spec.input_mode and spec.input_mode.lower() == "pipe":
        raise DataError(
            f"channel {spec.name!r} uses Pipe input mode, "
            "which this image does not read: use TrainingInputMode File or FastFile"
        )
    if not spec.folder.is_dir():
        raise DataError(
            f"channel {spec.name!r}: folder {spec.folder} does not exist; "
            "expected the channel's files there"
        )
    files = [
        p
        for p in sorted(spec.folder.rglob("*"))
        if p.is_file()
        and not any(
            part.startswith((".", "_")) for part in p.relative_to(spec.folder).parts
        )
    ]
    if not files:
        raise DataError(
            f"channel {spec.name!r} has no data files under {spec.folder}: "
            "expected CSV, JSON Lines or Parquet files (optionally .gz, .bz2 or .xz)"
        )
    return files


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(HASH_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


# --- CSV header detection -------------------------------------------------------------
def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def open_file(path: Path, compression: str | None) -> IO[bytes]:
    """The file's bytes, decompressed."""
    if compression is None:
        return path.open("rb")
    opener = next(o for name, o in COMPRESSIONS.values() if name == compression)
    return opener(path, "rb")


def _sample_rows(path: Path, compression: str | None) -> list[list[str]]:
    with open_file(path, compression) as fh:
        raw = fh.read(HEADER_SAMPLE_BYTES)
    text = raw.decode("utf-8", errors="replace")
    lines = text.splitlines()
    if len(raw) == HEADER_SAMPLE_BYTES and len(lines) > 1:
        lines = lines[:-1]  # the last line may be cut in the middle
    return [row for row in csv.reader(lines) if any(cell.strip() for cell in row)]


def detect_header(rows: list[list[str]]) -> bool:
    """Whether the first CSV row names the columns.

    A first row holding any number is data (headerless files in SageMaker's
    convention are label-first and numeric). Otherwise it is a header when some
    column below it holds numbers, or, for all-text data, when none of its
    values reappears in its own column.
    """
    if not rows:
        return False
    first, rest = [c.strip() for c in rows[0]], rows[1:]
    if any(c == "" or _is_number(c) for c in first):
        return False
    if not rest:
        return True
    for index in range(len(first)):
        column = [r[index].strip() for r in rest if index < len(r) and r[index].strip()]
        if column and all(_is_number(v) for v in column):
            return True
    return all(
        first[i] not in {r[i].strip() for r in rest if i < len(r)}
        for i in range(len(first))
    )


# --- reading one file -----------------------------------------------------------------
def _read_csv(path: Path, header: bool, compression: str | None) -> pd.DataFrame:
    try:
        # pyarrow parses in parallel and is several times faster on large files.
        # The compression is given, never inferred from the file name.
        frame = pd.read_csv(
            path,
            engine="pyarrow",
            header=0 if header else None,
            compression=compression,
        )
    except pd.errors.EmptyDataError:
        return pd.DataFrame()
    except DECOMPRESSION_ERRORS as exc:
        if compression:
            raise  # read_file says the file is corrupt
        raise DataError(f"cannot read {path.name} as CSV: {exc}") from None
    except ValueError as exc:  # pyarrow.ArrowInvalid is a ValueError
        raise DataError(f"cannot parse {path.name} as CSV: {exc}".strip()) from None
    _refuse_undecoded_text(frame, path)
    if not header:
        frame.columns = positional_names(frame.shape[1])
    return frame


def _refuse_undecoded_text(frame: pd.DataFrame, path: Path) -> None:
    """Say a file is not UTF-8 rather than fail later on its bytes.

    pyarrow types a whole column as binary when any of its text is not UTF-8,
    so the first value of each text column tells.
    """
    for column in frame.select_dtypes(include="object").columns:
        values = frame[column].dropna()
        if len(values) and isinstance(values.iloc[0], bytes):
            raise DataError(
                f"{path.name} is not UTF-8 text (column {column!r} holds {values.iloc[0][:20]!r}); "  # noqa: E501
                "re-save the file as UTF-8"
            )


def _read_jsonl(path: Path, compression: str | None) -> pd.DataFrame:
    try:
        frame = pd.read_json(
            path,
            lines=True,
            dtype=False,
            convert_dates=False,
            compression=compression,
        )
    except ValueError as exc:
        raise DataError(
            f"cannot parse {path.name} as JSON Lines: {exc}. "
            "Expected one JSON object per line, e.g. "
            '{"feature_a": 1.5, "target": "yes"}'
        ) from None
    return frame


def _read_parquet(path: Path, compression: str | None) -> pd.DataFrame:
    if compression:
        with open_file(path, compression) as fh:
            data = io.BytesIO(fh.read())  # a corrupt stream fails here, in read_file
    try:
        return pd.read_parquet(data if compression else path)
    except (ValueError, OSError) as exc:
        raise DataError(f"cannot read {path.name} as Parquet: {exc}") from None


def _refuse_nested_columns(channel: str, rel: str, frame: pd.DataFrame) -> None:
    """Name the first column holding lists, structs or maps, rather than train on
    their text ("[1 2]") as if it were a category."""
    for column in frame.select_dtypes(include="object").columns:
        values = frame[column]
        if pd.api.types.infer_dtype(values, skipna=True) in FLAT_INFERRED_TYPES:
            continue
        nested = values.map(lambda v: isinstance(v, NESTED_TYPES)).to_numpy(bool)
        if nested.any():
            row = int(np.flatnonzero(nested)[0])
            example = values.iloc[row]
            shown = repr(
                example.tolist() if isinstance(example, np.ndarray) else example
            )
            raise DataError(
                f"channel {channel!r}, file {rel}: column {column!r} holds nested "
                f"values (lists, structs or maps), e.g. {shown[:60]} "
                f"in data row {row + 1}; "
                "train reads flat columns of numbers or text only. Flatten it into "
                "columns of their own (one per list position or key), or leave it "
                "out of the file"
            )


def _compression_of(channel: str, rel: str, head: bytes) -> str | None:
    for magic, (name, _) in COMPRESSIONS.items():
        if head.startswith(magic):
            return name
    for magic, what in UNREAD_ARCHIVES.items():
        if head.startswith(magic):
            raise DataError(
                f"channel {channel!r}: file {rel} is {what}, which train does not "
                "read: store the data uncompressed, or compress each file with "
                "gzip, bzip2 or xz"
            )
    return None


def _check_header_names(channel: str, rel: str, rows: list[list[str]]) -> None:
    names = [c.strip() for c in rows[0]]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise DataError(
            f"channel {channel!r}, file {rel}: "
            f"the header names {duplicates} more than once; column names must be unique"
        )


def read_file(
    channel: str,
    root: Path,
    path: Path,
    declared: FileFormat | None,
    header: bool | None,
) -> tuple[pd.DataFrame, ChannelFile, bool]:
    """Read one file → (frame, its description, whether it had a header row)."""
    rel = str(path.relative_to(root))
    with path.open("rb") as fh:
        head = fh.read(16)
    if not head:
        raise DataError(f"channel {channel!r}: file {rel} is empty (0 bytes)")
    compression = _compression_of(channel, rel, head)
    try:
        if compression:
            with open_file(path, compression) as fh:
                head = fh.read(16)
        fmt = file_format(path, head, declared)
        frame, has_header = _read_format(channel, rel, path, fmt, header, compression)
    except DECOMPRESSION_ERRORS as exc:
        if not compression:
            raise
        raise DataError(
            f"channel {channel!r}: file {rel} is not a valid {compression} file "
            f"({exc or type(exc).__name__}); it is truncated or corrupt: "
            "upload it again, or re-compress it"
        ) from None
    if len(frame) == 0:
        raise DataError(f"channel {channel!r}: file {rel} holds no data rows")
    frame.columns = [str(c).strip() for c in frame.columns]
    if fmt != "csv":  # CSV cells are text; only JSON and Parquet can nest
        _refuse_nested_columns(channel, rel, frame)
    described = ChannelFile(rel, fmt, compression, sha256_of(path), int(len(frame)))
    return frame, described, has_header


def _read_format(
    channel: str,
    rel: str,
    path: Path,
    fmt: FileFormat,
    header: bool | None,
    compression: str | None,
) -> tuple[pd.DataFrame, bool]:
    """(the frame, whether it had a header row) of one file in its format."""
    if fmt == "jsonl":
        return _read_jsonl(path, compression), True
    if fmt == "parquet":
        return _read_parquet(path, compression), True
    rows = _sample_rows(path, compression)
    if not rows:
        raise DataError(f"channel {channel!r}: file {rel} holds no rows")
    has_header = detect_header(rows) if header is None else header
    if has_header:
        _check_header_names(channel, rel, rows)
    return _read_csv(path, has_header, compression), has_header


# --- a whole channel ------------------------------------------------------------------
def _check_columns_agree(
    channel: str, first: tuple[str, pd.DataFrame], other: tuple[str, pd.DataFrame]
) -> None:
    (first_name, first_frame), (name, frame) = first, other
    expected, got = list(first_frame.columns), list(frame.columns)
    if set(expected) == set(got):
        return
    detail = describe_difference(expected, got)
    raise DataError(
        f"channel {channel!r}: the files' columns disagree: {name} has {len(got)} columns but {first_name} has {len(expected)} ({detail}). "  # noqa: E501
        "All files of a channel must hold the same columns."
    )


def read_channel(spec: ChannelSpec, header: bool | None = None) -> ChannelData:
    """Read a channel's files and concatenate them, in the first file's column order."""
    declared, declared_header = parse_content_type(spec.content_type)
    if header is None:
        header = declared_header
    frames: list[tuple[str, pd.DataFrame]] = []
    files: list[ChannelFile] = []
    headers: list[bool] = []
    for path in list_files(spec):
        frame, described, has_header = read_file(
            spec.name, spec.folder, path, declared, header
        )
        if frames:
            if has_header != headers[0]:
                with_header = files[0].path if headers[0] else described.path
                without = described.path if headers[0] else files[0].path
                raise DataError(
                    f"channel {spec.name!r}: "
                    f"{with_header} has a header row but {without} does not; "
                    "give all files a header, "
                    "or none (or set the header hyperparameter)"
                )
            _check_columns_agree(
                spec.name, (files[0].path, frames[0][1]), (described.path, frame)
            )
            frame = frame[list(frames[0][1].columns)]
        frames.append((described.path, frame))
        files.append(described)
        headers.append(has_header)
    combined = (
        frames[0][1]
        if len(frames) == 1
        else pd.concat([f for _, f in frames], ignore_index=True)
    )
    return ChannelData(spec.name, combined, tuple(files), headers[0])

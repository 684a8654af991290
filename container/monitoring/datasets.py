"""Read a dataset (CSV with or without header, JSON Lines, Parquet) in batches.

Files are streamed with pyarrow, a block at a time, so profiling a large
dataset needs memory for one block, not for the file. pyarrow guesses column
types from the first block; when a later block disagrees (a number column that
turns to text), that file is profiled again with every column read as text,
which is what a type check needs to see.

Headerless columns are named `_c0`, `_c1`, ... as Spark (and so AWS's analyzer)
names them, or by a model bundle's schema when one is given.
"""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.json as pajson
import pyarrow.parquet as pq

from container.contract.columns import positional_names
from container.monitoring.errors import MonitoringInputError, NoDataError
from container.monitoring.statistics import DatasetProfile, profile_batches

DatasetKind = Literal["csv", "json", "parquet", "capture"]
BLOCK_BYTES = 1 << 20
# Candidate column names for headerless data (e.g. features, or target + features):
# the one whose length matches the data is used.
NameChoices = Sequence[Sequence[str]]
PARQUET_BATCH_ROWS = 256_000
JSON_FALLBACK_ROWS = 50_000


@dataclass(frozen=True)
class DatasetFormat:
    """What `dataset_format` says about the input."""

    kind: DatasetKind = "csv"
    header: bool = True
    # Where a baseline dataset keeps the model's output columns (AWS: START).
    output_columns_position: str = "START"
    capture_index_names: tuple[str, ...] = ("endpointInput",)


def dataset_files(source: Path) -> list[Path]:
    """The data files under `source` (itself if a file), hidden files left out."""
    if source.is_file():
        return [source]
    if not source.is_dir():
        raise MonitoringInputError(
            f"dataset {source} does not exist: "
            "expected a file or a folder of data files"
        )
    files = sorted(
        p
        for p in source.rglob("*")
        if p.is_file()
        and not any(part.startswith(".") for part in p.relative_to(source).parts)
    )
    if not files:
        raise NoDataError(f"dataset folder {source} holds no files")
    return files


def profile_dataset(
    source: Path,
    fmt: DatasetFormat,
    names: NameChoices | None = None,
    track_values_for: Sequence[str] = (),
    categorical: Collection[str] = frozenset(),
) -> DatasetProfile:
    """Profile every file of a dataset; raises NoDataError when it holds no rows.
    Columns in `categorical` are profiled as String (class labels)."""
    total = DatasetProfile(
        track_values_for=frozenset(track_values_for), categorical=categorical
    )
    for path in dataset_files(source):
        try:
            part = _profile_file(path, fmt, names, track_values_for, categorical)
        except (OSError, EOFError) as exc:
            # pyarrow decompresses .gz/.bz2 files by name; a cut or corrupt
            # stream surfaces here ("Truncated compressed stream").
            raise MonitoringInputError(
                f"{path} cannot be read ({exc}); if it is compressed, it is "
                "truncated or corrupt: upload it again, or re-compress it"
            ) from None
        total = _merge_profiles(total, part)
    if total.item_count == 0:
        raise NoDataError(f"dataset {source} holds no records")
    return total


def _profile_file(
    path: Path,
    fmt: DatasetFormat,
    names: NameChoices | None,
    track_values_for: Sequence[str],
    categorical: Collection[str],
) -> DatasetProfile:
    """One file's profile; read as text when its columns' types do not parse."""
    try:
        return profile_batches(
            prefetch(read_file(path, fmt, names)), track_values_for, categorical
        )
    except pa.ArrowInvalid:
        try:
            return profile_batches(
                read_file(path, fmt, names, as_text=True),
                track_values_for,
                categorical,
            )
        except pa.ArrowInvalid as exc:
            raise MonitoringInputError(
                f"{path} is not readable as {fmt.kind}: {exc}"
            ) from None


def prefetch(batches: Iterator[pa.Table], depth: int = 2) -> Iterator[pa.Table]:
    """Read the next batches in a thread while the caller profiles this one.

    pyarrow's streaming CSV reader parses on one core; profiling is NumPy and
    Arrow work that also releases the GIL, so the two overlap. At most `depth`
    batches wait, which keeps memory bounded.
    """
    done = object()
    slots: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def offer(item: object) -> bool:
        """Queue `item` unless the consumer has gone (then never block)."""
        while not stop.is_set():
            try:
                slots.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for batch in batches:
                if not offer(batch):
                    return
            offer(done)
        except BaseException as exc:  # handed to the consumer, raised there
            offer(exc)

    worker = threading.Thread(target=produce, name="dataset-reader", daemon=True)
    worker.start()
    try:
        while (item := slots.get()) is not done:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        worker.join()


def _merge_profiles(a: DatasetProfile, b: DatasetProfile) -> DatasetProfile:
    out = DatasetProfile(
        item_count=a.item_count + b.item_count,
        track_values_for=a.track_values_for,
        categorical=a.categorical,
    )
    for name in list(a.columns) + [n for n in b.columns if n not in a.columns]:
        left, right = a.columns.get(name), b.columns.get(name)
        if left is not None and right is not None:
            out.columns[name] = left.merge(right)
        else:
            only = left if left is not None else right
            only.num_missing += b.item_count if left is not None else a.item_count
            out.columns[name] = only
    return out


def read_file(
    path: Path,
    fmt: DatasetFormat,
    names: NameChoices | None = None,
    as_text: bool = False,
) -> Iterator[pa.Table]:
    """Batches of one file as Arrow tables with their final column names.

    Raises pa.ArrowInvalid when the file does not parse (the caller retries
    as text, then reports).
    """
    if fmt.kind == "csv":
        yield from _read_csv(path, fmt.header, names, as_text)
    elif fmt.kind == "json":
        yield from _read_json_lines(path, names, as_text)
    elif fmt.kind == "parquet":
        yield from _read_parquet(path, names)
    else:
        raise MonitoringInputError(
            f"dataset format {fmt.kind!r} is not a plain dataset"
        )


def _read_csv(
    path: Path, header: bool, names: NameChoices | None, as_text: bool
) -> Iterator[pa.Table]:
    read = pacsv.ReadOptions(
        block_size=BLOCK_BYTES, autogenerate_column_names=not header
    )
    convert = pacsv.ConvertOptions(strings_can_be_null=True)
    if as_text:
        with pacsv.open_csv(path, read_options=read) as probe:
            columns = probe.schema.names
        convert = pacsv.ConvertOptions(
            strings_can_be_null=True, column_types={c: pa.string() for c in columns}
        )
    try:
        reader = pacsv.open_csv(path, read_options=read, convert_options=convert)
    except StopIteration:  # pragma: no cover - pyarrow raises this on some empty files
        return
    except pa.ArrowInvalid as exc:
        if "Empty CSV file" in str(exc):
            return
        raise
    with reader:
        final = _column_names(reader.schema.names, header, names, path)
        for batch in reader:
            if batch.num_rows:
                yield pa.Table.from_batches([batch]).rename_columns(final)


def _column_names(
    found: list[str], header: bool, names: NameChoices | None, path: Path
) -> list[str]:
    if header:
        return found
    if not names:
        return positional_names(len(found))
    for candidate in names:
        if len(candidate) == len(found):
            return list(candidate)
    expected = " or ".join(str(len(c)) for c in names)
    raise MonitoringInputError(
        f"{path} has {len(found)} columns but the model schema names {expected} ({', '.join(names[0])}); "  # noqa: E501
        "give data with those columns, or a header row"
    )


def _read_json_lines(
    path: Path, names: NameChoices | None, as_text: bool
) -> Iterator[pa.Table]:
    if path.stat().st_size == 0:
        return
    if not as_text:
        with pajson.open_json(
            path, read_options=pajson.ReadOptions(block_size=BLOCK_BYTES)
        ) as r:
            for batch in r:
                if batch.num_rows:
                    yield _name_json(pa.Table.from_batches([batch]), names)
        return
    # Mixed-type fields: parse with the json module and let profiling read text.
    rows: list[dict] = []
    with path.open(encoding="utf-8") as fh:
        for number, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise MonitoringInputError(
                    f"{path} line {number} is not JSON ({exc.msg}); "
                    "expected one JSON object per line"
                ) from None
            rows.append(
                record
                if isinstance(record, dict)
                else dict(enumerate(record if isinstance(record, list) else [record]))
            )
            if len(rows) >= JSON_FALLBACK_ROWS:
                yield _name_json(_text_table(rows), names)
                rows = []
    if rows:
        yield _name_json(_text_table(rows), names)


def _text_table(rows: list[dict]) -> pa.Table:
    frame = pd.DataFrame.from_records(rows)
    frame.columns = [str(c) for c in frame.columns]
    return pa.Table.from_pandas(frame.astype("string"), preserve_index=False)


def _name_json(table: pa.Table, names: NameChoices | None) -> pa.Table:
    # Rows written as arrays have positional keys; name them like headerless CSV.
    if all(n.isdigit() for n in table.column_names):
        for candidate in names or ():
            if len(candidate) == table.num_columns:
                return table.rename_columns(list(candidate))
        return table.rename_columns(positional_names(table.num_columns))
    return table


def _read_parquet(path: Path, names: NameChoices | None) -> Iterator[pa.Table]:
    try:
        parquet = pq.ParquetFile(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise MonitoringInputError(f"{path} is not a Parquet file: {exc}") from None
    for batch in parquet.iter_batches(batch_size=PARQUET_BATCH_ROWS):
        if batch.num_rows:
            yield pa.Table.from_batches([batch])

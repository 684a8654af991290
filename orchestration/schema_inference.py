"""A raw schema guessed from a CSV file, for `init`.

Every guess is one the user should be able to check at a glance: a type
(integer, float, date, string) from the values seen, a range widened by a
margin so that the next file's slightly larger values still pass, the
allowed values of a string column with few of them, nullable where a value
was missing, and a record id from a column that identifies rows (else the
row number). Pure functions over a DataFrame of text; nothing is written here.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from container.preparation.problem import problem_type

# A string column with at most this many distinct values, each seen at least
# twice on average, is a category: its values are listed as `allowed`.
MAX_ALLOWED_VALUES = 20
MAX_CODES = 5  # a whole-number column with at most this many values: codes
RANGE_MARGIN = 0.1  # of the range seen, on each side
ID_NAME = "record_id"
ID_LIKE = re.compile(r"(^|[_\s.-])(id|key|uuid)$", re.IGNORECASE)
INTEGER_TEXT = re.compile(r"^[+-]?\d+$")
DATE_TEXT = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True)
class ColumnGuess:
    name: str  # as in the file
    type: str
    nullable: bool
    rename: str | None = None  # a plain snake_case name for a name with spaces
    min: float | int | None = None
    max: float | int | None = None
    allowed: tuple[str, ...] = ()
    distinct: int = 0

    @property
    def produced(self) -> str:
        return self.rename or self.name

    def declaration(self) -> dict[str, Any]:
        """This column as the schema file declares it."""
        out: dict[str, Any] = {"type": self.type}
        for key in ("min", "max"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        if self.allowed:
            out["allowed"] = list(self.allowed)
        if self.nullable:
            out["nullable"] = True
        if self.rename:
            out["rename"] = self.rename
        return out


@dataclass(frozen=True)
class SchemaGuess:
    columns: tuple[ColumnGuess, ...]
    target: str  # the produced name
    features: tuple[str, ...]
    id_column: str | None  # None: the row number
    problem_type: str
    left_out: dict[str, str] = field(default_factory=dict)  # column → why

    def column(self, produced: str) -> ColumnGuess:
        return next(c for c in self.columns if c.produced == produced)

    def declaration(self) -> dict[str, Any]:
        """The schema file's content (`schema_from_dict` reads it)."""
        if self.id_column is None:
            id_spec: dict[str, Any] = {"name": self.id_name, "row_number": True}
        else:
            id_spec = {"name": self.id_name, "from": [self.id_column]}
        return {
            "id": id_spec,
            "columns": {c.name: c.declaration() for c in self.columns},
            "target": self.target,
            "features": list(self.features),
        }

    @property
    def id_name(self) -> str:
        taken = {c.produced for c in self.columns}
        name = ID_NAME
        while name in taken:
            name += "_"
        return name


def guess_schema(table: pd.DataFrame, target: str) -> SchemaGuess:
    """The schema of `table` (every value as text) with `target` as the label."""
    columns = tuple(_column(table[name], name, set(table.columns)) for name in table)
    by_name = {c.name: c for c in columns}
    id_column = _id_column(table, columns, target)
    left_out = {}
    features = []
    for column in columns:
        if column.name == target:
            continue
        why = _not_a_feature(column, id_column, len(table))
        if why:
            left_out[column.name] = why
        else:
            features.append(column.produced)
    problem = problem_type(table[target].dropna(), "auto")
    return SchemaGuess(
        columns=columns,
        target=by_name[target].produced,
        features=tuple(features),
        id_column=id_column,
        problem_type=problem,
        left_out=left_out,
    )


def _column(values: pd.Series, name: str, names: set[str]) -> ColumnGuess:
    text = values.dropna().astype(str).str.strip()
    present = text[text != ""]
    nullable = len(present) < len(values)
    kind = _type(present)
    rename = _plain_name(name, names)
    distinct = int(present.nunique())
    if kind == "integer" and _is_code(present, distinct):
        # A few whole numbers (1/2 for sex, 0-4 for a grade) are codes: list them.
        codes = sorted(present.unique(), key=int)
        return ColumnGuess(
            name, kind, nullable, rename, allowed=tuple(codes), distinct=distinct
        )
    if kind in ("integer", "float"):
        numbers = pd.to_numeric(present)
        low, high = _range(numbers, kind)
        return ColumnGuess(name, kind, nullable, rename, low, high, distinct=distinct)
    allowed: tuple[str, ...] = ()
    if kind == "string" and _is_category(present, distinct):
        allowed = tuple(sorted(present.unique()))
    return ColumnGuess(name, kind, nullable, rename, allowed=allowed, distinct=distinct)


def _type(present: pd.Series) -> str:
    if present.empty:
        return "string"
    if present.str.match(INTEGER_TEXT).all():
        return "integer"
    if pd.to_numeric(present, errors="coerce").notna().all():
        return "float"
    if present.str.match(DATE_TEXT).all():
        dates = pd.to_datetime(present, format="%Y-%m-%d", errors="coerce")
        if dates.notna().all():
            return "date"
    return "string"


def _range(numbers: pd.Series, kind: str) -> tuple[float | int, float | int]:
    """The values seen, widened by a margin; a column never below 0 stays so."""
    low, high = float(numbers.min()), float(numbers.max())
    margin = RANGE_MARGIN * ((high - low) or abs(high) or 1.0)
    wide_low, wide_high = low - margin, high + margin
    if low >= 0:
        wide_low = max(wide_low, 0.0)
    if kind == "integer":
        return math.floor(wide_low), math.ceil(wide_high)
    return _round(wide_low, math.floor), _round(wide_high, math.ceil)


def _round(value: float, direction: Any) -> float:
    """Three significant digits, outwards, so the range reads easily."""
    if value == 0:
        return 0.0
    digits = 2 - math.floor(math.log10(abs(value)))
    scale = 10.0**digits
    return float(round(direction(value * scale) / scale, max(digits, 0)))


def _is_category(present: pd.Series, distinct: int) -> bool:
    return 0 < distinct <= MAX_ALLOWED_VALUES and distinct * 2 <= len(present)


def _is_code(present: pd.Series, distinct: int) -> bool:
    return 0 < distinct <= MAX_CODES and distinct * 2 <= len(present)


def _plain_name(name: str, names: set[str]) -> str | None:
    """snake_case for a name a model's columns would rather not carry."""
    plain = re.sub(r"[^0-9a-zA-Z]+", "_", name).strip("_").lower()
    if not plain or plain == name or plain in names:
        return None
    return plain


def _id_column(
    table: pd.DataFrame, columns: tuple[ColumnGuess, ...], target: str
) -> str | None:
    """A column that names each row once: an id-like name first, then any text."""

    def unique(column: ColumnGuess) -> bool:
        values = table[column.name]
        return (
            column.name != target
            and not column.nullable
            and column.type in ("string", "integer")
            and values.nunique() == len(values)
        )

    candidates = [c for c in columns if unique(c)]
    named = [c for c in candidates if ID_LIKE.search(c.name)]
    text = [c for c in candidates if c.type == "string"]
    chosen = (named or text or [None])[0]
    return chosen.name if chosen else None


def _not_a_feature(column: ColumnGuess, id_column: str | None, rows: int) -> str:
    """Why a column is left out of the features ('' when it is one)."""
    if column.name == id_column:
        return "the record id"
    if column.type == "date":
        return "a date (use it as data.split.time_column for a time-ordered split)"
    if column.type == "string" and not column.allowed:
        return f"text with {column.distinct} distinct values of {rows}, not a category"
    if column.distinct == 0:
        return "no value in any row"
    return ""

"""Mergeable per-column profiles: the facts statistics.json is written from.

A dataset is read in batches; each batch's columns are classified value by
value (missing / Integral / Fractional / String, as Deequ does) and summarised
into a `ColumnProfile` that merges with the profiles of other batches. Only
counts, moments, a KLL sketch and (for text) value counts are kept, so memory
does not grow with the number of rows.

A value counts as Integral when it is a whole number, whether it arrived as
``181`` or ``181.0``: captured JSON often turns integers into floats, and a
type check must not call that drift.

A column profiled `as_text` (a classifier's class labels) is String whatever
its values look like: every present value is a category, numbers written as
`number_text` says (``1``, ``1.0`` and ``"1"`` are the same class), so integer
classes compare as a mix of classes rather than as numbers.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from container.monitoring.kll import KllSketch

INTEGRAL = "Integral"
FRACTIONAL = "Fractional"
STRING = "String"
UNKNOWN = "Unknown"

# Text columns with more distinct values than this stop tracking new ones, so an
# id-like column cannot exhaust memory; distinct_count is then a lower bound.
MAX_TRACKED_VALUES = 100_000

ColumnValues = pa.Array | pa.ChunkedArray | pd.Series | np.ndarray


@dataclass
class ColumnProfile:
    """What is known about one column after some batches."""

    num_missing: int = 0
    num_integral: int = 0
    num_fractional: int = 0
    num_string: int = 0
    # Moments of the numeric values (Chan et al.'s parallel update).
    numeric_count: int = 0
    mean: float = 0.0
    m2: float = 0.0
    total: float = 0.0
    minimum: float = np.inf
    maximum: float = -np.inf
    sketch: KllSketch | None = None
    # Present values as text; kept for text columns (or when asked).
    value_counts: Counter = field(default_factory=Counter)
    tracks_values: bool = False

    @property
    def num_present(self) -> int:
        return self.num_integral + self.num_fractional + self.num_string

    @property
    def inferred_type(self) -> str:
        """Deequ's rule: any text makes a String column, else any fraction a
        Fractional one."""
        if self.num_string:
            return STRING
        if self.num_fractional:
            return FRACTIONAL
        if self.num_integral:
            return INTEGRAL
        return UNKNOWN

    @property
    def std_dev(self) -> float:
        """Population standard deviation, as Deequ computes it."""
        return (
            float(np.sqrt(self.m2 / self.numeric_count)) if self.numeric_count else 0.0
        )

    def share_of_type(self, expected: str) -> float:
        """The share of present values that fit `expected` (1.0 if none are)."""
        present = self.num_present
        if not present:
            return 1.0
        if expected == INTEGRAL:
            return self.num_integral / present
        if expected == FRACTIONAL:
            return (self.num_integral + self.num_fractional) / present
        return 1.0

    # --- building ---------------------------------------------------------
    def merge(self, other: ColumnProfile) -> ColumnProfile:
        out = ColumnProfile(
            num_missing=self.num_missing + other.num_missing,
            num_integral=self.num_integral + other.num_integral,
            num_fractional=self.num_fractional + other.num_fractional,
            num_string=self.num_string + other.num_string,
            total=self.total + other.total,
            minimum=min(self.minimum, other.minimum),
            maximum=max(self.maximum, other.maximum),
            tracks_values=self.tracks_values or other.tracks_values,
        )
        n_a, n_b = self.numeric_count, other.numeric_count
        out.numeric_count = n_a + n_b
        if out.numeric_count:
            delta = other.mean - self.mean
            out.mean = self.mean + delta * n_b / out.numeric_count
            out.m2 = self.m2 + other.m2 + delta * delta * n_a * n_b / out.numeric_count
        if self.sketch is None or other.sketch is None:
            out.sketch = self.sketch or other.sketch
        else:
            out.sketch = self.sketch.merge(other.sketch)
        out.value_counts = self.value_counts.copy()
        _add_counts(out.value_counts, other.value_counts)
        return out


def _add_counts(into: Counter, more: Counter | dict) -> None:
    for value, count in more.items():
        if value in into or len(into) < MAX_TRACKED_VALUES:
            into[value] += count


def profile_column(
    values: ColumnValues, track_values: bool = False, as_text: bool = False
) -> ColumnProfile:
    """Profile one batch of one column.

    Numeric Arrow/NumPy columns take a vectorised path; anything else is read
    as text, where empty strings are missing and numeric-looking text counts
    as numbers, as in a CSV read without type inference. With `as_text` every
    present value is a String category (see the module's docstring).
    """
    if isinstance(values, pa.ChunkedArray | pa.Array):
        if pa.types.is_integer(values.type) or pa.types.is_floating(values.type):
            numbers = pc.cast(values, pa.float64()).to_numpy(zero_copy_only=False)
            if as_text:
                return _numbers_as_text(numbers)
            return _numeric_profile(numbers, track_values)
        if pa.types.is_null(values.type):
            return ColumnProfile(num_missing=len(values), tracks_values=as_text)
        if not (
            pa.types.is_string(values.type) or pa.types.is_large_string(values.type)
        ):
            values = pc.cast(values, pa.string())
        return _text_profile(values, as_text)
    series = values if isinstance(values, pd.Series) else pd.Series(values)
    if pd.api.types.is_bool_dtype(series.dtype):
        series = series.astype(object)
    if pd.api.types.is_numeric_dtype(series.dtype):
        numbers = series.to_numpy(dtype=np.float64, na_value=np.nan)
        if as_text:
            return _numbers_as_text(numbers)
        return _numeric_profile(numbers, track_values)
    return _text_profile(
        pa.array(series.astype("string"), type=pa.string(), from_pandas=True), as_text
    )


def _numbers_as_text(numbers: np.ndarray) -> ColumnProfile:
    """Numbers profiled as categories: each distinct number is one."""
    present = numbers[~np.isnan(numbers)]
    profile = ColumnProfile(
        num_missing=int(len(numbers) - len(present)),
        num_string=int(len(present)),
        tracks_values=True,
    )
    _add_counts(profile.value_counts, _number_text_counts(present))
    return profile


def _numeric_profile(numbers: np.ndarray, track_values: bool) -> ColumnProfile:
    present = ~np.isnan(numbers)
    values = numbers[present]
    whole = np.isfinite(values) & (values == np.floor(values))
    profile = ColumnProfile(
        num_missing=int(len(numbers) - len(values)),
        num_integral=int(whole.sum()),
        num_fractional=int(len(values) - whole.sum()),
        tracks_values=track_values,
    )
    _add_moments(profile, values[np.isfinite(values)])
    if track_values and len(values):
        _add_counts(profile.value_counts, _number_text_counts(values))
    return profile


def _text_profile(
    text: pa.Array | pa.ChunkedArray, as_text: bool = False
) -> ColumnProfile:
    """Count distinct values first (in Arrow), then type each distinct value once:
    a categorical column of a million rows costs a few thousand conversions."""
    counted = pc.value_counts(pc.utf8_trim_whitespace(text))
    uniques = counted.field("values").to_pandas()
    counts = counted.field("counts").to_numpy().astype(np.int64)
    missing = (uniques.isna() | (uniques == "")).to_numpy()
    missing_count = counts[missing].sum()
    uniques, counts = uniques[~missing], counts[~missing]
    numbers = pd.to_numeric(uniques, errors="coerce").to_numpy(
        dtype=np.float64, na_value=np.nan
    )
    is_number = ~np.isnan(numbers)
    if as_text:
        return _categories(uniques, counts, numbers, is_number, int(missing_count))
    whole = is_number & np.isfinite(numbers) & (numbers == np.floor(numbers))
    finite = is_number & np.isfinite(numbers)
    profile = ColumnProfile(
        num_missing=int(missing_count),
        num_integral=int(counts[whole].sum()),
        num_fractional=int(counts[is_number & ~whole].sum()),
        num_string=int(counts[~is_number].sum()),
        tracks_values=True,
    )
    _add_moments(profile, np.repeat(numbers[finite], counts[finite]))
    _add_counts(
        profile.value_counts, dict(zip(uniques.tolist(), counts.tolist(), strict=True))
    )
    return profile


def _categories(
    uniques: pd.Series,
    counts: np.ndarray,
    numbers: np.ndarray,
    is_number: np.ndarray,
    missing: int,
) -> ColumnProfile:
    """Distinct text values as String categories, numeric-looking ones written
    as `number_text` (so "1.0" and "1" are one category)."""
    profile = ColumnProfile(
        num_missing=missing, num_string=int(counts.sum()), tracks_values=True
    )
    merged: Counter = Counter()
    for value, number, numeric, count in zip(
        uniques.tolist(),
        numbers.tolist(),
        is_number.tolist(),
        counts.tolist(),
        strict=True,
    ):
        merged[number_text(number) if numeric and np.isfinite(number) else value] += (
            count
        )
    _add_counts(profile.value_counts, merged)
    return profile


def _add_moments(profile: ColumnProfile, values: np.ndarray) -> None:
    if not len(values):
        return
    profile.numeric_count = len(values)
    profile.total = float(values.sum())
    profile.mean = profile.total / len(values)
    profile.m2 = float(((values - profile.mean) ** 2).sum())
    profile.minimum = float(values.min())
    profile.maximum = float(values.max())
    profile.sketch = KllSketch.from_values(values)


def _number_text_counts(values: np.ndarray) -> dict[str, int]:
    uniques, counts = np.unique(values, return_counts=True)
    return {number_text(v): int(c) for v, c in zip(uniques, counts, strict=True)}


def number_text(value: float) -> str:
    """How a number reads as a category: 2 rather than 2.0."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))

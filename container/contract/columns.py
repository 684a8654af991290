"""Column names and values as every command sees them.

- Headerless data names its columns by position, ``_c0``, ``_c1``, ... as
  Spark (and so AWS's Model Monitor analyzer) does; `train`, `baseline` and
  `monitor` all use these names, so one dataset reads alike everywhere.
- Categories are strings, and a whole number is one category whether it was
  read as 3, 3.0 or "3": `category_strings` decides, at training time and
  inside the saved pipeline, so a served record is treated like a training row.
- Missing and extra columns are named the same way in every message.

The saved pipeline calls `to_float_frame` and `to_category_frame`, so a pickled
bundle refers to them by this module's path: they are part of the bundle
format. Moving them means keeping an alias at the old path (see
container/features.py, which holds the aliases bundles of release 0.1.0 need).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

POSITIONAL_PREFIX = "_c"


def positional_name(index: int) -> str:
    """Spark's (and Model Monitor's) name for the index-th column of headerless data."""
    return f"{POSITIONAL_PREFIX}{index}"


def positional_names(count: int, start: int = 0) -> list[str]:
    """`positional_name` for positions start .. count-1."""
    return [positional_name(i) for i in range(start, count)]


# --- comparing column sets -----------------------------------------------------------
def column_difference(
    expected: Sequence[Any], got: Sequence[Any]
) -> tuple[list[Any], list[Any]]:
    """(missing, extra): expected names absent from `got`, and names only in `got`."""
    present, wanted = set(got), set(expected)
    return [c for c in expected if c not in present], [
        c for c in got if c not in wanted
    ]


def describe_difference(expected: Sequence[Any], got: Sequence[Any]) -> str:
    """``missing [...], extra [...]`` (each part only when not empty)."""
    missing, extra = column_difference(expected, got)
    parts = [f"missing {missing}"] if missing else []
    if extra:
        parts.append(f"extra {extra}")
    return ", ".join(parts) or "no difference"


# --- values ------------------------------------------------------------------------
def is_text(series: pd.Series) -> bool:
    return series.dtype == object or isinstance(series.dtype, pd.StringDtype)


def category_strings(series: pd.Series) -> pd.Series:
    """Values as strings, missing as NaN; integral floats lose their ".0".

    A category read from CSV as 3 (or 3.0 beside missing values) and one sent
    as JSON "3" must be the same category.
    """
    if is_text(series) and pd.api.types.infer_dtype(series, skipna=True) == "string":
        out = series.astype(object)
        return out.where(series.notna(), np.nan)

    def convert(value: Any) -> Any:
        if (
            value is None
            or value is pd.NA
            or (isinstance(value, float) and np.isnan(value))
        ):
            return np.nan
        if isinstance(value, float | np.floating) and float(value).is_integer():
            return str(int(value))
        return str(value)

    return series.astype(object).map(convert)


def to_category_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Categorical columns as strings (used inside the saved pipeline)."""
    return pd.DataFrame(frame).apply(category_strings)


def to_float_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Numeric columns as float; None becomes NaN, text that is no number fails."""
    frame = pd.DataFrame(frame)
    if all(dtype == np.float64 for dtype in frame.dtypes):
        return frame  # already what the imputer needs: skip a copy of the data
    return frame.astype(float)

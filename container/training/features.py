"""From a raw DataFrame to a feature schema and the preprocessing that serves it.

Training decides here which column is the target, which columns are features,
which features are numeric or categorical, and whether the problem is
classification or regression. The same small conversion functions run at
training time and inside the saved pipeline, so a row sent to the endpoint is
treated exactly like a row of the training file.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from container.contract.columns import (
    category_strings,
    is_text,
    positional_name,
    to_category_frame,
    to_float_frame,
)
from container.contract.schema import Feature, ProblemType, Schema
from container.training.errors import DataError

# Column names that hold the target when the `target` hyperparameter is not set.
DEFAULT_TARGET_NAMES = ("target", "label", "y")
# A text column with at least this share of numbers is meant to be numeric: its
# other values are errors, not categories.
NUMERIC_MAJORITY = 0.5
# An integer-valued target with at most this many distinct values is a class label.
MAX_AUTO_CLASSES = 20
# Filled in for missing categories, so "missing" is learned as a category of its own.
MISSING_CATEGORY = "__missing__"
EXAMPLES_SHOWN = 5


@dataclass(frozen=True)
class ColumnRoles:
    target: str
    features: tuple[str, ...]


# --- which columns ------------------------------------------------------------------
def _column_by_index(columns: Sequence[str], index: int, what: str) -> str:
    if not 0 <= index < len(columns):
        raise DataError(
            f"{what} index {index} is out of range: "
            f"the data has {len(columns)} columns (0 to {len(columns) - 1})"
        )
    return columns[index]


def resolve_column(columns: Sequence[str], ref: str | int, what: str) -> str:
    """A column given by name, or by 0-based position (an int or a string of digits)."""
    if isinstance(ref, str) and ref in columns:
        return ref
    if isinstance(ref, int) or (isinstance(ref, str) and ref.strip().isdigit()):
        return _column_by_index(columns, int(ref), what)
    raise DataError(
        f"{what} {ref!r} is not a column of the training data; "
        f"columns are {list(columns)} (or give a 0-based position)"
    )


def resolve_target(
    columns: Sequence[str], target: str | int | None, has_header: bool
) -> str:
    if target is not None:
        return resolve_column(columns, target, "target column")
    if not has_header:
        return positional_name(
            0
        )  # SageMaker's built-in convention: the label comes first
    lowered = {c.lower(): c for c in columns}
    for name in DEFAULT_TARGET_NAMES:
        if name in lowered:
            return lowered[name]
    raise DataError(
        "no target column: "
        "set the 'target' hyperparameter to a column name or 0-based position; "
        f"without it a column named {', '.join(DEFAULT_TARGET_NAMES)} is used, "
        f"and the data has none of these. Columns: {list(columns)}"
    )


def select_columns(
    columns: Sequence[str],
    target: str,
    features: Sequence[str | int] | None,
    drop_columns: Sequence[str | int],
) -> ColumnRoles:
    dropped = {resolve_column(columns, c, "drop_columns entry") for c in drop_columns}
    if target in dropped:
        raise DataError(
            f"drop_columns names the target column {target!r}; it cannot be dropped"
        )
    if features:
        chosen = [resolve_column(columns, c, "features entry") for c in features]
        if target in chosen:
            raise DataError(
                f"features lists the target column {target!r}; "
                "a model cannot use its own target as a feature"
            )
        overlap = sorted(set(chosen) & dropped)
        if overlap:
            raise DataError(
                f"columns {overlap} are listed in both features and drop_columns"
            )
        chosen = list(dict.fromkeys(chosen))
    else:
        chosen = [c for c in columns if c != target and c not in dropped]
    if not chosen:
        raise DataError(
            f"no feature columns left: the data has {list(columns)}, "
            f"the target is {target!r} and drop_columns removes {sorted(dropped)}"
        )
    return ColumnRoles(target=target, features=tuple(chosen))


# --- conversions shared by training and the saved pipeline ----------------------------
def numeric_values(series: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Series as floats, and a mask of present values that are not numbers."""
    if pd.api.types.is_bool_dtype(series):
        return series.astype(float), pd.Series(False, index=series.index)
    if pd.api.types.is_numeric_dtype(series):
        return series.astype(float, copy=False), pd.Series(False, index=series.index)
    text = series.astype(object)
    present = text.notna()
    if is_text(series):
        stripped = text.where(~present, text.astype(str).str.strip())
        present &= stripped != ""
        text = stripped
    values = pd.to_numeric(text.where(present, np.nan), errors="coerce")
    return values.astype(float), present & values.isna()


def _garbage_message(
    column: str, channel: str, series: pd.Series, invalid: pd.Series, tolerance: float
) -> str:
    present = int(series.notna().sum())
    bad = int(invalid.sum())
    examples = list(dict.fromkeys(series[invalid].astype(str)))[:EXAMPLES_SHOWN]
    return (
        f"column {column!r} in channel {channel!r} is numeric but {bad} of its {present} values ({bad / present:.1%}) are not numbers, "  # noqa: E501
        f"e.g. {examples}; at most {tolerance:.1%} may be (max_invalid_fraction={tolerance:g}; those become missing). "  # noqa: E501
        "Fix the values, raise max_invalid_fraction, "
        "or list the column in categorical_features."
    )


# --- kinds and the schema -------------------------------------------------------------
KIND_SAMPLE_SIZE = 1000


def _clearly_text(series: pd.Series) -> bool:
    """Most of a sample of the column is not numbers: categorical, no full parse needed.

    Parsing every value of a million-row text column as a number is the
    slowest step of schema inference; a sample decides all but borderline
    columns, which still get the exact count.
    """
    if not is_text(series):
        return False
    sample = series.dropna().head(KIND_SAMPLE_SIZE)
    if sample.empty:
        return False
    _, invalid = numeric_values(sample)
    return float(invalid.mean()) > 1 - NUMERIC_MAJORITY / 2


def infer_kinds(
    frame: pd.DataFrame,
    features: Sequence[str],
    forced_categorical: Sequence[str],
    tolerance: float,
) -> dict[str, str]:
    """numeric | categorical for each feature; garbage beyond `tolerance` fails."""
    empty = [c for c in features if frame[c].isna().all()]
    if empty:
        raise DataError(
            f"feature columns {empty} are entirely empty (every value missing) in channel 'train'; "  # noqa: E501
            "drop them with drop_columns or fix the data"
        )
    kinds = {}
    for column in features:
        series = frame[column]
        if column in forced_categorical or pd.api.types.is_bool_dtype(series):
            kinds[column] = "categorical"
            continue
        if _clearly_text(series):
            kinds[column] = "categorical"
            continue
        _, invalid = numeric_values(series)
        present = int(series.notna().sum())
        share_invalid = int(invalid.sum()) / present
        if share_invalid <= tolerance:
            kinds[column] = "numeric"
        elif 1 - share_invalid >= NUMERIC_MAJORITY:
            raise DataError(
                _garbage_message(column, "train", series, invalid, tolerance)
            )
        else:
            kinds[column] = "categorical"
    return kinds


def coerce_features(
    frame: pd.DataFrame, kinds: dict[str, str], channel: str, tolerance: float
) -> pd.DataFrame:
    """Feature columns in schema order: numerics as float, categoricals as strings."""
    columns = {}
    for column, kind in kinds.items():
        series = frame[column]
        if kind == "categorical":
            columns[column] = category_strings(series)
            continue
        values, invalid = numeric_values(series)
        present = int(series.notna().sum())
        if present and int(invalid.sum()) / present > tolerance:
            raise DataError(
                _garbage_message(column, channel, series, invalid, tolerance)
            )
        columns[column] = values
    return pd.DataFrame(columns, index=frame.index)


def infer_problem_type(target: pd.Series, requested: str) -> ProblemType:
    if requested in ("classification", "regression"):
        return requested  # type: ignore[return-value]
    if not pd.api.types.is_numeric_dtype(target) or pd.api.types.is_bool_dtype(target):
        values, invalid = numeric_values(target)
        if invalid.any():
            return "classification"
        target = values
    values = target.dropna().astype(float)
    integral = bool(np.all(np.mod(values, 1) == 0))
    return (
        "classification"
        if integral and values.nunique() <= MAX_AUTO_CLASSES
        else "regression"
    )


def prepare_target(
    target: pd.Series, problem_type: ProblemType, channel: str
) -> pd.Series:
    """Labels as JSON-friendly ints or strings (classification), floats (regression)."""
    name = target.name
    if problem_type == "regression":
        values, invalid = numeric_values(target)
        if invalid.any():
            examples = list(dict.fromkeys(target[invalid].astype(str)))[:EXAMPLES_SHOWN]
            raise DataError(
                f"target {name!r} in channel {channel!r} must be numeric for regression but holds {int(invalid.sum())} non-numbers, "  # noqa: E501
                f"e.g. {examples}; set problem_type=classification if these are classes"
            )
        return values
    # Rows without a target were dropped before, so no missing values remain here.
    if pd.api.types.is_numeric_dtype(target) and not pd.api.types.is_bool_dtype(target):
        values = target.astype(float)
        if bool(np.all(np.mod(values, 1) == 0)):
            return values.astype(np.int64)
    return category_strings(target)


def check_target(target: pd.Series, problem_type: ProblemType) -> None:
    name = target.name
    present = target.dropna()
    if present.empty:
        raise DataError(
            f"target column {name!r} is entirely empty in channel 'train'; "
            "every row needs a target value"
        )
    distinct = present.unique()
    if len(distinct) < 2:
        what = "class" if problem_type == "classification" else "value"
        raise DataError(
            f"target column {name!r} has a single {what} ({distinct[0]!r}) in channel 'train'; "  # noqa: E501
            f"{problem_type} needs at least two distinct values"
        )


def json_label(value: Any) -> Any:
    if isinstance(value, bool | np.bool_):
        return str(bool(value))
    if isinstance(value, int | np.integer):
        return int(value)
    return str(value)


def build_schema(
    features: pd.DataFrame,
    kinds: dict[str, str],
    target: str,
    problem_type: ProblemType,
    classes: Sequence[Any] = (),
) -> Schema:
    described = []
    for column, kind in kinds.items():
        if kind == "categorical":
            categories = tuple(sorted(features[column].dropna().unique().tolist()))
            described.append(Feature(column, "categorical", categories))
        else:
            described.append(Feature(column, "numeric"))
    return Schema(
        features=tuple(described),
        target=target,
        problem_type=problem_type,
        classes=tuple(json_label(c) for c in classes),
    )


# --- the preprocessing pipeline -------------------------------------------------------
def build_preprocessor(schema: Schema, scale_numerics: bool, dense: bool) -> Any:
    """A ColumnTransformer: impute (+ scale) numerics, impute + one-hot categoricals."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

    transformers = []
    if schema.numeric_features:
        steps = [
            (
                "as_float",
                FunctionTransformer(to_float_frame, feature_names_out="one-to-one"),
            ),
            # The mean, not the median: a median sorts every column, which on
            # large data costs more than reading the file.
            ("impute", SimpleImputer(strategy="mean")),
        ]
        if scale_numerics:
            steps.append(("scale", StandardScaler()))
        transformers.append(("numeric", Pipeline(steps), schema.numeric_features))
    if schema.categorical_features:
        steps = [
            (
                "as_text",
                FunctionTransformer(to_category_frame, feature_names_out="one-to-one"),
            ),
            ("impute", SimpleImputer(strategy="constant", fill_value=MISSING_CATEGORY)),
            (
                "one_hot",
                OneHotEncoder(handle_unknown="ignore", sparse_output=not dense),
            ),
        ]
        transformers.append(
            ("categorical", Pipeline(steps), schema.categorical_features)
        )
    return ColumnTransformer(
        transformers, remainder="drop", sparse_threshold=0.0 if dense else 0.3
    )

"""statistics.json: build it from a dataset profile, and read it back.

The writer follows SageMaker's documented schema (version 0.0, per-feature
numerical_statistics or string_statistics, 10 equal-width buckets and a KLL
sketch). The reader accepts what AWS's analyzer writes too: version 0 or 0.0,
counts as floats, features with no statistics at all (type Unknown), and
missing distributions.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from container.monitoring.errors import MonitoringInputError
from container.monitoring.kll import KllSketch
from container.monitoring.profile import (
    FRACTIONAL,
    INTEGRAL,
    STRING,
    UNKNOWN,
    ColumnProfile,
    profile_column,
)

NUM_BUCKETS = 10
# statistics.json lists at most this many categories per text feature (by count),
# like Deequ's histogram detail limit; distinct_count still counts them all.
MAX_CATEGORICAL_BUCKETS = 1000
KNOWN_TYPES = (INTEGRAL, FRACTIONAL, STRING, UNKNOWN)


@dataclass
class DatasetProfile:
    """Column profiles of a dataset, in column order, merged batch by batch.

    Columns named in `categorical` are profiled as String whatever their values
    look like (a classifier's class labels); it is read at every batch, so a
    caller that learns a column's name while reading may add it to a set.
    """

    item_count: int = 0
    columns: dict[str, ColumnProfile] = field(default_factory=dict)
    track_values_for: frozenset[str] = frozenset()
    categorical: Collection[str] = frozenset()

    def add_batch(self, batch: pa.Table | pd.DataFrame) -> None:
        names = (
            batch.column_names if isinstance(batch, pa.Table) else list(batch.columns)
        )
        self.item_count += batch.num_rows if isinstance(batch, pa.Table) else len(batch)
        for name in names:
            name_text = str(name)
            values = batch.column(name) if isinstance(batch, pa.Table) else batch[name]
            part = profile_column(
                values,
                track_values=name_text in self.track_values_for,
                as_text=name_text in self.categorical,
            )
            previous = self.columns.get(name_text)
            self.columns[name_text] = part if previous is None else previous.merge(part)


def profile_batches(
    batches: Iterable[pa.Table | pd.DataFrame],
    track_values_for: Sequence[str] = (),
    categorical: Collection[str] = frozenset(),
) -> DatasetProfile:
    """Profile every batch; columns absent from a batch count as missing there.
    Columns in `categorical` are String (see `DatasetProfile`)."""
    profile = DatasetProfile(
        track_values_for=frozenset(track_values_for), categorical=categorical
    )
    for batch in batches:
        seen_before = profile.item_count
        names = {
            str(n)
            for n in (
                batch.column_names if isinstance(batch, pa.Table) else batch.columns
            )
        }
        absent = [n for n in profile.columns if n not in names]
        profile.add_batch(batch)
        rows = profile.item_count - seen_before
        for name in absent:
            profile.columns[name].num_missing += rows
        for name in names:
            column = profile.columns[name]
            known = column.num_present + column.num_missing
            if known < profile.item_count:  # a column first seen in a later batch
                column.num_missing += profile.item_count - known
    return profile


# --- writing ---------------------------------------------------------------------
def statistics_document(profile: DatasetProfile) -> dict[str, Any]:
    """SageMaker's statistics.json for a profiled dataset."""
    return {
        "version": 0.0,
        "dataset": {"item_count": profile.item_count},
        "features": [
            feature_statistics(name, column) for name, column in profile.columns.items()
        ],
    }


def feature_statistics(name: str, column: ColumnProfile) -> dict[str, Any]:
    kind = column.inferred_type
    common = {"num_present": column.num_present, "num_missing": column.num_missing}
    entry: dict[str, Any] = {"name": name, "inferred_type": kind}
    if kind in (INTEGRAL, FRACTIONAL):
        entry["numerical_statistics"] = _numerical(column, common)
    elif kind == STRING:
        entry["string_statistics"] = _string(column, common)
    return entry


def _numerical(column: ColumnProfile, common: dict[str, int]) -> dict[str, Any]:
    out: dict[str, Any] = {"common": common}
    if not column.numeric_count or column.sketch is None:
        return out
    out.update(
        mean=column.mean,
        sum=column.total,
        std_dev=column.std_dev,
        min=column.minimum,
        max=column.maximum,
        distribution={
            "kll": {
                "buckets": numeric_buckets(
                    column.sketch, column.minimum, column.maximum
                ),
                "sketch": column.sketch.to_dict(),
            }
        },
    )
    return out


def numeric_buckets(
    sketch: KllSketch, low: float, high: float
) -> list[dict[str, float]]:
    """Ten equal-width buckets from min to max, counted from the sketch."""
    edges = np.linspace(low, high, NUM_BUCKETS + 1)
    counts = sketch.bucket_counts(edges) if high > low else None
    if counts is None:  # one distinct value: everything falls in the first bucket
        counts = np.zeros(NUM_BUCKETS)
        counts[0] = sketch.count
    return [
        {
            "lower_bound": float(edges[i]),
            "upper_bound": float(edges[i + 1]),
            "count": float(counts[i]),
        }
        for i in range(NUM_BUCKETS)
    ]


def _string(column: ColumnProfile, common: dict[str, int]) -> dict[str, Any]:
    top = column.value_counts.most_common(MAX_CATEGORICAL_BUCKETS)
    return {
        "common": common,
        "distinct_count": float(len(column.value_counts)),
        "distribution": {
            "categorical": {
                "buckets": [{"value": str(v), "count": int(c)} for v, c in top]
            }
        },
    }


# --- reading ---------------------------------------------------------------------
@dataclass(frozen=True)
class FeatureStatistics:
    """One feature of a statistics.json, as comparisons need it."""

    name: str
    inferred_type: str
    num_present: float = 0.0
    num_missing: float = 0.0
    mean: float | None = None
    std_dev: float | None = None
    minimum: float | None = None
    maximum: float | None = None
    sketch: KllSketch | None = None
    categories: dict[str, float] = field(default_factory=dict)

    @property
    def is_numeric(self) -> bool:
        return self.inferred_type in (INTEGRAL, FRACTIONAL)


@dataclass(frozen=True)
class StatisticsFile:
    item_count: float
    features: dict[str, FeatureStatistics]


def parse_statistics(doc: Any, source: str = "statistics.json") -> StatisticsFile:
    """Read a statistics.json document; MonitoringInputError names any problem."""
    if not isinstance(doc, dict) or not isinstance(doc.get("features"), list):
        raise MonitoringInputError(
            f"{source} is not a SageMaker statistics file: "
            "expected an object with a 'features' list (and 'version', 'dataset')"
        )
    _check_version(doc, source)
    features: dict[str, FeatureStatistics] = {}
    for index, entry in enumerate(doc["features"]):
        if not isinstance(entry, dict) or not entry.get("name"):
            raise MonitoringInputError(f"{source}: feature #{index} has no 'name'")
        feature = _parse_feature(entry, source)
        features[feature.name] = feature
    dataset = doc.get("dataset") or {}
    return StatisticsFile(
        item_count=float(dataset.get("item_count", 0) or 0), features=features
    )


def _check_version(doc: dict[str, Any], source: str) -> None:
    version = doc.get("version", 0)
    try:
        ok = float(version) == 0.0
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise MonitoringInputError(
            f"{source} has version {version!r}; this analyzer reads version 0.0 (or 0)"
        )


def _parse_feature(entry: dict[str, Any], source: str) -> FeatureStatistics:
    name = str(entry["name"])
    kind = entry.get("inferred_type", UNKNOWN)
    if kind not in KNOWN_TYPES:
        raise MonitoringInputError(
            f"{source}: feature {name!r} has inferred_type {kind!r}; "
            f"expected one of {', '.join(KNOWN_TYPES)}"
        )
    stats = entry.get("numerical_statistics") or entry.get("string_statistics") or {}
    common = stats.get("common") or {}
    try:
        numeric = entry.get("numerical_statistics") or {}
        kll = (numeric.get("distribution") or {}).get("kll") or {}
        sketch = KllSketch.from_dict(kll["sketch"]) if kll.get("sketch") else None
        buckets = (
            (entry.get("string_statistics") or {}).get("distribution") or {}
        ).get("categorical", {}).get("buckets") or []
        return FeatureStatistics(
            name=name,
            inferred_type=kind,
            num_present=float(common.get("num_present", 0) or 0),
            num_missing=float(common.get("num_missing", 0) or 0),
            mean=_maybe_float(numeric.get("mean")),
            std_dev=_maybe_float(numeric.get("std_dev")),
            minimum=_maybe_float(numeric.get("min")),
            maximum=_maybe_float(numeric.get("max")),
            sketch=sketch if sketch is not None and sketch.count else None,
            categories={str(b["value"]): float(b["count"]) for b in buckets},
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise MonitoringInputError(
            f"{source}: "
            f"feature {name!r} has malformed statistics ({type(exc).__name__}: {exc})"
        ) from None


def _maybe_float(value: Any) -> float | None:
    return None if value is None else float(value)

"""A KLL quantile sketch stored the way Deequ (and so statistics.json) stores it.

`sketch.data` in statistics.json is a list of compactor levels: every item of
level ``i`` stands for ``2**i`` input values. A sketch of at most ``k`` values
is a single level holding the values themselves, so its ranks are exact.

Compaction is vectorised: a level that outgrows its capacity is sorted, and
every other item (from a random offset) is promoted to the next level. That
keeps the summary unbiased and lets a sketch of a million values be built in
a few sorts of halving size rather than a million Python-level inserts.
Sketches of separate batches merge level by level, so a dataset can be
profiled in bounded memory.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

DEFAULT_K = 2048
DEFAULT_C = 0.64
_SEED = 20240607  # fixed so that the same data always gives the same files


@dataclass
class KllSketch:
    k: int = DEFAULT_K
    c: float = DEFAULT_C
    levels: list[np.ndarray] = field(default_factory=list)

    # --- building ---------------------------------------------------------
    @classmethod
    def from_values(
        cls, values: np.ndarray, k: int = DEFAULT_K, c: float = DEFAULT_C
    ) -> KllSketch:
        """A sketch of the finite values in `values` (NaN and inf are left out)."""
        data = np.asarray(values, dtype=np.float64)
        data = np.sort(data[np.isfinite(data)])
        sketch = cls(k=k, c=c, levels=[data])
        sketch._compress()
        return sketch

    def merge(self, other: KllSketch) -> KllSketch:
        """A new sketch summarising both inputs (self's k and c are kept)."""
        depth = max(len(self.levels), len(other.levels))
        levels = []
        for i in range(depth):
            parts = [s.levels[i] for s in (self, other) if i < len(s.levels)]
            levels.append(
                np.sort(np.concatenate(parts)) if len(parts) > 1 else parts[0]
            )
        merged = KllSketch(k=self.k, c=self.c, levels=levels)
        merged._compress()
        return merged

    def _capacity(self, level: int) -> int:
        depth = len(self.levels)
        return max(2, int(math.ceil(self.k * self.c ** (depth - 1 - level))))

    def _compress(self) -> None:
        rng = np.random.default_rng(_SEED + self.count)
        level = 0
        while level < len(self.levels):
            items = self.levels[level]
            if len(items) <= self._capacity(level):
                level += 1
                continue
            items = np.sort(items)
            # An odd item out stays behind so that total weight is preserved exactly.
            keep = items[-1:] if len(items) % 2 else items[:0]
            even = items[: len(items) - len(keep)]
            promoted = even[int(rng.integers(2)) :: 2]
            self.levels[level] = keep
            if level + 1 == len(self.levels):
                self.levels.append(promoted)
            else:
                self.levels[level + 1] = np.sort(
                    np.concatenate([self.levels[level + 1], promoted])
                )
            level = 0  # capacities shrink when a level is added: start over

    # --- reading ----------------------------------------------------------
    @property
    def count(self) -> int:
        """The number of input values the sketch stands for."""
        return int(sum(len(items) << i for i, items in enumerate(self.levels)))

    def weighted_items(self) -> tuple[np.ndarray, np.ndarray]:
        """(sorted items, cumulative weights) over all levels."""
        if not self.levels:
            return np.empty(0), np.empty(0)
        items = np.concatenate(self.levels)
        weights = np.concatenate(
            [np.full(len(lv), float(1 << i)) for i, lv in enumerate(self.levels)]
        )
        order = np.argsort(items, kind="stable")
        return items[order], np.cumsum(weights[order])

    def rank(self, points: np.ndarray) -> np.ndarray:
        """How many input values are <= each point (estimated)."""
        items, cumulative = self.weighted_items()
        if len(items) == 0:
            return np.zeros(len(np.atleast_1d(points)))
        idx = np.searchsorted(items, np.asarray(points, dtype=np.float64), side="right")
        return np.where(idx > 0, cumulative[np.maximum(idx - 1, 0)], 0.0)

    def cdf(self, points: np.ndarray) -> np.ndarray:
        total = self.count
        return (
            self.rank(points) / total if total else np.zeros(len(np.atleast_1d(points)))
        )

    def bucket_counts(self, edges: Sequence[float]) -> np.ndarray:
        """Estimated counts between consecutive edges; the first bucket is closed."""
        ranks = self.rank(np.asarray(edges, dtype=np.float64))
        counts = np.diff(ranks)
        if len(counts):
            counts[0] += ranks[0]  # values equal to the lowest edge belong to bucket 0
        return counts

    # --- statistics.json --------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "parameters": {"c": self.c, "k": float(self.k)},
            "data": [[_plain(v) for v in level] for level in self.levels],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> KllSketch:
        """Read a sketch written by this package or by AWS's analyzer."""
        params = data.get("parameters") or {}
        levels = [
            np.sort(np.asarray([float(v) for v in level], dtype=np.float64))
            for level in data.get("data") or []
        ]
        return cls(
            k=int(float(params.get("k", DEFAULT_K))),
            c=float(params.get("c", DEFAULT_C)),
            levels=levels,
        )


def _plain(value: float) -> float | int:
    """Whole numbers as JSON integers keep the file small and readable."""
    return (
        int(value) if float(value).is_integer() and abs(value) < 2**53 else float(value)
    )

"""Distribution distances between a baseline and a current profile (Deequ's).

- numerical `linf_simple`: the two-sample Kolmogorov-Smirnov statistic,
  max |F_baseline(x) - F_current(x)|, over the KLL sketches' CDFs;
- numerical `linf_robust`: linf_simple less 1.8 * sqrt((n + m) / (n * m)), so
  that small samples do not raise false alarms ("Robust" in constraints.json);
- categorical `LInfinity`: max |p_baseline(k) - p_current(k)| over categories;
- categorical `ChiSquared`: Pearson's test of the current counts against the
  baseline proportions, with categories expected to hold fewer than 5 values
  merged first; its result is the test's p-value.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from container.monitoring.kll import KllSketch

ROBUST_FACTOR = 1.8
MIN_EXPECTED_COUNT = 5.0


@dataclass(frozen=True)
class Distance:
    value: float
    method: str  # linf_simple | linf_robust | LInfinity | ChiSquared

    @property
    def is_p_value(self) -> bool:
        """A p-value signals drift when small; a distance when large."""
        return self.method == "ChiSquared"


def linf_simple(baseline: KllSketch, current: KllSketch) -> float:
    base_items, _ = baseline.weighted_items()
    cur_items, _ = current.weighted_items()
    if not len(base_items) or not len(cur_items):
        return 0.0
    points = np.union1d(base_items, cur_items)
    return float(np.max(np.abs(baseline.cdf(points) - current.cdf(points))))


def linf_robust(baseline: KllSketch, current: KllSketch) -> float:
    n, m = baseline.count, current.count
    if not n or not m:
        return 0.0
    return max(
        0.0,
        linf_simple(baseline, current) - ROBUST_FACTOR * math.sqrt((n + m) / (n * m)),
    )


def numerical_distance(
    baseline: KllSketch, current: KllSketch, method: str
) -> Distance:
    """`method` is constraints.json's comparison_method: Simple or Robust."""
    if method == "Simple":
        return Distance(linf_simple(baseline, current), "linf_simple")
    return Distance(linf_robust(baseline, current), "linf_robust")


def _shares(counts: Mapping[str, float]) -> dict[str, float]:
    total = float(sum(counts.values()))
    return {k: v / total for k, v in counts.items()} if total else {}


def categorical_linf(
    baseline: Mapping[str, float], current: Mapping[str, float]
) -> float:
    base, cur = _shares(baseline), _shares(current)
    keys = set(base) | set(cur)
    return max((abs(base.get(k, 0.0) - cur.get(k, 0.0)) for k in keys), default=0.0)


def chi_squared_p_value(
    baseline: Mapping[str, float], current: Mapping[str, float]
) -> float:
    """p-value of current counts under the baseline's category proportions.

    A category the baseline never saw gets a tiny expected share rather than
    zero, so a new category lowers the p-value instead of dividing by zero.
    """
    from scipy.stats import chi2

    base = _shares(baseline)
    total = float(sum(current.values()))
    if not base or not total:
        return 1.0
    keys = sorted(set(base) | set(current))
    floor = 0.5 / max(sum(baseline.values()), 1.0)
    shares = np.array([max(base.get(k, 0.0), floor) for k in keys])
    shares /= shares.sum()
    expected = shares * total
    observed = np.array([float(current.get(k, 0.0)) for k in keys])
    # Merge categories too small for the chi-squared approximation into one.
    small = expected < MIN_EXPECTED_COUNT
    if small.any() and small.sum() < len(keys):
        expected = np.append(expected[~small], expected[small].sum())
        observed = np.append(observed[~small], observed[small].sum())
    if len(expected) < 2:
        return 1.0
    statistic = float(((observed - expected) ** 2 / expected).sum())
    return float(chi2.sf(statistic, df=len(expected) - 1))


def categorical_distance(
    baseline: Mapping[str, float], current: Mapping[str, float], method: str
) -> Distance:
    """`method` is constraints.json's categorical_drift_method."""
    if method == "ChiSquared":
        return Distance(chi_squared_p_value(baseline, current), "ChiSquared")
    return Distance(categorical_linf(baseline, current), "LInfinity")

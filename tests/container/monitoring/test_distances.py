"""Distances: KS on sketches equals the exact statistic when exact; robust and
categorical variants follow Deequ's formulas."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import ks_2samp

from container.monitoring.distances import (
    categorical_distance,
    categorical_linf,
    chi_squared_p_value,
    linf_robust,
    linf_simple,
    numerical_distance,
)
from container.monitoring.kll import KllSketch


def test_linf_simple_is_the_two_sample_ks_statistic():
    rng = np.random.default_rng(4)
    a, b = rng.normal(size=800), rng.normal(0.2, 1, size=600)
    expected = ks_2samp(a, b).statistic
    assert linf_simple(
        KllSketch.from_values(a), KllSketch.from_values(b)
    ) == pytest.approx(expected)


def test_linf_robust_discounts_small_samples():
    a, b = np.arange(100.0), np.arange(100.0) + 30
    simple = linf_simple(KllSketch.from_values(a), KllSketch.from_values(b))
    robust = linf_robust(KllSketch.from_values(a), KllSketch.from_values(b))
    assert simple == pytest.approx(0.3)
    assert robust == pytest.approx(max(0.0, 0.3 - 1.8 * math.sqrt(200 / 10_000)))
    assert (
        numerical_distance(
            KllSketch.from_values(a), KllSketch.from_values(b), "Simple"
        ).method
        == "linf_simple"
    )


def test_identical_samples_have_distance_zero():
    sketch = KllSketch.from_values(np.random.default_rng(5).normal(size=10_000))
    assert linf_simple(sketch, sketch) == 0.0


def test_categorical_linf_is_the_largest_share_gap():
    assert categorical_linf({"a": 50, "b": 50}, {"a": 80, "b": 20}) == pytest.approx(
        0.3
    )
    assert categorical_linf({"a": 10}, {"a": 9, "new": 1}) == pytest.approx(0.1)


def test_chi_squared_separates_drift_from_noise():
    base = {"a": 500, "b": 300, "c": 200}
    assert chi_squared_p_value(base, {"a": 50, "b": 30, "c": 20}) > 0.9
    assert chi_squared_p_value(base, {"a": 20, "b": 30, "c": 50}) < 1e-6
    distance = categorical_distance(base, {"a": 20, "b": 30, "c": 50}, "ChiSquared")
    assert distance.is_p_value


def test_chi_squared_merges_rare_categories_and_survives_new_ones():
    base = {"a": 900, "b": 98, "rare": 2}
    p = chi_squared_p_value(base, {"a": 90, "b": 10, "new": 1})
    assert 0.0 <= p <= 1.0

"""The KLL sketch: exact when small, a valid weighted summary when large, mergeable."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from container.monitoring.kll import KllSketch


def test_small_input_is_one_exact_level():
    values = np.array([3.0, 1.0, 2.0, np.nan, 2.0])
    sketch = KllSketch.from_values(values)
    assert [list(level) for level in sketch.levels] == [[1.0, 2.0, 2.0, 3.0]]
    assert sketch.count == 4
    assert list(sketch.rank(np.array([0.5, 1.0, 2.0, 3.0]))) == [0, 1, 3, 4]


@pytest.mark.parametrize("size", [2049, 10_000, 1_000_000])
def test_large_input_keeps_its_weight_and_ranks(size):
    rng = np.random.default_rng(1)
    values = rng.normal(size=size)
    sketch = KllSketch.from_values(values)
    assert sketch.count == size
    assert len(sketch.levels) > 1
    stored = sum(len(level) for level in sketch.levels)
    assert stored < 3 * sketch.k  # a summary, not the data
    points = np.quantile(values, np.linspace(0.01, 0.99, 50))
    exact = np.searchsorted(np.sort(values), points, side="right") / size
    assert np.max(np.abs(sketch.cdf(points) - exact)) < 0.01


def test_merge_of_batches_matches_one_sketch():
    rng = np.random.default_rng(2)
    values = rng.exponential(size=50_000)
    merged = KllSketch.from_values(values[:20_000]).merge(
        KllSketch.from_values(values[20_000:])
    )
    whole = KllSketch.from_values(values)
    points = np.quantile(values, np.linspace(0.05, 0.95, 19))
    assert merged.count == 50_000
    assert np.max(np.abs(merged.cdf(points) - whole.cdf(points))) < 0.01


def test_round_trip_through_statistics_json_form():
    sketch = KllSketch.from_values(np.random.default_rng(3).uniform(size=5000))
    doc = json.loads(json.dumps(sketch.to_dict()))
    assert doc["parameters"] == {"c": 0.64, "k": 2048.0}
    again = KllSketch.from_dict(doc)
    assert again.count == sketch.count
    assert [list(a) for a in again.levels] == [list(np.sort(b)) for b in sketch.levels]


def test_bucket_counts_cover_every_value():
    values = np.arange(100, dtype=float)
    sketch = KllSketch.from_values(values)
    counts = sketch.bucket_counts(np.linspace(0, 99, 11))
    assert counts.sum() == 100
    assert counts[0] == 10  # 0..9.9 with the lowest edge included


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=6000))
def test_any_input_is_summarised_with_its_exact_weight(values):
    sketch = KllSketch.from_values(np.array(values))
    assert sketch.count == len(values)
    assert sketch.rank(np.array([max(values)]))[0] == len(values)
    assert sketch.rank(np.array([min(values) - 1]))[0] == 0

"""The notebooks' SVG charts: well-formed, one mark per value, honest scales."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET

from orchestration.charts import correlation_svg, histogram_svg, metric_bars_svg

SVG = "{http://www.w3.org/2000/svg}"


def marks(svg: str, kind: str = "rect") -> list[ET.Element]:
    return list(ET.fromstring(svg).iter(SVG + kind))


def test_metric_bars_scale_to_the_largest_value_and_mark_a_missing_one():
    svg = metric_bars_svg("latency_p99_ms", {"a": 10.0, "b": 5.0, "c": None}, "lower")
    bars = [r for r in marks(svg) if r.get("class") == "bar"]
    assert len(bars) == 2  # no bar for c, whose value is unknown
    heights = [float(r.get("height")) for r in bars]
    assert math.isclose(heights[0], 2 * heights[1], rel_tol=0.01)
    assert "n/a" in svg and "(lower is better)" in svg


def test_a_histogram_counts_every_value_once_and_says_how_many_are_missing():
    svg = histogram_svg("mass", {"x": [1.0, 2.0, 2.0, math.nan], "y": [4.0]}, bins=4)
    counts = [int(t.text.split(": ")[1].split(" ")[0]) for t in marks(svg, "title")]
    assert sum(counts) == 4 and "1 missing" in svg
    assert "y: 1 in [3.25, 4)" in svg  # the largest value, in the last bin


def test_a_correlation_cell_per_pair_coloured_by_sign():
    svg = correlation_svg(["a", "b"], [[1.0, -0.5], [-0.5, 1.0]])
    cells = marks(svg)
    assert len(cells) == 4
    assert cells[0].get("fill") != cells[1].get("fill")  # positive vs negative
    assert float(cells[1].get("fill-opacity")) == 0.5

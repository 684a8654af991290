"""report.html: one self-contained page (inline CSS and SVG, no scripts, no
network) that a person opens to see what a job found.

For a monitoring run: a summary, the violations, and for each feature the
baseline and the current distribution drawn side by side on the same scale.
For a baseline run: the summary and each feature's distribution.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from html import escape

import numpy as np

from container.monitoring.kll import KllSketch

BINS = 12
MAX_CATEGORIES = 12
WIDTH, HEIGHT, PAD = 340, 150, 28
BASE_COLOUR, CURRENT_COLOUR, ALERT_COLOUR = "#4e79a7", "#f28e2b", "#c0392b"


@dataclass
class FeatureView:
    """One feature's distributions and check results, as the report draws them."""

    name: str
    kind: str  # Integral | Fractional | String | Unknown
    baseline_sketch: KllSketch | None = None
    current_sketch: KllSketch | None = None
    baseline_counts: Mapping[str, float] | None = None
    current_counts: Mapping[str, float] | None = None
    facts: dict[str, str] = field(default_factory=dict)
    violations: list[str] = field(default_factory=list)


def render_report(
    title: str,
    summary: Sequence[tuple[str, str]],
    violations: Sequence[Mapping[str, str]],
    features: Sequence[FeatureView],
    notes: Sequence[str] = (),
) -> str:
    rows = "".join(
        f"<tr><th>{escape(k)}</th><td>{escape(v)}</td></tr>" for k, v in summary
    )
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{escape(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{escape(title)}</h1><table class='summary'>{rows}</table>",
    ]
    if notes:
        parts.append(
            "<ul class='notes'>"
            + "".join(f"<li>{escape(n)}</li>" for n in notes)
            + "</ul>"
        )
    parts.append(_violations_table(violations))
    if features:
        legend = (
            f"<p class='legend'><span style='background:{BASE_COLOUR}'></span>baseline"
            f"<span style='background:{CURRENT_COLOUR}'></span>current</p>"
            if any(_has_current(f) for f in features)
            else ""
        )
        parts.append(f"<h2>Features</h2>{legend}<div class='features'>")
        parts.extend(_feature_card(f) for f in features)
        parts.append("</div>")
    parts.append("</body></html>")
    return "".join(parts)


def _has_current(view: FeatureView) -> bool:
    return view.current_sketch is not None or view.current_counts is not None


def _violations_table(violations: Sequence[Mapping[str, str]]) -> str:
    if not violations:
        return "<h2>Violations</h2><p class='ok'>No violations.</p>"
    rows = "".join(
        f"<tr><td>{escape(v['feature_name'])}</td><td>{escape(v['constraint_check_type'])}"
        f"</td><td>{escape(v['description'])}</td></tr>"
        for v in violations
    )
    return (
        f"<h2>Violations ({len(violations)})</h2><table class='violations'><tr>"
        f"<th>Feature</th><th>Check</th><th>Description</th></tr>{rows}</table>"
    )


def _feature_card(view: FeatureView) -> str:
    flagged = " flagged" if view.violations else ""
    facts = "".join(
        f"<span>{escape(k)}: <b>{escape(v)}</b></span>" for k, v in view.facts.items()
    )
    charts = _charts(view)
    problems = "".join(f"<li>{escape(v)}</li>" for v in view.violations)
    return (
        f"<section class='card{flagged}'><h3>{escape(view.name)} "
        f"<small>{escape(view.kind)}</small></h3><div class='facts'>{facts}</div>"
        f"<div class='charts'>{charts}</div>"
        + (f"<ul class='problems'>{problems}</ul>" if problems else "")
        + "</section>"
    )


def _charts(view: FeatureView) -> str:
    if view.baseline_sketch is not None or view.current_sketch is not None:
        sketches = [
            s for s in (view.baseline_sketch, view.current_sketch) if s is not None
        ]
        edges = _shared_edges(sketches)
        if edges is None:
            return "<p class='empty'>no numeric values</p>"
        labels = [_short(e) for e in edges[:-1]]
        out = []
        for sketch, colour, caption in (
            (view.baseline_sketch, BASE_COLOUR, "baseline"),
            (view.current_sketch, CURRENT_COLOUR, "current"),
        ):
            if sketch is not None:
                counts = sketch.bucket_counts(edges)
                out.append(
                    _bar_chart(
                        _normalise(counts),
                        labels,
                        colour,
                        caption,
                        f"{_short(edges[0])} … {_short(edges[-1])}",
                    )
                )
        return "".join(out)
    if view.baseline_counts is not None or view.current_counts is not None:
        base = dict(view.baseline_counts or {})
        cur = dict(view.current_counts or {})
        ranked = sorted(
            set(base) | set(cur), key=lambda k: -(base.get(k, 0) + cur.get(k, 0))
        )
        keys = ranked[:MAX_CATEGORIES]
        out = []
        for counts, colour, caption in (
            (view.baseline_counts, BASE_COLOUR, "baseline"),
            (view.current_counts, CURRENT_COLOUR, "current"),
        ):
            if counts is not None:
                total = float(sum(counts.values())) or 1.0
                shares = np.array([counts.get(k, 0.0) / total for k in keys])
                hidden = len(ranked) - len(keys)
                note = f"+{hidden} more categories" if hidden > 0 else ""
                out.append(
                    _bar_chart(shares, [str(k) for k in keys], colour, caption, note)
                )
        return "".join(out)
    return "<p class='empty'>no distribution recorded</p>"


def _shared_edges(sketches: list[KllSketch]) -> np.ndarray | None:
    items = [s.weighted_items()[0] for s in sketches]
    items = [i for i in items if len(i)]
    if not items:
        return None
    low = min(float(i[0]) for i in items)
    high = max(float(i[-1]) for i in items)
    if high <= low:
        high = low + 1.0
    return np.linspace(low, high, BINS + 1)


def _normalise(counts: np.ndarray) -> np.ndarray:
    total = counts.sum()
    return counts / total if total else counts


def _short(value: float) -> str:
    return f"{value:.4g}"


def _bar_chart(
    shares: np.ndarray, labels: list[str], colour: str, caption: str, note: str
) -> str:
    """A small SVG bar chart of shares (0..1) with a title and hover labels."""
    n = max(len(shares), 1)
    top = max(float(shares.max()) if len(shares) else 0.0, 1e-12)
    inner_w, inner_h = WIDTH - 2 * PAD, HEIGHT - 2 * PAD
    step = inner_w / n
    bars = []
    for i, (share, label) in enumerate(zip(shares, labels, strict=False)):
        h = inner_h * float(share) / top
        x = PAD + i * step + 1
        y = PAD + inner_h - h
        bars.append(
            f"<rect x='{x:.1f}' y='{y:.1f}' width='{max(step - 2, 1):.1f}' "
            f"height='{h:.1f}' "
            f"fill='{colour}'><title>{escape(label)}: {share * 100:.1f}%</title></rect>"
        )
        if len(labels) <= MAX_CATEGORIES and not _is_number(label):
            bars.append(
                f"<text x='{x + step / 2 - 1:.1f}' y='{HEIGHT - PAD + 12}' "
                f"text-anchor='middle' class='tick'>{escape(label[:10])}</text>"
            )
    axis = (
        f"<line x1='{PAD}' y1='{PAD + inner_h}' x2='{WIDTH - PAD}' "
        f"y2='{PAD + inner_h}' "
        f"stroke='#888'/>"
    )
    return (
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{WIDTH}' height='{HEIGHT}' "
        f"viewBox='0 0 {WIDTH} {HEIGHT}' role='img' aria-label='{escape(caption)}'>"
        f"<text x='{PAD}' y='16' class='cap'>{escape(caption)} "
        f"(peak {top * 100:.1f}%)</text>"
        f"{''.join(bars)}{axis}"
        f"<text x='{PAD}' y='{HEIGHT - 4}' class='tick'>{escape(note)}</text></svg>"
    )


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;
color:#222}
h1{font-size:22px;margin:0 0 12px}h2{font-size:17px;margin:22px 0 8px}
table{border-collapse:collapse;font-size:13px}
th,td{border:1px solid #ddd;padding:4px 8px;text-align:left;vertical-align:top}
table.summary th{background:#f5f5f5;font-weight:600}
table.violations td:nth-child(2){white-space:nowrap}
.ok{color:#2e7d32;font-weight:600}.notes{color:#7a4b00;font-size:13px}
.legend span{display:inline-block;width:12px;height:12px;margin:0 4px 0 12px;
vertical-align:middle}
.features{display:flex;flex-wrap:wrap;gap:14px}
.card{border:1px solid #ddd;border-radius:6px;padding:8px 10px;background:#fff}
.card.flagged{border-color:#c0392b;box-shadow:0 0 0 1px #c0392b inset}
.card h3{margin:0 0 4px;font-size:15px}.card small{color:#666;font-weight:400}
.facts{font-size:12px;color:#444;display:flex;flex-wrap:wrap;gap:10px;max-width:700px}
.charts{display:flex;gap:8px}.problems{color:#c0392b;font-size:12px;max-width:700px}
.cap{font-size:12px;fill:#333}.tick{font-size:9px;fill:#555}.empty{color:#888;font-size:12px}
"""

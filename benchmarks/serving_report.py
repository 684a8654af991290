"""A self-contained HTML page (inline SVG) for the serving benchmark's results."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

_WIDTH = 640


def _bars(title: str, items: list[tuple[str, float, str]], unit: str) -> str:
    """A horizontal bar chart: (label, value, colour) per bar."""
    top = max((v for _, v, _ in items), default=1.0) or 1.0
    height = 28 * len(items) + 30
    parts = [
        f'<svg width="{_WIDTH}" height="{height}" role="img" '
        f'aria-label="{html.escape(title)}">'
    ]
    for index, (label, value, colour) in enumerate(items):
        y = 20 + index * 28
        width = max(1.0, (_WIDTH - 260) * value / top)
        parts.append(
            f'<text x="0" y="{y + 14}" font-size="12">{html.escape(label)}</text>'
        )
        parts.append(
            f'<rect x="180" y="{y}" width="{width:.1f}" height="20" fill="{colour}"/>'
        )
        parts.append(
            f'<text x="{185 + width:.1f}" y="{y + 14}" font-size="12">'
            f"{value:,.2f} {html.escape(unit)}</text>"
        )
    parts.append("</svg>")
    return f"<h2>{html.escape(title)}</h2>" + "".join(parts)


def write_html(
    path: Path, results: dict[str, Any], table: str, goals: dict[str, tuple[str, float]]
) -> None:
    verdicts = results.get("verdicts", {})
    goal_items = []
    for key, (op, target) in goals.items():
        actual = float(results[key])
        # How far past the goal: >1 means met, whichever direction the goal runs.
        if op == ">=":
            margin = actual / target if target else 0.0
        else:
            margin = (target / actual) if actual else (2.0 if target == 0 else 0.0)
        colour = "#2e7d32" if verdicts.get(key) else "#c62828"
        goal_items.append((f"{key} ({op} {target:g})", min(margin, 5.0), colour))
    sides = (("ours", "#1565c0"), ("reference", "#9e9e9e"))
    models = [
        m for m in ("penguins", "iris", "penguins_light") if f"{m}_loads" in results
    ]
    rate_items = [
        (f"{model} {side}", results[f"{model}_loads"][side]["row_c16"]["rps"], colour)
        for model in models
        for side, colour in sides
    ]
    latency_items = [
        (f"{model} {side}", results[f"{model}_loads"][side]["row_c1"]["p50_ms"], colour)
        for model in models
        for side, colour in sides
    ]
    load_items = [
        (section, after, "#ef6c00")
        for section, (_, after) in results.get("load", {}).items()
    ]
    body = "".join(
        [
            "<h1>sklearn-byoc serving benchmark</h1>",
            f"<p>{results['cores']} cores; load average before "
            f"{results['load_average_before'][0]:.2f}, after "
            f"{results['load_average_after'][0]:.2f}.</p>",
            _bars(
                "Goals: measured ÷ goal (higher is better, capped at 5)",
                goal_items,
                "x",
            ),
            _bars(
                "One-row CSV at concurrency 16: ours and the reference",
                rate_items,
                "req/s",
            ),
            _bars("One-row CSV latency at concurrency 1, p50", latency_items, "ms"),
            _bars("Load average (1 min) after each section", load_items, ""),
            f"<h2>Table</h2><pre>{html.escape(table)}</pre>",
        ]
    )
    path.write_text(
        f"<!doctype html><meta charset='utf-8'><title>serving benchmark"
        f"</title><body style='font-family:sans-serif'>{body}</body>"
    )

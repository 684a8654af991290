"""Self-contained HTML for people: a run comparison with inline SVG bars.

No plotting library: the page is plain HTML and SVG, so it opens anywhere
and adds nothing to install.
"""

from __future__ import annotations

from html import escape
from typing import Any

BAR_WIDTH = 260
COLOURS = ("#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948")


def _bars(values: list[float | None], labels: list[str]) -> str:
    present = [v for v in values if v is not None]
    top = max(present) if present and max(present) > 0 else 1.0
    rows = []
    for i, (value, label) in enumerate(zip(values, labels, strict=True)):
        width = 0 if value is None else max(1, int(BAR_WIDTH * value / top))
        text = "n/a" if value is None else f"{value:.4g}"
        y = i * 18
        rows.append(
            f'<rect x="0" y="{y}" width="{width}" height="14" '
            f'fill="{COLOURS[i % len(COLOURS)]}"><title>{escape(label)}</title></rect>'
            f'<text x="{width + 4}" y="{y + 11}" font-size="11">{escape(text)}</text>'
        )
    height = 18 * len(values)
    return (f'<svg width="{BAR_WIDTH + 70}" height="{height}" role="img">'
            + "".join(rows) + "</svg>")


def runs_html(runs: list[Any], table: dict[str, Any]) -> str:
    """The `runs compare` table: metrics as bars, differing hyperparameters highlighted."""
    ids = [r.run_id for r in runs]
    head = "".join(f"<th>{escape(i)}</th>" for i in ids)
    legend = "".join(
        f'<span style="color:{COLOURS[i % len(COLOURS)]}">&#9632;</span> {escape(r)} '
        for i, r in enumerate(ids))
    metric_rows = "".join(
        f"<tr><td>{escape(name)}</td><td>{_bars(values, ids)}</td></tr>"
        for name, values in table["metrics"].items())
    hp_rows = "".join(
        f'<tr{" class=diff" if name in table["differing_hyperparameters"] else ""}>'
        f"<td>{escape(name)}</td>"
        + "".join(f"<td>{escape(str(v))}</td>" for v in values) + "</tr>"
        for name, values in table["hyperparameters"].items())
    data_note = ("the training data differ between these runs" if table["data_changed"]
                 else "all runs used the same data (same sha256)")
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>Training runs compared</title>
<style>body{{font-family:sans-serif;margin:2em}}td,th{{padding:2px 8px;text-align:left}}
tr.diff td{{background:#fff3cd}}</style></head>
<body><h1>Training runs compared</h1><p>{legend}</p><p>{escape(data_note)}</p>
<h2>Metrics</h2><table>{metric_rows}</table>
<h2>Hyperparameters</h2><table><tr><th></th>{head}</tr>{hp_rows}</table>
</body></html>
"""

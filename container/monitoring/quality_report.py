"""report.html for model quality: one self-contained page (inline CSS and SVG).

A summary with the counts, the violations, a table of each metric against
the baseline and its constraint, and the confusion matrix drawn as a heat
map (rows: actual label, columns: predicted label, shade: the share of the
actual label's rows). A window with estimated metrics (computed from the
calibrated confidence, before or besides the labels) gets its own table of
them, next to the realised value once labels exist.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

from container.monitoring.quality_checks import MetricCheck
from container.monitoring.quality_metrics import scalar_metrics
from container.monitoring.report import _CSS, ALERT_COLOUR, BASE_COLOUR

MAX_MATRIX_LABELS = 25
CELL = 44
MARGIN = 110

_EXTRA_CSS = """
table.metrics td, table.metrics th { padding: 3px 8px; text-align: right; }
table.metrics td:first-child, table.metrics th:first-child { text-align: left; }
tr.breached td { color: #c0392b; font-weight: bold; }
svg.matrix text { font: 11px sans-serif; }
"""


def render_quality_report(
    title: str,
    summary: Sequence[tuple[str, str]],
    block: Mapping[str, Any],
    baseline_block: Mapping[str, Any] | None = None,
    checks: Sequence[MetricCheck] = (),
    violations: Sequence[Mapping[str, str]] = (),
    notes: Sequence[str] = (),
    estimated: Mapping[str, Any] | None = None,
) -> str:
    rows = "".join(
        f"<tr><th>{escape(k)}</th><td>{escape(v)}</td></tr>" for k, v in summary
    )
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{escape(title)}</title><style>{_CSS}{_EXTRA_CSS}</style></head><body>",  # noqa: E501
        f"<h1>{escape(title)}</h1><table class='summary'>{rows}</table>",
    ]
    if notes:
        parts.append(
            "<ul class='notes'>"
            + "".join(f"<li>{escape(n)}</li>" for n in notes)
            + "</ul>"
        )
    if checks or violations:
        parts.append(_violations(violations))
    if estimated:
        parts.append(_estimated_table(estimated, block))
    if not block:
        parts.append("</body></html>")
        return "".join(parts)
    parts.append(_metrics_table(block, baseline_block, checks))
    matrix = block.get("confusion_matrix")
    if isinstance(matrix, Mapping) and matrix:
        parts.append("<h2>Confusion matrix</h2>")
        parts.append(confusion_svg(matrix))
    parts.append("</body></html>")
    return "".join(parts)


def _violations(violations: Sequence[Mapping[str, str]]) -> str:
    if not violations:
        return "<h2>Violations</h2><p class='ok'>No violations.</p>"
    rows = "".join(
        f"<tr><td>{escape(v['feature_name'])}</td><td>{escape(v['constraint_check_type'])}"  # noqa: E501
        f"</td><td>{escape(v['description'])}</td></tr>"
        for v in violations
    )
    return (
        f"<h2>Violations ({len(violations)})</h2><table class='violations'><tr>"
        f"<th>Metric</th><th>Check</th><th>Description</th></tr>{rows}</table>"
    )


def _number(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    return "-" if value is None else escape(str(value))


def _metrics_table(
    block: Mapping[str, Any],
    baseline_block: Mapping[str, Any] | None,
    checks: Sequence[MetricCheck],
) -> str:
    by_metric = {c.constraint.metric: c for c in checks}
    base = scalar_metrics(dict(baseline_block)) if baseline_block else {}
    rows = []
    for name, metric in scalar_metrics(dict(block)).items():
        check = by_metric.get(name)
        css = " class='breached'" if check and check.breached else ""
        rows.append(
            f"<tr{css}><td>{escape(name)}</td><td>{_number(metric['value'])}</td>"
            f"<td>{_number(metric['standard_deviation'])}</td>"
            f"<td>{_number(base.get(name, {}).get('value'))}</td>"
            f"<td>{_number(check.constraint.threshold) if check else '-'}</td>"
            f"<td>{escape(check.constraint.comparison_operator) if check else '-'}</td>"
            f"<td>{('violated' if check.breached else 'ok') if check else '-'}</td></tr>"  # noqa: E501
        )
    return (
        "<h2>Metrics</h2><table class='metrics'><tr><th>metric</th><th>value</th>"
        "<th>standard deviation</th><th>baseline</th><th>threshold</th>"
        "<th>operator</th><th>status</th></tr>" + "".join(rows) + "</table>"
    )


def _estimated_table(
    estimated: Mapping[str, Any], block: Mapping[str, Any] | None
) -> str:
    realised = scalar_metrics(dict(block)) if block else {}
    rows = []
    for name in ("accuracy", "auc"):
        metric = estimated.get(name)
        if not isinstance(metric, Mapping):
            continue
        actual = realised.get(name, {}).get("value")
        difference = metric["value"] - actual if isinstance(actual, float) else None
        rows.append(
            f"<tr><td>{escape(name)}</td><td>{_number(metric['value'])}</td>"
            f"<td>{_number(metric['standard_deviation'])}</td>"
            f"<td>{_number(actual)}</td><td>{_number(difference)}</td></tr>"
        )
    calibration = estimated.get("calibration") or {}
    ece = (calibration.get("ece") or {}).get("calibrated")
    legend = (
        f"Estimated from the calibrated confidence of {estimated['records']} "
        f"predictions ({estimated['records_without_probabilities']} without "
        f"probabilities), calibrated on {calibration.get('rows', '?')} "
        f"{escape(str(calibration.get('split', '?')))} rows (ECE {_number(ece)}). "
        "Valid while only the inputs shift, not when the relation between inputs "
        "and labels changes (concept drift)."
    )
    return (
        "<h2>Estimated metrics</h2><table class='metrics'><tr><th>metric</th>"
        "<th>estimated</th><th>standard deviation</th><th>realised</th>"
        "<th>estimated − realised</th></tr>"
        + "".join(rows)
        + f"</table><p class='legend'>{legend}</p>"
    )


def confusion_svg(matrix: Mapping[str, Mapping[str, int]]) -> str:
    """The confusion matrix as an inline SVG heat map."""
    labels = list(matrix)[:MAX_MATRIX_LABELS]
    size = len(labels)
    width = MARGIN + CELL * size + 10
    height = MARGIN + CELL * size + 10
    out = [
        f"<svg class='matrix' xmlns='http://www.w3.org/2000/svg' width='{width}' "
        f"height='{height}' role='img' aria-label='confusion matrix'>",
        f"<text x='{MARGIN + CELL * size / 2}' y='14' text-anchor='middle'>predicted</text>",  # noqa: E501
        f"<text x='12' y='{MARGIN + CELL * size / 2}' text-anchor='middle' "
        f"transform='rotate(-90 12 {MARGIN + CELL * size / 2})'>actual</text>",
    ]
    for j, label in enumerate(labels):
        x = MARGIN + CELL * j + CELL / 2
        out.append(
            f"<text x='{x}' y='{MARGIN - 8}' text-anchor='middle'>{escape(_short(label))}</text>"  # noqa: E501
        )
    for i, actual in enumerate(labels):
        row = matrix[actual]
        total = sum(row.values()) or 1
        y = MARGIN + CELL * i
        out.append(
            f"<text x='{MARGIN - 8}' y='{y + CELL / 2 + 4}' text-anchor='end'>{escape(_short(actual))}</text>"  # noqa: E501
        )
        for j, guess in enumerate(labels):
            count = int(row.get(guess, 0))
            share = count / total
            colour = BASE_COLOUR if actual == guess else ALERT_COLOUR
            x = MARGIN + CELL * j
            text_colour = "#fff" if share > 0.5 else "#222"
            out.append(
                f"<rect x='{x}' y='{y}' width='{CELL - 2}' height='{CELL - 2}' "
                f"fill='{colour}' fill-opacity='{0.08 + 0.92 * share:.3f}'>"
                f"<title>actual {escape(actual)}, predicted {escape(guess)}: {count}</title></rect>"  # noqa: E501
                f"<text x='{x + CELL / 2 - 1}' y='{y + CELL / 2 + 4}' text-anchor='middle' "  # noqa: E501
                f"fill='{text_colour}'>{count}</text>"
            )
    out.append("</svg>")
    if len(matrix) > MAX_MATRIX_LABELS:
        out.append(
            f"<p class='legend'>First {MAX_MATRIX_LABELS} of {len(matrix)} labels shown.</p>"  # noqa: E501
        )
    return "".join(out)


def _short(label: str) -> str:
    return label if len(label) <= 12 else label[:11] + "…"

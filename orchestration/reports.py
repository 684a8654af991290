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
    return (
        f'<svg width="{BAR_WIDTH + 70}" height="{height}" role="img">'
        + "".join(rows)
        + "</svg>"
    )


def runs_html(runs: list[Any], table: dict[str, Any]) -> str:
    """The `runs compare` table: metric bars, differing hyperparameters marked."""
    ids = [r.run_id for r in runs]
    head = "".join(f"<th>{escape(i)}</th>" for i in ids)
    legend = "".join(
        f'<span style="color:{COLOURS[i % len(COLOURS)]}">&#9632;</span> {escape(r)} '
        for i, r in enumerate(ids)
    )
    metric_rows = "".join(
        f"<tr><td>{escape(name)}</td><td>{_bars(values, ids)}</td></tr>"
        for name, values in table["metrics"].items()
    )
    hp_rows = "".join(
        f"<tr{' class=diff' if name in table['differing_hyperparameters'] else ''}>"
        f"<td>{escape(name)}</td>"
        + "".join(f"<td>{escape(str(v))}</td>" for v in values)
        + "</tr>"
        for name, values in table["hyperparameters"].items()
    )
    data_note = (
        "the training data differ between these runs"
        if table["data_changed"]
        else "all runs used the same data (same sha256)"
    )
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>Training runs compared</title>
<style>body{{font-family:sans-serif;margin:2em}}td,th{{padding:2px 8px;text-align:left}}
tr.diff td{{background:#fff3cd}}</style></head>
<body><h1>Training runs compared</h1><p>{legend}</p><p>{escape(data_note)}</p>
<h2>Metrics</h2><table>{metric_rows}</table>
<h2>Hyperparameters</h2><table><tr><th></th>{head}</tr>{hp_rows}</table>
</body></html>
"""


# --- drift picture: baseline vs current distribution of one feature ---------------
def _feature(stats: dict[str, Any], name: str) -> dict[str, Any]:
    for feature in stats.get("features", []):
        if feature.get("name") == name:
            return feature
    raise KeyError(
        f"feature {name!r} is not in the statistics ({[f.get('name') for f in stats.get('features', [])]})"
    )


def _shares(feature: dict[str, Any]) -> list[tuple[Any, Any, float]]:
    """(lower, upper, share) per bucket; categorical: (value, value, share)."""
    numeric = feature.get("numerical_statistics")
    if numeric is not None:
        buckets = numeric["distribution"]["kll"]["buckets"]
        total = sum(b["count"] for b in buckets) or 1
        return [
            (b["lower_bound"], b["upper_bound"], b["count"] / total) for b in buckets
        ]
    buckets = feature["string_statistics"]["distribution"]["categorical"]["buckets"]
    total = sum(b["count"] for b in buckets) or 1
    return [(b["value"], b["value"], b["count"] / total) for b in buckets]


def drift_svg(
    baseline: dict[str, Any],
    current: dict[str, Any],
    name: str,
    width: int = 420,
    height: int = 160,
) -> str:
    """Baseline (blue) and current (orange) shares of one feature, as inline SVG."""
    base, now = _shares(_feature(baseline, name)), _shares(_feature(current, name))
    top = max(s for *_, s in base + now) or 1.0
    plot_h = height - 30
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" '
        f'height="{height}" font-family="sans-serif" font-size="10">',
        f'<text x="4" y="12" font-size="12">{escape(name)}: baseline '
        f'<tspan fill="#4e79a7">&#9632;</tspan> vs current '
        f'<tspan fill="#f28e2b">&#9632;</tspan></text>',
    ]
    if isinstance(base[0][0], str):  # categorical: side-by-side bars per value
        values = sorted({v for v, *_ in base} | {v for v, *_ in now})
        slot = (width - 10) / max(len(values), 1)
        for series, colour, offset in ((base, "#4e79a7", 0.1), (now, "#f28e2b", 0.5)):
            shares = {v: s for v, _, s in series}
            for i, value in enumerate(values):
                h = plot_h * shares.get(value, 0.0) / top
                parts.append(
                    f'<rect x="{5 + slot * (i + offset):.1f}" '
                    f'y="{height - 14 - h:.1f}" width="{slot * 0.38:.1f}" '
                    f'height="{h:.1f}" fill="{colour}"/>'
                )
        parts += [
            f'<text x="{5 + slot * (i + 0.3):.1f}" y="{height - 2}">'
            f"{escape(str(v))}</text>"
            for i, v in enumerate(values)
        ]
    else:  # numeric: bucket shares over a shared axis
        low = min(b[0] for b in base + now)
        high = max(b[1] for b in base + now)
        span = (high - low) or 1.0
        for series, colour in ((base, "#4e79a7"), (now, "#f28e2b")):
            for lo, hi, share in series:
                x = 5 + (width - 10) * (lo - low) / span
                w = max(1.0, (width - 10) * (hi - lo) / span)
                h = plot_h * share / top
                parts.append(
                    f'<rect x="{x:.1f}" y="{height - 14 - h:.1f}" width="{w:.1f}" '
                    f'height="{h:.1f}" fill="{colour}" fill-opacity="0.55"/>'
                )
        parts += [
            f'<text x="5" y="{height - 2}">{low:g}</text>',
            f'<text x="{width - 5}" y="{height - 2}" text-anchor="end">{high:g}</text>',
        ]
    parts.append("</svg>")
    return "".join(parts)


def run_summary_html(
    summary: dict[str, Any], baseline: dict[str, Any], current: dict[str, Any]
) -> str:
    """The demo's one page: metrics, violations with pictures, alerts, timings."""

    def table(rows: list[tuple[Any, ...]], head: tuple[str, ...]) -> str:
        cells = "".join(
            "<tr>" + "".join(f"<td>{escape(str(c))}</td>" for c in row) + "</tr>"
            for row in rows
        )
        header = "".join(f"<th>{escape(h)}</th>" for h in head)
        return f"<table><tr>{header}</tr>{cells}</table>"

    metrics = sorted(
        (k, f"{v:.4g}")
        for k, v in summary.get("metrics", {}).items()
        if k.startswith(("validation:", "test:"))
    )
    violations = summary.get("drift_violations", [])
    pictures = []
    for name in dict.fromkeys(v.get("feature_name") for v in violations):
        try:
            pictures.append(drift_svg(baseline, current, name))
        except (KeyError, IndexError, TypeError):
            continue  # a column the statistics do not describe: the table says it
    rows = [
        (v.get("feature_name"), v.get("constraint_check_type"), v.get("description"))
        for v in violations
    ]
    alerts = [(a["rule"], a["summary"]) for a in summary.get("alerts", [])]
    quality = [
        (
            window,
            found.get("status"),
            ", ".join(
                f"{k}={v:.4g}"
                for k, v in (found.get("metrics") or {}).items()
                if not k.endswith("_best_constant_classifier")
            ),
            ", ".join(
                f"{k}={v:.4g}" for k, v in (found.get("estimated") or {}).items()
            ),
            "; ".join(v.get("description", "") for v in found.get("violations") or []),
        )
        for window, found in summary.get("quality", {}).items()
    ]
    timings = list(summary.get("timings_seconds", {}).items())
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>Lifecycle run</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:60em}}
td,th{{padding:2px 8px;text-align:left;vertical-align:top}}
svg{{margin:4px 12px 4px 0}}</style></head>
<body><h1>Lifecycle run: model version {summary.get("model_version")}</h1>
<p>Held-out traffic: {summary.get("held_out_violations")} violation(s).
Drifted traffic: {len(violations)} violation(s).
Total {summary.get("total_seconds")} s. Full drift report:
<a href="file://{escape(str(summary.get("report")))}">{
        escape(str(summary.get("report")))
    }</a></p>
<h2>Metrics</h2>{table(metrics, ("metric", "value"))}
<h2>Drift found</h2>{"".join(pictures)}
{table(rows, ("feature", "check", "description"))}
<h2>Model quality per window</h2>
{table(quality, ("window", "status", "metrics", "estimated", "violations"))}
<h2>Alerts</h2>{table(alerts, ("rule", "summary"))}
<h2>Step timings (s)</h2>{table(timings, ("step", "seconds"))}
</body></html>
"""


# --- a tuning job: its trials and the objective of each --------------------------
def objective_svg(trials: list[dict[str, Any]], best: str | None) -> str:
    """Each trial's objective, in launch order: a dot each, the best one ringed,
    a failed trial (no objective) a grey cross on the floor."""
    width, height, pad = 480, 200, 36
    values = [t["objective_value"] for t in trials if t["objective_value"] is not None]
    low, high = (min(values), max(values)) if values else (0.0, 1.0)
    if high == low:  # one value (or all equal): a band around it
        margin = abs(high) * 0.01 or 0.01
        low, high = low - margin, high + margin
    step = (width - 2 * pad) / max(1, len(trials) - 1)

    def y(value: float) -> float:
        return height - pad - (value - low) / (high - low) * (height - 2 * pad)

    parts = [
        f'<svg width="{width}" height="{height}" role="img" font-size="11">',
        f'<line x1="{pad}" y1="{height - pad}" x2="{width - pad}" y2="{height - pad}" stroke="#999"/>',
        f'<text x="2" y="{y(high) + 4:.1f}">{high:.4g}</text>',
        f'<text x="2" y="{y(low) + 4:.1f}">{low:.4g}</text>',
    ]
    for i, trial in enumerate(trials):
        x = pad + i * step
        label = escape(f"{trial['job_name']}: {trial['objective_value']}")
        parts.append(
            f'<text x="{x:.1f}" y="{height - pad + 14}" text-anchor="middle">{i + 1}</text>'
        )
        if trial["objective_value"] is None:
            parts.append(
                f'<text x="{x:.1f}" y="{height - pad - 3}" text-anchor="middle" '
                f'fill="#999" font-size="14">&#215;<title>{label} ({escape(str(trial["status"]))})</title></text>'
            )
            continue
        cy = y(trial["objective_value"])
        if trial["job_name"] == best:
            parts.append(
                f'<circle cx="{x:.1f}" cy="{cy:.1f}" r="9" fill="none" stroke="{COLOURS[3]}" stroke-width="2"/>'
            )
        parts.append(
            f'<circle cx="{x:.1f}" cy="{cy:.1f}" r="5" fill="{COLOURS[0]}"><title>{label}</title></circle>'
        )
    parts.append(
        f'<text x="{width / 2:.0f}" y="{height - 4}" text-anchor="middle">trial</text></svg>'
    )
    return "".join(parts)


def tuning_html(document: dict[str, Any]) -> str:
    """A tuning job's page: the objective per trial pictured, and every trial."""
    objective = document["objective"]
    trials = document["trials"]
    best = document.get("best_job_name")
    names = [r["name"] for r in document["ranges"]]
    head = "".join(
        f"<th>{escape(h)}</th>"
        for h in ("#", "training job", *names, objective["metric"], "status", "reason")
    )
    rows = "".join(
        f"<tr{' class=best' if t['job_name'] == best else ''}><td>{i + 1}</td>"
        f"<td>{escape(t['job_name'])}</td>"
        + "".join(
            f"<td>{escape(str(t['hyperparameters'].get(n, '')))}</td>" for n in names
        )
        + f"<td>{_objective_text(t['objective_value'])}</td>"
        f"<td>{escape(t['status'])}</td><td>{escape(t.get('failure_reason') or '')}</td></tr>"
        for i, t in enumerate(trials)
    )
    status = escape(str(document["status"]))
    reason = document.get("failure_reason")
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>Tuning job {escape(document["tuning_job"])}</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:60em}}
td,th{{padding:2px 8px;text-align:left}}tr.best td{{background:#e2f0d9}}</style></head>
<body><h1>Tuning job {escape(document["tuning_job"])}</h1>
<p>{status}{": " + escape(reason) if reason else ""}. {escape(document["strategy"])} search on
{escape(document["backend"])}, {len(trials)} trial(s),
{escape(objective["type"])} {escape(objective["metric"])}; best:
{escape(best or "none")}.</p>
<h2>{escape(objective["metric"])} per trial</h2>{objective_svg(trials, best)}
<h2>Trials</h2><table><tr>{head}</tr>{rows}</table>
</body></html>
"""


def _objective_text(value: float | None) -> str:
    return "" if value is None else f"{value:.4g}"

"""Small inline-SVG charts for the notebooks: variants compared, data explored.

Like `reports`, no plotting library: each function returns one `<svg>` string
that a notebook shows with `IPython.display.SVG` and a page can inline. The
series' colours are `reports.COLOURS`, in the order the series are given.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape

from orchestration.reports import COLOURS

_FONT = 'font-family="sans-serif" font-size="11"'


def _legend(names: Sequence[str]) -> str:
    return "".join(
        f'<tspan fill="{COLOURS[i % len(COLOURS)]}">&#9632;</tspan> {escape(n)}  '
        for i, n in enumerate(names)
    )


def metric_bars_svg(
    metric: str, values: Mapping[str, float | None], better: str | None = None
) -> str:
    """One metric, a bar per series (e.g. per variant) side by side; a series
    without a value gets a grey "n/a" on the floor. `better` ("higher" or
    "lower"), if given, is said in the title, so the reader knows which bar
    wins."""
    width, height, pad = 220, 150, 24
    present = [v for v in values.values() if v is not None]
    top = max(present, default=0) or 1.0
    slot = (width - 2 * pad) / max(len(values), 1)
    floor = height - pad
    note = f'<tspan fill="#777">({escape(better)} is better)</tspan>' if better else ""
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'{_FONT} role="img" aria-label="{escape(metric)}">',
        f'<text x="4" y="13" font-size="12">{escape(metric)} {note}</text>',
        f'<line x1="{pad}" y1="{floor}" x2="{width - pad}" y2="{floor}" stroke="#999"/>',
    ]
    for i, (name, value) in enumerate(values.items()):
        x = pad + slot * i + slot * 0.15
        centre = x + slot * 0.35
        if value is None:
            parts.append(
                f'<text x="{centre:.1f}" y="{floor - 4}" text-anchor="middle" '
                f'fill="#999">n/a</text>'
            )
        else:
            h = max(1.0, (floor - 30) * value / top)
            parts.append(
                f'<rect class="bar" x="{x:.1f}" y="{floor - h:.1f}" '
                f'width="{slot * 0.7:.1f}" height="{h:.1f}" '
                f'fill="{COLOURS[i % len(COLOURS)]}"><title>{escape(name)}: '
                f"{value:.4g}</title></rect>"
                f'<text x="{centre:.1f}" y="{floor - h - 4:.1f}" '
                f'text-anchor="middle">{value:.4g}</text>'
            )
        parts.append(
            f'<text x="{centre:.1f}" y="{height - 8}" text-anchor="middle">'
            f"{escape(name)}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def histogram_svg(
    feature: str, by_class: Mapping[str, Sequence[float]], bins: int = 16
) -> str:
    """One numeric feature's distribution per class, overlaid on one axis:
    the classes' translucent bars show where they separate and where not.
    Missing values are left out and counted in the title."""
    width, height, pad = 420, 150, 16
    clean = {k: [v for v in vs if v == v] for k, vs in by_class.items()}  # NaN != NaN
    missing = sum(len(vs) for vs in by_class.values()) - sum(map(len, clean.values()))
    every = [v for vs in clean.values() for v in vs]
    low, high = (min(every), max(every)) if every else (0.0, 1.0)
    step = ((high - low) or 1.0) / bins
    counts = {
        k: [
            sum(1 for v in vs if min(int((v - low) / step), bins - 1) == b)
            for b in range(bins)
        ]
        for k, vs in clean.items()
    }
    top = max((c for cs in counts.values() for c in cs), default=0) or 1
    bar_w = (width - 2 * pad) / bins
    floor = height - 16
    note = f", {missing} missing" if missing else ""
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'{_FONT} role="img" aria-label="histogram of {escape(feature)}">',
        f'<text x="4" y="13" font-size="12">{escape(feature)}{escape(note)}: '
        f"{_legend(list(clean))}</text>",
    ]
    for i, (name, cs) in enumerate(counts.items()):
        colour = COLOURS[i % len(COLOURS)]
        for b, count in enumerate(cs):
            if count:
                h = (floor - 24) * count / top
                parts.append(
                    f'<rect x="{pad + b * bar_w:.1f}" y="{floor - h:.1f}" '
                    f'width="{bar_w - 1:.1f}" height="{h:.1f}" fill="{colour}" '
                    f'fill-opacity="0.5"><title>{escape(name)}: {count} in '
                    f"[{low + b * step:.4g}, {low + (b + 1) * step:.4g})</title></rect>"
                )
    parts += [
        f'<text x="{pad}" y="{height - 3}">{low:g}</text>',
        f'<text x="{width - pad}" y="{height - 3}" text-anchor="end">{high:g}</text>',
        "</svg>",
    ]
    return "".join(parts)


def correlation_svg(names: Sequence[str], matrix: Sequence[Sequence[float]]) -> str:
    """A correlation matrix as a heat map: blue for positive, red for negative,
    the stronger the darker, each cell's coefficient written in it."""
    cell, margin = 64, 130
    size = len(names)
    side = margin + cell * size + 6
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{side}" height="{side}" '
        f'{_FONT} role="img" aria-label="correlation matrix">',
    ]
    for i, name in enumerate(names):
        centre = margin + cell * i + cell / 2
        parts.append(
            f'<text x="{margin - 6}" y="{centre + 4:.0f}" text-anchor="end">'
            f"{escape(name)}</text>"
            f'<text x="{centre:.0f}" y="{margin - 6}" text-anchor="start" '
            f'transform="rotate(-40 {centre:.0f} {margin - 6})">{escape(name)}</text>'
        )
    for i, row in enumerate(matrix):
        for j, r in enumerate(row):
            x, y = margin + cell * j, margin + cell * i
            colour = COLOURS[0] if r >= 0 else COLOURS[3]
            text = "#fff" if abs(r) > 0.6 else "#222"
            parts.append(
                f'<rect class="cell" x="{x}" y="{y}" width="{cell - 2}" '
                f'height="{cell - 2}" fill="{colour}" fill-opacity="{abs(r):.3f}">'
                f"<title>{escape(names[i])} ~ {escape(names[j])}: {r:.3f}</title></rect>"
                f'<text x="{x + cell / 2 - 1}" y="{y + cell / 2 + 4}" '
                f'text-anchor="middle" fill="{text}">{r:.2f}</text>'
            )
    parts.append("</svg>")
    return "".join(parts)

"""report.html: self-contained, with the violations and a chart pair per feature."""

from __future__ import annotations

import re
from html.parser import HTMLParser

from tests.container.monitoring.helpers import csv_lines, write_capture


class Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def test_monitoring_report_is_self_contained_and_complete(fitted, frame, tmp_path):
    write_capture(tmp_path / "cap", csv_lines(frame.assign(age=frame.age + 15)))
    run = fitted.run_monitor(tmp_path / "cap", tmp_path / "out")
    html = (run.output / "report.html").read_text()
    parser = Tags()
    parser.feed(html)
    # Nothing fetched at view time: no scripts, links, images or CSS urls.
    assert not [t for t, a in parser.tags if t in ("script", "link", "img", "iframe")]
    assert not [a for _, a in parser.tags if "src" in a or "href" in a]
    assert "url(" not in html
    # Baseline and current side by side for each of the five features.
    assert sum(1 for t, _ in parser.tags if t == "svg") == 2 * len(frame.columns)
    assert "Violations (1)" in html and "baseline_drift_check" in html
    cards = re.findall(r"<section class='card( flagged)?'><h3>(\w+)", html)
    assert [name for flag, name in cards if flag] == ["age"]


def test_report_escapes_feature_names_and_values(opt_ml, tmp_path):
    import pandas as pd

    from tests.container.monitoring.helpers import run_baseline

    frame = pd.DataFrame({"<b>x</b>": ["<script>alert(1)</script>", "a"] * 20})
    run_baseline(frame, tmp_path / "b")
    html = (tmp_path / "b" / "baseline" / "report.html").read_text()
    assert "<script>" not in html and "&lt;script&gt;" in html

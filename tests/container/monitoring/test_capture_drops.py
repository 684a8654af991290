"""Records the capture writer dropped: counted from its sidecars, never read as data."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from container.contract.capture_drops import DropCounts
from container.contract.settings import CaptureSettings
from container.serving.capture import CaptureWriter
from tests.container.monitoring.helpers import HOUR, csv_lines, write_capture
from tests.container.serving.test_capture import Disk, lines_of, pytestmark_linux


def csv_row(frame, i: int) -> bytes:
    return ",".join(str(v) for v in frame.iloc[i]).encode()


@pytestmark_linux
def test_monitor_reports_what_a_full_disk_dropped(fitted, frame, tmp_path, monkeypatch):
    capture = tmp_path / "cap"
    writer = CaptureWriter(
        CaptureSettings(destination=str(capture), endpoint_name="endpoint-a"),
        clock=lambda: datetime(2026, 4, 18, 0, 30, tzinfo=UTC),
    )
    disk = Disk(monkeypatch, capture, capacity=60_000)
    for i in range(400):
        if i == 300:
            disk.capacity = 10**9  # space comes back
        writer.record(csv_row(frame, i), "text/csv", b"0", "text/csv")
    writer.close()
    monkeypatch.undo()
    assert 0 < writer.dropped < 300
    assert writer.written + writer.dropped == 400
    for line in lines_of(capture):
        json.loads(line)

    run = fitted.run_monitor(capture, tmp_path / "out")
    assert run.code == 0, run.message
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["dropped_capture_records"] == writer.dropped
    assert summary["capture"]["drop_reasons"] == {"ENOSPC": writer.dropped}
    assert summary["capture"]["records"] == summary["item_count"] == writer.written
    assert summary["capture"]["malformed_lines"] == 0
    report = (tmp_path / "out" / "report.html").read_text()
    assert f"{writer.dropped} records of this window were never captured" in report


def write_sidecar(root: Path, hour: str, name: str, counts: DropCounts | str) -> None:
    folder = root / "endpoint-a" / "AllTraffic" / hour
    folder.mkdir(parents=True, exist_ok=True)
    content = counts if isinstance(counts, str) else counts.encode().decode()
    (folder / f"{name}.drops.json").write_text(content)


def drops(n: int, first: str, last: str, reason: str = "ENOSPC") -> DropCounts:
    return DropCounts("x.jsonl", n, {reason: n}, first, last)


def test_sidecars_of_the_window_are_summed(fitted, frame, tmp_path):
    capture = tmp_path / "cap"
    write_capture(capture, csv_lines(frame.head(50), when="2026-04-18T00:45:00Z"))
    write_sidecar(capture, HOUR, "a", drops(3, "2026-04-18T00:10:00Z", "00:20"))
    write_sidecar(
        capture, HOUR, "b", drops(5, "2026-04-18T00:20:00Z", "2026-04-18T00:40:00Z")
    )
    write_sidecar(
        capture, HOUR, "c", drops(2, "2026-04-18T00:50:00Z", "2026-04-18T00:55:00Z")
    )
    write_sidecar(capture, HOUR, "d", DropCounts("d.jsonl"))
    write_sidecar(capture, HOUR, "e", "not a sidecar")
    write_sidecar(
        capture,
        "2026/04/18/01",
        "f",
        drops(7, "2026-04-18T01:10:00Z", "2026-04-18T01:20:00Z", "EIO"),
    )
    run = fitted.run_monitor(
        capture, tmp_path / "out", "--start-time", "2026-04-18T00:30:00Z"
    )
    assert run.code == 0, run.message
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    # a: its (unparseable) times keep it in; b straddles the start; c is inside;
    # f's hour is outside the window; d has none; e is unreadable.
    assert summary["dropped_capture_records"] == 3 + 5 + 2
    assert summary["capture"]["drop_sidecars"] == 4
    assert summary["capture"]["unreadable_drop_sidecars"] == 1
    assert summary["capture"]["records"] == 50  # sidecars are not records
    assert summary["capture"]["malformed_lines"] == 0
    report = (tmp_path / "out" / "report.html").read_text()
    assert "could not be read" in report


def test_drops_entirely_before_the_window_are_left_out(fitted, frame, tmp_path):
    capture = tmp_path / "cap"
    write_capture(capture, csv_lines(frame.head(50), when="2026-04-18T00:45:00Z"))
    write_sidecar(
        capture, HOUR, "a", drops(3, "2026-04-18T00:10:00Z", "2026-04-18T00:29:59Z")
    )
    run = fitted.run_monitor(
        capture, tmp_path / "out", "--start-time", "2026-04-18T00:30:00Z"
    )
    assert run.code == 0, run.message
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["dropped_capture_records"] == 0


def test_no_sidecars_means_no_drops(fitted, frame, tmp_path):
    """SageMaker's own capture writes no sidecars: the count is then 0."""
    capture = tmp_path / "cap"
    write_capture(capture, csv_lines(frame.head(50)))
    run = fitted.run_monitor(capture, tmp_path / "out")
    assert run.code == 0, run.message
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["dropped_capture_records"] == 0
    assert summary["capture"]["drop_sidecars"] == 0

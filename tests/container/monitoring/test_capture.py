"""Reading capture files: time windows, payload encodings and shapes, bad lines."""

from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
import pytest

from container.monitoring.capture_decoding import capture_frames
from container.monitoring.capture_reader import (
    CaptureScan,
    capture_files,
    iter_record_blocks,
    parse_time,
)
from container.monitoring.errors import MonitoringInputError
from tests.container.monitoring.helpers import base64_line, capture_line, write_capture

NAMES = ["a", "b", "c"]


def read_window(root, start=None, end=None, names=NAMES, include_output=False):
    start, end = parse_time(start, "start"), parse_time(end, "end")
    scan = CaptureScan()
    records = iter_record_blocks(capture_files(root, start, end), start, end, scan)
    frames = list(capture_frames(records, names, scan, include_output=include_output))
    frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    return frame, scan


def test_window_filters_hour_folders_and_record_times(tmp_path):
    write_capture(
        tmp_path,
        [capture_line("1,2,x", when="2026-04-18T00:59:59Z")],
        hour="2026/04/18/00",
    )
    write_capture(
        tmp_path,
        [
            capture_line("2,2,x", when="2026-04-18T01:00:00Z"),
            capture_line("3,2,x", when="2026-04-18T01:30:00Z"),
        ],
        hour="2026/04/18/01",
    )
    write_capture(
        tmp_path,
        [capture_line("4,2,x", when="2026-04-18T02:10:00Z")],
        hour="2026/04/18/02",
    )
    frame, scan = read_window(tmp_path, "2026-04-18T00:30:00Z", "2026-04-18T01:30:00Z")
    assert sorted(frame["a"]) == [1, 2]
    assert scan.files == 2  # the 02 hour folder is never opened
    assert scan.outside_window == 1


def test_csv_json_and_base64_payloads_are_all_decoded(tmp_path):
    npy = io.BytesIO()
    np.save(npy, np.array([[7.0, 8.0, 9.0]]))
    lines = [
        capture_line("1,2,x"),
        capture_line("2,3,y\n3,4,z"),  # one request, two records
        capture_line(
            json.dumps({"instances": [[4, 5, "u"], [5, 6, "v"]]}),
            "application/json",
            "JSON",
        ),
        capture_line(
            json.dumps({"a": 6, "b": 7, "c": "w"}), "application/json", "JSON"
        ),
        capture_line(json.dumps([7, 8, "t"]), "application/json", "JSON"),
        base64_line(b"8,9,s", "text/csv"),
        base64_line(npy.getvalue(), "application/x-npy"),
    ]
    write_capture(tmp_path, lines)
    frame, scan = read_window(tmp_path)
    assert sorted(frame["a"].astype(float)) == [1, 2, 3, 4, 5, 6, 7, 7, 8]
    assert list(frame.columns) == NAMES
    assert scan.records == 7 and scan.undecodable == 0


def test_malformed_lines_are_counted_not_fatal(tmp_path):
    lines = [
        capture_line("1,2,x"),
        "not json",
        json.dumps({"no": "capture"}),
        capture_line("9,9,q", when="yesterday"),
        capture_line("{oops", "application/json", "JSON"),
        capture_line("2,3,y"),
    ]
    write_capture(tmp_path, lines)
    frame, scan = read_window(tmp_path)
    assert sorted(frame["a"]) == [1, 2]
    assert scan.malformed == 3
    assert scan.undecodable == 1
    assert any("not JSON" in e for e in scan.examples)


def test_output_is_joined_first_when_the_baseline_counts_it(tmp_path):
    write_capture(
        tmp_path,
        [capture_line("1,2,x", output="yes"), capture_line("2,3,y", output="no")],
    )
    frame, _ = read_window(tmp_path, names=["label", *NAMES], include_output=True)
    assert list(frame.columns) == ["label", *NAMES]
    assert list(frame["label"]) == ["yes", "no"]
    # No baseline column is left over for it: the predictions get their own name.
    frame, _ = read_window(tmp_path, include_output=True)
    assert list(frame.columns) == ["prediction", *NAMES]
    assert list(frame["prediction"]) == ["yes", "no"]


def test_endpoint_name_selects_its_folder(tmp_path):
    write_capture(tmp_path, [capture_line("1,2,x")])
    other = tmp_path / "endpoint-b" / "AllTraffic" / "2026/04/18/00"
    other.mkdir(parents=True)
    (other / "f.jsonl").write_text(capture_line("5,5,z") + "\n")
    assert len(capture_files(tmp_path, None, None, "endpoint-a")) == 1
    # Without a name (or with another one) the endpoints' traffic is not merged.
    for name in (None, "endpoint-c"):
        with pytest.raises(MonitoringInputError) as info:
            capture_files(tmp_path, None, None, name)
        assert "several endpoints (endpoint-a, endpoint-b)" in info.value.message
    assert "is none of them" in info.value.message


def test_one_endpoint_needs_no_name(tmp_path):
    write_capture(tmp_path, [capture_line("1,2,x")])
    assert len(capture_files(tmp_path, None, None)) == 1
    assert len(capture_files(tmp_path / "endpoint-a", None, None)) == 1

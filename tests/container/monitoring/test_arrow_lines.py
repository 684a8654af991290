"""The columnar reading of capture and ground-truth files gives exactly what
reading them record by record gives, and steps aside for irregular files."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from container.monitoring import arrow_lines
from container.monitoring.arrow_lines import (
    captured_outputs,
    plain_labels,
    window_outputs,
)
from container.monitoring.capture_reader import (
    CaptureScan,
    iter_record_blocks,
    record_id,
)
from container.monitoring.ground_truth import GroundTruthScan, read_labels
from tests.container.monitoring.quality_helpers import (
    capture_record,
    label_record,
    write_lines,
)

START = datetime(2026, 4, 18, 0, 10, tzinfo=UTC)
END = datetime(2026, 4, 18, 0, 50, tzinfo=UTC)


def without_output(event_id: str, when: str) -> str:
    doc = json.loads(capture_record(event_id, "1", when=when))
    del doc["captureData"]["endpointOutput"]
    return json.dumps(doc)


def without_time(event_id: str) -> str:
    doc = json.loads(capture_record(event_id, "1"))
    del doc["eventMetadata"]["inferenceTime"]
    return json.dumps(doc)


REGULAR = [
    capture_record("e1", "1,0.2,0.8", when="2026-04-18T00:09:59Z"),  # before
    capture_record("e2", "0,0.7,0.3", when="2026-04-18T00:10:00Z"),
    capture_record("e3", "1", inference_id="i3", when="2026-04-18T00:30:00Z"),
    capture_record(
        "e4",
        json.dumps({"predictions": [1]}),
        "application/json",
        when="2026-04-18T02:40:00+02:00",  # 00:40 UTC
    ),
    without_output("e5", "2026-04-18T00:45:00Z"),
    without_time("e6"),
    capture_record("e7", "1", when="2026-04-18T00:50:00Z"),  # the end: outside
]


def record_by_record(path, start, end):
    scan = CaptureScan()
    pairs = [
        (record_id(document), record.output)
        for block in iter_record_blocks(
            [path], start, end, scan, with_documents=True, outputs_only=True
        )
        for record, document in block
    ]
    return pairs, scan


@pytest.mark.parametrize("window", [(START, END), (None, END), (START, None)])
def test_capture_columns_equal_the_records(tmp_path, window):
    path = write_lines(tmp_path, REGULAR)
    assert captured_outputs(path, *window) is not None  # the columnar path
    expected, expected_scan = record_by_record(path, *window)
    scan = CaptureScan()
    assert list(window_outputs([path], *window, scan)) == expected
    assert scan.to_dict() == expected_scan.to_dict()
    assert any(output is None for _, output in expected)
    if window == (START, END):
        assert [key for key, _ in expected] == ["e2", "i3", "e4", "e5", "e6"]


def test_times_pyarrow_leaves_as_text_are_tested_the_same(tmp_path):
    # Mixed precision keeps the column as text; the window test reads it.
    lines = [
        capture_record("a", "1", when="2026-04-18T00:20:00.250Z"),
        capture_record("b", "1", when="2026-04-18T00:55:00Z"),
        capture_record("c", "1", when=""),
    ]
    path = write_lines(tmp_path, lines)
    found = captured_outputs(path, START, END)
    assert found is not None and found.keys == ["a", "c"]
    assert found.outside_window == 1
    assert (found.keys, found.outputs) == tuple(
        map(list, zip(*record_by_record(path, START, END)[0], strict=True))
    )


@pytest.mark.parametrize(
    "odd_line",
    [
        "not json",
        capture_record("x", "1", when="yesterday"),
        json.dumps({"captureData": {"endpointOutput": {"encoding": "CSV"}}}),
        json.dumps({"captureData": None, "eventMetadata": {"eventId": "x"}}),
        json.dumps(
            {
                "captureData": {"endpointOutput": {"data": "1"}},
                "eventMetadata": {"eventId": 7},
            }
        ),
    ],
)
def test_an_irregular_capture_file_is_read_record_by_record(tmp_path, odd_line):
    path = write_lines(tmp_path, [*REGULAR, odd_line])
    assert captured_outputs(path, START, END) is None
    expected, expected_scan = record_by_record(path, START, END)
    scan = CaptureScan()
    assert list(window_outputs([path], START, END, scan)) == expected
    assert scan.to_dict() == expected_scan.to_dict()


def test_large_files_are_read_record_by_record(tmp_path, monkeypatch):
    path = write_lines(tmp_path, REGULAR)
    monkeypatch.setattr(arrow_lines, "MAX_BYTES", path.stat().st_size - 1)
    assert captured_outputs(path, START, END) is None
    assert plain_labels(write_lines(tmp_path, [label_record("a", 1)] * 50, "l")) is None


def test_plain_labels_equal_the_records(tmp_path):
    lines = [label_record("a", 1), label_record("b", 0), "", label_record("a", 0)]
    path = write_lines(tmp_path, lines)
    assert plain_labels(path) == (["a", "b", "a"], ["1", "0", "0"])
    scan = GroundTruthScan()
    labels = read_labels([path], scan)
    assert labels == {"a": ("0",), "b": ("0",)}
    assert labels["a"] is labels["b"]  # one shared tuple per label value
    assert (scan.records, scan.duplicated, scan.malformed) == (3, 1, 0)


@pytest.mark.parametrize(
    "odd_line",
    [
        label_record("x", [1, 0], "JSON"),
        label_record("x", "1,0"),
        label_record("x", ""),
        label_record("", 1),
        json.dumps({"groundTruthData": {"data": 1}, "eventMetadata": {"eventId": "x"}}),
        json.dumps({"groundTruthData": {"data": "1"}, "eventMetadata": {"eventId": 3}}),
        "not json",
    ],
)
def test_other_label_files_are_read_record_by_record(tmp_path, odd_line):
    path = write_lines(tmp_path, [label_record("a", 1), odd_line])
    assert plain_labels(path) is None
    labels = read_labels([path], GroundTruthScan())
    assert labels["a"] == ("1",)

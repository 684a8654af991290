"""The local backend finds a window's capture at once (no Docker needed): its
server writes each record before answering, so there is nothing to wait for."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from orchestration.backends.local import LocalBackend


def record(when: str) -> str:
    return json.dumps(
        {
            "captureData": {
                "endpointInput": {
                    "observedContentType": "text/csv",
                    "mode": "INPUT",
                    "data": "39.1,18.7",
                    "encoding": "CSV",
                }
            },
            "eventMetadata": {"eventId": "e-1", "inferenceTime": when},
            "eventVersion": "0",
        }
    )


@pytest.fixture
def capture(tmp_path) -> Path:
    hour = tmp_path / "capture" / "penguins" / "AllTraffic" / "2026" / "04" / "18"
    (hour / "09").mkdir(parents=True)
    (hour / "09" / "10-00-000-a.jsonl").write_text(record("2026-04-18T09:10:00Z"))
    (hour / "09" / "12-00-000-b.jsonl").write_text(record("2026-04-18T09:12:30Z"))
    other = tmp_path / "capture" / "other" / "AllTraffic" / "2026" / "04" / "18"
    (other / "11").mkdir(parents=True)
    (other / "11" / "00-00-000-c.jsonl").write_text(record("2026-04-18T11:00:00Z"))
    return tmp_path / "capture"


@pytest.mark.parametrize(
    ("start", "end", "files"),
    [
        ("2026-04-18T09:00:00Z", "2026-04-18T10:00:00Z", 2),
        ("2026-04-18T09:11:00Z", "2026-04-18T09:13:00Z", 1),
        # The hour folder has files, but no record lies in the window.
        ("2026-04-18T09:20:00Z", "2026-04-18T09:30:00Z", 0),
        # Another endpoint's traffic is not this one's.
        ("2026-04-18T11:00:00Z", "2026-04-18T12:00:00Z", 0),
    ],
)
def test_capture_of_a_window_is_found_at_once(tmp_path, capture, start, end, files):
    backend = LocalBackend(tmp_path / "state", "sklearn-byoc:test")
    said: list[str] = []
    found = backend.wait_for_capture(
        str(capture), "penguins", start, end, said.append, wait=True
    )
    assert found.files == files
    assert found.location == str(capture / "penguins")
    assert found.waited_seconds == 0 and said == []


def test_no_capture_folder_yet_means_no_capture(tmp_path):
    backend = LocalBackend(tmp_path / "state", "sklearn-byoc:test")
    found = backend.wait_for_capture(
        str(tmp_path / "capture"),
        "penguins",
        "2026-04-18T09:00:00Z",
        "2026-04-18T10:00:00Z",
        print,
    )
    assert found.files == 0

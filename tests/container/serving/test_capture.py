"""Data capture records: SageMaker's format, hour folders, one file per process."""

from __future__ import annotations

import base64
import json
import os
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from container.contract.settings import CaptureSettings
from container.serving.capture import CaptureWriter, capture_record, hour_folder

WHEN = datetime(2026, 4, 18, 0, 21, 48, 123000, tzinfo=UTC)


def settings_for(tmp_path: Path, **overrides) -> CaptureSettings:
    return CaptureSettings(
        destination=str(tmp_path / "capture"),
        endpoint_name="ep",
        variant_name="v1",
        **overrides,
    )


def read_records(root: Path) -> list[dict]:
    return [
        json.loads(line)
        for path in sorted(root.rglob("*.jsonl"))
        for line in path.read_text().splitlines()
    ]


def test_record_matches_sagemakers_format(tmp_path):
    record = capture_record(
        settings_for(tmp_path),
        b"39.1,18.7",
        "text/csv",
        b"Adelie",
        "text/csv",
        WHEN,
        inference_id="abc-1",
    )
    assert record["eventVersion"] == "0"
    assert record["captureData"]["endpointInput"] == {
        "observedContentType": "text/csv",
        "mode": "INPUT",
        "data": "39.1,18.7",
        "encoding": "CSV",
    }
    assert record["captureData"]["endpointOutput"] == {
        "observedContentType": "text/csv",
        "mode": "OUTPUT",
        "data": "Adelie",
        "encoding": "CSV",
    }
    assert record["eventMetadata"]["inferenceTime"] == "2026-04-18T00:21:48Z"
    assert record["eventMetadata"]["inferenceId"] == "abc-1"
    assert len(record["eventMetadata"]["eventId"]) == 36


def test_unlisted_content_types_are_base64(tmp_path):
    record = capture_record(
        settings_for(tmp_path),
        b"\x93NUMPY\x00",
        "application/x-npy",
        b'{"prediction": 1}',
        "application/jsonlines",
        WHEN,
    )
    captured = record["captureData"]["endpointInput"]
    assert captured["encoding"] == "BASE64"
    assert base64.b64decode(captured["data"]) == b"\x93NUMPY\x00"
    assert record["captureData"]["endpointOutput"]["encoding"] == "BASE64"


def test_capture_modes_select_input_and_output(tmp_path):
    record = capture_record(
        settings_for(tmp_path, capture_output=False),
        b"1",
        "text/csv",
        b"2",
        "text/csv",
        WHEN,
    )
    assert list(record["captureData"]) == ["endpointInput"]


def test_records_land_in_the_utc_hour_folder(tmp_path):
    settings = settings_for(tmp_path)
    times = iter([WHEN, WHEN.replace(hour=1, minute=0)])
    writer = CaptureWriter(settings, clock=lambda: next(times))
    assert writer.record(b"1", "text/csv", b"a", "text/csv")
    first = writer.path
    assert writer.record(b"2", "text/csv", b"b", "text/csv")
    writer.close()
    root = Path(settings.destination)
    assert first.parent == root / "ep" / "v1" / "2026" / "04" / "18" / "00"
    assert writer.path.parent == root / "ep" / "v1" / "2026" / "04" / "18" / "01"
    assert first.name.startswith("21-48-123-") and first.suffix == ".jsonl"
    assert [r["captureData"]["endpointInput"]["data"] for r in read_records(root)] == [
        "1",
        "2",
    ]


def test_hour_folder_converts_to_utc(tmp_path):
    from datetime import timedelta, timezone

    local = datetime(2026, 4, 18, 2, 0, tzinfo=timezone(timedelta(hours=2)))
    assert hour_folder(tmp_path, settings_for(tmp_path), local).parts[-4:] == (
        "2026",
        "04",
        "18",
        "00",
    )


def test_sampling_percentage(tmp_path):
    draws = iter([0.10, 0.30, 0.24, 0.99])
    writer = CaptureWriter(
        settings_for(tmp_path, sampling_percentage=25.0), sample=lambda: next(draws)
    )
    kept = [writer.record(b"x", "text/csv", b"y", "text/csv") for _ in range(4)]
    assert kept == [True, False, True, False]
    assert len(read_records(Path(writer.settings.destination))) == 2


def test_threads_never_interleave_lines(tmp_path):
    writer = CaptureWriter(settings_for(tmp_path))
    payload = b"1.5," * 2000  # lines of ~8 KB, larger than a pipe's atomic write

    def work(n: int) -> None:
        for i in range(50):
            writer.record(
                payload + str(n * 1000 + i).encode(), "text/csv", b"a", "text/csv"
            )

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    records = read_records(Path(writer.settings.destination))
    assert len(records) == 200
    ids = {r["captureData"]["endpointInput"]["data"][len(payload) :] for r in records}
    assert len(ids) == 200


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork is POSIX-only")
def test_a_forked_process_writes_its_own_file(tmp_path):
    writer = CaptureWriter(settings_for(tmp_path))
    writer.record(b"parent", "text/csv", b"a", "text/csv")
    parent_file = writer.path
    pid = os.fork()
    if pid == 0:  # the child: write, then leave without running pytest's teardown
        code = 0
        try:
            writer.record(b"child", "text/csv", b"a", "text/csv")
            code = 0 if writer.path != parent_file else 3
            writer.close()
        except BaseException:
            code = 4
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    writer.record(b"parent again", "text/csv", b"a", "text/csv")
    assert writer.path == parent_file
    files = sorted(Path(writer.settings.destination).rglob("*.jsonl"))
    assert len(files) == 2
    by_file = {
        p: [
            json.loads(x)["captureData"]["endpointInput"]["data"]
            for x in p.read_text().splitlines()
        ]
        for p in files
    }
    assert by_file[parent_file] == ["parent", "parent again"]


def test_write_failures_are_counted_not_raised(tmp_path, capsys):
    blocker = tmp_path / "capture"
    blocker.write_text("a file where the folder should be")
    writer = CaptureWriter(settings_for(tmp_path))
    assert writer.record(b"1", "text/csv", b"a", "text/csv") is False
    assert writer.failed == 1
    assert "data capture failed" in capsys.readouterr().err


def test_writer_needs_a_destination():
    with pytest.raises(ValueError, match="destination"):
        CaptureWriter(CaptureSettings())

"""Data capture records: SageMaker's format, hour folders, one file per process."""

from __future__ import annotations

import base64
import errno
import json
import os
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from container.contract.capture_drops import SIDECAR_BYTES
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
    assert writer.dropped == 1
    assert "data capture failed" in capsys.readouterr().err


def test_writer_needs_a_destination():
    with pytest.raises(ValueError, match="destination"):
        CaptureWriter(CaptureSettings())


# --- a full disk: whole records or none, drops counted --------------------------------
def capture_fd(fd: int) -> bool:
    try:
        return os.readlink(f"/proc/self/fd/{fd}").endswith(".jsonl")
    except OSError:
        return False


class Disk:
    """A filesystem of `capacity` bytes for capture files, as os.write sees it: a
    write that does not fit writes what fits (a partial write) and the next one
    fails with ENOSPC. Sidecars, overwritten in place, take no new space."""

    def __init__(self, monkeypatch, root: Path, capacity: int):
        self.root, self.capacity = root, capacity
        self.partial_writes = 0
        real = os.write

        def write(fd, data):
            if not capture_fd(fd):
                return real(fd, data)
            free = self.capacity - self.used()
            if free <= 0:
                raise OSError(errno.ENOSPC, "No space left on device")
            if free < len(data):
                self.partial_writes += 1
            return real(fd, bytes(data[:free]))

        monkeypatch.setattr(os, "write", write)

    def used(self) -> int:
        return sum(p.stat().st_size for p in self.root.rglob("*.jsonl"))


pytestmark_linux = pytest.mark.skipif(
    not Path("/proc/self/fd").is_dir(), reason="needs /proc/self/fd"
)


def lines_of(root: Path) -> list[str]:
    return [
        line
        for path in sorted(root.rglob("*.jsonl"))
        for line in path.read_bytes().decode().split("\n")[:-1]
    ]


def ends_at_a_line_boundary(root: Path) -> bool:
    return all(p.read_bytes()[-1:] in (b"", b"\n") for p in root.rglob("*.jsonl"))


def sidecars(root: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(root.rglob("*.drops.json"))]


def payload(i: int) -> bytes:
    return b"1.5," * 40 + str(i).encode()


# The length of a capture line of `payload(n)` for a two-digit n.
LINE = (
    len(
        json.dumps(
            capture_record(
                settings_for(Path()), payload(10), "text/csv", b"a", "text/csv", WHEN
            ),
            separators=(",", ":"),
        )
    )
    + 1
)


def send(writer: CaptureWriter, ids) -> list[bool]:
    return [writer.record(payload(i), "text/csv", b"a", "text/csv") for i in ids]


def ids_in(root: Path) -> list[int]:
    return [
        int(json.loads(line)["captureData"]["endpointInput"]["data"][160:])
        for line in lines_of(root)
    ]


@pytestmark_linux
def test_a_full_disk_leaves_whole_records_and_counts_the_drops(
    tmp_path, monkeypatch, capsys
):
    writer = CaptureWriter(settings_for(tmp_path))
    root = Path(writer.settings.destination)
    disk = Disk(monkeypatch, root, capacity=int(3.5 * LINE))
    kept = send(writer, range(10))
    assert disk.partial_writes >= 1  # the fourth record was cut short...
    assert ends_at_a_line_boundary(root)  # ...and cut back
    assert kept == [True] * 3 + [False] * 7
    assert ids_in(root) == [0, 1, 2]
    assert (writer.written, writer.dropped) == (3, 7)
    [sidecar] = sidecars(root)
    assert sidecar["dropped_records"] == 7
    assert sidecar["reasons"] == {"ENOSPC": 7}
    assert sidecar["capture_file"] == writer.path.name
    assert (root.rglob("*.drops.json").__next__()).stat().st_size == SIDECAR_BYTES

    disk.capacity = 10_000  # space comes back: the next records are whole
    assert send(writer, range(10, 15)) == [True] * 5
    writer.close()
    assert ids_in(root) == [0, 1, 2, 10, 11, 12, 13, 14]
    assert ends_at_a_line_boundary(root)
    assert sidecars(root)[0]["dropped_records"] == 7
    err = capsys.readouterr().err
    assert err.count("record dropped") == 1  # the first drop, then summaries
    assert "8 records written, 7 dropped (ENOSPC: 7)" in err


@pytestmark_linux
def test_a_write_that_fails_outright_drops_only_that_record(tmp_path, monkeypatch):
    writer = CaptureWriter(settings_for(tmp_path))
    root = Path(writer.settings.destination)
    send(writer, [0])
    real = os.write
    failing = {"on": True}

    def write(fd, data):
        if capture_fd(fd) and failing["on"]:
            raise OSError(errno.EIO, "Input/output error")
        return real(fd, data)

    monkeypatch.setattr(os, "write", write)
    assert send(writer, [1, 2]) == [False, False]
    failing["on"] = False
    assert send(writer, [3]) == [True]
    assert ids_in(root) == [0, 3]
    assert sidecars(root)[0]["reasons"] == {"EIO": 2}


@pytestmark_linux
@pytest.mark.parametrize("blank_out_works", [True, False])
def test_a_file_that_cannot_be_cut_back_is_abandoned(
    tmp_path, monkeypatch, blank_out_works
):
    from container.monitoring.capture_reader import (
        CaptureScan,
        capture_files,
        iter_record_blocks,
    )

    writer = CaptureWriter(settings_for(tmp_path))
    root = Path(writer.settings.destination)
    disk = Disk(monkeypatch, root, capacity=int(1.5 * LINE))

    def no_truncate(*args):
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(os, "ftruncate", no_truncate)
    if not blank_out_works:
        real_pwrite = os.pwrite

        def pwrite(fd, data, offset):
            if capture_fd(fd):
                raise OSError(errno.EIO, "Input/output error")
            return real_pwrite(fd, data, offset)

        monkeypatch.setattr(os, "pwrite", pwrite)
    assert send(writer, [0]) == [True]
    first = writer.path
    assert send(writer, [1, 2]) == [False, False]
    disk.capacity = 10_000
    assert send(writer, [3, 4]) == [True, True]
    writer.close()
    assert writer.path != first  # nothing was appended after the partial record
    assert first.read_bytes().split(b"\n")[0].decode() == lines_of(root)[0]
    scan = CaptureScan()
    records = [
        r
        for block in iter_record_blocks(
            capture_files(root, None, None), None, None, scan
        )
        for r in block
    ]
    assert len(records) == 3  # 0, 3, 4: none glued to half a record
    # Blanked out, the partial record is a blank line; if even that failed, it is
    # the one malformed line of a file nothing else was appended to.
    assert scan.malformed == (0 if blank_out_works else 1)
    assert ends_at_a_line_boundary(root) is blank_out_works
    assert sum(s["dropped_records"] for s in sidecars(root)) == writer.dropped == 2


@pytestmark_linux
def test_drop_lines_are_throttled(tmp_path, monkeypatch, capsys):
    now = {"t": 100.0}
    writer = CaptureWriter(settings_for(tmp_path), monotonic=lambda: now["t"])
    Disk(monkeypatch, Path(writer.settings.destination), capacity=0)
    send(writer, range(50))
    assert capsys.readouterr().err.count("\n") == 1
    now["t"] += 11
    send(writer, range(50, 60))
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "dropped 50 more records in the last 11 s (ENOSPC: 50)" in err
    send(writer, [60])
    writer.close()
    err = capsys.readouterr().err
    assert "dropped 10 more records" in err
    assert "0 records written, 61 dropped (ENOSPC: 61)" in err


@pytestmark_linux
def test_counts_that_cannot_be_saved_are_retried_then_logged_on_close(
    tmp_path, monkeypatch, capsys
):
    from container.serving import capture

    writer = CaptureWriter(settings_for(tmp_path))
    root = Path(writer.settings.destination)
    disk = Disk(monkeypatch, root, capacity=0)
    real_create = capture.Sidecar._create

    def full(self, content):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(capture.Sidecar, "_create", full)
    send(writer, range(4))
    assert sidecars(root) == []
    # Space comes back: the next record written also writes the counts.
    monkeypatch.setattr(capture.Sidecar, "_create", real_create)
    disk.capacity = 10_000
    send(writer, [4])
    assert sidecars(root)[0]["dropped_records"] == 4
    # A later hour's file that never gets a sidecar: its count goes to stderr.
    monkeypatch.setattr(capture.Sidecar, "_create", full)
    disk.capacity = 0
    writer._clock = lambda: WHEN.replace(year=2030)
    send(writer, range(5, 8))
    writer.close()
    err = capsys.readouterr().err
    assert "3 dropped records of" in err and "could not be written" in err
    assert "1 records written, 7 dropped (ENOSPC: 7)" in err


def test_every_capture_file_has_a_sidecar_of_fixed_size(tmp_path):
    writer = CaptureWriter(settings_for(tmp_path))
    send(writer, range(3))
    writer.close()
    root = Path(writer.settings.destination)
    [path] = root.rglob("*.drops.json")
    assert path.name == writer.path.name.replace(".jsonl", ".drops.json")
    assert path.stat().st_size == SIDECAR_BYTES
    assert json.loads(path.read_text())["dropped_records"] == 0
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".")]

"""The one job shell: status files, exit codes, cleanup and SIGTERM."""

from __future__ import annotations

import os
import signal
import time

import pytest

from container import jobs
from container.contract.errors import JobInputError
from container.contract.files import write_atomic, write_json


def make_job(opt_ml, **overrides) -> jobs.Job:
    fields = {
        "activity": "testing",
        "stopped_reason": "Test stopped: SIGTERM received.",
        "out_of_memory_reason": "Out of memory while testing.",
    }
    return jobs.Job("test", opt_ml, **{**fields, **overrides})


# --- the status-line rule ------------------------------------------------------------
def test_a_short_reason_is_kept_on_one_line():
    assert jobs.status_line("bad\n  input\tgiven ") == "bad input given"


@pytest.mark.parametrize("char", ["x", "é", "€", "😀"])
def test_a_long_reason_fits_1024_characters_and_bytes_cut_at_a_character(char):
    line = jobs.status_line("reason: " + char * 3000)
    assert len(line) <= 1024 and len(line.encode("utf-8")) <= 1024
    assert line.endswith(" ...")
    line.encode("utf-8").decode("utf-8")  # no character was split
    assert line.startswith("reason: " + char)


def test_a_reason_of_exactly_the_limit_is_not_cut():
    text = "é" * 512  # 512 characters, 1024 bytes
    assert jobs.status_line(text) == text


# --- the shell -----------------------------------------------------------------------
def test_success_prints_the_message_and_keeps_it_for_processing_jobs(opt_ml, capsys):
    job = make_job(opt_ml, writes_message=True)
    assert jobs.run(job, lambda guard: "Completed: all good.") == jobs.EXIT_OK
    assert opt_ml.message_file.read_text() == "Completed: all good."
    assert not opt_ml.failure_file.exists()
    assert capsys.readouterr().out == "Completed: all good.\n"


def test_a_user_error_writes_one_line_everywhere_and_cleans_up(opt_ml, capsys):
    cleaned = []
    job = make_job(opt_ml, writes_message=True, cleanup=lambda: cleaned.append(1))

    def work(guard):
        raise JobInputError("the column 'x'\nis missing")

    assert jobs.run(job, work) == jobs.EXIT_FAILED
    assert opt_ml.failure_file.read_text() == "the column 'x' is missing"
    assert opt_ml.message_file.read_text() == "Failed: the column 'x' is missing"
    assert capsys.readouterr().err == "[test] FAILED: the column 'x' is missing\n"
    assert cleaned == [1]


def test_a_training_job_writes_no_message_file(opt_ml):
    def work(guard):
        raise JobInputError("no data")

    assert jobs.run(make_job(opt_ml), work) == jobs.EXIT_FAILED
    assert opt_ml.failure_file.read_text() == "no data"
    assert not opt_ml.message_file.exists()


def test_a_bug_names_its_type_and_sends_the_traceback_to_the_log(opt_ml, capsys):
    def work(guard):
        raise KeyError("oops")

    assert jobs.run(make_job(opt_ml), work) == jobs.EXIT_FAILED
    reason = opt_ml.failure_file.read_text()
    assert reason.startswith("Internal error while testing: KeyError: 'oops'")
    assert "Traceback" not in reason
    assert "Traceback" in capsys.readouterr().err


def test_out_of_memory_gives_the_jobs_advice(opt_ml):
    def work(guard):
        raise MemoryError()

    assert jobs.run(make_job(opt_ml), work) == jobs.EXIT_FAILED
    assert opt_ml.failure_file.read_text() == "Out of memory while testing."


def test_a_stale_status_file_of_an_earlier_run_is_removed(opt_ml):
    write_atomic(opt_ml.failure_file, "old reason")
    write_atomic(opt_ml.message_file, "Failed: old reason")
    assert jobs.run(make_job(opt_ml), lambda guard: None) == jobs.EXIT_OK
    assert not opt_ml.failure_file.exists() and not opt_ml.message_file.exists()


def test_sigterm_stops_the_work_with_the_stopped_reason(opt_ml):
    def work(guard):
        os.kill(os.getpid(), signal.SIGTERM)
        for _ in range(100):
            time.sleep(0.05)
        raise AssertionError("SIGTERM did not interrupt the job")

    previous = signal.getsignal(signal.SIGTERM)
    try:
        code = jobs.run(make_job(opt_ml), work)
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert code == jobs.EXIT_STOPPED == 143
    assert opt_ml.failure_file.read_text() == "Test stopped: SIGTERM received."


def test_publishing_after_a_stop_request_is_refused(opt_ml):
    guard = jobs.StopGuard(make_job(opt_ml))
    guard.stopping.set()
    with pytest.raises(jobs.JobStopped), guard.publishing():
        raise AssertionError("must not publish")


# --- atomic writes -------------------------------------------------------------------
def test_atomic_writes_leave_no_temporary_file_and_are_readable(tmp_path):
    write_json(tmp_path / "a" / "doc.json", {"x": 1})
    assert (tmp_path / "a" / "doc.json").read_text() == '{\n  "x": 1\n}\n'
    assert oct((tmp_path / "a" / "doc.json").stat().st_mode & 0o777) == "0o644"

    def broken(fh):
        fh.write(b"half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_atomic(tmp_path / "a" / "doc.json", broken)
    assert (tmp_path / "a" / "doc.json").read_text() == '{\n  "x": 1\n}\n'
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["doc.json"]

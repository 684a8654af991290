"""The local-mode log drain keeps every line and leaves no pipe open."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.aws_e2e.emulated_sagemaker import drain_local_mode_output

# More stderr than a pipe buffers (64 KiB), then the last stdout line: the SDK's
# own drain would block on the full stderr pipe or drop that line.
CHATTY = (
    "import sys\n"
    "sys.stderr.write('e' * 200_000 + '\\n')\n"
    "print('final metrics line', flush=True)\n"
)


@pytest.fixture
def stream_output():
    from sagemaker.local import image

    restore = drain_local_mode_output()
    try:
        yield image._stream_output
    finally:
        restore()


def test_drain_keeps_the_last_line_and_closes_both_pipes(stream_output, capsys):
    process = subprocess.Popen(
        [sys.executable, "-c", CHATTY],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert stream_output(process) == 0
    assert process.stdout.closed and process.stderr.closed
    captured = capsys.readouterr()
    assert captured.out.endswith("final metrics line\n")
    assert len(captured.err) > 200_000


def test_drain_reports_a_failed_process(stream_output):
    process = subprocess.Popen(
        [sys.executable, "-c", "raise SystemExit(3)"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    with pytest.raises(RuntimeError, match="exited with code: 3"):
        stream_output(process)
    assert process.stdout.closed

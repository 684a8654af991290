"""The CLI: help everywhere, one-line errors for user mistakes, no tracebacks."""

import os
import subprocess
import sys

import pytest

from orchestration.cli import STEPS_HELP, build_parser, main
from orchestration.config import REPO_ROOT

STEPS = [
    "prepare",
    "train",
    "tune",
    "register",
    "approve",
    "deploy",
    "predict",
    "baseline",
    "monitor",
    "schedule",
    "status",
    "teardown",
    "run",
    "runs",
    "models",
    "alerts",
]


def test_every_step_has_help(capsys):
    for step in STEPS:
        with pytest.raises(SystemExit) as done:
            main([step, "--help"])
        assert done.value.code == 0
        out = capsys.readouterr().out
        assert "--backend" in out and "--config" in out, step
        assert step in STEPS_HELP


def test_options_work_before_and_after_the_step():
    parser = build_parser()
    before = parser.parse_args(["--backend", "aws", "--image", "x:1", "run"])
    after = parser.parse_args(["run", "--backend", "aws", "--image", "x:1"])
    assert (
        (before.backend, before.image) == (after.backend, after.image) == ("aws", "x:1")
    )


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["prepare", "--config", "/no/such.yaml"],
            "error: config file /no/such.yaml does not exist",
        ),
        (["deploy"], "error: no approved version in penguins-species"),
        (["register"], "error: nothing to use from `train` yet"),
        (["monitor"], "error: nothing to use from `baseline` yet"),
        (
            ["approve", "--version", "3"],
            "error: model group 'penguins-species' has no version 3",
        ),
        (["runs", "compare"], "error: runs compare needs two runs"),
    ],
)
def test_user_mistakes_are_one_line_errors(tmp_path, capsys, argv, message):
    code = main([*argv, "--state-dir", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith(message), err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_a_bad_config_key_is_named(tmp_path, capsys):
    bad = tmp_path / "config" / "bad.yaml"
    bad.parent.mkdir()
    bad.write_text(
        (REPO_ROOT / "config" / "penguins.yaml")
        .read_text()
        .replace("max_runtime_seconds: 900", "max_runtime_seconds: soon")
    )
    assert main(["status", "--config", str(bad)]) == 1
    assert (
        "training.max_runtime_seconds must be a whole number" in capsys.readouterr().err
    )


def test_a_step_that_worked_exits_0(tmp_path, capsys):
    config = tmp_path / "config" / "p.yaml"
    config.parent.mkdir()
    text = (REPO_ROOT / "config" / "penguins.yaml").read_text()
    for relative in (
        "data/raw/penguins-raw.csv",
        "config/penguins-raw.schema.yaml",
        "data/annotations/penguins-species.manifest",
    ):
        text = text.replace(relative, str(REPO_ROOT / relative))
    config.write_text(text)  # data/processed and .state now under tmp_path
    assert main(["prepare", "--config", str(config)]) == 0
    assert "prepared 344 raw rows" in capsys.readouterr().out
    assert (tmp_path / "data" / "processed" / "manifest.json").is_file()


def test_console_module_entry_point_runs_without_a_traceback(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "orchestration", "models", "--state-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=60,
    )
    assert done.returncode == 0 and done.stderr == ""
    bad = subprocess.run(
        [sys.executable, "-m", "orchestration", "explode"],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=60,
    )
    assert bad.returncode == 2 and "invalid choice: 'explode'" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_output_piped_to_a_reader_that_stops_ends_quietly(tmp_path):
    # `... | head` closes the pipe early: no traceback, the shell's SIGPIPE code.
    reader, writer = os.pipe()
    os.close(reader)  # the reader is gone before the first line is written
    done = subprocess.run(
        [sys.executable, "-m", "orchestration", "status", "--json"]
        + ["--state-dir", str(tmp_path)],
        stdout=writer,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO_ROOT,
        timeout=60,
    )
    os.close(writer)
    assert done.returncode == 141, done.stderr
    assert done.stderr == ""

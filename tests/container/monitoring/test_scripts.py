"""The Model Monitor user scripts: record preprocessor and post-analytics."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from container.monitoring import baseline
from tests.container.monitoring.helpers import capture_line, csv_lines, write_capture

# The capture holds only two of the baseline's five columns, in the wrong
# order, behind a "|": only the preprocessor knows how to read it.
PREPROCESSOR = """
def preprocess_handler(inference_record):
    assert inference_record.endpoint_input.encoding == "CSV"
    assert inference_record.event_metadata.event_id == "e"
    text = inference_record.endpoint_input.data
    if text == "skip":
        return None
    colour, age = text.split("|")
    return {"age": int(age), "colour": colour}
"""


def script(tmp_path: Path, name: str, body: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(body))
    return path


@pytest.fixture
def capture(tmp_path, frame) -> Path:
    root = tmp_path / "capture"
    lines = [
        capture_line(f"{row.colour}|{row.age}")
        for row in frame.head(500).itertuples(index=False)
    ]
    write_capture(root, [*lines, capture_line("skip")])
    return root


def test_the_preprocessor_makes_the_records(fitted, capture, tmp_path, monkeypatch):
    path = script(tmp_path, "pre.py", PREPROCESSOR)
    monkeypatch.setenv("record_preprocessor_script", str(path))
    run = fitted.run_monitor(capture, tmp_path / "out")
    assert run.code == 0, run.message
    # The three columns the preprocessor does not make are missing, nothing else.
    assert {check for _, check in run.checks()} == {"missing_column_check"}
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["item_count"] == 500
    assert summary["capture"]["filtered_by_preprocessor"] == 1


def test_a_preprocessor_taking_a_logger_gets_one(
    fitted, capture, tmp_path, monkeypatch
):
    body = """
    def preprocess_handler(inference_record, logger):
        logger.info("seen %s", inference_record.event_metadata.event_id)
        return [{"age": 1}, {"age": 2}]
    """
    monkeypatch.setenv(
        "record_preprocessor_script", str(script(tmp_path, "p.py", body))
    )
    run = fitted.run_monitor(capture, tmp_path / "out")
    assert run.code == 0, run.message
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["item_count"] == 2 * 501


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            "def preprocess_handler(r):\n    raise ValueError('bad')\n",
            "raised ValueError: bad (record e)",
        ),
        ("def preprocess_handler(r):\n    return 3\n", "returned int"),
        ("def other(r):\n    return {}\n", "defines no function preprocess_handler()"),
        ("import nowhere_to_be_found\n", "failed to load: ModuleNotFoundError"),
    ],
)  # fmt: skip
def test_a_broken_preprocessor_fails_the_job_naming_the_script(
    fitted, capture, tmp_path, monkeypatch, capsys, body, expected
):
    path = script(tmp_path, "broken.py", body)
    monkeypatch.setenv("record_preprocessor_script", str(path))
    run = fitted.run_monitor(capture, tmp_path / "out")
    assert run.code == 1
    assert run.message.startswith("Failed: record_preprocessor_script")
    assert expected in run.message and str(path) in run.message
    assert not (tmp_path / "out" / "constraint_violations.json").exists()


@pytest.mark.parametrize(
    ("value", "expected"),
    [("s3://bucket/pre.py", "is a URI"), ("/nowhere/pre.py", "does not exist")],
)
def test_a_script_must_be_a_file_in_the_container(
    fitted, capture, tmp_path, monkeypatch, value, expected
):
    monkeypatch.setenv("record_preprocessor_script", value)
    run = fitted.run_monitor(capture, tmp_path / "out")
    assert run.code == 1 and expected in run.message


def test_the_preprocessor_takes_capture_not_a_plain_dataset(
    fitted, frame, tmp_path, monkeypatch
):
    frame.to_csv(tmp_path / "d.csv", index=False)
    monkeypatch.setenv(
        "record_preprocessor_script", str(script(tmp_path, "p.py", PREPROCESSOR))
    )
    run = fitted.run_monitor(tmp_path / "d.csv", tmp_path / "out", "--format", "csv")
    assert run.code == 1 and "applies to captured records" in run.message


POST_ANALYTICS = """
import json, os
from pathlib import Path

def postprocess_handler():
    out = Path(os.environ["MARK"])
    out.write_text(json.dumps(sorted(p.name for p in out.parent.glob("out/*"))))
"""


def test_post_analytics_runs_after_the_monitor_outputs_exist(
    fitted, frame, tmp_path, monkeypatch
):
    root = tmp_path / "capture"
    write_capture(root, csv_lines(frame.head(200)))
    monkeypatch.setenv(
        "post_analytics_processor_script",
        str(script(tmp_path, "post.py", POST_ANALYTICS)),
    )
    monkeypatch.setenv("MARK", str(tmp_path / "mark.json"))
    run = fitted.run_monitor(root, tmp_path / "out")
    assert run.code == 0, run.message
    seen = json.loads((tmp_path / "mark.json").read_text())
    assert "constraint_violations.json" in seen and "report.html" in seen


def test_post_analytics_runs_after_baseline_and_its_failure_fails_the_job(
    opt_ml, frame, tmp_path, monkeypatch
):
    frame.to_csv(tmp_path / "d.csv", index=False)
    monkeypatch.setenv(
        "post_analytics_processor_script",
        str(script(tmp_path, "post.py", POST_ANALYTICS)),
    )
    monkeypatch.setenv("MARK", str(tmp_path / "mark.json"))
    args = ["--dataset", str(tmp_path / "d.csv"), "--output", str(tmp_path / "out")]
    assert baseline.main(args) == 0
    assert "statistics.json" in json.loads((tmp_path / "mark.json").read_text())
    failing = "def postprocess_handler():\n    raise RuntimeError('no quota')\n"
    monkeypatch.setenv(
        "post_analytics_processor_script", str(script(tmp_path, "bad.py", failing))
    )
    assert baseline.main(args) == 1
    assert "raised RuntimeError: no quota" in opt_ml.failure_file.read_text()


def test_baseline_refuses_a_record_preprocessor(opt_ml, frame, tmp_path, monkeypatch):
    frame.to_csv(tmp_path / "d.csv", index=False)
    monkeypatch.setenv(
        "record_preprocessor_script", str(script(tmp_path, "p.py", PREPROCESSOR))
    )
    args = ["--dataset", str(tmp_path / "d.csv"), "--output", str(tmp_path / "out")]
    assert baseline.main(args) == 1
    assert "is not used by baseline" in opt_ml.failure_file.read_text()
    assert not (tmp_path / "out").exists()

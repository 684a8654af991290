"""`IMAGE prepare`: the processing job writes what `prepare` writes in process."""

from __future__ import annotations

import dataclasses
import filecmp
import json
import shutil
from pathlib import Path

import pytest

from container.contract.paths import ROOT_ENV_VAR
from container.preparation import job
from orchestration import dataprep
from orchestration.config import load_config


def _job_folder(tmp_path: Path, settings: dict) -> Path:
    config = load_config().data
    inputs = tmp_path / "opt_ml" / "processing" / "input"
    for name in ("raw", "settings", "annotations"):
        (inputs / name).mkdir(parents=True)
    shutil.copy(config.raw, inputs / "raw")
    shutil.copy(config.annotations.manifest, inputs / "annotations")
    (inputs / "settings" / job.SETTINGS_FILE).write_text(json.dumps(settings))
    return tmp_path / "opt_ml"


def _run(opt_ml: Path, monkeypatch) -> int:
    monkeypatch.setenv(ROOT_ENV_VAR, str(opt_ml))
    return job.main([])


def _same_tree(left: Path, right: Path) -> bool:
    comparison = filecmp.dircmp(left, right)
    if comparison.left_only or comparison.right_only or comparison.diff_files:
        return False
    return all(_same_tree(left / d, right / d) for d in comparison.common_dirs)


def test_job_output_is_byte_identical_to_prepare_in_process(tmp_path, monkeypatch):
    config = load_config().data
    in_process = dataprep.prepare(
        dataclasses.replace(config, processed=tmp_path / "in-process")
    )
    opt_ml = _job_folder(tmp_path, dataprep.job_settings(config))

    assert _run(opt_ml, monkeypatch) == 0

    published = opt_ml / "processing" / "output" / "prepared"
    assert _same_tree(in_process.folder, published)
    message = (opt_ml / "output" / "message").read_text()
    assert message.startswith("prepared penguins-raw.csv: train 238,")


def test_bad_data_fails_the_job_naming_the_rule(tmp_path, monkeypatch):
    settings = dataprep.job_settings(load_config().data)
    settings["max_rejected_fraction"] = 0.0
    opt_ml = _job_folder(tmp_path, settings)
    raw = next((opt_ml / "processing" / "input" / "raw").iterdir())
    lines = raw.read_text().splitlines()
    lines[1] = lines[1].replace("Torgersen", "Atlantis")
    raw.write_text("\n".join(lines) + "\n")

    assert _run(opt_ml, monkeypatch) == 1

    failure = (opt_ml / "output" / "failure").read_text()
    assert "1 of 344 rows" in failure and "Island: not one of" in failure
    assert (opt_ml / "output" / "message").read_text().startswith("Failed: ")
    published = opt_ml / "processing" / "output" / "prepared"
    assert not published.exists() or not any(published.iterdir())


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"stratify": True}, "unknown key 'stratify'"),
        ({"split": {"train": 0.8, "holdout": 0.2}}, "split takes train"),
        ({"raw_file": "../etc/passwd"}, "must be a plain file name"),
        ({"raw_file": "other.csv"}, "has no file 'other.csv'"),
        ({"schema": {"target": "x"}}, "features is required"),
    ],
)
def test_bad_settings_fail_with_the_key_named(tmp_path, monkeypatch, change, expected):
    settings = {**dataprep.job_settings(load_config().data), **change}
    opt_ml = _job_folder(tmp_path, settings)

    assert _run(opt_ml, monkeypatch) == 1
    assert expected in (opt_ml / "output" / "failure").read_text()


def test_a_raw_folder_with_two_files_needs_raw_file(tmp_path, monkeypatch):
    settings = dataprep.job_settings(load_config().data)
    settings.pop("raw_file")
    opt_ml = _job_folder(tmp_path, settings)
    raw_dir = opt_ml / "processing" / "input" / "raw"
    shutil.copy(next(raw_dir.iterdir()), raw_dir / "copy.csv")

    assert _run(opt_ml, monkeypatch) == 1
    assert "exactly one file" in (opt_ml / "output" / "failure").read_text()

"""`python -m orchestration init`: files written, guesses said, bad input refused."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from orchestration import dataprep
from orchestration.cli import main
from orchestration.config import REPO_ROOT, load_config

DIABETES_CSV = REPO_ROOT / "data" / "raw" / "diabetes.csv"


def _init(tmp_path: Path, *args: str) -> int:
    return main(["init", "--out", str(tmp_path / "config"), *args])


def test_init_writes_a_config_that_loads_and_prepares(tmp_path, capsys):
    code = _init(tmp_path, "--data", str(DIABETES_CSV), "--target", "progression")
    out = capsys.readouterr().out
    assert code == 0
    config_path = tmp_path / "config" / "diabetes.yaml"
    assert f"wrote {config_path}" in out
    assert "progression: integer 0..379 (target)" in out
    assert "sex: integer one of ['1', '2'] (feature)" in out
    assert "record id: record_id from the row number" in out
    assert "check:" in out and "problem type regression" in out
    config = load_config(config_path)
    assert config.data.schema == tmp_path / "config" / "diabetes-raw.schema.yaml"
    assert config.data.processed == tmp_path / "data" / "processed" / "diabetes"
    assert config.data.problem_type == "regression"
    assert config.registry.auto_approval.metric == "validation:r2"
    assert set(config.monitoring.drift.numeric_shift) == {"age", "bmi"}
    # Whole-number columns get whole-number shifts: drift, not a type change.
    assert config.monitoring.drift.numeric_shift["age"] % 1 == 0
    assert {r.kind for r in config.alerts.rules} >= {"feature_drift", "model_quality"}
    data = dataclasses.replace(config.data, processed=tmp_path / "processed")
    manifest = dataprep.prepare(data).manifest
    assert manifest["rejected_rows"] == 0 and manifest["split"]["strategy"] == "random"


def test_a_classification_project_gets_probabilities_and_a_majority_bar(
    tmp_path, capsys
):
    csv = tmp_path / "penguins.csv"
    csv.write_text((REPO_ROOT / "data" / "raw" / "penguins.csv").read_text())
    assert _init(tmp_path, "--data", str(csv), "--target", "species") == 0
    config = load_config(tmp_path / "config" / "penguins.yaml")
    assert config.data.problem_type == "classification"
    assert config.endpoint.environment["SKLEARN_BYOC_RETURN_PROBABILITIES"] == "true"
    rule = config.registry.auto_approval
    assert rule.metric == "validation:accuracy" and 0.4 < rule.threshold < 0.5
    manifest = dataprep.prepare(
        dataclasses.replace(config.data, processed=tmp_path / "processed")
    ).manifest
    assert manifest["split"]["strategy"] == "stratified"


def test_init_never_overwrites_without_force(tmp_path, capsys):
    args = ("--data", str(DIABETES_CSV), "--target", "progression", "--name", "d")
    assert _init(tmp_path, *args) == 0
    schema = tmp_path / "config" / "d-raw.schema.yaml"
    schema.write_text("# edited by hand\n")
    capsys.readouterr()
    assert _init(tmp_path, *args) == 1
    err = capsys.readouterr().err
    assert "already exist" in err and "--force" in err
    assert schema.read_text() == "# edited by hand\n"
    assert _init(tmp_path, *args, "--force") == 0
    assert schema.read_text() != "# edited by hand\n"


@pytest.mark.parametrize(
    ("content", "target", "message"),
    [
        (None, "y", "does not exist"),
        (b"", "y", "is empty"),
        (b"x,y\n", "y", "has a header line but no rows"),
        (b"x,y\n1,2\n", "z", "has no column 'z'; its columns are ['x', 'y']"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe", "y", "is not a text CSV file"),
        (b'{"x": 1, "y": 2}\n{"x": 2, "y": 3}\n', "y", "looks like JSON, not CSV"),
        (b"just one column\n1\n", "y", "has 1 column"),
        (b"x,y\n1,\n2,\n", "y", "holds no value"),
    ],
)
def test_bad_input_is_a_one_line_error(tmp_path, capsys, content, target, message):
    path = tmp_path / "data.csv"
    if content is not None:
        path.write_bytes(content)
    code = _init(tmp_path, "--data", str(path), "--target", target)
    err = capsys.readouterr().err
    assert code == 1
    assert message in err and err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "config").exists()

"""`IMAGE evaluate`: a bundle scored on held-out rows, the pipeline's property file."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import pandas as pd
import pytest

from container.contract.paths import ROOT_ENV_VAR
from container.training import assessment
from tests.bundles import PENGUINS_CSV, train_bundle


@pytest.fixture(scope="module")
def model_archive(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("train")
    model_dir = train_bundle(
        root,
        {
            "target": "species",
            "algorithm": "decision_tree",
            "random_state": "1",
            "validation_fraction": "0.2",
        },
    )
    archive = root / "model.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for path in model_dir.iterdir():
            tar.add(path, arcname=path.name)
    return archive


def _job(tmp_path: Path, archive: Path | None, test: pd.DataFrame) -> Path:
    inputs = tmp_path / "processing" / "input"
    (inputs / "model").mkdir(parents=True)
    (inputs / "test").mkdir()
    if archive is not None:
        (inputs / "model" / "model.tar.gz").write_bytes(archive.read_bytes())
    test.to_csv(inputs / "test" / "test.csv", index=False)
    return tmp_path


def _run(opt_ml: Path, monkeypatch) -> int:
    monkeypatch.setenv(ROOT_ENV_VAR, str(opt_ml))
    return assessment.main([])


def test_writes_the_test_metrics_next_to_the_validation_ones(
    tmp_path, monkeypatch, model_archive
):
    test = (
        pd.read_csv(PENGUINS_CSV).dropna(subset=["species"]).sample(60, random_state=3)
    )
    opt_ml = _job(tmp_path, model_archive, test)

    assert _run(opt_ml, monkeypatch) == 0

    document = json.loads(
        (opt_ml / "processing" / "evaluation" / "evaluation.json").read_text()
    )
    assert document["problem_type"] == "classification"
    assert document["rows"] == {"test": 60}
    assert 0.8 <= document["metrics"]["test"]["accuracy"] <= 1.0
    assert "accuracy" in document["metrics"]["validation"]


def test_a_test_split_without_a_feature_fails_naming_it(
    tmp_path, monkeypatch, model_archive
):
    test = pd.read_csv(PENGUINS_CSV).drop(columns=["island"]).head(20)
    opt_ml = _job(tmp_path, model_archive, test)

    assert _run(opt_ml, monkeypatch) == 1
    failure = (opt_ml / "output" / "failure").read_text()
    assert "lacks column(s) ['island']" in failure


def test_no_model_archive_fails_clearly(tmp_path, monkeypatch):
    opt_ml = _job(tmp_path, None, pd.read_csv(PENGUINS_CSV).head(5))

    assert _run(opt_ml, monkeypatch) == 1
    assert "one model.tar.gz" in (opt_ml / "output" / "failure").read_text()


def test_a_corrupt_archive_fails_clearly(tmp_path, monkeypatch):
    broken = tmp_path / "broken.tar.gz"
    broken.write_bytes(b"\x1f\x8b\x08\x00not really gzip")
    opt_ml = _job(tmp_path / "job", broken, pd.read_csv(PENGUINS_CSV).head(5))

    assert _run(opt_ml, monkeypatch) == 1
    assert "cannot read model.tar.gz" in (opt_ml / "output" / "failure").read_text()

"""A serving process loads bundles without importing training or monitoring code."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from container.contract.paths import OptMl
from container.training import job

REPO_ROOT = Path(__file__).resolve().parents[3]
FIXTURE = REPO_ROOT / "tests" / "container" / "fixtures" / "bundle-v1"
SERVE_AND_LIST_MODULES = """
import json, sys
from pathlib import Path
from container.contract.bundle import load_bundle
from container.serving.inference import check_bundle
for folder in sys.argv[1:]:
    assert check_bundle(load_bundle(Path(folder))) is None
print(json.dumps(sorted(m for m in sys.modules if m.startswith("container."))))
"""


@pytest.fixture
def trained(opt_ml: OptMl, penguins: pd.DataFrame, capsys) -> Path:
    """The model folder of a `train` run of this code on the penguins data."""
    train_dir = opt_ml.channel_dir("train")
    train_dir.mkdir(parents=True)
    penguins.to_csv(train_dir / "penguins.csv", index=False)
    opt_ml.hyperparameters_file.write_text(
        json.dumps({"target": "species", "n_estimators": "3"})
    )
    assert job.main() == 0
    capsys.readouterr()
    return opt_ml.model_dir


def test_serving_a_new_and_an_old_bundle_imports_neither_training_nor_monitoring(
    trained: Path,
):
    folders = [str(trained)] + [str(FIXTURE)] * _fixture_loads()
    out = subprocess.run(
        [sys.executable, "-c", SERVE_AND_LIST_MODULES, *folders],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
    ).stdout
    loaded = json.loads(out)
    other = ("container.training", "container.monitoring", "container.jobs")
    assert [m for m in loaded if m.startswith(other)] == []
    assert "container.contract.columns" in loaded


def test_a_new_bundle_names_only_contract_functions_in_its_pickle(trained: Path):
    pickled = (trained / "model.joblib").read_bytes()
    # Module paths in a pickle are part of the bundle format: moving one breaks
    # every bundle users hold, unless an alias stays at the old path.
    assert b"container.contract.columns" in pickled
    for other in (b"container.training", b"container.serving", b"container.features"):
        assert other not in pickled


def _fixture_loads() -> int:
    """1 when this scikit-learn can load the fixture (it pins its release), else 0."""
    from container.contract.bundle import library_versions

    trained = json.loads((FIXTURE / "model.json").read_text())["libraries"]
    return int(trained["scikit-learn"] == library_versions().get("scikit-learn"))

"""Handing a command to the unprivileged account, or saying why it stays root.

The checks that switch user need root, as the image's entrypoint has; they
use the system's `nobody` account on trees made readable to it.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from container.contract.paths import OptMl
from container.runtime_user import (
    Account,
    output_folders,
    reason_to_stay_root,
)

NOBODY = Account("nobody", 65534, 65534)
as_root = pytest.mark.skipif(os.geteuid() != 0, reason="switching users needs root")


@pytest.fixture
def open_root() -> Iterator[Path]:
    """An /opt/ml tree whose parents others may enter (pytest's tmp_path is 0700)."""
    folder = Path(tempfile.mkdtemp(prefix="runtime-user-", dir="/tmp"))
    folder.chmod(0o755)
    root = folder / "opt_ml"
    for sub in ("input/config", "input/data/train", "model", "output"):
        (root / sub).mkdir(parents=True)
        (root / sub).chmod(0o755)
    (root / "input/data/train/rows.csv").write_text("a,b\n1,2\n")
    yield root
    shutil.rmtree(folder)


def test_each_command_names_the_folders_it_writes(tmp_path: Path):
    opt_ml = OptMl(tmp_path)
    env = {"SM_MODEL_DIR": "/elsewhere/model", "SM_OUTPUT_DATA_DIR": "relative"}
    assert output_folders("train", opt_ml, env) == [
        tmp_path / "model",
        tmp_path / "output",
        Path("/elsewhere/model"),
    ]
    assert output_folders("monitor", opt_ml, {"output_path": "/out"}) == [
        tmp_path / "processing" / "output",
        tmp_path / "output",
        Path("/out"),
    ]
    capture = {"SKLEARN_BYOC_CAPTURE_DESTINATION": "/opt/ml/data-capture"}
    assert output_folders("serve", opt_ml, capture) == [Path("/opt/ml/data-capture")]
    assert output_folders("serve", opt_ml, {}) == []
    assert output_folders("bash", opt_ml, {}) == []


def test_no_account_means_root_with_the_reason(tmp_path: Path):
    reason = reason_to_stay_root(None, "train", OptMl(tmp_path), {})
    assert reason == "this image has no sklearn account"


def test_a_privileged_port_keeps_serve_root(tmp_path: Path):
    env = {"SAGEMAKER_BIND_TO_PORT": "80"}
    assert reason_to_stay_root(NOBODY, "serve", OptMl(tmp_path), env) == (
        "port 80 is below 1024"
    )


@as_root
def test_outputs_are_handed_over_and_the_job_may_drop_root(open_root: Path):
    (open_root / "output" / "data").mkdir()  # left by an earlier step, root-owned
    assert reason_to_stay_root(NOBODY, "train", OptMl(open_root), {}) == ""
    for folder in ("model", "output", "output/data"):
        assert (open_root / folder).stat().st_uid == NOBODY.uid, folder
    assert (open_root / "input").stat().st_uid == 0  # inputs are left alone


@as_root
def test_inputs_only_root_can_read_keep_the_job_root(open_root: Path):
    (open_root / "input" / "data").chmod(0o700)
    reason = reason_to_stay_root(NOBODY, "train", OptMl(open_root), {})
    assert reason == f"{open_root / 'input' / 'data'} can be read only by root"


@as_root
def test_model_files_only_root_can_read_keep_serve_root(open_root: Path):
    (open_root / "model" / "model.joblib").write_bytes(b"x")
    (open_root / "model" / "model.joblib").chmod(0o600)
    reason = reason_to_stay_root(NOBODY, "serve", OptMl(open_root), {})
    assert reason == f"{open_root / 'model' / 'model.joblib'} can be read only by root"


@as_root
def test_a_model_folder_only_root_can_open_keeps_serve_root(open_root: Path):
    # SageMaker SDK local mode mounts /opt/ml/model itself with mode 0700.
    (open_root / "model" / "model.json").write_text("{}")
    (open_root / "model").chmod(0o700)
    reason = reason_to_stay_root(NOBODY, "serve", OptMl(open_root), {})
    assert reason == f"{open_root / 'model'} can be read only by root"

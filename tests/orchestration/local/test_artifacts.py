import io
import json
import tarfile

import pytest

from orchestration.backends.base import BackendError, ProcessingJobSpec, TrainingJobSpec
from orchestration.local import artifacts


@pytest.mark.parametrize(
    ("line", "parsed"),
    [
        ("validation:accuracy=0.97", ("validation:accuracy", 0.97)),
        ("  test:log_loss = 4.5e-02 ", ("test:log_loss", 0.045)),
        ("train:r2=-1", ("train:r2", -1.0)),
        ("[train] fitting", None),
        ("note: a=b", None),
    ],
)
def test_metric_lines(line, parsed):
    assert artifacts.parse_metric(line) == parsed


def test_training_config_files_are_sagemakers(tmp_path):
    artifacts.write_training_config(
        tmp_path, {"max_depth": "5"}, ["train", "test"], "text/csv"
    )
    config = tmp_path / "input" / "config"
    assert json.loads((config / "hyperparameters.json").read_text()) == {
        "max_depth": "5"
    }
    channels = json.loads((config / "inputdataconfig.json").read_text())
    assert channels["train"] == {
        "ContentType": "text/csv",
        "TrainingInputMode": "File",
        "S3DistributionType": "FullyReplicated",
        "RecordWrapperType": "None",
    }
    assert json.loads((config / "resourceconfig.json").read_text())["hosts"] == [
        "algo-1"
    ]


def test_model_tarball_round_trip(tmp_path):
    model = tmp_path / "model"
    (model / "sub").mkdir(parents=True)
    (model / "model.json").write_text("{}")
    (model / "sub" / "x.bin").write_bytes(b"\0\1")
    tarball = artifacts.make_tarball(model, tmp_path / "out" / "model.tar.gz")
    with tarfile.open(tarball) as tar:
        assert sorted(tar.getnames()) == ["model.json", "sub", "sub/x.bin"]
    assert not list((tmp_path / "out").glob(".*"))  # no temporary file left
    extracted = artifacts.extract_tarball(tarball, tmp_path / "extracted")
    assert (extracted / "sub" / "x.bin").read_bytes() == b"\0\1"


def test_unsafe_tarballs_are_refused(tmp_path):
    evil = tmp_path / "evil.tar.gz"
    with tarfile.open(evil, "w:gz") as tar:
        info = tarfile.TarInfo("../outside.txt")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"x"))
    with pytest.raises(BackendError, match="outside the model folder"):
        artifacts.extract_tarball(evil, tmp_path / "m")
    assert not (tmp_path / "outside.txt").exists()
    (tmp_path / "junk.tar.gz").write_bytes(b"not a tarball")
    with pytest.raises(BackendError, match="not a readable tar.gz"):
        artifacts.extract_tarball(tmp_path / "junk.tar.gz", tmp_path / "m2")


def test_specs_refuse_non_string_hyperparameters_and_unknown_commands():
    with pytest.raises(BackendError, match=r"non-strings for \['max_depth'\]"):
        TrainingJobSpec("j", "i", {"max_depth": 5}, {})  # type: ignore[dict-item]
    with pytest.raises(BackendError, match="not one of baseline, monitor"):
        ProcessingJobSpec("j", "i", "serve", {}, "/o", {})

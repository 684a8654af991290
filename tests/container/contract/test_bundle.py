"""The model bundle: what save_bundle writes, and every check load_bundle makes."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest

from container.contract import bundle
from container.contract.bundle import (
    FORMAT_VERSION,
    MANIFEST_FILE,
    MODEL_FILE,
    check_library_versions,
    library_versions,
    load_bundle,
    read_manifest,
    remove_bundle,
    save_bundle,
)
from container.contract.errors import BundleError
from container.contract.schema import Feature, Schema

SCHEMA = Schema(
    features=(Feature("x", "numeric"), Feature("colour", "categorical", ("a", "b"))),
    target="y",
    problem_type="classification",
    classes=("no", "yes"),
)


class Model:
    """A picklable stand-in for a pipeline."""

    def predict(self, rows):
        return ["yes"] * len(rows)


class WarnsWhenLoaded(Model):
    """Unpickles with a warning, as scikit-learn does across releases."""

    def __init__(self):
        self.fitted = True  # pickle calls __setstate__ only for a non-empty state

    def __setstate__(self, state):
        warnings.warn("pickled by another release", UserWarning, stacklevel=1)
        self.__dict__.update(state)


def saved(tmp_path: Path, model=None, **manifest) -> Path:
    folder = tmp_path / "model"
    save_bundle(folder, model or Model(), {"schema": SCHEMA.to_dict(), **manifest})
    return folder


def edit_manifest(folder: Path, **changes) -> None:
    path = folder / MANIFEST_FILE
    path.write_text(json.dumps({**json.loads(path.read_text()), **changes}))


# --- writing -------------------------------------------------------------------------
def test_a_saved_bundle_records_its_format_and_libraries_and_loads(tmp_path):
    folder = saved(tmp_path, algorithm="test")
    manifest = json.loads((folder / MANIFEST_FILE).read_text())
    assert manifest["format_version"] == FORMAT_VERSION
    assert manifest["algorithm"] == "test"
    assert manifest["libraries"]["scikit-learn"] == library_versions()["scikit-learn"]
    loaded = load_bundle(folder)
    assert loaded.schema == SCHEMA and loaded.manifest == manifest
    assert loaded.pipeline.predict([1, 2]) == ["yes", "yes"]
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [MANIFEST_FILE, MODEL_FILE]
    )


def test_a_failed_save_leaves_no_manifest_behind(tmp_path, monkeypatch):
    folder = saved(tmp_path)

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(bundle, "write_json", broken)
    with pytest.raises(OSError, match="disk full"):
        save_bundle(folder, Model(), {"schema": SCHEMA.to_dict()})
    # model.json marks a complete bundle: the old one is gone with the old model.
    assert not (folder / MANIFEST_FILE).exists()


def test_remove_bundle_removes_the_files_and_their_temporaries(tmp_path):
    folder = saved(tmp_path)
    (folder / ".model.joblib.abc123").write_bytes(b"partial")
    (folder / ".model.json.def456").write_bytes(b"partial")
    (folder / "notes.txt").write_text("not ours")
    remove_bundle(folder)
    assert sorted(p.name for p in folder.iterdir()) == ["notes.txt"]


# --- what load_bundle refuses --------------------------------------------------------
def test_no_manifest_says_what_a_bundle_holds(tmp_path):
    (tmp_path / MODEL_FILE).write_bytes(b"x")
    with pytest.raises(BundleError, match=f"{MANIFEST_FILE} is missing.*{MODEL_FILE}"):
        load_bundle(tmp_path)


def test_a_manifest_that_is_not_json(tmp_path):
    folder = saved(tmp_path)
    (folder / MANIFEST_FILE).write_text("{not json")
    with pytest.raises(BundleError, match="is not valid JSON"):
        read_manifest(folder)


@pytest.mark.parametrize("version", [0, 2, "1", None])
def test_another_format_version_asks_for_a_retrain(tmp_path, version):
    folder = saved(tmp_path)
    edit_manifest(folder, format_version=version)
    with pytest.raises(BundleError, match=f"format_version {version!r}.*Retrain"):
        load_bundle(folder)


def test_another_scikit_learn_minor_release_is_refused(tmp_path):
    major, minor, *_ = library_versions()["scikit-learn"].split(".")
    other = f"{major}.{int(minor) + 1}.0"
    message = f"trained with scikit-learn {other} but this image has"
    with pytest.raises(BundleError, match=message):
        check_library_versions({"libraries": {"scikit-learn": other}})
    folder = saved(tmp_path)
    edit_manifest(folder, libraries={"scikit-learn": other})
    with pytest.raises(BundleError, match="Retrain the model"):
        load_bundle(folder)


def test_a_patch_release_or_an_unrecorded_library_passes_the_version_check():
    major, minor, *_ = library_versions()["scikit-learn"].split(".")
    check_library_versions({"libraries": {"scikit-learn": f"{major}.{minor}.99"}})
    check_library_versions({"libraries": {}})
    check_library_versions({})


def test_a_manifest_without_the_model_file(tmp_path):
    folder = saved(tmp_path)
    (folder / MODEL_FILE).unlink()
    with pytest.raises(BundleError, match=f"{MODEL_FILE} is missing although"):
        load_bundle(folder)


@pytest.mark.parametrize(
    "schema",
    [None, {"features": []}, {"features": [], "target": "y", "problem_type": "x"}],
)
def test_a_manifest_without_a_valid_schema(tmp_path, schema):
    folder = saved(tmp_path)
    edit_manifest(folder, schema=schema)
    with pytest.raises(BundleError, match="has no valid schema"):
        load_bundle(folder)


def test_a_pickle_that_warns_when_loaded_is_refused(tmp_path):
    folder = saved(tmp_path, model=WarnsWhenLoaded())
    with pytest.raises(BundleError, match="cannot load .*pickled by another release"):
        load_bundle(folder)


def test_a_pickle_that_does_not_load_is_a_bundle_error(tmp_path):
    folder = saved(tmp_path)
    (folder / MODEL_FILE).write_bytes(b"not a pickle")
    with pytest.raises(BundleError, match=f"cannot load .*{MODEL_FILE}"):
        load_bundle(folder)

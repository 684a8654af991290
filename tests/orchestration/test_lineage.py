"""`lineage` on the local backend: a state folder built through the steps'
own APIs (prepare, the tracker, register, the local endpoint record), traced
from the endpoint and from the version, as a tree and as JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from orchestration import lifecycle, lineage
from orchestration.backends.base import IN_SERVICE
from orchestration.cli import main
from orchestration.config import REPO_ROOT, load_config
from orchestration.dataprep import MANIFEST_FILE
from orchestration.tracking import Run, TuningJobRecord

ENDPOINT = "penguins-local"
RAW = "data/raw/penguins-raw.csv"


def write_config(tmp_path: Path) -> Path:
    """The default project with its state and processed data under tmp_path."""
    text = (REPO_ROOT / "config" / "penguins.yaml").read_text()
    for relative in (
        RAW,
        "config/penguins-raw.schema.yaml",
        "data/annotations/penguins-species.manifest",
    ):
        text = text.replace(f" {relative}", f" {REPO_ROOT / relative}")
    text = text.replace(
        "processed: data/processed", f"processed: {tmp_path / 'processed'}"
    )
    text = text.replace("state_dir: .state", f"state_dir: {tmp_path / 'state'}")
    (tmp_path / "config").mkdir()
    path = tmp_path / "config" / "p.yaml"
    path.write_text(text)
    return path


def trained(p: lifecycle.Project, name: str, **changes) -> Run:
    """A completed run, recorded as `train` records it, its model.tar.gz on disk."""
    prepared = p.state["prepared"]
    artifact = p.config.state_dir / "local" / "artifacts" / name / "model.tar.gz"
    artifact.parent.mkdir(parents=True, exist_ok=True)
    artifact.write_bytes(b"model")
    run = Run(
        run_id=name,
        project=p.config.project,
        job_name=name,
        backend="local",
        status="Completed",
        started_at="2026-12-01T10:00:00Z",
        duration_seconds=2.5,
        hyperparameters={"target": "species", "max_depth": "8"},
        metrics={"validation:accuracy": 0.9876543},
        data_hashes=prepared["data_hashes"],
        image="sklearn-byoc:latest",
        image_digest="sha256:" + "ab" * 32,
        code_revision="4bd9a8a0c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6",
        model_artifact=str(artifact),
        **changes,
    )
    p.tracker.record(run)
    p.save(last_run=name)
    return run


@pytest.fixture
def config_path(tmp_path):
    return write_config(tmp_path)


@pytest.fixture
def deployed(config_path):
    """prepare → a run → register (auto-approved) → the endpoint serving it."""
    p = lifecycle.open_project(load_config(config_path), say=lambda _: None)
    lifecycle.prepare(p)
    run = trained(p, "penguins-train-20261201-100000-000-0a1b2c3d")
    version = lifecycle.register(p)
    p.backend.state.save_endpoint(
        ENDPOINT,
        status=IN_SERVICE,
        model_name="penguins-species-v1-20261201-100100-000",
        model_artifact=run.model_artifact,
        url="http://127.0.0.1:1",
    )
    return p, run, version


def test_an_endpoint_traces_back_to_its_raw_file(deployed):
    p, run, version = deployed
    found = lineage.of_endpoint(p, ENDPOINT)
    (variant,) = found["variants"]
    assert variant["variant_name"] == "AllTraffic"
    assert variant["model_artifact"] == run.model_artifact
    (served,) = variant["model_versions"]
    assert (served["version"], served["approval"]) == (version.version, "Approved")
    assert served["training_run"]["run_id"] == run.run_id
    assert served["training_run"]["hyperparameters"] == run.hyperparameters
    assert served["image_digest"] == run.image_digest
    assert served["code_revision"] == run.code_revision
    data = served["data"]
    assert data["manifest"] == str(p.config.data.processed / MANIFEST_FILE)
    assert data["manifest_matches"] is True
    assert data["hashes"] == run.data_hashes
    assert data["files"]["train"]["path"] == "train/train.csv"
    manifest = json.loads((p.config.data.processed / MANIFEST_FILE).read_text())
    assert data["raw"]["path"] == RAW
    assert data["raw"]["sha256"] == manifest["raw"]["sha256"]
    assert data["raw"]["unchanged"] is True


def test_the_tree_shows_every_hash_and_id_whole(deployed):
    p, run, _ = deployed
    text = "\n".join(
        lineage.render(lineage.endpoint_tree(lineage.of_endpoint(p, ENDPOINT)))
    )
    manifest = json.loads((p.config.data.processed / MANIFEST_FILE).read_text())
    wanted = [
        f"endpoint {ENDPOINT}",
        "model version penguins-species v1: Approved",
        f"training run {run.run_id}: Completed",
        f"digest {run.image_digest}",
        f"code revision {run.code_revision}",
        "validation:accuracy=0.9876543",  # as recorded, not rounded
        f"raw {RAW}: sha256 {manifest['raw']['sha256']}",
        "(unchanged since)",
        *(f["sha256"] for f in manifest["files"].values()),
    ]
    for piece in wanted:
        assert piece in text, piece
    assert text.splitlines()[1].startswith("└── variant AllTraffic")


def test_a_tuned_version_carries_its_tuning_job_and_every_trial(config_path):
    p = lifecycle.open_project(load_config(config_path), say=lambda _: None)
    lifecycle.prepare(p)
    names = [f"penguins-tune-261201-100000-ab12-00{i}-0a1b2c3d" for i in (1, 2)]
    for name in names:
        trained(p, name, tuning_job="penguins-tune-261201-100000-ab12")
    p.tracker.record_tuning_job(
        TuningJobRecord(
            "penguins-tune-261201-100000-ab12",
            p.config.project,
            "local",
            "Completed",
            "2026-12-01T10:00:00Z",
            "Random",
            "validation:accuracy",
            "Maximize",
            ("max_depth",),
            best_run=names[1],
        )
    )
    lifecycle.register(p)
    found = lineage.of_version(p, 1)
    assert found["tuning_job"]["best_training_job"] == names[1]
    assert [t["training_job"] for t in found["tuning_job"]["trials"]] == names
    text = "\n".join(lineage.render(lineage.version_tree(found)))
    assert "tuning job penguins-tune-261201-100000-ab12: Random search" in text
    for name in names:
        assert f"trial {name}: Completed, max_depth=8" in text


def test_data_prepared_since_is_said_and_the_runs_hashes_still_shown(deployed):
    p, run, _ = deployed
    manifest_path = p.config.data.processed / MANIFEST_FILE
    manifest = json.loads(manifest_path.read_text())
    manifest["files"]["train"]["sha256"] = "0" * 64
    manifest_path.write_text(json.dumps(manifest))
    data = lineage.of_version(p, 1)["data"]
    assert data["manifest_matches"] is False
    assert data["differing"] == ["train"]
    assert data["files"]["train"] == {"sha256": run.data_hashes["train"]}
    text = "\n".join(lineage.render(lineage.version_tree(lineage.of_version(p, 1))))
    assert "is of other data (differs in train)" in text


def test_the_cli_prints_the_tree_and_the_same_as_json(deployed, config_path, capsys):
    p, run, _ = deployed
    assert main(["lineage", "--config", str(config_path)]) == 0
    tree = capsys.readouterr().out
    assert tree.startswith(f"endpoint {ENDPOINT} (local backend")
    assert f"training run {run.run_id}" in tree
    assert (
        main(["lineage", "--version", "1", "--json", "--config", str(config_path)]) == 0
    )
    assert json.loads(capsys.readouterr().out) == lineage.of_version(p, 1)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--endpoint", "nope"], "error: no endpoint 'nope' on the local backend"),
        (["--version", "9"], "error: model group 'penguins-species' has no version 9"),
        (["--version", "1", "--endpoint", "x"], "error: lineage traces --endpoint"),
    ],
)
def test_unknown_endpoints_and_versions_are_one_line_errors(
    deployed, config_path, capsys, argv, message
):
    assert main(["lineage", *argv, "--config", str(config_path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(message)
    assert err.count("\n") == 1

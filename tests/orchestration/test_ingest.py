"""`ingest` on the local backend: a lasting, versioned copy of the raw data.

(On AWS, tests/orchestration/test_aws_pipelines.py checks the S3 upload.)
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from orchestration import ingest, lifecycle
from orchestration.config import load_config
from orchestration.dataprep import sha256_file


@pytest.fixture
def project(tmp_path):
    config = load_config()
    config = dataclasses.replace(
        config,
        state_dir=tmp_path / "state",
        data=dataclasses.replace(config.data, processed=tmp_path / "processed"),
    )
    said: list[str] = []
    made = lifecycle.open_project(config, say=said.append)
    made.said = said  # type: ignore[attr-defined]
    return made


def test_the_raw_data_is_kept_under_its_version(project):
    done = ingest.ingest(project)

    folder = Path(done.location)
    assert folder.name == done.version and len(done.version) == 16
    raw = project.config.data.raw
    assert (folder / "raw" / raw.name).read_bytes() == raw.read_bytes()
    manifest = project.config.data.annotations.manifest
    assert (
        folder / "annotations" / manifest.name
    ).read_bytes() == manifest.read_bytes()
    settings = json.loads((folder / "settings" / "preparation.json").read_text())
    assert settings["raw_source"] == "data/raw/penguins-raw.csv"
    assert done.files["raw"] == {"name": raw.name, "sha256": sha256_file(raw)}
    assert project.state["ingested"]["location"] == done.location


def test_ingesting_the_same_data_again_changes_nothing(project):
    first = ingest.ingest(project)
    again = ingest.ingest(project)
    assert again == first
    assert "already ingested" in project.said[-1]


def test_register_records_where_the_raw_data_was_ingested(project):
    done = ingest.ingest(project)
    prepared = lifecycle.prepare(project)
    assert prepared.manifest["raw"]["sha256"] == done.files["raw"]["sha256"]
    project.save(last_run="run-1")
    from orchestration.tracking import Run

    project.tracker.record(
        Run(
            run_id="run-1",
            project="penguins",
            job_name="run-1",
            backend="local",
            status="Completed",
            started_at="2026-01-01T00:00:00Z",
            duration_seconds=1.0,
            hyperparameters={},
            metrics={"validation:accuracy": 0.95},
            data_hashes=prepared.data_hashes,
            model_artifact="/tmp/model.tar.gz",
        )
    )
    version = lifecycle.register(project)
    assert version.lineage["raw_data"]["version"] == done.version
    assert (
        version.lineage["raw_data"]["files"]["raw"]["sha256"]
        == (prepared.manifest["raw"]["sha256"])
    )


def test_a_missing_raw_file_is_a_clear_error(project, tmp_path):
    project.config = dataclasses.replace(
        project.config,
        data=dataclasses.replace(project.config.data, raw=tmp_path / "gone.csv"),
    )
    with pytest.raises(Exception, match="raw file .*gone.csv does not exist"):
        ingest.ingest(project)

"""`pipeline run --local` through the CLI: the SageMaker Pipeline definition
executed by the SDK's LocalPipelineSession on the real image, then `deploy`
of the version it registered.

The first run passes its condition and registers a version; the second, with
a threshold no model can reach, ends in the FailStep with its message and
registers nothing.
"""

from __future__ import annotations

import json

import pytest
import yaml

from orchestration import dataprep
from orchestration.config import load_config
from orchestration.registry import LocalRegistry
from tests.e2e.conftest import project_containers, write_project
from tests.e2e.test_demo import cli

pytestmark = [pytest.mark.docker, pytest.mark.slow]


def quick(path, **approval):
    """A small forest, so the training step stays short."""
    config = yaml.safe_load(path.read_text())
    config["training"]["hyperparameters"].update(n_estimators=20)
    config["registry"]["auto_approval"].update(approval)
    path.write_text(yaml.safe_dump(config))
    return path


def compose_containers(docker_client, image: str) -> list[str]:
    image_id = docker_client.images.get(image).id
    return [
        c.name
        for c in docker_client.containers.list(
            all=True, filters={"label": "com.docker.compose.project"}
        )
        if c.image.id == image_id
    ]


def test_the_local_pipeline_trains_evaluates_registers_and_deploys(
    tmp_path, image, docker_client
):
    config = quick(write_project(tmp_path, image))
    left_before = set(compose_containers(docker_client, image))

    done = cli("pipeline", "run", "--local", "--config", str(config), timeout=900)

    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    out = done.stdout
    for step in ("Prepare", "Train", "Evaluate", "Baseline", "Model-CreateModel"):
        assert f"  {step:<13} Succeeded" in out, out
    assert "CheckMetric   Succeeded (outcome True)" in out
    assert "registered penguins-species version 1" in out

    project = load_config(config)
    (folder,) = (project.state_dir / "pipelines").iterdir()
    evaluation = json.loads((folder / "evaluation" / "evaluation.json").read_text())
    assert evaluation["metrics"]["test"]["accuracy"] >= 0.9
    # The image's prepare job splits exactly as `prepare` does in process.
    in_process = dataprep.prepare(project.data)
    manifest = json.loads((folder / "prepared" / "manifest.json").read_text())
    assert {k: v["sha256"] for k, v in manifest["files"].items()} == (
        in_process.data_hashes
    )
    statistics = json.loads((folder / "baseline" / "statistics.json").read_text())
    assert statistics["dataset"]["item_count"] == manifest["files"]["train"]["rows"]
    steps = json.loads((folder / "steps.json").read_text())
    assert {s["StepName"] for s in steps} == {
        "Prepare",
        "Train",
        "Evaluate",
        "CheckMetric",
        "Baseline",
        "Model-CreateModel",
    }  # the FailStep did not run

    version = LocalRegistry(project.state_dir).get("penguins-species", 1)
    assert version.approval == "Approved"
    assert version.lineage["pipeline"]["execution"] == folder.name.split("-")[-1]
    assert version.lineage["data_hashes"] == in_process.data_hashes
    assert version.metrics["validation:accuracy"] >= 0.9
    # Local mode leaves no stopped job container behind.
    assert set(compose_containers(docker_client, image)) <= left_before

    deployed = cli("deploy", "--config", str(config), "--quiet", timeout=300)
    try:
        assert deployed.returncode == 0, deployed.stdout + deployed.stderr
        assert "version 1" in deployed.stdout
        traffic = cli("predict", "--config", str(config), "--limit", "20", timeout=300)
        assert traffic.returncode == 0, traffic.stdout + traffic.stderr
    finally:
        cli("teardown", "--config", str(config), "--quiet", timeout=300)
    assert project_containers(docker_client, project.state_dir) == []


def test_a_metric_below_the_threshold_ends_in_the_fail_step(
    tmp_path, image, docker_client
):
    config = quick(write_project(tmp_path, image), threshold=1.01)

    done = cli("pipeline", "run", "--local", "--config", str(config), timeout=900)

    assert done.returncode != 0
    assert "CheckMetric   Succeeded (outcome False)" in done.stdout, done.stdout[-3000:]
    assert "MetricTooLow  Failed" in done.stdout
    error = done.stderr.strip().splitlines()[-1]
    assert "validation:accuracy is" in error and "but must be at least 1.01" in error
    assert "Traceback" not in done.stderr
    project = load_config(config)
    assert LocalRegistry(project.state_dir).list("penguins-species") == []

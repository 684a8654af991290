"""A regression project end to end: made by `init` from a CSV, then `run`.

The issue's "done when": a user's own CSV with a numeric target goes from
`init` to a monitored endpoint, with regression metrics (mae, mse, rmse, r2)
in model quality and drift found on drifted traffic. The bundled
config/diabetes.yaml runs the same way.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from orchestration.config import REPO_ROOT
from tests.e2e.conftest import project_containers
from tests.e2e.test_demo import cli

pytestmark = pytest.mark.slow
DIABETES_CSV = REPO_ROOT / "data" / "raw" / "diabetes.csv"
REGRESSION_METRICS = {"mae", "mse", "rmse", "r2"}


def _unique(tmp_path: Path, head: str) -> str:
    return f"{head}-{tmp_path.name[-12:]}".replace("_", "-").lower()


def _assert_a_monitored_regression(summary: dict, out: str) -> None:
    assert summary["metrics"]["validation:r2"] > 0.2
    healthy, worse = summary["quality"]["held-out"], summary["quality"]["drifted"]
    assert healthy["status"] == "Completed"
    assert set(healthy["metrics"]) == REGRESSION_METRICS
    assert healthy["metrics"]["r2"] > 0.2
    assert summary["held_out_violations"] == 0  # no false alarm
    # Drifted inputs with shuffled labels: the errors grow past the constraints.
    assert worse["status"] == "CompletedWithViolations"
    assert worse["metrics"]["rmse"] > healthy["metrics"]["rmse"]
    assert {"rmse", "r2"} <= {v["metric_name"] for v in worse["violations"]}
    assert "bmi" in {
        v["feature_name"]
        for v in summary["drift_violations"]
        if v["constraint_check_type"] == "baseline_drift_check"
    }
    assert {"any-drift", "model-quality"} <= {a["rule"] for a in summary["alerts"]}
    assert summary["transform"]["quality"]["status"] == "Completed"
    assert "regression, random split" in out
    assert "0 errors, mae " in out and "accuracy" not in out


def test_a_project_made_by_init_from_a_csv_runs_end_to_end(
    tmp_path, image, docker_client
):
    name = _unique(tmp_path, "init")
    made = cli(
        "init",
        "--data",
        str(DIABETES_CSV),
        "--target",
        "progression",
        "--name",
        name,
        "--out",
        str(tmp_path / "config"),
    )
    assert made.returncode == 0, made.stderr
    assert "problem type regression" in made.stdout
    config = tmp_path / "config" / f"{name}.yaml"
    state = tmp_path / "state"
    done = cli(
        "run",
        "--config",
        str(config),
        "--image",
        image,
        "--state-dir",
        str(state),
        "--quiet",
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr
    summary = json.loads((state / f"{name}.run-summary.json").read_text())
    _assert_a_monitored_regression(summary, done.stdout)
    assert project_containers(docker_client, state) == []


def test_the_bundled_regression_example_runs_end_to_end(tmp_path, image, docker_client):
    config = yaml.safe_load((REPO_ROOT / "config" / "diabetes.yaml").read_text())
    config["image"] = image
    config["state_dir"] = str(tmp_path / "state")
    for key in ("raw", "schema"):
        config["data"][key] = str(REPO_ROOT / config["data"][key])
    config["data"]["processed"] = str(tmp_path / "processed")
    config["endpoint"]["name"] = _unique(tmp_path, "e2e")
    path = tmp_path / "config" / "diabetes.yaml"
    path.parent.mkdir()
    path.write_text(yaml.safe_dump(config))
    done = cli("run", "--config", str(path), "--quiet")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr
    summary = json.loads((tmp_path / "state" / "diabetes.run-summary.json").read_text())
    _assert_a_monitored_regression(summary, done.stdout)
    assert "auto-approved: validation:r2=" in done.stdout
    assert project_containers(docker_client, tmp_path / "state") == []

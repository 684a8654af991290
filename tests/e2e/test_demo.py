"""The main job: the whole lifecycle through the CLI, as `make demo` runs it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from orchestration.config import REPO_ROOT
from tests.e2e.conftest import project_containers, write_project


def cli(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "orchestration", *args],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=timeout,
    )


def test_demo_goes_from_raw_data_to_a_drift_alert_and_cleans_up(
    tmp_path, image, docker_client, webhook
):
    url, received = webhook
    config = write_project(tmp_path, image, url)
    done = cli("run", "--config", str(config), "--quiet")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr
    out = done.stdout
    for step in (
        "== prepare",
        "== train",
        "== register",
        "== deploy",
        "== predict held-out traffic",
        "== ground truth for the held-out traffic",
        "== baseline",
        "== monitor held-out window",
        "== predict drifted traffic",
        "== ground truth for the drifted traffic",
        "== monitor drifted window",
        "== batch transform of the held-out split",
        "== monitor the transform job's capture",
        "== teardown",
    ):
        assert step in out
    summary = json.loads((tmp_path / "state" / "penguins.run-summary.json").read_text())
    assert summary["metrics"]["validation:accuracy"] >= 0.9
    assert summary["held_out_violations"] == 0  # no false alarm on held-out traffic
    drifted = {
        v["feature_name"]
        for v in summary["drift_violations"]
        if v["constraint_check_type"] == "baseline_drift_check"
    }
    assert {"body_mass_g", "island"} <= drifted
    assert "any-drift" in {a["rule"] for a in summary["alerts"]}
    assert summary["report"].endswith("report.html")
    page = (tmp_path / "state" / "penguins.run-summary.html").read_text()
    assert page.count("<svg") >= 2 and "body_mass_g" in page  # drift, pictured
    assert (tmp_path / "state" / "reports").is_dir()
    assert "drift report:" in out and "ALERT [any-drift]" in out
    assert any("data drift" in p["text"] for p in received)  # the webhook got it
    # Model quality: the true species keep the held-out window within its
    # constraints; the shuffled labels of the drifted one say the model got worse.
    healthy, worse = summary["quality"]["held-out"], summary["quality"]["drifted"]
    assert healthy["status"] == "Completed" and healthy["metrics"]["accuracy"] >= 0.9
    assert worse["status"] == "CompletedWithViolations"
    assert worse["metrics"]["accuracy"] < 0.8
    assert "accuracy" in {v["metric_name"] for v in worse["violations"]}
    assert "ALERT [model-quality]" in out
    assert "model quality, drifted window: CompletedWithViolations" in out
    assert "Model quality per window" in page
    # The held-out split scored offline, one label per record, then its
    # capture monitored with its true labels like an endpoint window.
    scored = summary["transform"]
    out_files = list(Path(scored["output"]).glob("*.out"))
    assert len(out_files) == 1
    labels = out_files[0].read_text().splitlines()
    assert len(labels) == scored["records"] > 0
    assert {line.split(",")[0] for line in labels} <= {"Adelie", "Chinstrap", "Gentoo"}
    assert scored["violations"] == 0
    assert scored["quality"]["status"] == "Completed"
    assert scored["quality"]["metrics"]["accuracy"] >= 0.9
    assert project_containers(docker_client, tmp_path / "state") == []


def test_steps_run_one_cli_process_at_a_time(tmp_path, image, docker_client):
    config = write_project(tmp_path, image)
    common = ("--config", str(config), "--quiet")

    def step(*args: str) -> str:
        done = cli(*args, *common)
        assert done.returncode == 0, f"{args}: {done.stdout[-2000:]}{done.stderr}"
        return done.stdout

    try:
        step("prepare")
        step("train")
        assert "Approved" in step("register")
        assert "InService" in step("deploy")
        status = json.loads(step("status", "--json"))  # a new process sees the endpoint
        assert status["backend"]["endpoints"][0]["status"] == "InService"
        assert "0 errors" in step("predict", "--limit", "20")
        step("baseline")
        step("predict", "--drifted")
        labels = tmp_path / "state" / "labels" / "drifted.csv"
        assert "52 ground-truth label(s)" in step(
            "ground-truth", "--labels", str(labels)
        )
        monitored = step("monitor")
        assert "CompletedWithViolations" in monitored
        # The labelled drifted traffic is measured too, by a model-quality job.
        assert (
            "model-quality job" in monitored and "model quality: accuracy=" in monitored
        )
        assert "[any-drift] data drift" in step("alerts")
        step("train")
        assert "validation:accuracy" in step(
            "runs", "compare", "--html", str(tmp_path / "runs.html")
        )
        assert "<svg" in (tmp_path / "runs.html").read_text()
        assert "Approved" in step("register")
        assert "updating endpoint" in step("deploy")
        assert "0 errors" in step("predict", "--limit", "5")
    finally:
        cli("teardown", *common)
    assert project_containers(docker_client, tmp_path / "state") == []

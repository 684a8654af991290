"""Endpoint health from the endpoint's own traffic, through the CLI on the
real image: requests sent by other clients (not `predict`) are counted from
the serving container's request log, and the `error_rate` rule fires on
them; the log outlives the endpoint's container."""

from __future__ import annotations

import json

import pytest
import requests
import yaml

from orchestration.config import load_config
from tests.e2e.conftest import project_containers, write_project
from tests.e2e.test_demo import cli

pytestmark = [pytest.mark.docker, pytest.mark.slow]


def test_an_error_rate_breach_in_the_window_raises_the_alert(
    tmp_path, image, docker_client
):
    config = write_project(tmp_path, image)
    settings = yaml.safe_load(config.read_text())
    settings["training"]["hyperparameters"].update(n_estimators=10)
    config.write_text(yaml.safe_dump(settings))
    project = load_config(config)
    for step in ("prepare", "train", "register", "deploy", "baseline"):
        done = cli(step, "--config", str(config), "--quiet", timeout=300)
        assert done.returncode == 0, f"{step}: {done.stdout[-2000:]}{done.stderr}"
    try:
        sent = cli("predict", "--config", str(config), "--limit", "20", timeout=300)
        assert sent.returncode == 0, sent.stdout + sent.stderr
        state = json.loads((project.state_dir / "penguins.lifecycle.json").read_text())
        url = state["endpoint"]["url"]
        for _ in range(10):  # another client's bad requests: the CLI never sees them
            bad = requests.post(
                f"{url}/invocations",
                data=b"not,a,penguin\n",
                headers={"Content-Type": "text/csv"},
                timeout=30,
            )
            assert bad.status_code == 400

        watched = cli("monitor", "--config", str(config), timeout=300)

        out = watched.stdout
        assert "traffic in the window: 30 requests, 10 4xx, 0 5xx" in out, out[-3000:]
        assert "[endpoint-errors] error rate 33.3%" in out, out[-3000:]
        state = json.loads((project.state_dir / "penguins.lifecycle.json").read_text())
        traffic = state["last_monitor"]["traffic"]
        assert traffic["requests"] == 30 and traffic["errors_4xx"] == 10
        assert traffic["latency_p99_ms"] > 0
    finally:
        cli("teardown", "--config", str(config), "--quiet", timeout=300)
    assert project_containers(docker_client, project.state_dir) == []
    # The container is gone; its requests are not.
    (kept,) = project.state_dir.glob("local/endpoints/*/requests.jsonl")
    lines = [json.loads(line) for line in kept.read_text().splitlines()]
    assert len(lines) == 30
    assert {line["variant"] for line in lines} == {"AllTraffic"}

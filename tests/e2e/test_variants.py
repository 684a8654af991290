"""An A/B and shadow rollout through the CLI, on the bundled data and the real image."""

from __future__ import annotations

import json
import os
import time

from tests.e2e.conftest import project_containers, write_project
from tests.e2e.test_demo import cli


def ok(*args: str) -> str:
    done = cli(*args)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr
    return done.stdout


def test_two_versions_split_traffic_a_shadow_copies_it_and_the_winner_is_promoted(
    tmp_path, image, docker_client
):
    config = str(write_project(tmp_path, image))
    state = tmp_path / "state"
    try:
        steps = (
            "prepare",
            "train",
            "register",
            "deploy",
            "train",
            "baseline",
            "register",
        )
        for step in steps:
            ok(step, "--config", config, "--quiet")
        said = ok(
            "deploy", "--config", config, "--variant", "challenger", "--weight", "1"
        )
        assert "as variant with weight 1 challenger" in said
        ok(
            "deploy",
            "--config",
            config,
            "--variant",
            "shadow",
            "--shadow",
            "--weight",
            "2",
        )
        ok("predict", "--config", config)
        ok("predict", "--config", config, "--variant", "challenger", "--limit", "5")
        # The challenger's own traffic, labelled, monitored apart from the rest.
        labels = state / "labels" / "held-out.csv"
        ok("ground-truth", "--config", config, "--labels", str(labels))
        ok("monitor", "--config", config, "--variant", "challenger", "--quiet")
        time.sleep(2)  # the front writes its counts once a second
        status = json.loads(ok("status", "--config", config, "--json"))
        rows = {v["variant_name"]: v for v in status["variants"]}
        assert set(rows) == {"AllTraffic", "challenger", "shadow"}
        assert (rows["AllTraffic"]["version"], rows["challenger"]["version"]) == (1, 2)
        sent = (
            rows["AllTraffic"]["traffic"]["requests"]
            + rows["challenger"]["traffic"]["requests"]
        )
        assert sent == 52 + 5 and rows["challenger"]["traffic"]["requests"] > 5
        assert rows["shadow"]["traffic"]["requests"] == 52  # the untargeted ones
        assert all(r["traffic"]["error_rate"] == 0 for r in rows.values())
        checked = rows["challenger"]["monitor"]
        assert (
            checked["quality_status"] == "Completed"
            and checked["metrics"]["accuracy"] == 1
        )
        assert rows["AllTraffic"]["monitor"] is None
        text = ok("status", "--config", config)
        assert "variant challenger (version 2, weight 1): InService; " in text
        # (31 requests make a small window: data-quality checks may flag one.)
        assert "violation(s), model quality Completed (accuracy=1.000" in text, text
        capture = state / "local" / "capture"
        (endpoint,) = [p for p in capture.iterdir() if p.is_dir()]
        assert {p.name for p in endpoint.iterdir()} == {
            "AllTraffic",
            "challenger",
            "shadow",
        }

    except BaseException:
        cli("teardown", "--config", config)  # nothing left running after a failure
        raise
    ok("promote", "--config", config, "--variant", "challenger")
    status = json.loads(ok("status", "--config", config, "--json"))
    assert [v["variant_name"] for v in status["variants"]] == ["challenger"]
    front = next(state.rglob("front.json"))
    pid = json.loads(front.read_text())["pid"]
    ok("teardown", "--config", config)
    assert project_containers(docker_client, state) == []
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and os.path.exists(f"/proc/{pid}"):
        time.sleep(0.1)
    assert not os.path.exists(f"/proc/{pid}")  # the front went with the endpoint

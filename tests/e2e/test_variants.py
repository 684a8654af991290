"""A/B and shadow rollouts through the CLI, on the bundled data and the real image."""

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


def variants(config: str, done) -> dict[str, dict]:
    """`status --json`'s variants once `done(rows)` holds (the front writes
    its counts once a second), or as they are after 20 s."""
    deadline = time.monotonic() + 20
    while True:
        status = json.loads(ok("status", "--config", config, "--json"))
        rows = {v["variant_name"]: v for v in status["variants"]}
        if done(rows) or time.monotonic() > deadline:
            return rows
        time.sleep(0.5)


def served(rows: dict[str, dict], name: str) -> int:
    return rows[name]["traffic"].get("requests", 0) if name in rows else 0


def test_an_ab_test_then_a_shadow_test_each_promoted(tmp_path, image, docker_client):
    config = str(write_project(tmp_path, image))
    state = tmp_path / "state"
    steps = ("prepare", "train", "register", "deploy", "train", "baseline", "register")
    try:
        for step in steps:
            ok(step, "--config", config, "--quiet")
        # A/B: version 2 beside version 1, half the traffic each.
        said = ok(
            "deploy", "--config", config, "--variant", "challenger", "--weight", "1"
        )
        assert "as variant with weight 1 challenger" in said
        ok("predict", "--config", config)
        ok("predict", "--config", config, "--variant", "challenger", "--limit", "5")
        # The challenger's own traffic, labelled, monitored apart from the rest.
        labels = state / "labels" / "held-out.csv"
        ok("ground-truth", "--config", config, "--labels", str(labels))
        ok("monitor", "--config", config, "--variant", "challenger", "--quiet")
        rows = variants(
            config, lambda r: served(r, "AllTraffic") + served(r, "challenger") == 57
        )
        assert set(rows) == {"AllTraffic", "challenger"}
        assert (rows["AllTraffic"]["version"], rows["challenger"]["version"]) == (1, 2)
        assert served(rows, "AllTraffic") + served(rows, "challenger") == 52 + 5
        assert served(rows, "challenger") > 5 and served(rows, "AllTraffic") > 5
        assert all(r["traffic"]["error_rate"] == 0 for r in rows.values())
        checked = rows["challenger"]["monitor"]
        assert checked["quality_status"] == "Completed"
        assert checked["metrics"]["accuracy"] == 1
        assert rows["AllTraffic"]["monitor"] is None
        text = ok("status", "--config", config)
        assert "variant challenger (version 2, weight 1): InService; " in text
        # (A window of ~30 requests is small: data-quality checks may flag one.)
        assert "violation(s), model quality Completed (accuracy=1.000" in text, text
        ok("promote", "--config", config, "--variant", "challenger")
        rows = variants(config, lambda r: True)
        assert list(rows) == ["challenger"]

        # Shadow: version 1 gets a copy of every request; clients see version 2.
        ok(
            "deploy",
            "--config",
            config,
            "--variant",
            "old",
            "--shadow",
            "--version",
            "1",
        )
        ok("predict", "--config", config, "--limit", "20")
        rows = variants(config, lambda r: served(r, "old") >= 20)
        assert served(rows, "old") == 20 and rows["old"]["shadow"]
        capture = state / "local" / "capture"
        (endpoint,) = [p for p in capture.iterdir() if p.is_dir()]
        assert {p.name for p in endpoint.iterdir()} == {
            "AllTraffic",
            "challenger",
            "old",
        }
        front = next(state.rglob("front.json"))
        pid = json.loads(front.read_text())["pid"]
        said = ok("promote", "--config", config, "--variant", "old")
        assert "version 1 replaces every variant" in said
        status = json.loads(ok("status", "--config", config, "--json"))
        assert [v["variant_name"] for v in status["variants"]] == ["AllTraffic"]
        assert status["lifecycle"]["endpoint"]["version"] == 1
    except BaseException:
        cli("teardown", "--config", config)  # nothing left running after a failure
        raise
    ok("teardown", "--config", config)
    assert project_containers(docker_client, state) == []
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and os.path.exists(f"/proc/{pid}"):
        time.sleep(0.1)
    assert not os.path.exists(f"/proc/{pid}")  # the front went with its variants

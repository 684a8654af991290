"""Two commands at once, and Ctrl-C mid-deploy, on one state folder: real processes."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

from orchestration.config import REPO_ROOT
from tests.e2e.conftest import project_containers, write_project
from tests.e2e.test_demo import cli


def running(docker_client, state_dir) -> list[str]:
    return [
        c
        for c in project_containers(docker_client, state_dir)
        if docker_client.containers.get(c).status == "running"
    ]


def test_concurrent_deploys_and_ctrl_c_leave_one_endpoint_serving(
    tmp_path, image, docker_client
):
    config = write_project(tmp_path, image)
    state = tmp_path / "state"
    common = ("--config", str(config), "--quiet")
    deploy = [sys.executable, "-m", "orchestration", "deploy", *common]
    try:
        for step in ("prepare", "train", "register"):
            done = cli(step, *common)
            assert done.returncode == 0, done.stdout[-2000:] + done.stderr

        # Two deploys at once: the second waits for the first, then updates.
        both = [
            subprocess.Popen(
                deploy,
                cwd=REPO_ROOT,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(2)
        ]
        outs = [p.communicate(timeout=600) for p in both]
        assert [p.returncode for p in both] == [0, 0], outs
        assert sum("updating endpoint" in out for out, _ in outs) == 1, outs
        status = json.loads(cli("status", "--json", *common).stdout)
        (endpoint,) = status["backend"]["endpoints"]
        assert endpoint["status"] == "InService"
        assert status["lifecycle"]["endpoint"]["url"] == endpoint["url"]
        serving = running(docker_client, state)
        assert len(serving) == 1

        # Ctrl-C while an update starts its new container.
        update = subprocess.Popen(
            deploy,
            cwd=REPO_ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 120
        while len(project_containers(docker_client, state)) < 2:
            assert time.monotonic() < deadline and update.poll() is None
            time.sleep(0.1)
        time.sleep(0.5)
        update.send_signal(signal.SIGINT)
        _, err = update.communicate(timeout=120)
        assert update.returncode == 130, err
        assert running(docker_client, state) == serving  # the old one still serves
        assert project_containers(docker_client, state) == serving  # no orphan
        status = json.loads(cli("status", "--json", *common).stdout)
        (endpoint,) = status["backend"]["endpoints"]
        assert endpoint["status"] == "InService"
        assert endpoint["failure_reason"] == "update not finished: stopped by the user"
        predicted = cli("predict", "--limit", "3", *common)
        assert predicted.returncode == 0 and "0 errors" in predicted.stdout
    finally:
        cli("teardown", *common)
    assert project_containers(docker_client, state) == []

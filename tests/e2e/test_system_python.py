"""The demo under the Python Debian 12 ships (/usr/bin/python3, 3.11.2), with
this environment's packages: what differs is the interpreter itself (e.g.
`tarfile` without the `filter` argument before 3.11.4), which is what broke
there before.

Where the machine has no such interpreter the test skips, unless
REQUIRE_SYSTEM_PYTHON is set; CI machines are Debian 12, so it runs there.
"""

from __future__ import annotations

import os
import subprocess
import sysconfig
from pathlib import Path

import pytest

from orchestration.config import REPO_ROOT
from tests.e2e.conftest import project_containers, write_project

SYSTEM_PYTHON = Path("/usr/bin/python3")
pytestmark = [pytest.mark.docker, pytest.mark.slow]


def system_python_version() -> str | None:
    if not SYSTEM_PYTHON.is_file():
        return None
    done = subprocess.run(
        [str(SYSTEM_PYTHON), "-c", "import sys; print(sys.version.split()[0])"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    return done.stdout.strip() or None


def test_the_demo_runs_under_the_systems_python(tmp_path, image, docker_client):
    version = system_python_version()
    if version is None or not version.startswith("3.11."):
        if os.environ.get("REQUIRE_SYSTEM_PYTHON") or os.environ.get("CI"):
            pytest.fail(f"{SYSTEM_PYTHON} is not a Python 3.11 ({version})")
        pytest.skip(f"no Python 3.11 at {SYSTEM_PYTHON}")
    config = write_project(tmp_path, image)
    # This environment's packages as a site folder (its .pth files included),
    # the repository's code from the working folder.
    site_packages = sysconfig.get_paths()["purelib"]
    program = (
        "import runpy, site, sys; "
        f"site.addsitedir({site_packages!r}); "
        "print('python', sys.version.split()[0], flush=True); "
        "sys.argv = ['orchestration', *sys.argv[1:]]; "
        "runpy.run_module('orchestration', run_name='__main__', alter_sys=True)"
    )
    done = subprocess.run(
        [str(SYSTEM_PYTHON), "-c", program, "run", "--config", str(config), "--quiet"],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=900,
        env={**os.environ, "PYTHONNOUSERSITE": "1"},
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert done.stdout.startswith(f"python {version}\n")
    out = done.stdout
    assert "model quality, held-out window: Completed" in out
    assert "== teardown" in out
    state = tmp_path / "state"
    assert project_containers(docker_client, state) == []

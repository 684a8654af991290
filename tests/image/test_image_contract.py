"""Static properties of the image and its scripts: what SageMaker and users rely on
before any model is involved (labels, dispatcher, commands on PATH, no compilers,
no pip, an unprivileged runtime user)."""

from __future__ import annotations

import gzip
import os
import subprocess
from pathlib import Path

import pytest

from tests.image.conftest import copy_test_dir
from tests.image.docker_helpers import REPO_ROOT, run_job

RUNTIME_UID = 10001
# Every Python in the image, and where pip, setuptools or their wheels could hide.
FIND_PACKAGING = (
    "for p in /usr/local/bin/python3 /usr/bin/python3 /opt/venv/bin/python; do "
    '[ -x "$p" ] || continue; '
    'for m in pip setuptools wheel pkg_resources; do "$p" -c "import $m" 2>/dev/null '
    '&& echo "importable: $p $m"; done; done; '
    "find / -xdev \\( -name 'pip-*' -o -name 'setuptools-*' -o -name 'wheel-*' "
    "-o -name 'pip' -o -name 'setuptools' -o -name '*.whl' \\) -print 2>/dev/null; "
    "ls /usr/local/bin /usr/bin | grep -x 'pip[0-9.]*' || true"
)

SCRIPTS = [
    "build_and_push.sh",
    "docker/entrypoint.sh",
    "docker/ensure_engine.sh",
    "docker/build_base_image.sh",
    "local_test/train_local.sh",
    "local_test/serve_local.sh",
    "local_test/predict.sh",
]


def run(docker_client, image, command=None, **kwargs) -> tuple[int, str]:
    container = docker_client.containers.run(image, command, detach=True, **kwargs)
    try:
        code = container.wait(timeout=120)["StatusCode"]
        return code, container.logs().decode(errors="replace")
    finally:
        container.remove(force=True)


def test_bind_to_port_label_present(docker_client, image):
    labels = docker_client.images.get(image).labels
    assert (
        labels.get("com.amazonaws.sagemaker.capabilities.accept-bind-to-port") == "true"
    )


def test_image_config_follows_contract(docker_client, image):
    config = docker_client.images.get(image).attrs["Config"]
    assert config["Entrypoint"] == ["/opt/program/entrypoint.sh"]  # exec form
    assert "8080/tcp" in config["ExposedPorts"]
    assert "PYTHONUNBUFFERED=1" in config["Env"]
    assert docker_client.images.get(image).attrs["Architecture"] == "amd64"


def test_other_commands_run_as_given(docker_client, image):
    code, logs = run(docker_client, image, ["sh", "-c", "echo hello-from-$((6*7))"])
    assert (code, logs.strip()) == (0, "hello-from-42")


def test_commands_are_on_path_for_container_entrypoint(docker_client, image):
    # A job may set ContainerEntrypoint=["train"] and bypass our ENTRYPOINT.
    commands = ("train", "serve", "baseline", "monitor", "prepare", "evaluate")
    code, logs = run(
        docker_client,
        image,
        ["sh", "-c", f"for c in {' '.join(commands)}; do command -v $c; done"],
    )
    assert code == 0
    assert logs.split() == [f"/usr/local/bin/{c}" for c in commands]


def test_no_compilers_or_pip_in_the_venv(docker_client, image):
    code, logs = run(
        docker_client,
        image,
        ["sh", "-c", "command -v gcc cc g++ clang; ls /opt/venv/bin"],
    )
    assert "gcc" not in logs and "clang" not in logs
    assert "pip" not in logs.split()


def test_runtime_libraries_match_the_lock(docker_client, image):
    lock = {
        line.split("==")[0]: line.split("==")[1]
        for line in (REPO_ROOT / "docker" / "requirements.txt").read_text().splitlines()
        if "==" in line
    }
    code, logs = run(
        docker_client,
        image,
        [
            "python",
            "-c",
            "import sklearn, pandas, numpy, joblib; "
            "print(sklearn.__version__, pandas.__version__, "
            "numpy.__version__, joblib.__version__)",
        ],
    )
    assert code == 0, logs
    assert logs.split() == [
        lock["scikit-learn"],
        lock["pandas"],
        lock["numpy"],
        lock["joblib"],
    ]


@pytest.mark.parametrize("script", SCRIPTS)
def test_scripts_are_executable_with_unix_line_endings(script):
    mode = subprocess.run(
        ["git", "ls-files", "-s", script], cwd=REPO_ROOT, capture_output=True, text=True
    ).stdout.split()
    assert mode and mode[0] == "100755", f"{script} has no run bit in git"
    assert b"\r" not in (REPO_ROOT / script).read_bytes(), (
        f"{script} has CRLF line endings"
    )


def test_no_pip_setuptools_or_their_wheels_in_any_python(docker_client, image):
    code, logs = run(docker_client, image, ["sh", "-c", FIND_PACKAGING])
    assert code == 0, logs
    assert logs.strip() == "", f"packaging tools left in the image:\n{logs}"


def test_the_runtime_user_cannot_change_the_code_it_runs(docker_client, image):
    code, logs = run(
        docker_client,
        image,
        [
            "sh",
            "-c",
            "id -u; for d in /opt/program /opt/program/container /opt/venv "
            "/opt/venv/lib; do [ -w $d ] && echo writable $d; done; "
            "touch /opt/program/x /opt/venv/x 2>/dev/null && echo touched; true",
        ],
    )
    assert code == 0, logs
    assert logs.split() == [str(RUNTIME_UID)], logs


def test_the_image_starts_as_root_as_sagemaker_expects(docker_client, image):
    # SageMaker starts images as root and mounts /opt/ml root-owned; the
    # entrypoint, not the image's USER, hands the work to the account.
    assert docker_client.images.get(image).attrs["Config"].get("User") in ("", None)


@pytest.mark.skipif(os.geteuid() != 0, reason="the mounted tree must be root-owned")
def test_train_runs_as_the_runtime_user_on_root_owned_mounts(
    docker_client, image, tmp_path: Path
):
    root = copy_test_dir(tmp_path / "opt_ml")
    run = run_job(docker_client, image, root, "train")
    assert run.exit_code == 0, run.logs[-2000:]
    assert "as root" not in run.logs
    model = root / "model" / "model.joblib"
    assert model.stat().st_uid == RUNTIME_UID
    assert (root / "output" / "data" / "report.html").stat().st_uid == RUNTIME_UID


@pytest.mark.skipif(os.geteuid() != 0, reason="the mounted tree must be root-owned")
def test_inputs_only_root_can_read_keep_the_job_root_and_say_why(
    docker_client, image, tmp_path: Path
):
    # The SageMaker SDK's local mode mounts folders made with mode 0700.
    root = copy_test_dir(tmp_path / "opt_ml")
    (root / "input" / "data").chmod(0o700)
    run = run_job(docker_client, image, root, "train")
    assert run.exit_code == 0, run.logs[-2000:]
    assert "running train as root: /opt/ml/input/data can be read only by root" in (
        run.logs
    )
    assert (root / "model" / "model.joblib").stat().st_uid == 0


def test_a_corrupt_gzip_channel_fails_the_image_job_with_a_reason(
    docker_client, image, tmp_path: Path
):
    root = copy_test_dir(tmp_path / "opt_ml")
    train = root / "input" / "data" / "train"
    for path in list(train.iterdir()):
        whole = gzip.compress(path.read_bytes())
        path.unlink()
        (train / "part.csv.gz").write_bytes(whole[: len(whole) // 2])
    run = run_job(docker_client, image, root, "train")
    assert run.exit_code == 1, run.logs[-2000:]
    assert "part.csv.gz is not a valid gzip file" in (run.failure or "")
    assert "Traceback" not in run.logs

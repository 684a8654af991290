"""Static properties of the image and its scripts: what SageMaker and users rely on
before any model is involved (labels, dispatcher, commands on PATH, no compilers)."""

from __future__ import annotations

import subprocess

import pytest

from tests.image.docker_helpers import REPO_ROOT

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

"""build_and_push.sh for real: ECR control-plane calls against moto's server, and the
push itself to a local registry (Debian's docker-registry) standing in for the ECR
registry host."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import uuid
from pathlib import Path

import boto3
import pytest
import requests

from tests.image.docker_helpers import REPO_ROOT, free_port

SCRIPT = REPO_ROOT / "build_and_push.sh"


def _require(tool: str) -> str:
    path = shutil.which(tool) or shutil.which(tool, path="/usr/bin:/usr/sbin")
    if path is None:
        message = f"{tool} is not installed (make test installs it)"
        if os.environ.get("REQUIRE_DOCKER"):
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return path


@pytest.fixture
def moto_endpoint():
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    # moto keeps its state per process, not per server: start each test empty.
    requests.post(f"{endpoint}/moto-api/reset", timeout=10).raise_for_status()
    yield endpoint
    server.stop()


@pytest.fixture
def local_registry(tmp_path: Path):
    """A plain Docker registry on 127.0.0.1, removed with its storage afterwards."""
    binary = _require("docker-registry")
    port = free_port()
    config = tmp_path / "registry.yml"
    config.write_text(
        "version: 0.1\n"
        f"storage:\n  filesystem:\n    rootdirectory: {tmp_path / 'storage'}\n"
        f"http:\n  addr: 127.0.0.1:{port}\n"
    )
    process = subprocess.Popen(
        [binary, "serve", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 20
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                break
        except OSError:
            assert time.monotonic() < deadline, "docker-registry did not start"
            time.sleep(0.1)
    yield f"127.0.0.1:{port}"
    process.terminate()
    process.wait(timeout=10)


def script_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {
        "PATH": f"{Path(os.sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "HOME": str(tmp_path),
        "DOCKER_CONFIG": str(tmp_path / "docker-config"),  # docker login writes here
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-credentials"),
        "AWS_CONFIG_FILE": str(tmp_path / "no-config"),
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    for name in ("BASE_IMAGE", "PIP_CERT_FILE"):
        if os.environ.get(name):
            env[name] = os.environ[name]
    env.update(extra)
    return env


def base_image() -> str:
    out = subprocess.run(
        ["bash", str(REPO_ROOT / "docker/build_base_image.sh")],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip().splitlines()[-1]


def ecr_client(moto_endpoint: str):
    return boto3.client(
        "ecr",
        region_name="us-east-1",
        endpoint_url=moto_endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def push(docker_client, moto_endpoint, registry, tmp_path, repository, tag):
    """Run build_and_push.sh against moto and the local registry, then drop its tags."""
    _require("aws")
    env = script_env(
        tmp_path,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_ENDPOINT_URL=moto_endpoint,
        ECR_REGISTRY=registry,
        BASE_IMAGE=base_image(),
    )
    try:
        return subprocess.run(
            [str(SCRIPT), "--repository", repository, "--tag", tag],
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
        )
    finally:
        for name in (f"{repository}:{tag}", f"{registry}/{repository}:{tag}"):
            try:
                docker_client.images.remove(name)
            except Exception:  # noqa: BLE001 - not created, or already gone
                pass


def test_push_creates_the_repository_and_pushes_the_image(
    docker_client, image, moto_endpoint, local_registry, tmp_path
):
    repository = f"sklearn-byoc-test-{uuid.uuid4().hex[:8]}"
    result = push(
        docker_client, moto_endpoint, local_registry, tmp_path, repository, "v1"
    )
    assert result.returncode == 0, result.stderr[-3000:]
    uri, digest = result.stdout.strip().splitlines()[-2:]
    assert uri == f"{local_registry}/{repository}:v1"
    assert digest.startswith("sha256:")

    ecr = ecr_client(moto_endpoint)
    repo = ecr.describe_repositories(repositoryNames=[repository])["repositories"][0]
    assert repo["imageScanningConfiguration"]["scanOnPush"] is True

    manifest = requests.head(
        f"http://{local_registry}/v2/{repository}/manifests/v1",
        headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"},
        timeout=10,
    )
    assert manifest.status_code == 200
    assert manifest.headers["Docker-Content-Digest"] == digest


def test_a_second_push_reuses_the_existing_repository(
    docker_client, image, moto_endpoint, local_registry, tmp_path
):
    ecr = ecr_client(moto_endpoint)
    ecr.create_repository(repositoryName="sklearn-byoc-existing")
    result = push(
        docker_client,
        moto_endpoint,
        local_registry,
        tmp_path,
        "sklearn-byoc-existing",
        "v2",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "creating ECR repository" not in result.stderr
    assert len(ecr.describe_repositories()["repositories"]) == 1


def test_missing_credentials_fail_before_building(tmp_path):
    _require("aws")
    env = script_env(
        tmp_path, AWS_DEFAULT_REGION="us-east-1", AWS_ENDPOINT_URL="http://127.0.0.1:9"
    )
    started = time.monotonic()
    result = subprocess.run(
        [str(SCRIPT)], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode != 0
    assert "credentials" in result.stderr
    assert "building" not in result.stderr
    assert "Traceback" not in result.stderr
    assert time.monotonic() - started < 60


def test_missing_region_is_named(tmp_path):
    _require("aws")
    env = script_env(tmp_path, AWS_ACCESS_KEY_ID="x", AWS_SECRET_ACCESS_KEY="y")
    result = subprocess.run(
        [str(SCRIPT)], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0
    assert "region" in result.stderr


def test_missing_docker_is_named(tmp_path):
    env = script_env(tmp_path, DOCKER="/nonexistent/docker")
    result = subprocess.run(
        [str(SCRIPT), "--build-only"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "docker is not installed" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--tag"], "--tag needs a value"),
        (["--frobnicate"], "unknown argument '--frobnicate'"),
        (["--repository", "Bad Name"], "repository name 'Bad Name' is not valid"),
    ],
)
def test_bad_arguments_get_one_line_errors(tmp_path, args, message):
    result = subprocess.run(
        [str(SCRIPT), *args],
        env=script_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 1
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1

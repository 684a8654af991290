"""build_and_push.sh for real: ECR control-plane calls against moto's server, and the
push itself to a local registry (Debian's docker-registry) standing in for the ECR
registry host."""

from __future__ import annotations

import json
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
DOCKER_V2 = "application/vnd.docker.distribution.manifest.v2+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
ACCEPT_ANY_MANIFEST = ", ".join(
    [
        OCI_INDEX,
        "application/vnd.oci.image.manifest.v1+json",
        DOCKER_V2,
        "application/vnd.docker.distribution.manifest.list.v2+json",
    ]
)


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

    # Offered every type, the registry serves what was pushed: SageMaker takes
    # only a Docker v2 schema 2 manifest, never an OCI manifest or an index.
    manifest = requests.get(
        f"http://{local_registry}/v2/{repository}/manifests/v1",
        headers={"Accept": ACCEPT_ANY_MANIFEST},
        timeout=10,
    )
    assert manifest.status_code == 200
    assert manifest.headers["Content-Type"] == DOCKER_V2
    assert manifest.json()["mediaType"] == DOCKER_V2
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


# --- which builder pushes what: a recording `docker` on moto's ECR ----------------
# The fake client answers what the script asks (`info`, `buildx version`, build,
# login, push), logs every call, and "pushes" by putting a manifest of the chosen
# media type into moto's ECR, where the script reads it back (DescribeImages).
FAKE_DOCKER = """#!{python}
import json, os, sys

args = sys.argv[1:]
with open(os.environ["FAKE_DOCKER_LOG"], "a") as log:
    call = {{"args": args, "DOCKER_BUILDKIT": os.environ.get("DOCKER_BUILDKIT")}}
    log.write(json.dumps(call) + "\\n")
buildx = os.environ.get("FAKE_BUILDX") == "1"


def push(uri):
    registry, name = uri.split("/", 1)
    repository, tag = name.rsplit(":", 1)
    media_type = os.environ["FAKE_PUSHED_MEDIA_TYPE"]
    if os.environ.get("ECR_REGISTRY"):  # a real registry: blob, then manifest
        import hashlib

        import requests

        config = b"{{}}"
        digest = "sha256:" + hashlib.sha256(config).hexdigest()
        base = f"http://{{registry}}/v2/{{repository}}"
        upload = requests.post(f"{{base}}/blobs/uploads/", timeout=10)
        upload.raise_for_status()
        requests.put(
            upload.headers["Location"], params={{"digest": digest}}, data=config,
            timeout=10,
        ).raise_for_status()
        manifest = {{
            "schemaVersion": 2,
            "mediaType": media_type,
            "config": {{
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "size": len(config),
                "digest": digest,
            }},
            "layers": [],
        }}
        requests.put(
            f"{{base}}/manifests/{{tag}}", data=json.dumps(manifest),
            headers={{"Content-Type": media_type}}, timeout=10,
        ).raise_for_status()
        return
    import boto3

    manifest = {{
        "schemaVersion": 2,
        "mediaType": media_type,
        "config": {{"mediaType": "x", "size": 1, "digest": "sha256:" + "c" * 64}},
        "layers": [{{"mediaType": "y", "size": 1, "digest": "sha256:" + "d" * 64}}],
    }}
    boto3.client("ecr", endpoint_url=os.environ["AWS_ENDPOINT_URL"]).put_image(
        repositoryName=repository, imageTag=tag, imageManifest=json.dumps(manifest)
    )


if args[:1] == ["info"]:
    if any("DriverStatus" in a for a in args):
        print(os.environ.get("FAKE_DRIVER_STATUS", "[]"))
elif args[:2] == ["buildx", "version"]:
    sys.exit(0 if buildx else 1)
elif args[:2] == ["buildx", "build"]:
    if not buildx:
        sys.exit(1)
    if "--help" in args:
        print("      --provenance string   Shorthand for --attest=type=provenance")
        sys.exit(0)
    outputs = [args[i + 1] for i, a in enumerate(args) if a == "--output"]
    for output in outputs:
        attrs = dict(kv.split("=", 1) for kv in output.split(","))
        if attrs.get("push") == "true":
            push(attrs["name"])
elif args[:1] == ["login"]:
    sys.stdin.read()
elif args[:1] == ["push"]:
    push(args[1])
elif args[:2] == ["image", "inspect"]:
    print("sha256:" + "e" * 64)
"""

ACCOUNT_REGISTRY = "123456789012.dkr.ecr.us-east-1.amazonaws.com"


def run_with_fake_docker(
    tmp_path: Path,
    moto_endpoint: str | None,
    *args: str,
    buildx: bool,
    containerd_store: bool = False,
    pushed: str = DOCKER_V2,
    **env: str,
) -> tuple[subprocess.CompletedProcess, list[dict]]:
    fake = tmp_path / "fake-docker"
    fake.write_text(FAKE_DOCKER.format(python=os.sys.executable))
    fake.chmod(0o755)
    log = tmp_path / "docker-calls.jsonl"
    extra = {
        "DOCKER": str(fake),
        "FAKE_DOCKER_LOG": str(log),
        "FAKE_BUILDX": "1" if buildx else "0",
        "FAKE_PUSHED_MEDIA_TYPE": pushed,
        "FAKE_DRIVER_STATUS": (
            '[["driver-type","io.containerd.snapshotter.v1"]]'
            if containerd_store
            else '[["Backing Filesystem","extfs"]]'
        ),
    }
    if moto_endpoint is not None:
        _require("aws")
        extra.update(
            AWS_ACCESS_KEY_ID="testing",
            AWS_SECRET_ACCESS_KEY="testing",
            AWS_DEFAULT_REGION="us-east-1",
            AWS_ENDPOINT_URL=moto_endpoint,
        )
    extra.update(env)
    result = subprocess.run(
        [str(SCRIPT), *args],
        env=script_env(tmp_path, **extra),
        capture_output=True,
        text=True,
        timeout=300,
    )
    calls = [json.loads(line) for line in log.read_text().splitlines()]
    return result, calls


def calls_to(calls: list[dict], *prefix: str) -> list[list[str]]:
    return [c["args"] for c in calls if c["args"][: len(prefix)] == list(prefix)]


@pytest.mark.parametrize("containerd_store", [False, True])
def test_buildx_pushes_one_docker_v2_manifest_without_attestations(
    tmp_path, moto_endpoint, containerd_store
):
    result, calls = run_with_fake_docker(
        tmp_path,
        moto_endpoint,
        "--repository",
        "sklearn-byoc-fake",
        "--tag",
        "v1",
        buildx=True,
        containerd_store=containerd_store,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    (build,) = [c for c in calls_to(calls, "buildx", "build") if "--help" not in c]
    assert "--provenance=false" in build and "--sbom=false" in build
    output = build[build.index("--output") + 1]
    assert output == (
        f"type=image,name={ACCOUNT_REGISTRY}/sklearn-byoc-fake:v1,"
        "push=true,oci-mediatypes=false"
    )
    assert calls_to(calls, "build") == [] and calls_to(calls, "push") == []
    uri, digest = result.stdout.strip().splitlines()[-2:]
    assert uri == f"{ACCOUNT_REGISTRY}/sklearn-byoc-fake:v1"
    described = ecr_client(moto_endpoint).describe_images(
        repositoryName="sklearn-byoc-fake", imageIds=[{"imageTag": "v1"}]
    )["imageDetails"][0]
    assert digest == described["imageDigest"]


def test_buildx_build_only_loads_the_image_without_attestations(tmp_path):
    result, calls = run_with_fake_docker(tmp_path, None, "--build-only", buildx=True)
    assert result.returncode == 0, result.stderr[-3000:]
    (build,) = [c for c in calls_to(calls, "buildx", "build") if "--help" not in c]
    assert "--provenance=false" in build and "--sbom=false" in build
    assert "--load" in build and "sklearn-byoc:latest" in build
    assert "--output" not in build


def test_the_classic_builder_runs_buildkit_and_docker_push(tmp_path, moto_endpoint):
    result, calls = run_with_fake_docker(
        tmp_path, moto_endpoint, "--repository", "sklearn-byoc-fake", buildx=False
    )
    assert result.returncode == 0, result.stderr[-3000:]
    (build,) = [c for c in calls if c["args"][:1] == ["build"]]
    assert build["DOCKER_BUILDKIT"] == "1"
    assert calls_to(calls, "push") == [
        ["push", f"{ACCOUNT_REGISTRY}/sklearn-byoc-fake:latest"]
    ]


@pytest.mark.parametrize("buildx", [False, True])
def test_an_oci_manifest_in_the_registry_fails_the_run(tmp_path, moto_endpoint, buildx):
    result, _ = run_with_fake_docker(
        tmp_path,
        moto_endpoint,
        "--repository",
        "sklearn-byoc-fake",
        buildx=buildx,
        pushed=OCI_INDEX,
    )
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last == (
        f"build_and_push.sh: error: {ACCOUNT_REGISTRY}/sklearn-byoc-fake:latest was "
        f'pushed as {OCI_INDEX}, which SageMaker refuses ("Unsupported manifest '
        f'media type"); it needs {DOCKER_V2} (see the builder notes in '
        "build_and_push.sh)"
    )
    assert result.stdout == ""


def test_an_oci_manifest_in_another_registry_fails_the_run(
    tmp_path, moto_endpoint, local_registry
):
    # With ECR_REGISTRY the script asks the registry itself (GET .../manifests/TAG
    # offering every type) instead of ECR's DescribeImages.
    oci_manifest = "application/vnd.oci.image.manifest.v1+json"
    result, _ = run_with_fake_docker(
        tmp_path,
        moto_endpoint,
        "--repository",
        "sklearn-byoc-fake",
        buildx=False,
        pushed=oci_manifest,
        ECR_REGISTRY=local_registry,
    )
    assert result.returncode == 1
    assert (
        result.stderr.strip()
        .splitlines()[-1]
        .startswith(
            f"build_and_push.sh: error: {local_registry}/sklearn-byoc-fake:latest was "
            f"pushed as {oci_manifest}, which SageMaker refuses"
        )
    )


def test_the_containerd_image_store_without_buildx_is_refused_before_building(
    tmp_path, moto_endpoint
):
    result, calls = run_with_fake_docker(
        tmp_path, moto_endpoint, buildx=False, containerd_store=True
    )
    assert result.returncode == 1
    assert "containerd image store" in result.stderr
    assert "buildx" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert calls_to(calls, "build") == [] and calls_to(calls, "push") == []

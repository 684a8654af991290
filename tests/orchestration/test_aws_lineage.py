"""`lineage` on AWS against moto: DescribeEndpoint → endpoint config → model →
the model package with that model.tar.gz → its whole lineage.json, under the
`lineage` step's IAM policy, every request checked against the service model."""

from __future__ import annotations

import dataclasses

import pytest

from orchestration import lifecycle, lineage
from orchestration.config import REPO_ROOT, load_config
from tests import iam_policies as iam
from tests.orchestration import aws_conftest_helpers as helpers
from tests.orchestration.aws_conftest_helpers import CallLog

moto_url = helpers.moto_url
aws_settings = helpers.aws_settings
backend = helpers.backend

GROUP = "penguins-species"
ENDPOINT = "penguins-species"
JOB = "penguins-tune-261201-100000-ab12-002-0a1b2c3d"
ARTIFACT = f"s3://{helpers.BUCKET}/penguins/training/{JOB}/output/model.tar.gz"
IMAGE = f"{helpers.ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/sklearn-byoc:latest"
MODEL = f"{GROUP}-v1-20261201-100100-000"
CONFIG = f"{ENDPOINT}-20261201-100100-000"
TRIALS = [
    {
        "training_job": f"penguins-tune-261201-100000-ab12-00{i}-0a1b2c3d",
        "status": "Completed",
        "hyperparameters": {"max_depth": str(3 * i)},
        "objective_value": 0.9 + i / 100,
    }
    for i in (1, 2)
]
LINEAGE = {
    "run_id": JOB,
    "training_job": JOB,
    "data_hashes": {"train": "1f" * 32, "validation": "2e" * 32, "test": "3d" * 32},
    "image_digest": "sha256:" + "5b" * 32,
    "code_revision": "4bd9a8a0c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6",
    "raw_sha256": "6a" * 32,
    # Too long for a metadata entry: only lineage.json keeps the trials.
    "tuning_job": {
        "name": "penguins-tune-261201-100000-ab12",
        "strategy": "Bayesian",
        "objective_metric": "validation:accuracy",
        "objective_type": "Maximize",
        "best_training_job": JOB,
        "trials": TRIALS,
    },
}


@pytest.fixture
def project(backend, tmp_path):
    config = load_config(REPO_ROOT / "config" / "aws-example.yaml")
    config = dataclasses.replace(
        config,
        state_dir=tmp_path / "state",
        data=dataclasses.replace(config.data, processed=tmp_path / "processed"),
    )
    return lifecycle.open_project(config, say=lambda _: None, backend=backend)


def serve(backend, model_artifact: str = ARTIFACT) -> None:
    """What `deploy` leaves: a model of the artifact, a config, the endpoint."""
    sagemaker = backend.clients.sagemaker
    sagemaker.create_model(
        ModelName=MODEL,
        PrimaryContainer={"Image": IMAGE, "ModelDataUrl": model_artifact},
        ExecutionRoleArn=helpers.ROLE_ARN,
    )
    sagemaker.create_endpoint_config(
        EndpointConfigName=CONFIG,
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": MODEL,
                "InitialInstanceCount": 1,
                "InstanceType": "ml.m5.large",
                "InitialVariantWeight": 1.0,
            }
        ],
    )
    sagemaker.create_endpoint(EndpointName=ENDPOINT, EndpointConfigName=CONFIG)


def test_an_endpoint_traces_to_its_package_and_whole_lineage(project, backend):
    version = backend.registry().register(
        GROUP, ARTIFACT, IMAGE, {"validation:accuracy": 0.92}, LINEAGE
    )
    assert "trials" not in version.lineage["tuning_job"]  # too long for an entry
    serve(backend)
    log = CallLog()
    log.attach(backend.clients)
    log.step = "lineage"
    found = lineage.of_endpoint(project, ENDPOINT)
    (variant,) = found["variants"]
    assert (variant["model_name"], variant["model_artifact"]) == (MODEL, ARTIFACT)
    assert variant["image"] == IMAGE
    (served,) = variant["model_versions"]
    assert served["arn"] == version.arn
    assert served["lineage_source"] == version.documents["lineage"]
    assert served["lineage_source"].endswith(f"/registry/{GROUP}/{JOB}/lineage.json")
    assert served["tuning_job"] == LINEAGE["tuning_job"]  # every trial, whole
    assert served["image_digest"] == LINEAGE["image_digest"]
    assert served["code_revision"] == LINEAGE["code_revision"]
    assert served["data"]["hashes"] == LINEAGE["data_hashes"]
    assert served["data"]["raw"]["sha256"] == LINEAGE["raw_sha256"]
    # Trained from another state folder: the job is named, no local run.
    assert served["training_run"] == {
        "run_id": JOB,
        "training_job": JOB,
        "recorded": False,
    }
    text = "\n".join(lineage.render(lineage.endpoint_tree(found)))
    for trial in TRIALS:
        assert f"trial {trial['training_job']}: Completed" in text
    assert f"arn {version.arn}" in text
    assert iam.audit(log.requests) == [], "change STEP_CALLS and lineage.json"
    assert {"DescribeModel", "GetObject"} <= set(log.operations("lineage"))


def test_a_version_traces_the_same_way(project, backend):
    backend.registry().register(GROUP, ARTIFACT, IMAGE, {}, LINEAGE)
    found = lineage.of_version(project, 1)
    assert found["tuning_job"]["trials"] == TRIALS
    with pytest.raises(lineage.ByocError, match="has no version 7; versions: \\[1\\]"):
        lineage.of_version(project, 7)


def test_an_unknown_endpoint_is_one_line(project):
    with pytest.raises(lineage.LineageError) as err:
        lineage.of_endpoint(project, "nope")
    assert err.value.message.startswith("no endpoint 'nope' on the aws backend")
    assert "\n" not in err.value.message


def test_a_model_deleted_by_hand_is_said_not_a_failure(project, backend):
    backend.registry().register(GROUP, ARTIFACT, IMAGE, {}, LINEAGE)
    serve(backend)
    backend.clients.sagemaker.delete_model(ModelName=MODEL)
    found = lineage.of_endpoint(project, ENDPOINT)
    (variant,) = found["variants"]
    assert variant["model_artifact"] is None and variant["model_versions"] == []
    text = "\n".join(lineage.render(lineage.endpoint_tree(found)))
    assert "artifact (the model no longer exists)" in text

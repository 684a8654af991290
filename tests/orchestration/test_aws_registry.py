"""The Model Registry on AWS keeps every lineage fact in a form AWS accepts.

CustomerMetadataProperties values allow only letters, digits, spaces and
`_.:/=+-@` (at most 256 characters); the service-model check installed for
every test refuses anything else, as AWS does.
"""

from __future__ import annotations

import json

import botocore.session
import pytest

from orchestration.aws import registry as aws_registry
from orchestration.backends.base import BackendError
from orchestration.registry import model_quality_metrics
from tests import service_model
from tests.orchestration import aws_conftest_helpers as helpers

moto_url = helpers.moto_url
aws_settings = helpers.aws_settings
backend = helpers.backend

GROUP = "penguins-species"
ARTIFACT = f"s3://{helpers.BUCKET}/penguins/models/job/output/model.tar.gz"
IMAGE = f"{helpers.ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/sklearn-byoc:latest"
# The lineage `lifecycle.register` records: nested hashes, a digest with ':'.
LINEAGE = {
    "run_id": "penguins-train-20261201-101010-123-abcd1234",
    "training_job": "penguins-train-20261201-101010-123-abcd1234",
    "data_hashes": {
        "train": "1f" * 32,
        "validation": "2e" * 32,
        "test": "3d" * 32,
        "baseline": "4c" * 32,
    },
    "image_digest": "sha256:" + "5b" * 32,
    "code_revision": "4bd9a8a0c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6",
    "raw_sha256": "6a" * 32,
}
METRICS = {"validation:accuracy": 0.9876, "validation:log_loss": 0.078}


def read_s3_json(backend, uri: str) -> dict:
    bucket, key = uri[len("s3://") :].split("/", 1)
    return json.loads(
        backend.clients.s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    )


def test_lifecycle_lineage_is_stored_whole_and_valid(backend):
    registry = backend.registry()
    version = registry.register(GROUP, ARTIFACT, IMAGE, METRICS, LINEAGE)
    # Every hash whole, one entry each, read back as the same nested facts.
    assert version.lineage == LINEAGE
    assert version.metrics == METRICS
    described = backend.clients.sagemaker.describe_model_package(
        ModelPackageName=version.arn
    )
    metadata = described["CustomerMetadataProperties"]
    assert metadata["lineage:data_hashes.train"] == "1f" * 32
    assert "lineage-omitted" not in metadata
    # The full documents sit in S3 beside each other, referenced from the package.
    assert read_s3_json(backend, metadata["document:lineage"]) == LINEAGE
    assert read_s3_json(backend, metadata["document:evaluation"]) == {
        "metrics": METRICS
    }
    # Nothing claims Model Monitor's model-quality format for our evaluation.
    assert "ModelQuality" not in (described.get("ModelMetrics") or {})


def test_approval_keeps_metrics_and_lineage(backend):
    registry = backend.registry()
    version = registry.register(GROUP, ARTIFACT, IMAGE, METRICS, LINEAGE)
    approved = registry.set_approval(GROUP, version.version, "Approved", "good")
    assert approved.approval == "Approved"
    assert approved.lineage == LINEAGE and approved.metrics == METRICS


def test_a_fact_aws_would_refuse_is_named_and_kept_in_the_document(backend):
    lineage = {**LINEAGE, "note": "trained on {all} rows, see #12", "long": "x" * 300}
    version = backend.registry().register(GROUP, ARTIFACT, IMAGE, METRICS, lineage)
    described = backend.clients.sagemaker.describe_model_package(
        ModelPackageName=version.arn
    )
    metadata = described["CustomerMetadataProperties"]
    assert metadata["lineage-omitted"] == "long note"
    assert "lineage:note" not in metadata and "lineage:long" not in metadata
    assert read_s3_json(backend, metadata["document:lineage"]) == lineage


def test_every_metadata_value_fits_the_service_model():
    properties = aws_registry.metadata_properties(
        METRICS, LINEAGE, {"document:lineage": "s3://b/p/lineage.json"}
    )
    for key, value in properties.items():
        assert aws_registry._storable(key, aws_registry.MAX_METADATA_KEY), key
        assert aws_registry._storable(value, aws_registry.MAX_METADATA_VALUE), value


# What `lifecycle.register` passes when `baseline` measured the trained model.
QUALITY_JOB = "penguins-quality-baseline-20261201-101010-123-abcd1234"
STATISTICS = f"s3://{helpers.BUCKET}/penguins/baseline/{QUALITY_JOB}/statistics.json"
CONSTRAINTS = (
    f"s3://{helpers.BUCKET}/penguins/quality/{QUALITY_JOB}/constraints/constraints.json"
)


def test_the_model_quality_baseline_is_filed_under_model_metrics(backend):
    log = helpers.CallLog(step="register")
    log.attach(backend.clients)
    registry = backend.registry()
    version = registry.register(
        GROUP,
        ARTIFACT,
        IMAGE,
        METRICS,
        LINEAGE,
        model_quality_metrics(STATISTICS, CONSTRAINTS),
    )
    expected = {
        "ModelQuality": {
            "Statistics": {"ContentType": "application/json", "S3Uri": STATISTICS},
            "Constraints": {"ContentType": "application/json", "S3Uri": CONSTRAINTS},
        }
    }
    # The request (checked against the service model by the autouse fixture)
    # carries it; SageMaker has no way to add it to the version later.
    (request,) = log.params["CreateModelPackage"]
    assert request["ModelMetrics"] == expected
    shape = (
        botocore.session.get_session()
        .get_service_model("sagemaker")
        .operation_model("CreateModelPackage")
        .input_shape
    )
    assert service_model.violations_of(shape, request, "") == []
    # The same check refuses a location AWS would: it does look inside.
    off_s3 = {**request, "ModelMetrics": model_quality_metrics("/statistics.json")}
    assert [path for path, _ in service_model.violations_of(shape, off_s3, "")] == [
        "ModelMetrics.ModelQuality.Statistics.S3Uri"
    ]
    assert version.model_metrics == expected
    # Metrics and lineage are still metadata entries, not ModelMetrics.
    assert request["CustomerMetadataProperties"]["metric:validation:accuracy"]
    approved = registry.set_approval(GROUP, version.version, "Approved", "good")
    assert approved.model_metrics == expected
    assert "ModelMetrics" not in log.params["UpdateModelPackage"][0]


def test_a_version_without_a_model_quality_baseline_sends_no_model_metrics(backend):
    log = helpers.CallLog(step="register")
    log.attach(backend.clients)
    version = backend.registry().register(GROUP, ARTIFACT, IMAGE, METRICS, LINEAGE)
    assert "ModelMetrics" not in log.params["CreateModelPackage"][0]
    assert version.model_metrics == {}


def test_a_model_quality_document_off_s3_is_refused_before_any_call(backend):
    log = helpers.CallLog(step="register")
    log.attach(backend.clients)
    local = model_quality_metrics("/state/baseline/q/statistics.json")
    with pytest.raises(BackendError, match="is not an S3 URI"):
        backend.registry().register(GROUP, ARTIFACT, IMAGE, METRICS, LINEAGE, local)
    assert log.calls == []

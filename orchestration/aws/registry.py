"""Model versions in SageMaker's Model Registry (`ModelRegistry` on AWS).

A model group is a model package group; each version is a model package
recording the image and model.tar.gz (InferenceSpecification), the
evaluation metrics and the lineage (run, data hashes, image digest, code
revision).

The Model Registry takes only short, plain values as customer metadata
(letters, digits, spaces and `_.:/=+-@`, at most 256 characters, 50
entries), so each metric and each lineage fact is one entry (a nested fact
such as the data hashes becomes one entry per hash, `lineage:data_hashes.train`),
and the complete documents (`evaluation.json`, `lineage.json`) go to S3 beside
each other, referenced from the package. A fact that cannot be stored as an
entry is named in `lineage-omitted` and kept whole in lineage.json: nothing
is cut. The evaluation is not filed under `ModelMetrics.ModelQuality`, which
claims Model Monitor's model-quality format: what goes there is the
model-quality baseline's statistics.json and constraints.json, when the
lifecycle measured the model before registering it. ModelMetrics can only be
given when the version is created (UpdateModelPackage does not take it). New
versions start `PendingManualApproval`; deployment takes approved versions
only.
"""

from __future__ import annotations

from typing import Any

import regex
from botocore.exceptions import ClientError

from orchestration.aws import s3
from orchestration.aws.errors import aws_call, describe, is_not_found
from orchestration.registry import (
    APPROVAL_STATUSES,
    PENDING,
    ModelVersion,
    RegistryError,
    VersionNotFound,
)

CONTENT_TYPES = ["text/csv", "application/json", "application/jsonlines"]
RESPONSE_TYPES = ["text/csv", "application/json"]
METRIC_KEY = "metric:"
LINEAGE_KEY = "lineage:"
DOCUMENT_KEY = "document:"
EVALUATION_KEY = f"{DOCUMENT_KEY}evaluation"  # s3:// URI of evaluation.json
LINEAGE_DOCUMENT_KEY = f"{DOCUMENT_KEY}lineage"  # s3:// URI of lineage.json
OMITTED_KEY = "lineage-omitted"  # lineage facts kept only in lineage.json
# CustomerMetadataProperties, from the SageMaker service model: at most 50
# entries; keys of 1-128 and values of 1-256 of these characters.
MAX_METADATA_ENTRIES = 50
MAX_METADATA_KEY = 128
MAX_METADATA_VALUE = 256
METADATA_CHARACTERS = regex.compile(r"[\p{L}\p{Z}\p{N}_.:/=+\-@]*")


class AwsModelRegistry:
    """The `ModelRegistry` protocol over SageMaker model package groups."""

    def __init__(self, sagemaker: Any, s3_client: Any, metrics_prefix: str):
        self.sagemaker = sagemaker
        self.s3 = s3_client
        self.metrics_prefix = metrics_prefix

    def ensure_group(self, group: str) -> str:
        try:
            return self.sagemaker.describe_model_package_group(
                ModelPackageGroupName=group
            )["ModelPackageGroupArn"]
        except ClientError as exc:
            if not is_not_found(exc):
                raise describe(exc, f"describing model package group {group}") from exc
        with aws_call(f"creating model package group {group}"):
            return self.sagemaker.create_model_package_group(
                ModelPackageGroupName=group,
                ModelPackageGroupDescription="sklearn-byoc model versions",
            )["ModelPackageGroupArn"]

    def register(
        self,
        group: str,
        model_artifact: str,
        image: str,
        metrics: dict[str, float],
        lineage: dict[str, Any],
        model_metrics: dict[str, Any] | None = None,
    ) -> ModelVersion:
        """A new version, pending approval, with its metrics and lineage, and
        the Model Monitor documents of `model_metrics` (SageMaker's ModelMetrics)."""
        s3.parse_s3_uri(model_artifact)
        for uri in metrics_locations(model_metrics or {}):
            s3.parse_s3_uri(uri)
        self.ensure_group(group)
        run = str(lineage.get("run_id") or lineage.get("training_job") or "run")
        folder = s3.join(self.metrics_prefix, group, run)
        documents = {
            EVALUATION_KEY: s3.put_json(
                self.s3, s3.join(folder, "evaluation.json"), {"metrics": metrics}
            ),
            LINEAGE_DOCUMENT_KEY: s3.put_json(
                self.s3, s3.join(folder, "lineage.json"), lineage
            ),
        }
        request: dict[str, Any] = {
            "ModelPackageGroupName": group,
            "ModelPackageDescription": f"trained by {run}"[:1024],
            "ModelApprovalStatus": PENDING,
            "InferenceSpecification": {
                "Containers": [{"Image": image, "ModelDataUrl": model_artifact}],
                "SupportedContentTypes": CONTENT_TYPES,
                "SupportedResponseMIMETypes": RESPONSE_TYPES,
            },
            "CustomerMetadataProperties": metadata_properties(
                metrics, lineage, documents
            ),
        }
        if model_metrics:
            request["ModelMetrics"] = model_metrics
        with aws_call(f"registering a version in model group {group}"):
            arn = self.sagemaker.create_model_package(**request)["ModelPackageArn"]
        return self._describe(arn)

    def get(self, group: str, version: int) -> ModelVersion:
        for summary in self._summaries(group):
            if summary["ModelPackageVersion"] == version:
                return self._describe(summary["ModelPackageArn"])
        known = [s["ModelPackageVersion"] for s in self._summaries(group)]
        raise VersionNotFound(
            f"model group {group!r} has no version {version}; versions: {sorted(known) or 'none'}"
        )

    def list(self, group: str) -> list[ModelVersion]:
        versions = [
            self._describe(s["ModelPackageArn"]) for s in self._summaries(group)
        ]
        return sorted(versions, key=lambda v: v.version)

    def set_approval(
        self, group: str, version: int, approval: str, reason: str = ""
    ) -> ModelVersion:
        if approval not in APPROVAL_STATUSES:
            raise RegistryError(
                f"approval {approval!r} is not one of {', '.join(APPROVAL_STATUSES)}"
            )
        arn = self.get(group, version).arn
        with aws_call(f"describing model package {arn}"):
            metadata = self.sagemaker.describe_model_package(ModelPackageName=arn).get(
                "CustomerMetadataProperties", {}
            )
        request: dict[str, Any] = {
            "ModelPackageArn": arn,
            "ModelApprovalStatus": approval,
            # SageMaker merges these, so re-sending is a no-op there; emulators
            # that replace them (moto 5) would otherwise drop metrics and lineage.
            "CustomerMetadataProperties": metadata,
        }
        if reason:
            request["ApprovalDescription"] = reason[:1024]
        with aws_call(f"setting the approval of {group} version {version}"):
            self.sagemaker.update_model_package(**request)
        return self._describe(arn)

    def _summaries(self, group: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        try:
            pages = self.sagemaker.get_paginator("list_model_packages").paginate(
                ModelPackageGroupName=group
            )
            for page in pages:
                found += page["ModelPackageSummaryList"]
        except ClientError as exc:
            if is_not_found(exc):
                return []
            raise describe(exc, f"listing versions of model group {group}") from exc
        return found

    def _describe(self, arn: str) -> ModelVersion:
        with aws_call(f"describing model package {arn}"):
            found = self.sagemaker.describe_model_package(ModelPackageName=arn)
        return version_from_description(found)


def metadata_properties(
    metrics: dict[str, float],
    lineage: dict[str, Any],
    documents: dict[str, str] | None = None,
) -> dict[str, str]:
    """Metrics, lineage facts and document URIs as valid metadata entries.

    A lineage fact whose key or value the Model Registry would refuse is left
    out and named under `lineage-omitted`; lineage.json keeps it whole.
    """
    properties = {
        f"{METRIC_KEY}{k}": repr(float(v)) for k, v in sorted(metrics.items())
    }
    omitted = []
    for key, value in sorted(_flatten(lineage).items()):
        entry = f"{LINEAGE_KEY}{key}"
        if _storable(entry, MAX_METADATA_KEY) and _storable(value, MAX_METADATA_VALUE):
            properties[entry] = value
        else:
            omitted.append(key)
    if omitted:
        properties[OMITTED_KEY] = " ".join(omitted)[:MAX_METADATA_VALUE]
    for key, uri in sorted((documents or {}).items()):
        if not _storable(uri, MAX_METADATA_VALUE):
            raise RegistryError(
                f"{key} location {uri!r} cannot be stored in the Model Registry: use a bucket and prefix of letters, digits and `_.:/=+-@` only"
            )
        properties[key] = uri
    if len(properties) > MAX_METADATA_ENTRIES:
        raise RegistryError(
            f"{len(properties)} metrics and lineage entries exceed the Model Registry's {MAX_METADATA_ENTRIES} metadata properties; report fewer metrics (aws.options.metric_names)"
        )
    return properties


def metrics_locations(model_metrics: dict[str, Any]) -> list[str]:
    """Every document location (`S3Uri`) in a ModelMetrics structure."""
    found: list[str] = []
    for value in model_metrics.values():
        if isinstance(value, dict):
            if isinstance(value.get("S3Uri"), str):
                found.append(value["S3Uri"])
            found += metrics_locations(value)
    return found


def _flatten(facts: dict[str, Any], prefix: str = "") -> dict[str, str]:
    """{"data_hashes": {"train": "ab"}} -> {"data_hashes.train": "ab"}; drops None."""
    flat: dict[str, str] = {}
    for key, value in facts.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{name}."))
        elif value is not None:
            flat[name] = value if isinstance(value, str) else str(value)
    return flat


def _unflatten(flat: dict[str, str]) -> dict[str, Any]:
    facts: dict[str, Any] = {}
    for name, value in flat.items():
        *parents, leaf = name.split(".")
        node = facts
        for parent in parents:
            node = node.setdefault(parent, {})
        node[leaf] = value
    return facts


def _storable(text: str, longest: int) -> bool:
    return 0 < len(text) <= longest and bool(METADATA_CHARACTERS.fullmatch(text))


def version_from_description(found: dict[str, Any]) -> ModelVersion:
    containers = (found.get("InferenceSpecification") or {}).get("Containers") or [{}]
    metadata = found.get("CustomerMetadataProperties") or {}
    created = found.get("CreationTime")
    return ModelVersion(
        group=found["ModelPackageGroupName"],
        version=int(found["ModelPackageVersion"]),
        model_artifact=containers[0].get("ModelDataUrl", ""),
        image=containers[0].get("Image", ""),
        metrics={
            k.removeprefix(METRIC_KEY): float(v)
            for k, v in metadata.items()
            if k.startswith(METRIC_KEY)
        },
        approval=found["ModelApprovalStatus"],
        created_at=created.isoformat() if created is not None else "",
        lineage=_unflatten(
            {
                k.removeprefix(LINEAGE_KEY): v
                for k, v in metadata.items()
                if k.startswith(LINEAGE_KEY)
            }
        ),
        approval_reason=found.get("ApprovalDescription", ""),
        arn=found["ModelPackageArn"],
        model_metrics=found.get("ModelMetrics") or {},
        documents={
            k.removeprefix(DOCUMENT_KEY): v
            for k, v in metadata.items()
            if k.startswith(DOCUMENT_KEY)
        },
    )

"""Model versions in SageMaker's Model Registry (`ModelRegistry` on AWS).

A model group is a model package group; each version is a model package
recording the image and model.tar.gz (InferenceSpecification), the
evaluation metrics (a JSON file on S3 referenced by ModelMetrics, and the
numbers again as customer metadata so `list` needs no S3 reads) and lineage
(run, data hashes, image digest, code revision). New versions start
`PendingManualApproval`; deployment takes approved versions only.
"""

from __future__ import annotations

import json
from typing import Any

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
# CustomerMetadataProperties: at most 50 entries, values of at most 256 chars.
MAX_METADATA_ENTRIES = 50
MAX_METADATA_VALUE = 256


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
    ) -> ModelVersion:
        """A new version, pending approval, with its metrics and lineage."""
        s3.parse_s3_uri(model_artifact)
        self.ensure_group(group)
        run = str(lineage.get("run_id") or lineage.get("training_job") or "run")
        metrics_uri = s3.put_json(
            self.s3,
            s3.join(self.metrics_prefix, group, run, "evaluation.json"),
            {"metrics": metrics, "lineage": lineage},
        )
        with aws_call(f"registering a version in model group {group}"):
            arn = self.sagemaker.create_model_package(
                ModelPackageGroupName=group,
                ModelPackageDescription=f"trained by {run}"[:1024],
                ModelApprovalStatus=PENDING,
                InferenceSpecification={
                    "Containers": [{"Image": image, "ModelDataUrl": model_artifact}],
                    "SupportedContentTypes": CONTENT_TYPES,
                    "SupportedResponseMIMETypes": RESPONSE_TYPES,
                },
                ModelMetrics={
                    "ModelQuality": {
                        "Statistics": {
                            "ContentType": "application/json",
                            "S3Uri": metrics_uri,
                        }
                    }
                },
                CustomerMetadataProperties=metadata_properties(metrics, lineage),
            )["ModelPackageArn"]
        return self._describe(arn)

    def get(self, group: str, version: int) -> ModelVersion:
        for summary in self._summaries(group):
            if summary["ModelPackageVersion"] == version:
                return self._describe(summary["ModelPackageArn"])
        known = [s["ModelPackageVersion"] for s in self._summaries(group)]
        raise VersionNotFound(
            f"model group {group!r} has no version {version}; "
            f"versions: {sorted(known) or 'none'}"
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
        current = self.get(group, version)
        arn = current.arn
        request: dict[str, Any] = {
            "ModelPackageArn": arn,
            "ModelApprovalStatus": approval,
            # SageMaker merges these, so re-sending is a no-op there; emulators
            # that replace them (moto 5) would otherwise drop metrics and lineage.
            "CustomerMetadataProperties": metadata_properties(
                current.metrics, current.lineage
            ),
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
    metrics: dict[str, float], lineage: dict[str, Any]
) -> dict[str, str]:
    """Metrics and lineage as string properties, within SageMaker's limits."""
    properties = {
        f"{METRIC_KEY}{k}": repr(float(v)) for k, v in sorted(metrics.items())
    }
    for key, value in sorted(lineage.items()):
        text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
        properties[f"{LINEAGE_KEY}{key}"] = text[:MAX_METADATA_VALUE]
    if len(properties) > MAX_METADATA_ENTRIES:
        raise RegistryError(
            f"{len(properties)} metrics and lineage entries exceed the Model "
            f"Registry's {MAX_METADATA_ENTRIES} metadata properties; "
            "report fewer metrics"
        )
    return properties


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
        lineage={
            k.removeprefix(LINEAGE_KEY): v
            for k, v in metadata.items()
            if k.startswith(LINEAGE_KEY)
        },
        approval_reason=found.get("ApprovalDescription", ""),
        arn=found["ModelPackageArn"],
    )

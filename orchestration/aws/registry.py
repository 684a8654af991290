"""Model versions in SageMaker's Model Registry.

A model package group holds the versions of one project. Each version
records the image and model.tar.gz (InferenceSpecification), the evaluation
metrics (a JSON file on S3 referenced by ModelMetrics, plus the numbers as
customer metadata so they show in the console and in `list_versions`), and
lineage: the training job, data hashes, image digest and code revision.
Deployment asks for approved versions only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from orchestration.aws import s3
from orchestration.aws.errors import aws_call, describe, is_not_found
from orchestration.backends.base import BackendError

APPROVED = "Approved"
REJECTED = "Rejected"
PENDING = "PendingManualApproval"
APPROVAL_STATES = (APPROVED, REJECTED, PENDING)
# Short names the CLI accepts, as the local registry spells them.
APPROVAL_ALIASES = {"approved": APPROVED, "rejected": REJECTED, "pending": PENDING}
CONTENT_TYPES = ["text/csv", "application/json", "application/jsonlines"]
RESPONSE_TYPES = ["text/csv", "application/json"]


@dataclass(frozen=True)
class AwsModelVersion:
    group: str
    version: int
    arn: str
    approval: str
    model_artifact: str | None
    image: str | None
    metrics: dict[str, float]
    lineage: dict[str, str]

    def to_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        return asdict(self)


def approval_status(value: str) -> str:
    status = APPROVAL_ALIASES.get(value.lower(), value)
    if status not in APPROVAL_STATES:
        raise BackendError(
            f"approval {value!r} is not one of approved, rejected, pending"
        )
    return status


class AwsModelRegistry:
    """Register, approve and list versions in one model package group."""

    def __init__(self, sagemaker: Any, s3_client: Any, group: str, metrics_prefix: str):
        self.sagemaker = sagemaker
        self.s3 = s3_client
        self.group = group
        self.metrics_prefix = metrics_prefix

    def ensure_group(self, description: str = "sklearn-byoc model versions") -> str:
        try:
            return self.sagemaker.describe_model_package_group(
                ModelPackageGroupName=self.group
            )["ModelPackageGroupArn"]
        except ClientError as exc:
            if not is_not_found(exc):
                raise describe(
                    exc, f"describing model package group {self.group}"
                ) from exc
        with aws_call(f"creating model package group {self.group}"):
            return self.sagemaker.create_model_package_group(
                ModelPackageGroupName=self.group,
                ModelPackageGroupDescription=description,
            )["ModelPackageGroupArn"]

    def register(
        self,
        model_artifact: str,
        image: str,
        metrics: dict[str, float],
        lineage: dict[str, str],
        approval: str = PENDING,
        description: str = "",
    ) -> AwsModelVersion:
        """Create a new version; it starts pending unless `approval` says otherwise."""
        s3.parse_s3_uri(model_artifact)
        self.ensure_group()
        run = lineage.get("training_job", "run")
        metrics_uri = s3.put_json(
            self.s3,
            s3.join(self.metrics_prefix, self.group, run, "evaluation.json"),
            {"metrics": metrics, "lineage": lineage},
        )
        metadata = {f"metric:{k}": f"{v:.6g}" for k, v in sorted(metrics.items())}
        metadata.update(
            {f"lineage:{k}": str(v)[:256] for k, v in sorted(lineage.items())}
        )
        with aws_call(f"registering a version in {self.group}"):
            arn = self.sagemaker.create_model_package(
                ModelPackageGroupName=self.group,
                ModelPackageDescription=description or f"trained by {run}",
                ModelApprovalStatus=approval_status(approval),
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
                CustomerMetadataProperties=metadata,
            )["ModelPackageArn"]
        return self.get(arn)

    def set_approval(
        self, version: int | str, approval: str, reason: str = ""
    ) -> AwsModelVersion:
        arn = self._arn(version)
        request: dict[str, Any] = {
            "ModelPackageArn": arn,
            "ModelApprovalStatus": approval_status(approval),
        }
        if reason:
            request["ApprovalDescription"] = reason[:1024]
        with aws_call(f"setting approval of {arn}"):
            self.sagemaker.update_model_package(**request)
        return self.get(arn)

    def get(self, version: int | str) -> AwsModelVersion:
        arn = self._arn(version)
        with aws_call(f"describing model package {arn}"):
            found = self.sagemaker.describe_model_package(ModelPackageName=arn)
        return _version_from(found)

    def list_versions(self) -> list[AwsModelVersion]:
        summaries = self.list_versions_summaries()
        return sorted(
            (self.get(s["ModelPackageArn"]) for s in summaries), key=lambda v: v.version
        )

    def latest_approved(self) -> AwsModelVersion | None:
        approved = [v for v in self.list_versions() if v.approval == APPROVED]
        return approved[-1] if approved else None

    def _arn(self, version: int | str) -> str:
        if isinstance(version, str) and version.startswith("arn:"):
            return version
        try:
            number = int(version)
        except ValueError:
            raise BackendError(
                f"model version {version!r} is neither a number nor an ARN"
            ) from None
        for v in self.list_versions_summaries():
            if v["ModelPackageVersion"] == number:
                return v["ModelPackageArn"]
        raise BackendError(f"model group {self.group} has no version {number}")

    def list_versions_summaries(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        with aws_call(f"listing versions of {self.group}"):
            pages = self.sagemaker.get_paginator("list_model_packages").paginate(
                ModelPackageGroupName=self.group
            )
            for page in pages:
                found += page["ModelPackageSummaryList"]
        return found


def _version_from(found: dict[str, Any]) -> AwsModelVersion:
    containers = (found.get("InferenceSpecification") or {}).get("Containers") or [{}]
    metadata = found.get("CustomerMetadataProperties") or {}
    return AwsModelVersion(
        group=found["ModelPackageGroupName"],
        version=int(found["ModelPackageVersion"]),
        arn=found["ModelPackageArn"],
        approval=found["ModelApprovalStatus"],
        model_artifact=containers[0].get("ModelDataUrl"),
        image=containers[0].get("Image"),
        metrics={
            k.removeprefix("metric:"): float(v)
            for k, v in metadata.items()
            if k.startswith("metric:")
        },
        lineage={
            k.removeprefix("lineage:"): v
            for k, v in metadata.items()
            if k.startswith("lineage:")
        },
    )

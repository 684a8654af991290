"""Model versions: metrics, lineage and approval, and the auto-approval rule.

A version belongs to a model group (SageMaker's model package group), carries
the metrics of the run that made it, its lineage (run, data hashes, image and
digest), the Model Monitor documents it was measured against
(`model_metrics`, shaped as SageMaker's ModelMetrics: the model-quality
baseline's statistics.json and constraints.json under `ModelQuality`) and an
approval status spelled as SageMaker spells it. Only approved versions are
deployed. Locally versions live in the project's SQLite database
(`LocalRegistry`); on AWS in SageMaker's Model Registry
(``orchestration.aws.registry``), behind the same `ModelRegistry` protocol.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from container.contract.errors import ByocError
from orchestration import store
from orchestration.config import ApprovalRule
from orchestration.times import utc_now

APPROVED = "Approved"
REJECTED = "Rejected"
PENDING = "PendingManualApproval"
APPROVAL_STATUSES = (APPROVED, REJECTED, PENDING)
# Model Monitor's statistics.json and constraints.json are JSON documents.
JSON = "application/json"


class RegistryError(ByocError):
    code = "registry_error"


class VersionNotFound(RegistryError):
    status_code = 404
    code = "model_version_not_found"


@dataclass(frozen=True)
class ModelVersion:
    group: str
    version: int
    model_artifact: str
    image: str
    metrics: dict[str, float]
    approval: str
    created_at: str
    lineage: dict[str, Any] = field(default_factory=dict)  # run_id, data hashes, digest
    approval_reason: str = ""
    arn: str | None = None  # the model package ARN on AWS
    # SageMaker's ModelMetrics: {"ModelQuality": {"Statistics": {...}, ...}}.
    model_metrics: dict[str, Any] = field(default_factory=dict)
    # Where a registry keeps a version's whole documents besides its entries
    # ({"lineage": "s3://.../lineage.json", "evaluation": ...}); none locally,
    # where the lineage is stored whole.
    documents: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def model_quality_metrics(
    statistics: str, constraints: str | None = None
) -> dict[str, Any]:
    """ModelMetrics naming a model-quality baseline's statistics and constraints.

    Each document is a `MetricsSource` (content type and location), as
    CreateModelPackage takes it; the location is an s3:// URI on AWS and a
    path locally.
    """
    documents = {"Statistics": statistics, "Constraints": constraints}
    return {
        "ModelQuality": {
            name: {"ContentType": JSON, "S3Uri": where}
            for name, where in documents.items()
            if where
        }
    }


class ModelRegistry(Protocol):
    def register(
        self,
        group: str,
        model_artifact: str,
        image: str,
        metrics: dict[str, float],
        lineage: dict[str, Any],
        model_metrics: dict[str, Any] | None = None,
    ) -> ModelVersion: ...
    def get(self, group: str, version: int) -> ModelVersion: ...
    def list(self, group: str) -> list[ModelVersion]: ...
    def set_approval(
        self, group: str, version: int, approval: str, reason: str = ""
    ) -> ModelVersion: ...


def latest(
    registry: ModelRegistry, group: str, approval: str | None = None
) -> ModelVersion | None:
    """The newest version of a group, optionally only among those with `approval`."""
    versions = [
        v for v in registry.list(group) if approval is None or v.approval == approval
    ]
    return max(versions, key=lambda v: v.version) if versions else None


def auto_approval(
    rule: ApprovalRule, candidate: ModelVersion, approved: ModelVersion | None
) -> tuple[str, str]:
    """Apply the rule: (Approved | PendingManualApproval, why)."""
    value = candidate.metrics.get(rule.metric)
    if value is None:
        return PENDING, (
            f"metric {rule.metric!r} not reported by the run "
            f"(it reported {sorted(candidate.metrics)})"
        )
    better = (lambda a, b: a >= b) if rule.direction == "max" else (lambda a, b: a <= b)
    if not better(value, rule.threshold):
        word = "below" if rule.direction == "max" else "above"
        return (
            PENDING,
            f"{rule.metric}={value:.4g} is {word} the threshold {rule.threshold:g}",
        )
    if rule.not_worse_than_approved and approved is not None:
        previous = approved.metrics.get(rule.metric)
        if previous is not None and not better(value, previous):
            return PENDING, (
                f"{rule.metric}={value:.4g} is worse than approved version "
                f"{approved.version} ({previous:.4g})"
            )
    return (
        APPROVED,
        f"auto-approved: {rule.metric}={value:.4g} meets {rule.threshold:g}",
    )


SCHEMA = """
CREATE TABLE IF NOT EXISTS model_versions (
    model_group TEXT NOT NULL,
    version INTEGER NOT NULL,
    model_artifact TEXT NOT NULL,
    image TEXT NOT NULL,
    metrics TEXT NOT NULL,
    approval TEXT NOT NULL,
    approval_reason TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL,
    lineage TEXT NOT NULL,
    model_metrics TEXT NOT NULL DEFAULT '{}',
    PRIMARY KEY (model_group, version)
);
"""
# Columns added since the table was first made: a database an older version
# of this module created gets them on opening, its versions with the default.
ADDED_COLUMNS = {"model_metrics": "TEXT NOT NULL DEFAULT '{}'"}


class LocalRegistry:
    """Model versions in <state_dir>/state.sqlite."""

    def __init__(self, state_dir: Path):
        self.conn = store.connect(state_dir, SCHEMA)
        # In a transaction: two processes opening an older database add each
        # column once.
        with store.transaction(self.conn) as conn:
            have = {
                r["name"] for r in conn.execute("PRAGMA table_info(model_versions)")
            }
            for column, declaration in ADDED_COLUMNS.items():
                if column not in have:
                    conn.execute(
                        f"ALTER TABLE model_versions ADD COLUMN {column} {declaration}"
                    )

    def register(
        self,
        group: str,
        model_artifact: str,
        image: str,
        metrics: dict[str, float],
        lineage: dict[str, Any],
        model_metrics: dict[str, Any] | None = None,
    ) -> ModelVersion:
        with store.transaction(self.conn) as conn:
            (top,) = conn.execute(
                "SELECT COALESCE(MAX(version), 0) FROM model_versions "
                "WHERE model_group = ?",
                (group,),
            ).fetchone()
            version = ModelVersion(
                group=group,
                version=top + 1,
                model_artifact=model_artifact,
                image=image,
                metrics=dict(metrics),
                approval=PENDING,
                created_at=utc_now(),
                lineage=dict(lineage),
                model_metrics=dict(model_metrics or {}),
            )
            conn.execute(
                "INSERT INTO model_versions (model_group, version, model_artifact, "
                "image, metrics, approval, approval_reason, created_at, lineage, "
                "model_metrics) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    group,
                    version.version,
                    model_artifact,
                    image,
                    store.dumps(metrics),
                    PENDING,
                    "",
                    version.created_at,
                    store.dumps(lineage),
                    store.dumps(version.model_metrics),
                ),
            )
        return version

    def get(self, group: str, version: int) -> ModelVersion:
        row = self.conn.execute(
            "SELECT * FROM model_versions WHERE model_group = ? AND version = ?",
            (group, version),
        ).fetchone()
        if row is None:
            known = [v.version for v in self.list(group)]
            raise VersionNotFound(
                f"model group {group!r} has no version {version}; versions: {known or 'none'}"
            )
        return _version(row)

    def list(self, group: str) -> list[ModelVersion]:
        rows = self.conn.execute(
            "SELECT * FROM model_versions WHERE model_group = ? ORDER BY version",
            (group,),
        )
        return [_version(r) for r in rows]

    def set_approval(
        self, group: str, version: int, approval: str, reason: str = ""
    ) -> ModelVersion:
        if approval not in APPROVAL_STATUSES:
            raise RegistryError(
                f"approval {approval!r} is not one of {', '.join(APPROVAL_STATUSES)}"
            )
        self.get(group, version)
        with store.transaction(self.conn) as conn:
            conn.execute(
                "UPDATE model_versions SET approval = ?, approval_reason = ? "
                "WHERE model_group = ? AND version = ?",
                (approval, reason, group, version),
            )
        return self.get(group, version)

    def close(self) -> None:
        self.conn.close()


def _version(row) -> ModelVersion:
    return ModelVersion(
        group=row["model_group"],
        version=row["version"],
        model_artifact=row["model_artifact"],
        image=row["image"],
        metrics=store.loads(row["metrics"]),
        approval=row["approval"],
        created_at=row["created_at"],
        lineage=store.loads(row["lineage"]),
        approval_reason=row["approval_reason"],
        model_metrics=store.loads(row["model_metrics"]),
    )

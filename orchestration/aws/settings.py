"""The `aws:` section of a project config, typed and validated.

Every key is named once here. `AwsSettings.from_mapping` rejects unknown keys
and wrong types with a message that names the key, so a typo in a YAML file
fails before any AWS call is made.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from orchestration.aws.errors import AwsConfigError
from orchestration.aws.monitoring import check_schedule_expression
from orchestration.config import WrongType, typed

# `train` prints one `split:metric=value` line per metric
# (container.training.evaluation); SageMaker needs one MetricDefinition per
# name (at most 40 per job).
METRIC_SPLITS = ("train", "validation", "test")
METRIC_KINDS = (
    "accuracy",
    "balanced_accuracy",
    "f1_macro",
    "roc_auc_ovr",
    "log_loss",
    "rmse",
    "mae",
    "r2",
)
DEFAULT_METRIC_NAMES = tuple(f"{s}:{m}" for s in METRIC_SPLITS for m in METRIC_KINDS)
# Where SageMaker publishes the metrics a monitoring container writes under
# /opt/ml/output/metrics/cloudwatch. The BYOC page spells it
# "/aws/sagemaker/Endpoint/data-metrics", AWS's own examples and alarms use
# the spelling below; the key lets users follow what their account shows.
DEFAULT_DRIFT_NAMESPACE = "aws/sagemaker/Endpoints/data-metrics"

_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/.+$")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d$")


@dataclass(frozen=True)
class AwsSettings:
    region: str
    role_arn: str  # the SageMaker execution role jobs and endpoints assume
    bucket: str
    prefix: str = "sklearn-byoc"
    ecr_repository: str = "sklearn-byoc"
    image_tag: str = "latest"
    # Set for emulators (moto, LocalStack); None talks to AWS itself.
    endpoint_url: str | None = None
    profile: str | None = None
    poll_seconds: float = 30.0
    wait_timeout_seconds: float = 3 * 3600.0
    training_volume_gb: int = 10
    processing_volume_gb: int = 20
    metric_names: tuple[str, ...] = DEFAULT_METRIC_NAMES
    # Overrides monitoring.schedule_minutes for the SageMaker schedule; one of
    # the forms in orchestration.aws.monitoring (checked when loaded).
    schedule_expression: str | None = None
    # How long `run` / `monitor` wait for SageMaker to write a traffic window's
    # capture to S3 (it does so asynchronously, usually within minutes).
    capture_wait_seconds: float = 600.0
    drift_namespace: str = DEFAULT_DRIFT_NAMESPACE
    drift_threshold: float = 0.1
    alarm_topic: str = "sklearn-byoc-alerts"
    alarm_emails: tuple[str, ...] = ()
    build_and_push: bool = False  # run ./build_and_push.sh when the image is missing
    tags: dict[str, str] = field(default_factory=lambda: {"project": "sklearn-byoc"})

    @property
    def data_prefix(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any], where: str = "aws") -> AwsSettings:
        """Build from a config section; errors name `where.key`."""
        if not isinstance(raw, Mapping):
            raise AwsConfigError(f"{where}: expected a mapping of keys, got {raw!r}")
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(raw) - set(known))
        if unknown:
            raise AwsConfigError(
                f"{where}: unknown key(s) {', '.join(unknown)}; known keys are {', '.join(sorted(known))}"
            )
        for required in ("region", "role_arn", "bucket"):
            if raw.get(required) in (None, ""):
                raise AwsConfigError(f"{where}.{required} is required")
        values = {name: _coerce(where, name, value, cls) for name, value in raw.items()}
        settings = cls(**values)
        settings.validate(where)
        return settings

    @classmethod
    def from_config(cls, aws: Any, image: str | None = None) -> AwsSettings:
        """From `orchestration.config.AwsConfig`: its named keys plus `options`.

        `options` holds the keys of this class that the shared config does not
        name (poll_seconds, metric_names, drift_threshold, ...); its errors
        name `aws.options.<key>`. The image tag comes from the project's
        `image:` (``sklearn-byoc:1.2`` -> tag ``1.2``) unless options set it.
        """
        raw: dict[str, Any] = {
            "region": aws.region,
            "role_arn": aws.role_arn,
            "bucket": aws.bucket,
            "prefix": aws.prefix,
            "ecr_repository": aws.ecr_repository,
            "alarm_topic": aws.sns_topic_name,
        }
        if aws.alert_email:
            raw["alarm_emails"] = [aws.alert_email]
        if image and ":" in image.rsplit("/", 1)[-1]:
            raw["image_tag"] = image.rsplit(":", 1)[1]
        options = dict(aws.options or {})
        clash = sorted(set(options) & {"region", "role_arn", "bucket"})
        if clash:
            raise AwsConfigError(
                f"aws.options.{clash[0]}: set it as aws.{clash[0]}, not under options"
            )
        extra = cls.from_mapping({**raw, **options}, where="aws.options")
        return extra

    def validate(self, where: str = "aws") -> None:
        if not _REGION.match(self.region):
            raise AwsConfigError(
                f"{where}.region={self.region!r} is not a region name like us-east-1"
            )
        if not _ROLE_ARN.match(self.role_arn):
            raise AwsConfigError(
                f"{where}.role_arn={self.role_arn!r} is not an IAM role ARN like arn:aws:iam::123456789012:role/SageMakerExecution"
            )
        if not _BUCKET.match(self.bucket):
            raise AwsConfigError(
                f"{where}.bucket={self.bucket!r} is not an S3 bucket name (3-63 lower-case letters, digits, dots, hyphens)"
            )
        if self.poll_seconds < 0 or self.wait_timeout_seconds <= 0:
            raise AwsConfigError(
                f"{where}.poll_seconds must be >= 0 and {where}.wait_timeout_seconds > 0"
            )
        if self.capture_wait_seconds < 0:
            raise AwsConfigError(
                f"{where}.capture_wait_seconds={self.capture_wait_seconds:g} must be >= 0"
            )
        if self.schedule_expression is not None:
            check_schedule_expression(
                self.schedule_expression, f"{where}.schedule_expression"
            )
        if not 0 < self.drift_threshold <= 1:
            raise AwsConfigError(
                f"{where}.drift_threshold={self.drift_threshold} must be in (0, 1]"
            )


def _coerce(where: str, name: str, value: Any, cls: type) -> Any:
    default = next(f for f in fields(cls) if f.name == name)
    key = f"{where}.{name}"
    annotation = str(default.type)
    if annotation.startswith("tuple"):
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list | tuple) or not all(
            isinstance(v, str) for v in value
        ):
            raise AwsConfigError(f"{key} must be a list of strings, got {value!r}")
        return tuple(value)
    if annotation.startswith("dict"):
        if not isinstance(value, Mapping):
            raise AwsConfigError(f"{key} must be a mapping of strings, got {value!r}")
        return {str(k): str(v) for k, v in value.items()}
    if annotation in ("bool", "int", "float"):
        try:
            return typed(value, annotation)
        except WrongType as exc:
            raise AwsConfigError(f"{key} {exc}") from None
    if value is None and "None" in annotation:
        return None
    if not isinstance(value, str):
        raise AwsConfigError(f"{key} must be a string, got {value!r}")
    return value

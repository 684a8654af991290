"""config/*.yaml → typed project settings, with errors that name the key.

A project config says where the data is, how to train, which model group and
endpoint to use, how to monitor and alert, and (for the AWS backend) which
account resources to use. Unknown keys are errors, so a typo such as
``hyperparameter:`` fails at load time instead of being silently ignored.
Relative paths are resolved against the repository root (the config folder's
parent), so the CLI works from any working directory.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from container.contract.errors import ByocError
from orchestration.backends.base import (
    OBJECTIVE_TYPES,
    RANGE_KINDS,
    SCALING_TYPES,
    TUNING_STRATEGIES,
)
from orchestration.names import NAME_RULE, is_valid_name

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CONFIG = REPO_ROOT / "config" / "penguins.yaml"
APPROVAL_METRIC_DIRECTIONS = ("max", "min")


class ConfigError(ByocError):
    """The project config is missing, malformed or has an invalid value."""

    code = "invalid_config"


@dataclass(frozen=True)
class SplitConfig:
    train: float = 0.7
    validation: float = 0.15
    test: float = 0.15
    seed: int = 42
    # auto: stratified for classification, random for regression
    strategy: str = "auto"
    group_column: str | None = None  # strategy group
    time_column: str | None = None  # strategy time


SPLIT_STRATEGIES = ("auto", "stratified", "random", "group", "time")
PROBLEM_TYPES = ("auto", "classification", "regression")


@dataclass(frozen=True)
class AnnotationsConfig:
    manifest: Path
    label_attribute: str  # Ground Truth's label attribute name, e.g. species-label
    id_field: str = "source"  # manifest field holding the record id
    min_confidence: float = 0.0


@dataclass(frozen=True)
class DataConfig:
    raw: Path
    schema: Path
    processed: Path
    split: SplitConfig = field(default_factory=SplitConfig)
    annotations: AnnotationsConfig | None = None
    max_rejected_fraction: float = 0.1
    # training.hyperparameters.problem_type, the key `train` reads, so that
    # `prepare` splits for the problem the model is trained for.
    problem_type: str = "auto"


@dataclass(frozen=True)
class TrainingConfig:
    hyperparameters: dict[str, str]
    instance_type: str = "ml.m5.large"
    max_runtime_seconds: int = 900


@dataclass(frozen=True)
class ApprovalRule:
    """Approve a new version automatically when its metric clears the bar."""

    metric: str
    threshold: float
    direction: str = "max"  # max: higher is better
    not_worse_than_approved: bool = True


@dataclass(frozen=True)
class RegistryConfig:
    model_group: str
    auto_approval: ApprovalRule | None = None


@dataclass(frozen=True)
class EndpointConfig:
    name: str
    instance_type: str = "ml.m5.large"
    instance_count: int = 1
    capture_sampling_percentage: int = 100
    environment: dict[str, str] = field(default_factory=dict)
    startup_timeout_seconds: int = 120


@dataclass(frozen=True)
class TransformConfig:
    """Batch transform jobs (CreateTransformJob); None: the container decides."""

    instance_type: str = "ml.m5.large"
    instance_count: int = 1
    content_type: str = "text/csv"
    accept: str | None = None
    split_type: str = "Line"
    batch_strategy: str | None = None
    max_payload_in_mb: int | None = None
    max_concurrent_transforms: int | None = None
    assemble_with: str = "Line"
    input_filter: str = "$"
    join_source: str = "None"
    output_filter: str = "$"
    invocation_timeout_seconds: int = 600
    capture: bool = True  # DataCaptureConfig, so `monitor` can check batch traffic
    environment: dict[str, str] = field(default_factory=dict)  # over the endpoint's


@dataclass(frozen=True)
class DriftConfig:
    """How the demo's deliberately drifted traffic differs from held-out data."""

    numeric_shift: dict[str, float] = field(default_factory=dict)  # added to a column
    categorical_override: dict[str, str] = field(default_factory=dict)  # set a column


@dataclass(frozen=True)
class MonitoringConfig:
    schedule_minutes: int = 60
    window_minutes: int = 60
    instance_type: str = "ml.m5.large"
    drift: DriftConfig = field(default_factory=DriftConfig)
    # How far a model-quality metric may fall short of its baseline value
    # before it violates: a share of the value (at least of 1), so held-out
    # traffic a little worse than the validation split raises nothing.
    model_quality_slack: float = 0.05


@dataclass(frozen=True)
class AlertRule:
    name: str
    kind: str  # violations | feature_drift | error_rate | latency | model_quality
    min_violations: int = 1
    features: tuple[str, ...] = ()
    max_error_rate: float = 0.05
    max_latency_p99_ms: float = 1000.0  # latency: the window's p99 above this
    metrics: tuple[str, ...] = ()  # model_quality: the metrics watched (all if empty)


ALERT_KINDS = ("violations", "feature_drift", "error_rate", "latency", "model_quality")


@dataclass(frozen=True)
class AlertsConfig:
    rules: tuple[AlertRule, ...] = ()
    webhook_url: str | None = None


EARLY_STOPPING_TYPES = ("Off", "Auto")
# Searches the local backend runs itself; the others need SageMaker's service.
LOCAL_TUNING_STRATEGIES = ("Random", "Grid")
APPROVAL_OBJECTIVE_TYPES = {"max": "Maximize", "min": "Minimize"}


@dataclass(frozen=True)
class RangeConfig:
    """One searched hyperparameter of `tuning.ranges`."""

    name: str
    kind: str  # Integer | Continuous | Categorical, as SageMaker spells them
    min_value: float | None = None  # Integer and Continuous only
    max_value: float | None = None
    scaling: str = "Auto"
    values: tuple[str, ...] = ()  # Categorical only: strings, as SageMaker passes them


@dataclass(frozen=True)
class TuningConfig:
    """A hyperparameter tuning job over `training`: SageMaker's HyperParameterTuningJob."""

    objective_metric: str  # a `name=value` metric `train` prints
    objective_type: str  # Maximize | Minimize
    ranges: tuple[RangeConfig, ...]
    strategy: str = "Random"
    max_jobs: int = 4
    max_parallel_jobs: int = 2
    early_stopping: str = "Off"
    random_seed: int | None = None


# A SageMaker managed MLflow tracking server, as its ARN names it.
MLFLOW_TRACKING_SERVER_ARN = re.compile(
    r"arn:aws[a-z-]*:sagemaker:[a-z0-9-]+:\d{12}:mlflow-tracking-server/[A-Za-z0-9-]{1,256}"
)
# Where MLflow keeps runs: a tracking server, or a store MLflow opens itself.
MLFLOW_URI_SCHEMES = ("http", "https", "file", "sqlite", "postgresql", "mysql")


@dataclass(frozen=True)
class TrackingConfig:
    """Where tracked runs are also logged (MLflow); the local table stays the record."""

    mlflow_uri: str  # a tracking URI, or a SageMaker MLflow tracking server's ARN
    experiment: str  # default: the project's name
    # Where a new experiment keeps its artifacts; None: the tracking store's
    # default (a server's own; beside an sqlite database file).
    artifact_location: str | None = None


@dataclass(frozen=True)
class AwsConfig:
    region: str
    role_arn: str
    bucket: str
    prefix: str = "sklearn-byoc"
    ecr_repository: str = "sklearn-byoc"
    sns_topic_name: str = "sklearn-byoc-alerts"
    alert_email: str | None = None
    options: dict[str, Any] = field(default_factory=dict)  # backend-specific extras


@dataclass(frozen=True)
class ProjectConfig:
    project: str
    source: Path  # the YAML file this came from
    backend: str
    state_dir: Path
    image: str
    data: DataConfig
    training: TrainingConfig
    registry: RegistryConfig
    endpoint: EndpointConfig
    monitoring: MonitoringConfig
    alerts: AlertsConfig
    aws: AwsConfig | None = None
    tuning: TuningConfig | None = None
    transform: TransformConfig = field(default_factory=TransformConfig)
    tracking: TrackingConfig | None = None

    @property
    def target(self) -> str:
        return self.training.hyperparameters.get("target", "")


# --- a small typed reader that names the key on every error ------------------
class WrongType(ValueError):
    """A value of the wrong type; `str(exc)` completes "<key> ..." ("must be...")."""


def typed(value: Any, kind: str) -> Any:
    """A YAML value read as a `kind` of key: "bool", "int", "float" or "str".

    YAML already parses true/false and numbers, so nothing is coerced from
    another type (a quoted "true" is not a boolean): the file says what it
    means. Also the reader of the `aws.options` keys.
    """
    if kind == "bool":
        if isinstance(value, bool):
            return value
        raise WrongType(f"must be true or false, got {value!r}")
    if kind in ("int", "float"):
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if not number or (kind == "int" and value != int(value)):
            what = "a whole number" if kind == "int" else "a number"
            raise WrongType(f"must be {what}, got {value!r}")
        return int(value) if kind == "int" else float(value)
    if kind == "str":
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise WrongType(f"must be a string, got {value!r}")
        return str(value)
    raise ValueError(f"no reader for {kind!r} values")


class _Section:
    """One mapping of the YAML file, read key by key; leftovers are errors."""

    def __init__(self, data: Any, path: str, source: Path):
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise ConfigError(
                f"{source}: {path or 'the file'} must be a mapping of keys"
            )
        self.data = dict(data)
        self.path = path
        self.source = source
        self._seen: set[str] = set()

    def key(self, name: str) -> str:
        return f"{self.path}.{name}" if self.path else name

    def fail(self, name: str, problem: str) -> ConfigError:
        return ConfigError(f"{self.source}: {self.key(name)} {problem}")

    def raw(self, name: str, required: bool = False) -> Any:
        self._seen.add(name)
        if required and self.data.get(name) is None:
            raise self.fail(name, "is required")
        return self.data.get(name)

    def typed(self, name: str, value: Any, kind: str) -> Any:
        try:
            return typed(value, kind)
        except WrongType as exc:
            raise self.fail(name, str(exc)) from None

    def str(self, name: str, default: str | None = None, required: bool = False) -> Any:
        value = self.raw(name, required)
        return default if value is None else self.typed(name, value, "str")

    def number(
        self,
        name: str,
        default: float,
        low: float | None = None,
        high: float | None = None,
        integer: bool = False,
    ) -> Any:
        value = self.raw(name)
        if value is None:
            return default
        number = self.typed(name, value, "int" if integer else "float")
        if (low is not None and number < low) or (high is not None and number > high):
            raise self.fail(name, f"must be between {low} and {high}, got {value!r}")
        return number

    def one_of(self, name: str, choices: tuple[str, ...], default: str) -> str:
        """One of `choices`, in any case, spelled back as `choices` spell it."""
        value = self.str(name, default)
        for known in choices:
            if value.lower() == known.lower():
                return known
        raise self.fail(name, f"must be one of {', '.join(choices)}, got {value!r}")

    def bool(self, name: str, default: bool) -> bool:
        value = self.raw(name)
        return default if value is None else self.typed(name, value, "bool")

    def name(self, name: str) -> Any:
        """A required SageMaker resource name; it also names local folders and files."""
        value = self.str(name, required=True)
        if not is_valid_name(value):
            raise self.fail(
                name, f"must be a name SageMaker accepts ({NAME_RULE}), got {value!r}"
            )
        return value

    def path_(self, name: str, root: Path, required: bool = False) -> Path | None:
        value = self.str(name, required=required)
        if value is None:
            return None
        path = Path(value).expanduser()
        return path if path.is_absolute() else (root / path)

    def section(self, name: str, required: bool = False) -> _Section | None:
        value = self.raw(name, required)
        if value is None:
            return None
        return _Section(value, self.key(name), self.source)

    def string_map(self, name: str) -> dict[str, str]:
        value = self.raw(name)
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise self.fail(name, "must be a mapping")
        out = {}
        for k, v in value.items():
            if isinstance(v, dict | list) or v is None:
                raise self.fail(f"{name}.{k}", f"must be a single value, got {v!r}")
            # SageMaker passes every hyperparameter as a string; so do we.
            out[str(k)] = str(v).lower() if isinstance(v, bool) else str(v)
        return out

    def done(self) -> None:
        unknown = sorted(set(self.data) - self._seen)
        if unknown:
            raise ConfigError(
                f"{self.source}: unknown key {self.key(unknown[0])!r} (known keys here: {', '.join(sorted(self._seen))})"
            )


def load_config(
    path: Path | str | None = None, backend: str | None = None
) -> ProjectConfig:
    """Read a project config; `backend` overrides the file's `backend:` key."""
    source = Path(path) if path else DEFAULT_CONFIG
    if not source.is_file():
        raise ConfigError(f"config file {source} does not exist")
    try:
        data = yaml.safe_load(source.read_text())
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        at = f" at line {where.line + 1}" if where else ""
        raise ConfigError(f"{source}: not valid YAML{at}: {exc}") from None
    root = source.resolve().parent.parent
    top = _Section(data, "", source)
    # Read the file's key even when the flag overrides it, so it counts as known.
    backend_in_file = top.str("backend", "local")
    registry = _registry(top.section("registry", required=True))
    tuning_s = top.section("tuning")
    training = _training(top.section("training", required=True))
    config = ProjectConfig(
        project=top.name("project"),
        source=source,
        backend=backend or backend_in_file,
        state_dir=top.path_("state_dir", root) or root / ".state",
        image=top.str("image", "sklearn-byoc:latest"),
        data=_data(top.section("data", required=True), root, training),
        training=training,
        registry=registry,
        endpoint=_endpoint(top.section("endpoint", required=True)),
        monitoring=_monitoring(
            top.section("monitoring") or _Section({}, "monitoring", source)
        ),
        alerts=_alerts(top.section("alerts") or _Section({}, "alerts", source)),
        aws=_aws(top.section("aws")),
        tuning=_tuning(tuning_s, registry) if tuning_s is not None else None,
        transform=_transform(
            top.section("transform") or _Section({}, "transform", source)
        ),
        tracking=_tracking(top.section("tracking"), top, root),
    )
    top.done()
    if config.backend not in ("local", "aws"):
        raise top.fail("backend", f"must be local or aws, got {config.backend!r}")
    if config.backend == "aws" and config.aws is None:
        raise ConfigError(
            f"{source}: the aws backend needs an `aws:` section (see config/aws-example.yaml)"
        )
    return config


def _data(s: _Section, root: Path, training: TrainingConfig) -> DataConfig:
    split_s = s.section("split") or _Section({}, s.key("split"), s.source)
    split = SplitConfig(
        train=split_s.number("train", 0.7, 0.05, 0.95),
        validation=split_s.number("validation", 0.15, 0.0, 0.9),
        test=split_s.number("test", 0.15, 0.01, 0.9),
        seed=split_s.number("seed", 42, 0, 2**31 - 1, integer=True),
        strategy=_choice(split_s, "strategy", "auto", SPLIT_STRATEGIES),
        group_column=split_s.str("group_column"),
        time_column=split_s.str("time_column"),
    )
    split_s.done()
    _check_split_columns(split_s, split)
    total = split.train + split.validation + split.test
    if abs(total - 1.0) > 1e-6:
        raise split_s.fail(
            "train", f"+ validation + test must add up to 1, got {total:g}"
        )
    ann_s = s.section("annotations")
    annotations = None
    if ann_s is not None:
        annotations = AnnotationsConfig(
            manifest=ann_s.path_("manifest", root, required=True),
            label_attribute=ann_s.str("label_attribute", required=True),
            id_field=ann_s.str("id_field", "source"),
            min_confidence=ann_s.number("min_confidence", 0.0, 0.0, 1.0),
        )
        ann_s.done()
    out = DataConfig(
        raw=s.path_("raw", root, required=True),
        schema=s.path_("schema", root, required=True),
        processed=s.path_("processed", root) or root / "data" / "processed",
        split=split,
        annotations=annotations,
        max_rejected_fraction=s.number("max_rejected_fraction", 0.1, 0.0, 1.0),
        problem_type=training.hyperparameters.get("problem_type", "auto"),
    )
    s.done()
    return out


def _check_split_columns(s: _Section, split: SplitConfig) -> None:
    """group needs group_column, time needs time_column, and neither goes alone.

    Whether the column is in the schema is checked by `prepare`, which reads
    the schema file.
    """
    for strategy, key in (("group", "group_column"), ("time", "time_column")):
        given = getattr(split, key) is not None
        if split.strategy == strategy and not given:
            raise s.fail(
                key,
                f"is required by strategy {strategy}: the column of each row's {strategy}",
            )
        if given and split.strategy != strategy:
            raise s.fail(
                key, f"is for strategy {strategy}, but the strategy is {split.strategy}"
            )


def _training(s: _Section) -> TrainingConfig:
    hps = s.string_map("hyperparameters")
    if "target" not in hps:
        raise s.fail("hyperparameters.target", "is required (the label column)")
    if hps.get("problem_type", "auto") not in PROBLEM_TYPES:
        raise s.fail(
            "hyperparameters.problem_type",
            f"must be one of {', '.join(PROBLEM_TYPES)}, got {hps['problem_type']!r}",
        )
    out = TrainingConfig(
        hyperparameters=hps,
        instance_type=s.str("instance_type", "ml.m5.large"),
        max_runtime_seconds=s.number(
            "max_runtime_seconds", 900, 1, 432000, integer=True
        ),
    )
    s.done()
    return out


def _registry(s: _Section) -> RegistryConfig:
    rule_s = s.section("auto_approval")
    rule = None
    if rule_s is not None:
        rule = ApprovalRule(
            metric=rule_s.str("metric", required=True),
            threshold=rule_s.number("threshold", 0.0),
            direction=rule_s.str("direction", "max"),
            not_worse_than_approved=rule_s.bool("not_worse_than_approved", True),
        )
        if rule.direction not in APPROVAL_METRIC_DIRECTIONS:
            raise rule_s.fail(
                "direction", f"must be max or min, got {rule.direction!r}"
            )
        rule_s.done()
    out = RegistryConfig(model_group=s.name("model_group"), auto_approval=rule)
    s.done()
    return out


def _endpoint(s: _Section) -> EndpointConfig:
    out = EndpointConfig(
        name=s.name("name"),
        instance_type=s.str("instance_type", "ml.m5.large"),
        instance_count=s.number("instance_count", 1, 1, 100, integer=True),
        capture_sampling_percentage=s.number(
            "capture_sampling_percentage", 100, 0, 100, integer=True
        ),
        environment=s.string_map("environment"),
        startup_timeout_seconds=s.number(
            "startup_timeout_seconds", 120, 1, 3600, integer=True
        ),
    )
    s.done()
    return out


def _choice(s: _Section, name: str, default: str, allowed: tuple[str, ...]) -> str:
    value = s.str(name, default)
    if value not in allowed:
        raise s.fail(name, f"must be one of {', '.join(allowed)}, got {value!r}")
    return value


def _transform(s: _Section) -> TransformConfig:
    strategy = s.str("batch_strategy")
    if strategy is not None and strategy not in ("SingleRecord", "MultiRecord"):
        raise s.fail(
            "batch_strategy", f"must be SingleRecord or MultiRecord, got {strategy!r}"
        )
    payload = s.raw("max_payload_in_mb")
    concurrency = s.raw("max_concurrent_transforms")
    out = TransformConfig(
        instance_type=s.str("instance_type", "ml.m5.large"),
        instance_count=s.number("instance_count", 1, 1, 100, integer=True),
        content_type=s.str("content_type", "text/csv"),
        accept=s.str("accept"),
        split_type=_choice(s, "split_type", "Line", ("None", "Line")),
        batch_strategy=strategy,
        max_payload_in_mb=(
            None
            if payload is None
            else s.number("max_payload_in_mb", 6, 0, 100, integer=True)
        ),
        max_concurrent_transforms=(
            None
            if concurrency is None
            else s.number("max_concurrent_transforms", 1, 1, 100, integer=True)
        ),
        assemble_with=_choice(s, "assemble_with", "Line", ("None", "Line")),
        input_filter=s.str("input_filter", "$"),
        join_source=_choice(s, "join_source", "None", ("None", "Input")),
        output_filter=s.str("output_filter", "$"),
        invocation_timeout_seconds=s.number(
            "invocation_timeout_seconds", 600, 1, 3600, integer=True
        ),
        capture=s.bool("capture", True),
        environment=s.string_map("environment"),
    )
    s.done()
    return out


def _monitoring(s: _Section) -> MonitoringConfig:
    drift_s = s.section("drift") or _Section({}, s.key("drift"), s.source)
    shifts = drift_s.raw("numeric_shift") or {}
    if not isinstance(shifts, dict) or not all(
        isinstance(v, int | float) and not isinstance(v, bool) for v in shifts.values()
    ):
        raise drift_s.fail("numeric_shift", "must map column names to numbers")
    drift = DriftConfig(
        numeric_shift={str(k): float(v) for k, v in shifts.items()},
        categorical_override=drift_s.string_map("categorical_override"),
    )
    drift_s.done()
    out = MonitoringConfig(
        schedule_minutes=s.number("schedule_minutes", 60, 1, 10080, integer=True),
        window_minutes=s.number("window_minutes", 60, 1, 10080, integer=True),
        instance_type=s.str("instance_type", "ml.m5.large"),
        drift=drift,
        model_quality_slack=s.number("model_quality_slack", 0.05, 0.0, 1.0),
    )
    s.done()
    return out


def _alerts(s: _Section) -> AlertsConfig:
    raw_rules = s.raw("rules") or []
    if not isinstance(raw_rules, list):
        raise s.fail("rules", "must be a list of rules")
    rules = []
    for i, item in enumerate(raw_rules):
        r = _Section(item, s.key(f"rules[{i}]"), s.source)
        rule = AlertRule(
            name=r.str("name", required=True),
            kind=r.str("kind", required=True),
            min_violations=r.number("min_violations", 1, 1, 10**6, integer=True),
            features=tuple(str(f) for f in (r.raw("features") or [])),
            max_error_rate=r.number("max_error_rate", 0.05, 0.0, 1.0),
            max_latency_p99_ms=r.number("max_latency_p99_ms", 1000.0, 0.001, 3.6e6),
            metrics=tuple(str(m) for m in (r.raw("metrics") or [])),
        )
        if rule.kind not in ALERT_KINDS:
            raise r.fail(
                "kind", f"must be one of {', '.join(ALERT_KINDS)}, got {rule.kind!r}"
            )
        r.done()
        rules.append(rule)
    webhook = s.str("webhook_url")
    if webhook is not None and not _is_http_url(webhook):
        raise s.fail(
            "webhook_url",
            f"must be an http(s) URL with a host, like https://hooks.example.com/services/T0/B0/x, got {webhook!r}",
        )
    s.done()
    return AlertsConfig(rules=tuple(rules), webhook_url=webhook)


def _is_http_url(url: str) -> bool:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        return False
    blank = any(c.isspace() for c in url)
    return parts.scheme in ("http", "https") and bool(parts.hostname) and not blank


def _tracking(s: _Section | None, top: _Section, root: Path) -> TrackingConfig | None:
    if s is None:
        return None
    uri = s.str("mlflow_uri", required=True)
    if not (MLFLOW_TRACKING_SERVER_ARN.fullmatch(uri) or _is_mlflow_uri(uri)):
        raise s.fail(
            "mlflow_uri",
            f"must be an MLflow tracking URI ({', '.join(f'{k}://' for k in MLFLOW_URI_SCHEMES)}), e.g. sqlite:///.state/mlflow.db or http://127.0.0.1:5000, or a SageMaker MLflow tracking server ARN (arn:aws:sagemaker:REGION:ACCOUNT:mlflow-tracking-server/NAME); got {uri!r}",
        )
    location = s.str("artifact_location")
    out = TrackingConfig(
        mlflow_uri=_local_store_uri(uri, root),
        experiment=s.str("experiment") or top.data.get("project") or "",
        artifact_location=location,
    )
    s.done()
    return out


def _is_mlflow_uri(uri: str) -> bool:
    parts = urlsplit(uri)
    if parts.scheme not in MLFLOW_URI_SCHEMES or any(c.isspace() for c in uri):
        return False
    if parts.scheme in ("file", "sqlite"):
        # file:///abs, sqlite:///relative or sqlite:////abs: a path, no host.
        return uri.startswith(f"{parts.scheme}:///") and len(uri) > len("sqlite:///")
    return bool(parts.hostname)


def _local_store_uri(uri: str, root: Path) -> str:
    """sqlite:///relative/x.db resolved against the repository, as other paths are.

    MLflow reads sqlite:///x.db as relative to the working directory; the
    CLI works from any directory, so the store is anchored as `state_dir` is.
    """
    prefix = "sqlite:///"
    if uri.startswith(prefix) and not uri.startswith(prefix + "/"):
        return prefix + str(root / uri[len(prefix) :])
    return uri


def _aws(s: _Section | None) -> AwsConfig | None:
    if s is None:
        return None
    options = s.raw("options") or {}
    if not isinstance(options, dict):
        raise s.fail("options", "must be a mapping")
    out = AwsConfig(
        region=s.str("region", required=True),
        role_arn=s.str("role_arn", required=True),
        bucket=s.str("bucket", required=True),
        prefix=s.str("prefix", "sklearn-byoc"),
        ecr_repository=s.str("ecr_repository", "sklearn-byoc"),
        sns_topic_name=s.str("sns_topic_name", "sklearn-byoc-alerts"),
        alert_email=s.str("alert_email"),
        options=dict(options),
    )
    if not out.role_arn.startswith("arn:"):
        raise s.fail(
            "role_arn",
            f"must be an IAM role ARN (arn:aws:iam::...), got {out.role_arn!r}",
        )
    s.done()
    return out


def _tuning(s: _Section, registry: RegistryConfig) -> TuningConfig:
    objective_metric, objective_type = _objective(s, registry)
    out = TuningConfig(
        objective_metric=objective_metric,
        objective_type=objective_type,
        ranges=_ranges(s),
        strategy=s.one_of("strategy", TUNING_STRATEGIES, "Random"),
        max_jobs=s.number("max_jobs", 4, 1, 750, integer=True),
        max_parallel_jobs=s.number("max_parallel_jobs", 2, 1, 100, integer=True),
        early_stopping=_early_stopping(s),
        random_seed=_optional_int(s, "random_seed", 0, 2**31 - 1),
    )
    s.done()
    if out.strategy == "Grid":
        searched = [r.name for r in out.ranges if r.kind != "Categorical"]
        if searched:
            raise s.fail("strategy", grid_refusal(searched))
    return out


def grid_refusal(names: list[str]) -> str:
    """Why a Grid search over non-categorical ranges is refused (config and sampling)."""
    return (
        f"Grid searches categorical ranges only, as SageMaker's Grid strategy does, "
        f"but {', '.join(names)} {'is' if len(names) == 1 else 'are'} not: give "
        f"each a list of `values:` or use strategy Random"
    )


def _early_stopping(s: _Section) -> str:
    # YAML 1.1 reads a bare Off as false: the file still means "Off".
    if s.raw("early_stopping") is False:
        return "Off"
    return s.one_of("early_stopping", EARLY_STOPPING_TYPES, "Off")


def _optional_int(s: _Section, name: str, low: int, high: int) -> int | None:
    if s.raw(name) is None:
        return None
    return s.number(name, 0, low, high, integer=True)


def _objective(s: _Section, registry: RegistryConfig) -> tuple[str, str]:
    """tuning.objective, by default the registry's auto-approval metric."""
    rule = registry.auto_approval
    o = s.section("objective")
    if o is None:
        if rule is None:
            raise s.fail(
                "objective",
                'is required when registry.auto_approval names no metric, e.g. {metric: "validation:accuracy", type: Maximize}',
            )
        return rule.metric, APPROVAL_OBJECTIVE_TYPES[rule.direction]
    default_type = APPROVAL_OBJECTIVE_TYPES[rule.direction] if rule else None
    metric = o.str("metric", rule.metric if rule else None)
    if metric is None:
        raise o.fail("metric", 'is required, e.g. "validation:accuracy"')
    if o.raw("type") is None and default_type is None:
        raise o.fail("type", f"is required: one of {', '.join(OBJECTIVE_TYPES)}")
    kind = o.one_of("type", OBJECTIVE_TYPES, default_type or "")
    o.done()
    return metric, kind


def _ranges(s: _Section) -> tuple[RangeConfig, ...]:
    raw = s.raw("ranges", required=True)
    if not isinstance(raw, dict) or not raw:
        raise s.fail(
            "ranges",
            "must map hyperparameter names to ranges, e.g. {max_depth: {type: integer, min: 2, max: 10}}",
        )
    return tuple(
        _range(_Section(spec, s.key(f"ranges.{name}"), s.source), str(name))
        for name, spec in raw.items()
    )


RANGE_TYPES = {kind.lower(): kind for kind in RANGE_KINDS}


def _range(r: _Section, name: str) -> RangeConfig:
    given_values = r.raw("values") is not None
    if r.raw("type") is None and not given_values:
        raise r.fail(
            "type",
            f"is required: one of {', '.join(RANGE_TYPES)} (or give `values:` for a categorical range)",
        )
    kind = RANGE_TYPES[r.one_of("type", tuple(RANGE_TYPES), "categorical")]
    if kind == "Categorical":
        out = RangeConfig(name, kind, values=_categorical_values(r))
        r.done()
        return out
    if given_values:
        raise r.fail(
            "values",
            f"is for categorical ranges; {kind.lower()} ranges take min and max",
        )
    integer = kind == "Integer"
    low = r.raw("min", required=True)
    high = r.raw("max", required=True)
    low = r.typed("min", low, "int" if integer else "float")
    high = r.typed("max", high, "int" if integer else "float")
    if low > high:
        raise r.fail("min", f"must not be above max ({low!r} > {high!r})")
    scaling = r.one_of("scaling", SCALING_TYPES, "Auto")
    if scaling == "Logarithmic" and low <= 0:
        raise r.fail(
            "scaling",
            f"Logarithmic needs a range above 0 (min > 0), got min {low!r}",
        )
    if scaling == "ReverseLogarithmic" and (integer or not 0 <= low <= high < 1):
        raise r.fail(
            "scaling",
            "ReverseLogarithmic is for continuous ranges within 0 <= x < 1 only, "
            f"as SageMaker defines it; got {kind.lower()} {low!r} to {high!r}",
        )
    r.done()
    return RangeConfig(name, kind, low, high, scaling)


def _categorical_values(r: _Section) -> tuple[str, ...]:
    values = r.raw("values", required=True)
    if (
        not isinstance(values, list)
        or not values
        or any(isinstance(v, dict | list) or v is None for v in values)
    ):
        raise r.fail(
            "values", f"must be a non-empty list of single values, got {values!r}"
        )
    # Strings, as SageMaker passes every hyperparameter (true, not True).
    out = tuple(str(v).lower() if isinstance(v, bool) else str(v) for v in values)
    if len(set(out)) != len(out):
        raise r.fail("values", f"must not repeat a value, got {values!r}")
    return out

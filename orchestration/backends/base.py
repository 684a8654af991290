"""The backend interface: the lifecycle's steps, independent of where they run.

The local backend (Docker on this machine) and the AWS backend (boto3 against
SageMaker) implement `Backend`, so the CLI and `orchestration.lifecycle` never
know which one runs. Specs and results are plain frozen dataclasses holding
strings and numbers only, so they can be logged, stored as JSON and compared
in tests.

Locations are strings: a local folder on the local backend, an ``s3://`` URI on
AWS. `Backend.location` says where the project's jobs write, `join_location`
goes below a location on either, and `Backend.fetch` brings any location back
to a folder on this machine.

Each backend module exposes ``create_backend(config: ProjectConfig) -> Backend``
(`orchestration.config.ProjectConfig`); `orchestration.backends.get_backend`
picks the module by name, so the CLI imports boto3 or docker only when needed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from container.contract.errors import ByocError
from container.contract.paths import OptMl
from orchestration.names import NAME_RULE, is_valid_name

if TYPE_CHECKING:
    from orchestration.registry import ModelRegistry

# Job and endpoint states, spelled as SageMaker spells them.
COMPLETED = "Completed"
FAILED = "Failed"
STOPPED = "Stopped"
IN_PROGRESS = "InProgress"
IN_SERVICE = "InService"
CREATING = "Creating"
UPDATING = "Updating"

# Processing-job commands of the image (its ContainerArguments).
PROCESSING_COMMANDS = ("baseline", "monitor", "prepare")

Progress = Callable[[str], None]


def no_progress(message: str) -> None:
    """A `Progress` callback that discards messages."""


class BackendError(ByocError):
    """A backend cannot do what was asked (engine down, resource missing, ...)."""

    code = "backend_error"


class InvalidName(BackendError):
    """A job, model or endpoint name SageMaker would refuse."""

    status_code = 400
    code = "invalid_name"


def check_name(name: str, kind: str) -> str:
    """`name`, if SageMaker accepts it as the name of a `kind`."""
    if not is_valid_name(name):
        raise InvalidName(
            f"{kind} name {name!r} is not valid on SageMaker: use {NAME_RULE} (e.g. penguins-train-20260101-120000)"
        )
    return name


class ResourceNotFound(BackendError):
    """A job or endpoint of that name does not exist on this backend."""

    status_code = 404
    code = "not_found"


class JobFailed(BackendError):
    """A job ended Failed; `reason` holds the job's failure reason."""

    code = "job_failed"

    def __init__(self, message: str, reason: str | None = None):
        super().__init__(message)
        self.reason = reason


class EndpointFailed(BackendError):
    """An endpoint ended Failed; `reason` holds SageMaker's FailureReason."""

    code = "endpoint_failed"

    def __init__(self, message: str, reason: str | None = None):
        super().__init__(message)
        self.reason = reason


class UpdateRolledBack(BackendError):
    """An endpoint update failed and the endpoint still serves the old version.

    `reason` holds the backend's failure reason; the old model keeps serving,
    so nothing that points at it (lifecycle state, registry) moves on.
    """

    code = "update_rolled_back"

    def __init__(self, message: str, reason: str | None = None):
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class TrainingJobSpec:
    job_name: str
    image: str  # image tag (local) or ECR URI (aws)
    hyperparameters: dict[str, str]  # strings, as SageMaker passes them
    channels: dict[str, str]  # channel -> local folder or s3:// prefix
    content_type: str = "text/csv"
    instance_type: str = "ml.m5.large"
    instance_count: int = 1
    max_runtime_seconds: int = 3600
    output_location: str = ""  # local folder or s3:// prefix for model.tar.gz
    environment: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        bad = {k: v for k, v in self.hyperparameters.items() if not isinstance(v, str)}
        if bad:
            raise BackendError(
                f"hyperparameters must be strings, as SageMaker passes them; got non-strings for {sorted(bad)}"
            )


@dataclass(frozen=True)
class TrainingJobResult:
    job_name: str
    status: str  # Completed | Failed | Stopped
    model_artifact: str | None  # path or s3:// URI of model.tar.gz
    failure_reason: str | None
    metrics: dict[str, float]  # from `name=value` stdout lines / FinalMetricDataList
    duration_seconds: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class CaptureSpec:
    destination: str  # local folder or s3:// prefix
    sampling_percentage: int = 100
    modes: tuple[str, ...] = ("Input", "Output")
    csv_content_types: tuple[str, ...] = ("text/csv",)
    json_content_types: tuple[str, ...] = ("application/json",)


@dataclass(frozen=True)
class EndpointSpec:
    endpoint_name: str
    model_name: str
    model_artifact: str
    image: str
    instance_type: str = "ml.m5.large"
    instance_count: int = 1
    capture: CaptureSpec | None = None
    environment: dict[str, str] = field(default_factory=dict)
    variant_name: str = "AllTraffic"


@dataclass(frozen=True)
class VariantSpec:
    """A production (or shadow) variant added to an endpoint that exists.

    SageMaker's ProductionVariant / ShadowProductionVariant: a model version
    with its own instances, receiving `weight` of the endpoint's traffic
    (relative to the other production variants' weights), or, as a shadow, a
    copy of that share of live traffic whose answers no client sees.
    """

    variant_name: str
    model_name: str
    model_artifact: str
    image: str
    weight: float = 1.0
    shadow: bool = False
    instance_type: str = "ml.m5.large"
    instance_count: int = 1
    environment: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class VariantInfo:
    """One variant of an endpoint, as DescribeEndpoint shows it, with traffic."""

    variant_name: str
    model_name: str | None
    weight: float
    shadow: bool = False
    status: str = IN_SERVICE
    # Requests, errors_4xx / errors_5xx, error_rate, latency_p50_ms / p99_ms,
    # as far as the backend knows them (the local front counts them itself).
    traffic: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ServedModel:
    """What one variant of an endpoint serves: its model and that model's
    artifact and image (DescribeEndpoint → its endpoint config → DescribeModel)."""

    variant_name: str
    model_name: str | None
    model_artifact: str | None  # None: the model is gone (deleted by hand)
    image: str | None = None
    shadow: bool = False
    weight: float = 1.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class EndpointInfo:
    endpoint_name: str
    status: str  # InService | Failed | ...
    url: str | None = None  # local: http://127.0.0.1:PORT
    capture_destination: str | None = None
    model_name: str | None = None
    failure_reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ProcessingJobSpec:
    job_name: str
    image: str
    command: str  # "baseline" | "monitor" | "prepare" (ContainerArguments)
    # container path under /opt/ml/processing/ (e.g. "input/endpoint",
    # "baseline/stats") -> local folder / s3 URI
    inputs: dict[str, str]
    output_location: str  # where /opt/ml/processing/output goes
    environment: dict[str, str]  # the Model Monitor contract variables
    instance_type: str = "ml.m5.large"
    max_runtime_seconds: int = 3600

    def __post_init__(self) -> None:
        if self.command not in PROCESSING_COMMANDS:
            raise BackendError(
                f"processing command {self.command!r} is not one of {', '.join(PROCESSING_COMMANDS)}"
            )


def traffic_summary(
    requests: int,
    errors_4xx: int,
    errors_5xx: int,
    latency_p50_ms: float | None,
    latency_p99_ms: float | None,
) -> dict[str, Any]:
    """An endpoint's (or a variant's) traffic, as `endpoint_traffic` reports it."""
    return {
        "requests": requests,
        "errors_4xx": errors_4xx,
        "errors_5xx": errors_5xx,
        "error_rate": round((errors_4xx + errors_5xx) / requests, 4)
        if requests
        else 0.0,
        "latency_p50_ms": latency_p50_ms,
        "latency_p99_ms": latency_p99_ms,
    }


# The image's own paths: where SageMaker mounts a processing job's inputs.
CONTAINER = OptMl()
PROCESSING_ROOT = str(CONTAINER.processing_dir)


def processing_container_path(key: str) -> str:
    """Where a `ProcessingJobSpec.inputs` key is mounted inside the container.

    Keys are relative to /opt/ml/processing ("input/endpoint",
    "baseline/stats"); an absolute key is taken as it is.
    """
    if key.startswith("/"):
        return key
    return f"{PROCESSING_ROOT}/{key.strip('/')}"


def processing_input_key(container_path: Path) -> str:
    """The `ProcessingJobSpec.inputs` key of a path under /opt/ml/processing."""
    return container_path.relative_to(CONTAINER.processing_dir).as_posix()


def join_location(location: str, *parts: str) -> str:
    """A location below `location`: folders and S3 prefixes both join with '/'."""
    return "/".join([location.rstrip("/"), *(part.strip("/") for part in parts)])


@dataclass(frozen=True)
class ProcessingJobResult:
    job_name: str
    status: str  # Completed | Failed
    exit_message: str | None  # /opt/ml/output/message
    output_location: str
    failure_reason: str | None = None
    duration_seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class CaptureFound:
    """What a backend found of an endpoint's data capture for a time window."""

    location: str  # the folder or S3 prefix looked at, for messages
    files: int  # capture files (objects) holding the window's records; 0: none
    waited_seconds: float = 0.0


@dataclass(frozen=True)
class ModelQualityScheduleSpec:
    """The model-quality part of a schedule: captured predictions merged with
    the ground truth collected since, against the model-quality baseline."""

    problem_type: str  # Regression | BinaryClassification | MulticlassClassification
    constraints_location: str  # the model-quality baseline's constraints.json
    ground_truth_location: str  # where `ground-truth` writes the records
    output_location: str  # where each execution's reports go
    # The metric an alarm watches where a scheduler service runs the monitor,
    # and its constraint (constraints.json's threshold and operator).
    alarm_metric: str | None = None
    alarm_threshold: float | None = None
    alarm_operator: str | None = None


@dataclass(frozen=True)
class MonitoringScheduleSpec:
    """`monitor` over each window of an endpoint's capture, every few minutes."""

    schedule_name: str
    endpoint_name: str
    statistics_location: str  # the baseline's statistics.json
    constraints_location: str  # the baseline's constraints.json
    output_location: str  # where each execution's reports go
    schedule_minutes: int
    instance_type: str = "ml.m5.large"
    features: tuple[str, ...] = ()  # an AWS drift alarm watches one metric each
    # Model quality too, when the baseline measured it (the local scheduler
    # monitors it in each window through `monitor`).
    quality: ModelQualityScheduleSpec | None = None
    # The error_rate and latency alert rules, over the endpoint's own traffic:
    # on AWS CloudWatch alarms on these variants' metrics; locally `monitor`
    # evaluates them on each window's request log.
    variant_names: tuple[str, ...] = ("AllTraffic",)
    max_error_rate: float | None = None
    max_latency_p99_ms: float | None = None


# Monitors every window due now, once each; one record per execution.
MonitorDue = Callable[[], list[dict[str, Any]]]


@dataclass(frozen=True)
class ScheduleRun:
    """What `run_monitoring_schedule` did."""

    schedule: dict[str, Any]  # what runs it (name, alarms...): kept in the state
    executions: list[dict[str, Any]]  # the windows monitored by this process


@dataclass(frozen=True)
class TransformCaptureSpec:
    """DataCaptureConfig of CreateTransformJob: where the job's records go."""

    destination: str  # local folder or s3:// prefix
    # Give every record an inference id (and time), so ground truth can be
    # joined to batch predictions as to an endpoint's.
    generate_inference_id: bool = True


@dataclass(frozen=True)
class TransformJobSpec:
    """A batch transform job: `serve` over every object of an input location.

    The request-shaping fields are CreateTransformJob's; None leaves the
    value to the container's GET /execution-parameters, then to SageMaker's
    defaults, as SageMaker does.
    """

    job_name: str
    model_name: str  # the SageMaker model the job runs (created from the artifact)
    model_artifact: str  # path or s3:// URI of model.tar.gz
    image: str
    input_location: str  # local folder or s3:// prefix of the inputs
    output_location: str  # where `<input>.out` files go
    content_type: str = "text/csv"
    split_type: str = "Line"  # None | Line (RecordIO, TFRecord: refused locally)
    accept: str | None = None  # default: content_type
    assemble_with: str = "Line"  # None | Line
    batch_strategy: str | None = None  # SingleRecord | MultiRecord
    max_payload_in_mb: int | None = None
    max_concurrent_transforms: int | None = None
    input_filter: str = "$"
    join_source: str = "None"  # None | Input
    output_filter: str = "$"
    invocation_timeout_seconds: int = 600  # ModelClientConfig, 1-3600
    instance_type: str = "ml.m5.large"
    instance_count: int = 1
    environment: dict[str, str] = field(default_factory=dict)
    capture: TransformCaptureSpec | None = None


@dataclass(frozen=True)
class TransformJobResult:
    job_name: str
    status: str  # Completed | Failed | Stopped
    output_location: str
    failure_reason: str | None = None
    duration_seconds: float = 0.0
    records: int | None = None  # records transformed, where the backend counts them
    outputs: tuple[str, ...] = ()  # the `.out` files / objects written
    capture_destination: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# Hyperparameter range kinds and objective directions, as SageMaker spells them.
RANGE_KINDS = ("Integer", "Continuous", "Categorical")
SCALING_TYPES = ("Auto", "Linear", "Logarithmic", "ReverseLogarithmic")
OBJECTIVE_TYPES = ("Maximize", "Minimize")
TUNING_STRATEGIES = ("Bayesian", "Random", "Hyperband", "Grid")


@dataclass(frozen=True)
class ParameterRange:
    """One searched hyperparameter: an integer or continuous interval, or values."""

    name: str
    kind: str  # Integer | Continuous | Categorical
    min_value: str | None = None  # strings, as SageMaker passes them
    max_value: str | None = None
    scaling: str = "Auto"
    values: tuple[str, ...] = ()  # Categorical only


@dataclass(frozen=True)
class TuningJobSpec:
    """A hyperparameter tuning job: training jobs over `ranges`, best by objective.

    `training` holds what every trial shares (image, channels, the static
    hyperparameters, instance); each trial overrides the searched names.
    """

    tuning_job_name: str  # at most 32 characters on SageMaker
    training: TrainingJobSpec
    objective_metric: str  # a `name=value` metric `train` prints
    objective_type: str  # Maximize | Minimize
    ranges: tuple[ParameterRange, ...]
    strategy: str = "Random"
    max_jobs: int = 4
    max_parallel_jobs: int = 2
    early_stopping: str = "Off"  # Off | Auto
    random_seed: int | None = None


@dataclass(frozen=True)
class TrialResult:
    """One training job of a tuning job."""

    job_name: str
    status: str  # Completed | Failed | Stopped
    hyperparameters: dict[str, str]  # the searched values of this trial
    objective_value: float | None
    metrics: dict[str, float]
    model_artifact: str | None
    failure_reason: str | None = None
    duration_seconds: float = 0.0


@dataclass(frozen=True)
class TuningJobResult:
    tuning_job_name: str
    status: str  # Completed | Failed | Stopped
    trials: tuple[TrialResult, ...]
    best_job_name: str | None
    failure_reason: str | None = None
    duration_seconds: float = 0.0

    @property
    def best(self) -> TrialResult | None:
        return next((t for t in self.trials if t.job_name == self.best_job_name), None)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@runtime_checkable
class Backend(Protocol):
    """Where the lifecycle's jobs and endpoints run."""

    name: str  # "local" | "aws"

    def location(self, *parts: str) -> str:
        """Where the project's jobs write `parts`: a folder, or an s3:// prefix."""
        ...

    def registry(self) -> ModelRegistry:
        """The model registry next to this backend's artifacts."""
        ...

    def image_digest(self) -> str | None:
        """The image's digest (local image id, ECR digest), as lineage of a run."""
        ...

    def upload_data(self, local_dir: Path, prefix: str) -> str:
        """Make a local folder available to jobs; returns its folder / s3 prefix."""
        ...

    def ensure_image(self) -> str:
        """Make sure the image exists where jobs run; returns its tag / ECR URI."""
        ...

    def run_training_job(
        self, spec: TrainingJobSpec, progress: Progress
    ) -> TrainingJobResult:
        """Run `train` to the end, reporting progress; never raises on job failure."""
        ...

    def create_endpoint(self, spec: EndpointSpec) -> EndpointInfo:
        """Start serving `spec.model_artifact`; returns once InService or Failed.

        A backend may instead raise `EndpointFailed` after removing what failed.
        """
        ...

    def update_endpoint(self, spec: EndpointSpec) -> EndpointInfo:
        """Switch an existing endpoint to a new model version.

        Raises `UpdateRolledBack` when the endpoint keeps serving the old one.
        """
        ...

    def invoke_endpoint(
        self,
        endpoint_name: str,
        body: bytes,
        content_type: str,
        accept: str,
        inference_id: str | None = None,
        target_variant: str | None = None,
    ) -> bytes:
        """One request to /invocations; a 4xx/5xx raises `BackendError`.

        `target_variant` sends it to that production variant (InvokeEndpoint's
        TargetVariant) instead of one drawn by the variants' weights.
        """
        ...

    def deploy_variant(
        self, endpoint_name: str, spec: VariantSpec
    ) -> list[VariantInfo]:
        """Add `spec` to an existing endpoint's variants, or replace the
        variant of that name; returns the endpoint's variants.

        The other variants keep serving throughout. A variant that does not
        come up leaves the endpoint as it was and raises `UpdateRolledBack`.
        """
        ...

    def set_variant_weights(
        self, endpoint_name: str, weights: dict[str, float]
    ) -> list[VariantInfo]:
        """New traffic weights for some variants (UpdateEndpointWeightsAndCapacities)."""
        ...

    def remove_variants(
        self, endpoint_name: str, names: list[str]
    ) -> list[VariantInfo]:
        """Take variants out of an endpoint (at least one production variant stays)."""
        ...

    def describe_variants(self, endpoint_name: str) -> list[VariantInfo]:
        """The endpoint's variants, weights and the traffic each has answered."""
        ...

    def describe_endpoint_models(self, endpoint_name: str) -> list[ServedModel]:
        """What each variant of the endpoint serves, down to its model.tar.gz:
        the link from an endpoint to the model version it runs (`lineage`).

        Raises `ResourceNotFound` for an endpoint that does not exist.
        """
        ...

    def run_processing_job(
        self, spec: ProcessingJobSpec, progress: Progress
    ) -> ProcessingJobResult:
        """Run `baseline` or `monitor` to the end; never raises on job failure."""
        ...

    def run_transform_job(
        self, spec: TransformJobSpec, progress: Progress
    ) -> TransformJobResult:
        """Run a batch transform job to the end; never raises on job failure."""
        ...

    def run_tuning_job(
        self, spec: TuningJobSpec, progress: Progress
    ) -> TuningJobResult:
        """Run a tuning job's trials to the end; never raises on job failure."""
        ...

    def endpoint_traffic(
        self, endpoint_name: str, variants: list[str], start: str, end: str
    ) -> dict[str, dict[str, Any]]:
        """[start, end)'s requests, errors_4xx, errors_5xx, error_rate and
        latency_p50_ms / latency_p99_ms, per variant and under "all"
        (`variants`: the ones the project deployed)."""
        ...

    def upsert_pipeline(
        self, name: str, definition: dict[str, Any], tags: dict[str, str]
    ) -> str:
        """Create or update a SageMaker Pipeline; its ARN. Only SageMaker runs
        pipelines: locally `pipeline run --local` uses the SDK's local mode."""
        ...

    def start_pipeline(self, name: str, parameters: dict[str, str]) -> str:
        """Start an execution (parameters override the defaults); its ARN."""
        ...

    def pipeline_status(self, name: str, execution_arn: str | None) -> dict[str, Any]:
        """An execution (the latest when None) and its steps."""
        ...

    def fetch(self, location: str, local_dir: Path) -> Path:
        """Bring an artifact or report location to a folder on this machine."""
        ...

    def wait_for_capture(
        self,
        destination: str,
        endpoint_name: str,
        start: str,
        end: str,
        progress: Progress,
        wait: bool = True,
    ) -> CaptureFound:
        """The capture of [start, end) (ISO 8601 UTC) under `destination`.

        With `wait`, a backend whose capture is written after the responses
        (SageMaker's, asynchronously) waits, within its bound and reporting
        progress, until the window's capture is there; `files == 0` means none
        came. Without, it looks once. Local capture is written before each
        response, so the local backend never waits.
        """
        ...

    def delete_endpoint(self, endpoint_name: str) -> None:
        """Stop and remove an endpoint (its containers or AWS resources)."""
        ...

    def run_monitoring_schedule(
        self,
        spec: MonitoringScheduleSpec,
        monitor_due: MonitorDue,
        say: Progress,
        progress: Progress,
        once: bool = False,
        max_runs: int | None = None,
    ) -> ScheduleRun:
        """Have `monitor` run over each window of `spec`'s endpoint from now on.

        Where a scheduler service exists (SageMaker's monitoring schedules)
        this creates or updates one, with its alarms, and monitors nothing
        itself. Where none does (this machine), this process is the
        scheduler: it calls `monitor_due` now and, unless `once`, again at
        each window's end, until `max_runs` executions.
        """
        ...

    def status(self) -> dict:
        """Jobs and endpoints with their states, as plain JSON-able data."""
        ...

    def cleanup(self) -> list[str]:
        """Remove what of this project still runs besides the endpoint; its ids."""
        ...

"""SageMaker environment variables, named once, read once, typed and validated.

Every environment variable the image reads is named here as a constant, and
read through one of the small `*Settings` classes below. Each class has a
`from_env(environ=None)` constructor that raises `SettingsError` naming the
variable, the value received and what is allowed.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from container.contract.errors import SettingsError

# --- serving (real-time and batch transform) ----------------------------------
BIND_TO_PORT = "SAGEMAKER_BIND_TO_PORT"
# Checked but not used: `serve` opens only the serving port (docs/serving.md).
SAFE_PORT_RANGE = "SAGEMAKER_SAFE_PORT_RANGE"
MODEL_SERVER_WORKERS = "SAGEMAKER_MODEL_SERVER_WORKERS"
MODEL_SERVER_TIMEOUT = "SAGEMAKER_MODEL_SERVER_TIMEOUT"
DEFAULT_INVOCATIONS_ACCEPT = "SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT"
BATCH = "SAGEMAKER_BATCH"
MAX_PAYLOAD_IN_MB = "SAGEMAKER_MAX_PAYLOAD_IN_MB"
BATCH_STRATEGY = "SAGEMAKER_BATCH_STRATEGY"
MAX_CONCURRENT_TRANSFORMS = "SAGEMAKER_MAX_CONCURRENT_TRANSFORMS"
# Our own: return class probabilities unless a request says otherwise.
RETURN_PROBABILITIES = "SKLEARN_BYOC_RETURN_PROBABILITIES"
# Our own: nginx in front of the workers (on/off; auto, the default: on when
# nginx is installed, as it is in the image).
FRONT_PROXY = "SKLEARN_BYOC_FRONT_PROXY"
FRONT_PROXY_AUTO = "auto"
# Our own: predict with the bundle's model.onnx when it has a good one.
COMPILED_PREDICTOR = "SKLEARN_BYOC_COMPILED_PREDICTOR"

# --- data capture (done by the platform on SageMaker; by the server locally) --
CAPTURE_DESTINATION = "SKLEARN_BYOC_CAPTURE_DESTINATION"
CAPTURE_SAMPLING_PERCENTAGE = "SKLEARN_BYOC_CAPTURE_SAMPLING_PERCENTAGE"
CAPTURE_MODES = "SKLEARN_BYOC_CAPTURE_MODES"
CAPTURE_CSV_CONTENT_TYPES = "SKLEARN_BYOC_CAPTURE_CSV_CONTENT_TYPES"
CAPTURE_JSON_CONTENT_TYPES = "SKLEARN_BYOC_CAPTURE_JSON_CONTENT_TYPES"
ENDPOINT_NAME = "SKLEARN_BYOC_ENDPOINT_NAME"
VARIANT_NAME = "SKLEARN_BYOC_VARIANT_NAME"

# --- training ------------------------------------------------------------------
TRAINING_JOB_NAME = "TRAINING_JOB_NAME"
TRAINING_JOB_ARN = "TRAINING_JOB_ARN"
SM_HPS = "SM_HPS"
SM_HP_PREFIX = "SM_HP_"
SM_CHANNELS = "SM_CHANNELS"
SM_CHANNEL_PREFIX = "SM_CHANNEL_"
SM_MODEL_DIR = "SM_MODEL_DIR"
SM_OUTPUT_DATA_DIR = "SM_OUTPUT_DATA_DIR"
SM_CURRENT_HOST = "SM_CURRENT_HOST"  # resourceconfig.json wins (training/cluster.py)
SM_HOSTS = "SM_HOSTS"
SM_NUM_CPUS = "SM_NUM_CPUS"  # the estimator's n_jobs, unless a hyperparameter sets it

# --- processing jobs: Model Monitor contract -----------------------------------
DATASET_FORMAT = "dataset_format"
DATASET_SOURCE = "dataset_source"
OUTPUT_PATH = "output_path"
START_TIME = "start_time"
END_TIME = "end_time"
PUBLISH_CLOUDWATCH_METRICS = "publish_cloudwatch_metrics"
MONITOR_ENDPOINT_NAME = "sagemaker_endpoint_name"
MONITORING_SCHEDULE_NAME = "sagemaker_monitoring_schedule_name"
BASELINE_CONSTRAINTS = "baseline_constraints"
BASELINE_STATISTICS = "baseline_statistics"
RECORD_PREPROCESSOR_SCRIPT = "record_preprocessor_script"
POST_ANALYTICS_PROCESSOR_SCRIPT = "post_analytics_processor_script"
CATEGORICAL_DRIFT_METHOD = "categorical_drift_method"
# Model quality (the SDK's ModelQualityMonitor sets these; read by
# container.monitoring.quality_settings).
ANALYSIS_TYPE = "analysis_type"
PROBLEM_TYPE = "problem_type"
INFERENCE_ATTRIBUTE = "inference_attribute"
PROBABILITY_ATTRIBUTE = "probability_attribute"
PROBABILITY_THRESHOLD_ATTRIBUTE = "probability_threshold_attribute"
GROUND_TRUTH_ATTRIBUTE = "ground_truth_attribute"
GROUND_TRUTH_SOURCE = "ground_truth_source"

DEFAULT_PORT = 8080
DEFAULT_TIMEOUT_SECONDS = 60
REALTIME_MAX_PAYLOAD_BYTES = 6 * 1024 * 1024  # InvokeEndpoint's body limit
BATCH_DEFAULT_MAX_PAYLOAD_MB = 6
BATCH_MAX_PAYLOAD_MB_LIMIT = 100
BATCH_STRATEGIES = ("SINGLE_RECORD", "MULTI_RECORD")

Environ = Mapping[str, str]


# --- parsing helpers -------------------------------------------------------------
def _env(environ: Environ | None) -> Environ:
    return os.environ if environ is None else environ


def _raw(env: Environ, name: str) -> str | None:
    value = env.get(name)
    if value is None or value.strip() == "":
        return None
    return value.strip()


def parse_int(
    env: Environ,
    name: str,
    default: int | None,
    minimum: int | None = None,
    maximum: int | None = None,
) -> int | None:
    raw = _raw(env, name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not a whole number") from None
    if (
        minimum is not None
        and value < minimum
        or maximum is not None
        and value > maximum
    ):
        bounds = (
            f"between {minimum} and {maximum}"
            if maximum is not None
            else f">= {minimum}"
        )
        raise SettingsError(f"{name}={value} is out of range: expected {bounds}")
    return value


def parse_float(
    env: Environ, name: str, default: float, minimum: float, maximum: float
) -> float:
    raw = _raw(env, name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not a number") from None
    if not minimum <= value <= maximum:
        raise SettingsError(
            f"{name}={value} is out of range: expected {minimum} to {maximum}"
        )
    return value


# The one spelling of yes and no for every flag the image reads: environment
# variables, hyperparameters, Accept parameters, custom attributes and
# dataset_format options. Model Monitor writes Enabled/Disabled.
TRUE_WORDS = frozenset({"1", "true", "yes", "on", "enabled"})
FALSE_WORDS = frozenset({"0", "false", "no", "off", "disabled"})


def parse_flag(
    raw: str,
    extra_true: tuple[str, ...] = (),
    extra_false: tuple[str, ...] = (),
) -> bool | None:
    """True or False for a yes/no word (any case), None for anything else."""
    word = raw.strip().lower()
    if word in TRUE_WORDS or word in extra_true:
        return True
    if word in FALSE_WORDS or word in extra_false:
        return False
    return None


def parse_bool(env: Environ, name: str, default: bool) -> bool:
    raw = _raw(env, name)
    if raw is None:
        return default
    value = parse_flag(raw)
    if value is not None:
        return value
    raise SettingsError(
        f"{name}={raw!r} is not a boolean: use true/false (or Enabled/Disabled)"
    )


def parse_list(env: Environ, name: str, default: tuple[str, ...]) -> tuple[str, ...]:
    """A comma-separated list, or a JSON array."""
    raw = _raw(env, name)
    if raw is None:
        return default
    if raw.startswith("["):
        try:
            items = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise SettingsError(f"{name} is not a valid JSON array: {exc}") from None
        if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
            raise SettingsError(f"{name} must be a JSON array of strings")
        return tuple(i.strip() for i in items if i.strip())
    return tuple(part.strip() for part in raw.split(",") if part.strip())


# --- serving -----------------------------------------------------------------------
@dataclass(frozen=True)
class ServingSettings:
    port: int = DEFAULT_PORT
    safe_port_range: tuple[int, int] | None = None
    workers: int | None = None  # None: the server picks from the CPU count
    timeout_seconds: int = DEFAULT_TIMEOUT_SECONDS
    default_accept: str | None = None
    return_probabilities: bool = False
    compiled_predictor: bool = True
    batch: bool = False
    batch_strategy: str | None = None
    max_concurrent_transforms: int | None = None
    # Batch only (realtime uses the API's 6 MB). 0 is SageMaker's "no limit"
    # (one record per request, streamed): we still cap it at the API's 100 MB.
    max_payload_mb: int | None = None
    # None: auto (on when nginx is installed); True/False: forced.
    front_proxy: bool | None = None

    @property
    def max_payload_bytes(self) -> int:
        if not self.batch:
            return REALTIME_MAX_PAYLOAD_BYTES
        if self.max_payload_mb is None:
            return BATCH_DEFAULT_MAX_PAYLOAD_MB * 1024 * 1024
        return (self.max_payload_mb or BATCH_MAX_PAYLOAD_MB_LIMIT) * 1024 * 1024

    @classmethod
    def from_env(cls, environ: Environ | None = None) -> ServingSettings:
        env = _env(environ)
        strategy = _raw(env, BATCH_STRATEGY)
        if strategy is not None:
            strategy = strategy.upper()
            if strategy not in BATCH_STRATEGIES:
                raise SettingsError(
                    f"{BATCH_STRATEGY}={strategy!r} is not one of {', '.join(BATCH_STRATEGIES)}"  # noqa: E501
                )
        return cls(
            port=parse_int(env, BIND_TO_PORT, DEFAULT_PORT, 1, 65535),
            safe_port_range=_parse_port_range(env),
            workers=parse_int(env, MODEL_SERVER_WORKERS, None, 1, 64),
            timeout_seconds=parse_int(
                env, MODEL_SERVER_TIMEOUT, DEFAULT_TIMEOUT_SECONDS, 1, 3600
            ),
            default_accept=_raw(env, DEFAULT_INVOCATIONS_ACCEPT),
            return_probabilities=parse_bool(env, RETURN_PROBABILITIES, False),
            compiled_predictor=parse_bool(env, COMPILED_PREDICTOR, True),
            batch=parse_bool(env, BATCH, False),
            batch_strategy=strategy,
            max_concurrent_transforms=parse_int(
                env, MAX_CONCURRENT_TRANSFORMS, None, 1, 100
            ),
            max_payload_mb=parse_int(
                env, MAX_PAYLOAD_IN_MB, None, 0, BATCH_MAX_PAYLOAD_MB_LIMIT
            ),
            front_proxy=_parse_front_proxy(env),
        )


def _parse_front_proxy(env: Environ) -> bool | None:
    raw = _raw(env, FRONT_PROXY)
    if raw is None or raw.lower() == FRONT_PROXY_AUTO:
        return None
    value = parse_flag(raw)
    if value is None:
        raise SettingsError(f"{FRONT_PROXY}={raw!r} is not one of on, off, auto")
    return value


def _parse_port_range(env: Environ) -> tuple[int, int] | None:
    raw = _raw(env, SAFE_PORT_RANGE)
    if raw is None:
        return None
    try:
        low, high = (int(p) for p in raw.split("-", 1))
    except ValueError:
        raise SettingsError(
            f"{SAFE_PORT_RANGE}={raw!r} is not a port range: expected 'XXXX-YYYY'"
        ) from None
    if not 1 <= low <= high <= 65535:
        raise SettingsError(
            f"{SAFE_PORT_RANGE}={raw!r} is not a valid inclusive port range"
        )
    return low, high


@dataclass(frozen=True)
class CaptureSettings:
    """Local data capture in SageMaker's JSON Lines layout; off with no destination."""

    destination: str | None = None
    sampling_percentage: float = 100.0
    capture_input: bool = True
    capture_output: bool = True
    csv_content_types: tuple[str, ...] = ("text/csv",)
    json_content_types: tuple[str, ...] = ("application/json",)
    endpoint_name: str = "local-endpoint"
    variant_name: str = "AllTraffic"

    @property
    def enabled(self) -> bool:
        return self.destination is not None and self.sampling_percentage > 0

    @classmethod
    def from_env(cls, environ: Environ | None = None) -> CaptureSettings:
        env = _env(environ)
        modes = {m.lower() for m in parse_list(env, CAPTURE_MODES, ("Input", "Output"))}
        unknown = modes - {"input", "output"}
        if unknown:
            raise SettingsError(
                f"{CAPTURE_MODES} has {sorted(unknown)}: "
                "allowed modes are Input and Output"
            )
        return cls(
            destination=_raw(env, CAPTURE_DESTINATION),
            sampling_percentage=parse_float(
                env, CAPTURE_SAMPLING_PERCENTAGE, 100.0, 0.0, 100.0
            ),
            capture_input="input" in modes,
            capture_output="output" in modes,
            csv_content_types=parse_list(env, CAPTURE_CSV_CONTENT_TYPES, ("text/csv",)),
            json_content_types=parse_list(
                env, CAPTURE_JSON_CONTENT_TYPES, ("application/json",)
            ),
            endpoint_name=_raw(env, ENDPOINT_NAME) or "local-endpoint",
            variant_name=_raw(env, VARIANT_NAME) or "AllTraffic",
        )


# --- training ----------------------------------------------------------------------
@dataclass(frozen=True)
class TrainingEnvironment:
    """What a training job learns from its environment (beyond /opt/ml files)."""

    job_name: str | None = None
    job_arn: str | None = None
    # Hyperparameters given the official training toolkit's way (SM_HPS / SM_HP_*),
    # as strings, like hyperparameters.json.
    hyperparameters: dict[str, str] = field(default_factory=dict)
    channels: dict[str, str] = field(default_factory=dict)  # SM_CHANNEL_<NAME> → folder
    model_dir: str | None = None
    output_data_dir: str | None = None
    # The training toolkit's names for resourceconfig.json's facts; the file wins.
    current_host: str | None = None
    hosts: tuple[str, ...] = ()
    num_cpus: int | None = None

    @classmethod
    def from_env(cls, environ: Environ | None = None) -> TrainingEnvironment:
        env = _env(environ)
        return cls(
            job_name=_raw(env, TRAINING_JOB_NAME),
            job_arn=_raw(env, TRAINING_JOB_ARN),
            hyperparameters=_toolkit_hyperparameters(env),
            channels={
                k[len(SM_CHANNEL_PREFIX) :].lower(): v
                for k, v in env.items()
                if k.startswith(SM_CHANNEL_PREFIX) and v
            },
            model_dir=_raw(env, SM_MODEL_DIR),
            output_data_dir=_raw(env, SM_OUTPUT_DATA_DIR),
            current_host=_raw(env, SM_CURRENT_HOST),
            hosts=parse_list(env, SM_HOSTS, ()),
            num_cpus=parse_int(env, SM_NUM_CPUS, None, 1),
        )


def _toolkit_hyperparameters(env: Environ) -> dict[str, str]:
    """SM_HPS (a JSON object) overlaid by SM_HP_<NAME> variables, all as strings."""
    hps: dict[str, str] = {}
    raw = _raw(env, SM_HPS)
    if raw is not None:
        try:
            parsed = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise SettingsError(f"{SM_HPS} is not valid JSON: {exc}") from None
        if not isinstance(parsed, dict):
            raise SettingsError(f"{SM_HPS} must be a JSON object of hyperparameters")
        hps.update({str(k): _as_string(v) for k, v in parsed.items()})
    known = {k.lower(): k for k in hps}
    for key, value in env.items():
        if key.startswith(SM_HP_PREFIX) and key != SM_HPS:
            name = key[len(SM_HP_PREFIX) :].lower()
            hps[known.get(name, name)] = value
    return hps


def _as_string(value: object) -> str:
    # The toolkit serialises non-string values as JSON; hyperparameters.json
    # holds strings.
    return value if isinstance(value, str) else json.dumps(value)


# --- processing jobs (Model Monitor contract) -----------------------------------
@dataclass(frozen=True)
class MonitoringJobSettings:
    """The Model Monitor processing-job environment, unparsed beyond presence.

    The monitoring package validates the contents (JSON of dataset_format,
    ISO 8601 times) where it knows what they mean.
    """

    dataset_format: str | None = None
    dataset_source: str | None = None
    output_path: str | None = None
    start_time: str | None = None
    end_time: str | None = None
    publish_cloudwatch_metrics: bool = False
    endpoint_name: str | None = None
    monitoring_schedule_name: str | None = None
    baseline_constraints: str | None = None
    baseline_statistics: str | None = None
    record_preprocessor_script: str | None = None
    post_analytics_processor_script: str | None = None
    categorical_drift_method: str | None = None

    @classmethod
    def from_env(cls, environ: Environ | None = None) -> MonitoringJobSettings:
        env = _env(environ)
        return cls(
            dataset_format=_raw(env, DATASET_FORMAT),
            dataset_source=_raw(env, DATASET_SOURCE),
            output_path=_raw(env, OUTPUT_PATH),
            start_time=_raw(env, START_TIME),
            end_time=_raw(env, END_TIME),
            publish_cloudwatch_metrics=parse_bool(
                env, PUBLISH_CLOUDWATCH_METRICS, False
            ),
            endpoint_name=_raw(env, MONITOR_ENDPOINT_NAME),
            monitoring_schedule_name=_raw(env, MONITORING_SCHEDULE_NAME),
            baseline_constraints=_raw(env, BASELINE_CONSTRAINTS),
            baseline_statistics=_raw(env, BASELINE_STATISTICS),
            record_preprocessor_script=_raw(env, RECORD_PREPROCESSOR_SCRIPT),
            post_analytics_processor_script=_raw(env, POST_ANALYTICS_PROCESSOR_SCRIPT),
            categorical_drift_method=_raw(env, CATEGORICAL_DRIFT_METHOD),
        )

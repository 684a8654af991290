"""The specs the lifecycle's steps hand a backend, from the config and the contract.

Every path inside the image comes from `container.paths` (an `OptMl` at the
image's /opt/ml) and every environment variable name from
`container.settings`, so the contract is typed once. A processing job's
inputs are keyed by their path below /opt/ml/processing (``input/endpoint``),
which is where both backends mount them; the Model Monitor environment then
names the same paths.
"""

from __future__ import annotations

import json
from dataclasses import replace

from container.contract import settings
from orchestration.backends.base import (
    CONTAINER,
    CaptureSpec,
    EndpointSpec,
    ParameterRange,
    ProcessingJobSpec,
    TrainingJobSpec,
    TransformCaptureSpec,
    TransformJobSpec,
    TuningJobSpec,
    join_location,
    processing_container_path,
    processing_input_key,
)
from orchestration.config import ConfigError, ProjectConfig, RangeConfig
from orchestration.tuning import unknown_names

CHANNELS = ("train", "validation", "test")
# What `ingest` lays out and the image's `prepare` job reads, each an input.
PREPARATION_INPUTS = ("raw", "annotations", "settings")
PREPARED_OUTPUT = "prepared"  # below /opt/ml/processing/output
CAPTURE_FORMAT = {
    "sagemakerCaptureJson": {"captureIndexNames": ["endpointInput", "endpointOutput"]}
}
BASELINE_FORMAT = {"csv": {"header": True, "output_columns_position": "START"}}
# Where each processing input is mounted, as a key below /opt/ml/processing.
ENDPOINT_INPUT = processing_input_key(CONTAINER.endpoint_input_dir)
BASELINE_INPUT = processing_input_key(CONTAINER.baseline_dataset_dir)
STATISTICS_INPUT = processing_input_key(CONTAINER.baseline_statistics_file.parent)
CONSTRAINTS_INPUT = processing_input_key(CONTAINER.baseline_constraints_file.parent)
GROUND_TRUTH_INPUT = "groundtruth"  # /opt/ml/processing/groundtruth
# The deployed model's bundle (model.tar.gz's contents), where the image's
# model-quality monitor reads its calibration: /opt/ml/processing/input/model.
MODEL_INPUT = processing_input_key(CONTAINER.processing_input_dir / "model")
MODEL_QUALITY = "MODEL_QUALITY"
# The model-quality baseline dataset's columns (orchestration.quality writes it).
QUALITY_FORMAT = {"csv": {"header": True}}
QUALITY_COLUMNS = {
    settings.GROUND_TRUTH_ATTRIBUTE: "label",
    settings.INFERENCE_ATTRIBUTE: "prediction",
}


def training(
    config: ProjectConfig,
    job_name: str,
    image: str,
    channels: dict[str, str],
    output_location: str,
) -> TrainingJobSpec:
    """`train` on the three channels, with the config's hyperparameters (strings)."""
    cfg = config.training
    return TrainingJobSpec(
        job_name=job_name,
        image=image,
        hyperparameters=dict(cfg.hyperparameters),
        channels={channel: channels[channel] for channel in CHANNELS},
        instance_type=cfg.instance_type,
        max_runtime_seconds=cfg.max_runtime_seconds,
        output_location=output_location,
    )


def tuning(
    config: ProjectConfig, tuning_job_name: str, training_spec: TrainingJobSpec
) -> TuningJobSpec:
    """The config's `tuning:` over `training_spec`, which every trial shares.

    Searched names the image's `train` does not take are refused here when
    that is cheap to know (`orchestration.tuning.unknown_names`).
    """
    cfg = config.tuning
    if cfg is None:
        raise ConfigError(
            f"{config.source}: `tune` needs a `tuning:` section (see config/penguins.yaml)"
        )
    ranges = tuple(_parameter_range(r) for r in cfg.ranges)
    refused = unknown_names(ranges, training_spec.hyperparameters)
    if refused:
        raise ConfigError(f"{config.source}: tuning.ranges {refused}")
    return TuningJobSpec(
        tuning_job_name=tuning_job_name,
        training=training_spec,
        objective_metric=cfg.objective_metric,
        objective_type=cfg.objective_type,
        ranges=ranges,
        strategy=cfg.strategy,
        max_jobs=cfg.max_jobs,
        max_parallel_jobs=cfg.max_parallel_jobs,
        early_stopping=cfg.early_stopping,
        random_seed=cfg.random_seed,
    )


def _parameter_range(r: RangeConfig) -> ParameterRange:
    if r.kind == "Categorical":
        return ParameterRange(r.name, r.kind, values=r.values)
    # Strings, as SageMaker's ParameterRanges take them.
    number = int if r.kind == "Integer" else float
    return ParameterRange(
        r.name,
        r.kind,
        min_value=str(number(r.min_value)),
        max_value=str(number(r.max_value)),
        scaling=r.scaling,
    )


def transform(
    config: ProjectConfig,
    job_name: str,
    model_artifact: str,
    image: str,
    locations: tuple[str, str],
    capture_location: str | None,
) -> TransformJobSpec:
    """A batch transform job of `model_artifact` over `locations` (input, output),
    with the endpoint's environment under the transform's own."""
    cfg = config.transform
    input_location, output_location = locations
    return TransformJobSpec(
        job_name=job_name,
        model_name=job_name,
        model_artifact=model_artifact,
        image=image,
        input_location=input_location,
        output_location=output_location,
        content_type=cfg.content_type,
        split_type=cfg.split_type,
        accept=cfg.accept,
        assemble_with=cfg.assemble_with,
        batch_strategy=cfg.batch_strategy,
        max_payload_in_mb=cfg.max_payload_in_mb,
        max_concurrent_transforms=cfg.max_concurrent_transforms,
        input_filter=cfg.input_filter,
        join_source=cfg.join_source,
        output_filter=cfg.output_filter,
        invocation_timeout_seconds=cfg.invocation_timeout_seconds,
        instance_type=cfg.instance_type,
        instance_count=cfg.instance_count,
        environment={**config.endpoint.environment, **cfg.environment},
        capture=(
            TransformCaptureSpec(capture_location)
            if capture_location and cfg.capture
            else None
        ),
    )


def endpoint(
    config: ProjectConfig,
    model_name: str,
    model_artifact: str,
    image: str,
    capture_location: str,
) -> EndpointSpec:
    """The configured endpoint serving `model_artifact`, capturing its traffic."""
    ep = config.endpoint
    return EndpointSpec(
        endpoint_name=ep.name,
        model_name=model_name,
        model_artifact=model_artifact,
        image=image,
        instance_type=ep.instance_type,
        instance_count=ep.instance_count,
        capture=CaptureSpec(
            destination=capture_location,
            sampling_percentage=ep.capture_sampling_percentage,
        ),
        environment=dict(ep.environment),
    )


def baseline(
    config: ProjectConfig,
    job_name: str,
    image: str,
    dataset_location: str,
    output_location: str,
) -> ProcessingJobSpec:
    """`baseline` on the training features (a CSV with a header)."""
    return ProcessingJobSpec(
        job_name=job_name,
        image=image,
        command="baseline",
        inputs={BASELINE_INPUT: dataset_location},
        output_location=output_location,
        environment=baseline_environment(),
        instance_type=config.monitoring.instance_type,
    )


def preparation(
    config: ProjectConfig,
    job_name: str,
    image: str,
    raw_location: str,
    output_location: str,
) -> ProcessingJobSpec:
    """`prepare` as a processing job over what `ingest` uploaded (raw/,
    annotations/, settings/), writing the splits to output/prepared."""
    return ProcessingJobSpec(
        job_name=job_name,
        image=image,
        command="prepare",
        inputs={
            processing_input_key(CONTAINER.processing_input_dir / part): join_location(
                raw_location, part
            )
            for part in PREPARATION_INPUTS
            if part != "annotations" or config.data.annotations is not None
        },
        output_location=output_location,
        environment={},
        instance_type=config.monitoring.instance_type,
    )


def baseline_environment() -> dict[str, str]:
    """The Model Monitor variables of a data-quality baseline job."""
    return {
        settings.DATASET_FORMAT: json.dumps(BASELINE_FORMAT),
        settings.DATASET_SOURCE: str(CONTAINER.baseline_dataset_dir),
        settings.OUTPUT_PATH: str(CONTAINER.processing_output_dir),
        settings.PUBLISH_CLOUDWATCH_METRICS: "Disabled",
    }


def monitor(
    config: ProjectConfig,
    job_name: str,
    image: str,
    window: tuple[str, str],
    endpoint_name: str,
    capture_location: str,
    baseline_files: tuple[str, str],
    output_location: str,
    schedule_name: str,
) -> ProcessingJobSpec:
    """`monitor` over a window of capture, against (statistics, constraints) files."""
    statistics, constraints = baseline_files
    start, end = window
    return ProcessingJobSpec(
        job_name=job_name,
        image=image,
        command="monitor",
        inputs={
            ENDPOINT_INPUT: capture_location,
            STATISTICS_INPUT: statistics,
            CONSTRAINTS_INPUT: constraints,
        },
        output_location=output_location,
        environment={
            settings.DATASET_FORMAT: json.dumps(CAPTURE_FORMAT),
            settings.DATASET_SOURCE: str(CONTAINER.endpoint_input_dir),
            settings.OUTPUT_PATH: str(CONTAINER.processing_output_dir),
            settings.START_TIME: start,
            settings.END_TIME: end,
            settings.PUBLISH_CLOUDWATCH_METRICS: "Enabled",
            settings.MONITOR_ENDPOINT_NAME: endpoint_name,
            settings.MONITORING_SCHEDULE_NAME: schedule_name,
            settings.BASELINE_STATISTICS: str(CONTAINER.baseline_statistics_file),
            settings.BASELINE_CONSTRAINTS: str(CONTAINER.baseline_constraints_file),
        },
        instance_type=config.monitoring.instance_type,
    )


def quality_baseline(
    config: ProjectConfig,
    job_name: str,
    image: str,
    dataset_location: str,
    output_location: str,
    problem_type: str,
    with_probability: bool = False,
) -> ProcessingJobSpec:
    """`baseline` with analysis_type=MODEL_QUALITY over (label, prediction) rows."""
    environment = {
        settings.ANALYSIS_TYPE: MODEL_QUALITY,
        settings.PROBLEM_TYPE: problem_type,
        **QUALITY_COLUMNS,
        settings.DATASET_FORMAT: json.dumps(QUALITY_FORMAT),
        settings.DATASET_SOURCE: str(CONTAINER.baseline_dataset_dir),
        settings.OUTPUT_PATH: str(CONTAINER.processing_output_dir),
        settings.PUBLISH_CLOUDWATCH_METRICS: "Disabled",
    }
    if with_probability:
        environment[settings.PROBABILITY_ATTRIBUTE] = "probability"
    return ProcessingJobSpec(
        job_name=job_name,
        image=image,
        command="baseline",
        inputs={BASELINE_INPUT: dataset_location},
        output_location=output_location,
        environment=environment,
        instance_type=config.monitoring.instance_type,
    )


def for_variant(spec: ProcessingJobSpec, endpoint: dict) -> ProcessingJobSpec:
    """`spec` reading only the capture of `endpoint["variant"]`, when one is named.

    The variant's folder is mounted where it lies in the capture layout
    (``input/endpoint/<endpoint>/<variant>``), so `monitor` finds the same
    ``{endpoint}/{variant}/yyyy/mm/dd/hh`` tree holding that variant alone.
    """
    variant = endpoint.get("variant")
    if not variant:
        return spec
    inputs = dict(spec.inputs)
    capture = inputs.pop(ENDPOINT_INPUT)
    name = endpoint["name"]
    inputs[f"{ENDPOINT_INPUT}/{name}/{variant}"] = join_location(capture, name, variant)
    return replace(spec, inputs=inputs)


def quality_monitor(
    config: ProjectConfig,
    job_name: str,
    image: str,
    window: tuple[str, str],
    endpoint_name: str,
    capture_location: str,
    ground_truth_location: str,
    baseline_files: tuple[str, str],
    output_location: str,
    schedule_name: str,
    problem_type: str,
    model_location: str | None = None,
) -> ProcessingJobSpec:
    """`monitor` with analysis_type=MODEL_QUALITY: a window's captured predictions
    merged with the ground truth, against the model-quality baseline.

    The predictions are read from the server's own output shapes, so no
    inference or probability attribute is set. With `model_location` (the
    deployed bundle's folder) the job also estimates the window's accuracy
    from the calibrated confidence, labels or not.
    """
    spec = monitor(
        config,
        job_name,
        image,
        window,
        endpoint_name,
        capture_location,
        baseline_files,
        output_location,
        schedule_name,
    )
    return replace(
        spec,
        inputs={
            **spec.inputs,
            GROUND_TRUTH_INPUT: ground_truth_location,
            **({MODEL_INPUT: model_location} if model_location else {}),
        },
        environment={
            **spec.environment,
            settings.ANALYSIS_TYPE: MODEL_QUALITY,
            settings.PROBLEM_TYPE: problem_type,
            settings.GROUND_TRUTH_SOURCE: processing_container_path(GROUND_TRUTH_INPUT),
        },
    )

"""Hyperparameter tuning jobs: the CreateHyperParameterTuningJob request and
what its training jobs found.

A tuning job launches training jobs of the image (its "trials"), each with
the static hyperparameters plus values chosen from the ranges, and ranks them
by an objective metric that SageMaker scrapes from the trials' logs with the
job's MetricDefinitions (`train` prints `name=value` lines, see `training`).

The rules below are the ones SageMaker applies on its side (API reference of
HyperParameterTuningJobConfig, ParameterRanges, IntegerParameterRange,
ContinuousParameterRange, HyperbandStrategyConfig; Developer Guide pages
automatic-model-tuning-how-it-works, -define-ranges and -limits), checked
here so a bad spec is refused before any call with a message naming the rule.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from orchestration.aws import training
from orchestration.backends.base import (
    COMPLETED,
    FAILED,
    OBJECTIVE_TYPES,
    RANGE_KINDS,
    SCALING_TYPES,
    STOPPED,
    TUNING_STRATEGIES,
    BackendError,
    ParameterRange,
    TrialResult,
    TuningJobResult,
    TuningJobSpec,
)
from orchestration.names import NAME_PATTERN

TERMINAL = (COMPLETED, FAILED, STOPPED)
MAX_NAME_LENGTH = 32  # HyperParameterTuningJobName: it prefixes the trials' names
EARLY_STOPPING = ("Off", "Auto")
# automatic-model-tuning-limits: hyperparameters searched (all kinds together),
# values of one categorical range, metrics defined per tuning job.
MAX_SEARCHED = 30
MAX_CATEGORICAL_VALUES = 30
MAX_METRIC_DEFINITIONS = 20
# automatic-model-tuning-define-ranges: static and searched together.
MAX_HYPERPARAMETERS = 100
# Training jobs per tuning job: 750 for every strategy; Random's can be raised
# to 10000 by a quota increase, so only that is refused for Random.
MAX_TRAINING_JOBS = {"Bayesian": 750, "Random": 10000, "Hyperband": 750, "Grid": 750}
# Logarithmic needs min > 0; ReverseLogarithmic (continuous only) 0 <= x < 1.
INTEGER_SCALING_TYPES = ("Auto", "Linear", "Logarithmic")
# HyperbandStrategyConfig.MaxResource: taken from one of these static
# hyperparameters when not given; at most 20000.
HYPERBAND_RESOURCE_NAMES = ("epochs", "numepochs", "n-epochs", "n_epochs", "num_epochs")
MAX_HYPERBAND_RESOURCE = 20000
PAGE_SIZE = 100  # ListTrainingJobsForHyperParameterTuningJob's MaxResults maximum


class InvalidTuningSpec(BackendError):
    """A tuning job SageMaker would refuse."""

    status_code = 400
    code = "invalid_tuning_spec"


# --- the request ----------------------------------------------------------------
def tuning_request(
    spec: TuningJobSpec,
    role_arn: str,
    channel_uris: dict[str, str],
    output_uri: str,
    metric_names: tuple[str, ...],
    volume_gb: int,
    tags: dict[str, str],
) -> dict[str, Any]:
    """The CreateHyperParameterTuningJob request for `spec`, channels on S3.

    The trials' MetricDefinitions are `metric_names` with the objective first,
    then the objective's split, then the rest, cut at the 20 a tuning job takes.
    Grid sends no MaxNumberOfTrainingJobs: SageMaker runs every combination of
    the categorical values (the product of their counts), so `max_jobs` is
    not used.
    """
    check_tuning_spec(spec, metric_names)
    trial = spec.training
    searched = {r.name for r in spec.ranges}
    config: dict[str, Any] = {
        "Strategy": spec.strategy,
        "HyperParameterTuningJobObjective": {
            "Type": spec.objective_type,
            "MetricName": spec.objective_metric,
        },
        "ResourceLimits": {"MaxParallelTrainingJobs": spec.max_parallel_jobs},
        "ParameterRanges": parameter_ranges(spec.ranges),
        "TrainingJobEarlyStoppingType": spec.early_stopping,
    }
    if spec.strategy != "Grid":
        config["ResourceLimits"]["MaxNumberOfTrainingJobs"] = spec.max_jobs
    if spec.strategy == "Hyperband":
        config["StrategyConfig"] = {
            "HyperbandStrategyConfig": {
                "MinResource": 1,
                "MaxResource": hyperband_resource(spec),
            }
        }
    if spec.random_seed is not None:
        config["RandomSeed"] = spec.random_seed
    definition = {
        "StaticHyperParameters": {
            k: v for k, v in trial.hyperparameters.items() if k not in searched
        },
        "AlgorithmSpecification": {
            "TrainingImage": trial.image,
            "TrainingInputMode": "File",
            "MetricDefinitions": training.metric_definitions(
                objective_first(spec.objective_metric, metric_names)
            ),
        },
        "RoleArn": role_arn,
        "InputDataConfig": training.input_data_config(channel_uris, trial.content_type),
        "OutputDataConfig": {"S3OutputPath": output_uri},
        "ResourceConfig": training.resource_config(trial, volume_gb),
        "StoppingCondition": {"MaxRuntimeInSeconds": trial.max_runtime_seconds},
        "Environment": dict(trial.environment),
    }
    return {
        "HyperParameterTuningJobName": spec.tuning_job_name,
        "HyperParameterTuningJobConfig": config,
        "TrainingJobDefinition": definition,
        "Tags": [{"Key": k, "Value": v} for k, v in sorted(tags.items())],
    }


def parameter_ranges(ranges: Iterable[ParameterRange]) -> dict[str, list[Any]]:
    found: dict[str, list[Any]] = {
        "IntegerParameterRanges": [],
        "ContinuousParameterRanges": [],
        "CategoricalParameterRanges": [],
    }
    for r in ranges:
        if r.kind == "Categorical":
            found["CategoricalParameterRanges"].append(
                {"Name": r.name, "Values": list(r.values)}
            )
        else:
            found[f"{r.kind}ParameterRanges"].append(
                {
                    "Name": r.name,
                    "MinValue": r.min_value,
                    "MaxValue": r.max_value,
                    "ScalingType": r.scaling,
                }
            )
    return {key: value for key, value in found.items() if value}


def objective_first(objective: str, metric_names: tuple[str, ...]) -> tuple[str, ...]:
    """The objective, its split's metrics, then the others: at most 20."""
    split = objective.split(":", 1)[0] + ":"
    same_split = [m for m in metric_names if m.startswith(split) and m != objective]
    others = [m for m in metric_names if not m.startswith(split) and m != objective]
    return tuple([objective, *same_split, *others][:MAX_METRIC_DEFINITIONS])


def hyperband_resource(spec: TuningJobSpec) -> int:
    """MaxResource: the static epochs-like hyperparameter SageMaker would read."""
    static = spec.training.hyperparameters
    searched = {r.name for r in spec.ranges}
    for name in HYPERBAND_RESOURCE_NAMES:
        if name in static and name not in searched:
            value = static[name]
            if not value.isdigit() or not 1 <= int(value) <= MAX_HYPERBAND_RESOURCE:
                raise _refused(
                    spec,
                    f"Hyperband reads its MaxResource from hyperparameter {name}={value!r}, which must be a whole number 1-{MAX_HYPERBAND_RESOURCE}",
                )
            return int(value)
    raise _refused(
        spec,
        f"the Hyperband strategy allocates training epochs, read from a static hyperparameter named one of {', '.join(HYPERBAND_RESOURCE_NAMES)}; the training hyperparameters have none, so use Bayesian or Random",
    )


# --- what SageMaker refuses -----------------------------------------------------
def check_tuning_spec(spec: TuningJobSpec, metric_names: tuple[str, ...]) -> None:
    """Raise `InvalidTuningSpec` for the first rule `spec` breaks."""
    name = spec.tuning_job_name
    if len(name) > MAX_NAME_LENGTH or not NAME_PATTERN.fullmatch(name):
        raise InvalidTuningSpec(
            f"tuning job name {name!r} is not valid on SageMaker: use at most {MAX_NAME_LENGTH} letters, digits and hyphens, starting and ending with a letter or digit (it prefixes every trial's training job name)"
        )
    for what, value, allowed in (
        ("strategy", spec.strategy, TUNING_STRATEGIES),
        ("objective_type", spec.objective_type, OBJECTIVE_TYPES),
        ("early_stopping", spec.early_stopping, EARLY_STOPPING),
    ):
        if value not in allowed:
            raise _refused(spec, f"{what}={value!r} is not one of {', '.join(allowed)}")
    if spec.objective_metric not in metric_names:
        raise _refused(
            spec,
            f"objective metric {spec.objective_metric!r} is not one of the metrics the trials report (aws.options.metric_names: {', '.join(metric_names)})",
        )
    _check_ranges(spec)
    _check_strategy(spec)
    if spec.max_parallel_jobs < 1:
        raise _refused(
            spec, f"max_parallel_jobs={spec.max_parallel_jobs} must be 1 or more"
        )
    if spec.random_seed is not None and spec.random_seed < 0:
        raise _refused(spec, f"random_seed={spec.random_seed} must be 0 or more")
    static = set(spec.training.hyperparameters) - {r.name for r in spec.ranges}
    total = len(static) + len(spec.ranges)
    if total > MAX_HYPERPARAMETERS:
        raise _refused(
            spec,
            f"{len(static)} static and {len(spec.ranges)} searched hyperparameters make {total}, more than the {MAX_HYPERPARAMETERS} a tuning job takes",
        )


def _check_strategy(spec: TuningJobSpec) -> None:
    strategy = spec.strategy
    limit = MAX_TRAINING_JOBS[strategy]
    if strategy == "Grid":
        kinds = sorted({r.kind for r in spec.ranges if r.kind != "Categorical"})
        if kinds:
            raise _refused(
                spec,
                f"the Grid strategy searches categorical ranges only; {', '.join(kinds)} ranges need Bayesian, Random or Hyperband (or list their values as a Categorical range)",
            )
        combinations = math.prod(len(r.values) for r in spec.ranges)
        if combinations > limit:
            raise _refused(
                spec,
                f"the Grid strategy runs every combination of the categorical values: {combinations}, more than the {limit} training jobs a tuning job may run",
            )
        return
    if not 1 <= spec.max_jobs <= limit:
        raise _refused(
            spec,
            f"max_jobs={spec.max_jobs} must be 1-{limit} with the {strategy} strategy",
        )
    if strategy == "Hyperband":
        if spec.early_stopping != "Off":
            raise _refused(
                spec,
                "the Hyperband strategy stops trials early on its own: early_stopping must be Off with it",
            )
        hyperband_resource(spec)


def _check_ranges(spec: TuningJobSpec) -> None:
    if not spec.ranges:
        raise _refused(spec, "it searches no hyperparameter: give at least one range")
    names = [r.name for r in spec.ranges]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise _refused(spec, f"hyperparameter(s) {repeated} have more than one range")
    if len(spec.ranges) > MAX_SEARCHED:
        raise _refused(
            spec,
            f"{len(spec.ranges)} searched hyperparameters, more than the {MAX_SEARCHED} a tuning job searches",
        )
    for r in spec.ranges:
        problem = range_problem(r)
        if problem:
            raise _refused(spec, f"range {r.name!r}: {problem}")


def range_problem(r: ParameterRange) -> str | None:
    """What SageMaker refuses in one range, or None."""
    if r.kind not in RANGE_KINDS:
        return f"kind {r.kind!r} is not one of {', '.join(RANGE_KINDS)}"
    if r.kind == "Categorical":
        if r.min_value is not None or r.max_value is not None:
            return "a Categorical range takes values, not min_value/max_value"
        if not 1 <= len(r.values) <= MAX_CATEGORICAL_VALUES:
            return f"{len(r.values)} values; a Categorical range takes 1-{MAX_CATEGORICAL_VALUES}"
        if len(set(r.values)) != len(r.values):
            return f"values {list(r.values)} repeat a value"
        return None
    if r.values:
        return f"an {r.kind} range takes min_value and max_value, not values"
    low, high = _bounds(r)
    if low is None or high is None:
        kind = "whole numbers" if r.kind == "Integer" else "numbers"
        return f"min_value={r.min_value!r} and max_value={r.max_value!r} must be {kind}"
    if low > high:
        return f"min_value={r.min_value} is greater than max_value={r.max_value}"
    allowed = INTEGER_SCALING_TYPES if r.kind == "Integer" else SCALING_TYPES
    if r.scaling not in allowed:
        return f"scaling {r.scaling!r} is not one of {', '.join(allowed)} for an {r.kind} range"
    if r.scaling == "Logarithmic" and low <= 0:
        return f"Logarithmic scaling needs min_value > 0, got {r.min_value}"
    if r.scaling == "ReverseLogarithmic" and not (0 <= low and high < 1):
        return f"ReverseLogarithmic scaling needs 0 <= min_value and max_value < 1, got {r.min_value}-{r.max_value}"
    return None


def _bounds(r: ParameterRange) -> tuple[float | None, float | None]:
    def number(text: str | None) -> float | None:
        if text is None:
            return None
        try:
            value = int(text) if r.kind == "Integer" else float(text)
        except ValueError:
            return None
        return value if math.isfinite(value) else None

    return number(r.min_value), number(r.max_value)


def _refused(spec: TuningJobSpec, problem: str) -> InvalidTuningSpec:
    return InvalidTuningSpec(f"tuning job {spec.tuning_job_name}: {problem}")


# --- the outcome ----------------------------------------------------------------
def progress_detail(description: dict[str, Any]) -> str:
    """E.g. '3/8 completed, 2 in progress, 1 failed' from the status counters."""
    counters = description.get("TrainingJobStatusCounters") or {}
    completed = counters.get("Completed", 0)
    in_progress = counters.get("InProgress", 0)
    failed = counters.get("RetryableError", 0) + counters.get("NonRetryableError", 0)
    stopped = counters.get("Stopped", 0)
    limits = (description.get("HyperParameterTuningJobConfig") or {}).get(
        "ResourceLimits"
    ) or {}
    total = limits.get("MaxNumberOfTrainingJobs")
    parts = [f"{completed}/{total} completed" if total else f"{completed} completed"]
    for count, what in (
        (in_progress, "in progress"),
        (failed, "failed"),
        (stopped, "stopped"),
    ):
        if count:
            parts.append(f"{count} {what}")
    return ", ".join(parts)


def list_trials(sagemaker: Any, tuning_job_name: str) -> list[dict[str, Any]]:
    """Every HyperParameterTrainingJobSummary of the tuning job (all pages)."""
    summaries: list[dict[str, Any]] = []
    pages = sagemaker.get_paginator(
        "list_training_jobs_for_hyper_parameter_tuning_job"
    ).paginate(
        HyperParameterTuningJobName=tuning_job_name,
        PaginationConfig={"PageSize": PAGE_SIZE},
    )
    for page in pages:
        summaries.extend(page["TrainingJobSummaries"])
    return summaries


def trial_from_summary(
    summary: dict[str, Any], described: dict[str, Any] | None = None
) -> TrialResult:
    """One trial; its metrics and model from DescribeTrainingJob when given."""
    objective = summary.get("FinalHyperParameterTuningJobObjectiveMetric") or {}
    start, end = summary.get("TrainingStartTime"), summary.get("TrainingEndTime")
    duration = (end - start).total_seconds() if start and end else 0.0
    job = training.result_from_description(described) if described else None
    return TrialResult(
        job_name=summary["TrainingJobName"],
        status=summary["TrainingJobStatus"],
        hyperparameters=dict(summary.get("TunedHyperParameters") or {}),
        objective_value=float(objective["Value"]) if "Value" in objective else None,
        metrics=job.metrics if job else {},
        model_artifact=job.model_artifact if job else None,
        failure_reason=summary.get("FailureReason") or None,
        duration_seconds=max(duration, 0.0),
    )


def result_from(
    description: dict[str, Any],
    summaries: list[dict[str, Any]],
    described: dict[str, dict[str, Any]],
) -> TuningJobResult:
    """The tuning job's result: each trial (in launch order) and the best.

    `described` holds the DescribeTrainingJob answers by job name, for the
    trials whose metrics and model.tar.gz are known (completed ones).
    """
    start = description.get("CreationTime")
    end = description.get("HyperParameterTuningEndTime")
    duration = (end - start).total_seconds() if start and end else 0.0
    ordered = sorted(summaries, key=lambda s: s["CreationTime"])
    best = (description.get("BestTrainingJob") or {}).get("TrainingJobName")
    return TuningJobResult(
        tuning_job_name=description["HyperParameterTuningJobName"],
        status=description["HyperParameterTuningJobStatus"],
        trials=tuple(
            trial_from_summary(s, described.get(s["TrainingJobName"])) for s in ordered
        ),
        best_job_name=best,
        failure_reason=description.get("FailureReason") or None,
        duration_seconds=max(duration, 0.0),
    )

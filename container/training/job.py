"""The `train` job: hyperparameters + channels → a validated, evaluated bundle.

It reads only the SageMaker contract (/opt/ml files and environment
variables) and writes only its outputs:

- /opt/ml/model: model.joblib + model.json (and model.onnx, the compiled
  predictor, when it matches the pipeline), through `container.contract.bundle`;
- /opt/ml/output/data: metrics.json, evaluation.json, report.html and, with a
  hyperparameter search, search_trials.json;
- stdout: one ``<split>:<metric>=<value>`` line per metric;
- /opt/ml/output/failure on failure, through the shared job shell
  (`container.jobs`), which also removes any partial bundle and turns
  SIGTERM into a clean stop.

`run` is the job in named phases, each a function below it: read the
configuration, read the channels, prepare (columns, kinds, splits, schema,
estimator), fit, evaluate, calibrate (for estimating performance before
labels), compile, describe (the manifest), report, save.
"""

from __future__ import annotations

import dataclasses
import json
import threading
import time
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from container import jobs
from container.contract.bundle import remove_bundle, save_bundle
from container.contract.files import write_atomic, write_json
from container.contract.paths import OptMl
from container.contract.schema import Schema
from container.contract.settings import TrainingEnvironment
from container.jobs import StopGuard
from container.training import channels as channel_io
from container.training import compiled as compilation
from container.training import estimation, evaluation, features, options
from container.training.algorithms import ALGORITHMS
from container.training.channels import ChannelData
from container.training.class_limits import check_class_count
from container.training.cluster import check_not_sharded, read_cluster
from container.training.errors import ConfigError, DataError
from container.training.estimators import build_estimator, check_search_space
from container.training.options import TrainingConfig
from container.training.search import fit_with_search
from container.training.splits import Split, check_same_columns, make_splits

METRICS_FILE = "metrics.json"
EVALUATION_FILE = "evaluation.json"
REPORT_FILE = "report.html"
SEARCH_TRIALS_FILE = "search_trials.json"
STOPPED_REASON = (
    "Training stopped: SIGTERM received (StopTrainingJob or MaxRuntimeInSeconds). "
    "No model was written."
)
OUT_OF_MEMORY_REASON = (
    "Out of memory while training. "
    "Use a larger instance type, fewer rows or columns, or a lighter algorithm."
)
# Imported while the data is read: scikit-learn takes about a second to import,
# and reading (pyarrow, gzip, hashing) mostly runs outside the GIL.
WARM_IMPORTS = (
    "sklearn.pipeline",
    "sklearn.compose",
    "sklearn.impute",
    "sklearn.preprocessing",
    "sklearn.metrics",
    "sklearn.ensemble",
)

log = jobs.logger("train")


# --- the command ---------------------------------------------------------------------
def main() -> int:
    """Run the training job; 0 on success, non-zero (and a failure file) otherwise."""
    opt_ml = OptMl.from_env()
    job = jobs.Job(
        "train",
        opt_ml,
        activity="training",
        stopped_reason=STOPPED_REASON,
        out_of_memory_reason=OUT_OF_MEMORY_REASON,
        cleanup=lambda: remove_bundle(opt_ml.model_dir),
    )

    def work(guard: StopGuard) -> None:
        env = TrainingEnvironment.from_env()
        model_dir = Path(env.model_dir) if env.model_dir else opt_ml.model_dir
        job.cleanup = lambda: remove_bundle(model_dir)
        cluster = read_cluster(opt_ml, env)
        check_not_sharded(cluster, channel_io.read_inputdataconfig(opt_ml))
        if not cluster.is_leader:
            log(
                f"host {cluster.current_host} of {list(cluster.hosts)}: only the leader {cluster.leader} trains "  # noqa: E501
                "(a scikit-learn fit runs on one machine); this host writes no model"
            )
            return
        run(opt_ml, env, guard, model_dir)

    return jobs.run(job, work)


@dataclasses.dataclass
class Timeline:
    """When the job started, how long each phase took, what the fit warned about."""

    started_at: str
    timings: dict[str, float] = dataclasses.field(default_factory=dict)
    warnings: list[str] = dataclasses.field(default_factory=list)

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.timings[name] = round(time.perf_counter() - start, 4)

    @contextmanager
    def recording_warnings(self) -> Iterator[None]:
        """Fit warnings (convergence, ...) go to the log and the manifest."""
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield
        for item in caught:
            text = f"{item.category.__name__}: {item.message}"
            if text not in self.warnings:
                self.warnings.append(text)
                log(f"warning: {text}")


def run(
    opt_ml: OptMl, env: TrainingEnvironment, guard: StopGuard, model_dir: Path
) -> dict[str, Any]:
    """Train and save the bundle; returns the manifest. ByocError on bad input."""
    timeline = Timeline(started_at=utc_now())
    importing = warm_up_imports()
    config = read_config(opt_ml, env)
    with timeline.phase("read"):
        channels = read_channels(opt_ml, env, config)
    with timeline.phase("prepare"):
        plan = prepare(channels, config, importing, n_jobs=env.num_cpus)
    with timeline.recording_warnings():
        fitted = fit(plan, config, timeline)
    with timeline.phase("evaluate"), timeline.recording_warnings():
        metrics, details = evaluate(plan, fitted)
    for line in evaluation.metric_lines(metrics):
        print(line, flush=True)
    with timeline.phase("calibrate"), timeline.recording_warnings():
        calibration = calibrate(plan, fitted)
    with timeline.phase("compile"):
        compiled = compile_predictor(plan, fitted, config)
    manifest = describe(plan, fitted, config, channels, metrics, env, timeline)
    manifest["performance_estimation"] = calibration
    manifest["compiled"] = compiled.record
    output_dir = (
        Path(env.output_data_dir) if env.output_data_dir else opt_ml.output_data_dir
    )
    report(output_dir, plan, fitted, config, env, metrics, details)
    save(guard, model_dir, fitted.pipeline, manifest, timeline, compiled.model)
    return manifest


# --- phase 1: configuration ----------------------------------------------------------
def read_hyperparameters(opt_ml: OptMl) -> dict[str, str]:
    path = opt_ml.hyperparameters_file
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text() or "{}")
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{path} is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(
            f"{path} must hold a JSON object of hyperparameters, "
            'e.g. {"target": "species", "max_depth": "5"}'
        )
    return {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in data.items()}


def read_config(opt_ml: OptMl, env: TrainingEnvironment) -> TrainingConfig:
    hyperparameters, overridden = options.merge_hyperparameters(
        read_hyperparameters(opt_ml), env.hyperparameters
    )
    for key in overridden:
        log(
            f"hyperparameter {key}: hyperparameters.json wins over SM_HPS/SM_HP_{key.upper()}"  # noqa: E501
        )
    config = options.parse_config(hyperparameters)
    if config.ignored:
        log(f"ignoring SageMaker-internal hyperparameters {list(config.ignored)}")
    return config


# --- phase 2: channels ---------------------------------------------------------------
def read_channels(
    opt_ml: OptMl, env: TrainingEnvironment, config: TrainingConfig
) -> dict[str, ChannelData]:
    """The train channel and any validation and test channels, read and checked."""
    specs = channel_io.discover_channels(opt_ml, env.channels)
    train_spec = channel_io.train_channel(specs, opt_ml)
    unused = sorted(set(specs) - {train_spec.name, *channel_io.EVALUATION_CHANNELS})
    if unused:
        log(
            f"channels {unused} are not read by train (it reads train, validation, test)"  # noqa: E501
        )
    channels = {"train": channel_io.read_channel(train_spec, config.header)}
    for name in channel_io.EVALUATION_CHANNELS:
        if name in specs:
            channels[name] = channel_io.read_channel(specs[name], config.header)
    for name, channel in channels.items():
        rows, files = len(channel.frame), len(channel.files)
        log(f"channel {name}: {rows} rows from {files} file(s)")
    return channels


def warm_up_imports() -> threading.Thread:
    """Start importing scikit-learn in a thread.

    Join the thread before the job imports scikit-learn itself, so the two
    threads never import the same package at once.
    """
    import importlib

    def load() -> None:
        for name in WARM_IMPORTS:
            try:
                importlib.import_module(name)
            except Exception:  # noqa: BLE001 - the real import later reports it
                return

    thread = threading.Thread(target=load, name="warm-imports", daemon=True)
    thread.start()
    return thread


# --- phase 3: prepare ----------------------------------------------------------------
@dataclasses.dataclass
class Plan:
    """What the job decided from the data and the options, before fitting."""

    target: str
    problem_type: str
    kinds: dict[str, str]
    splits: dict[str, Split]
    schema: Schema
    estimator: Any


def choose_columns(
    train: ChannelData, config: TrainingConfig
) -> tuple[features.ColumnRoles, list[str]]:
    """(target and feature columns, features forced to be categorical)."""
    columns = list(train.frame.columns)
    target = features.resolve_target(columns, config.target, train.has_header)
    roles = features.select_columns(
        columns, target, config.features, config.drop_columns
    )
    forced = [
        features.resolve_column(columns, c, "categorical_features entry")
        for c in config.categorical_features
    ]
    outside = sorted(set(forced) - set(roles.features))
    if outside:
        raise DataError(
            f"categorical_features names {outside}, "
            f"which are not feature columns (features: {list(roles.features)})"
        )
    return roles, forced


def prepare(
    channels: Mapping[str, ChannelData],
    config: TrainingConfig,
    importing: threading.Thread,
    n_jobs: int | None = None,
) -> Plan:
    train = channels["train"]
    roles, forced = choose_columns(train, config)
    for name, channel in channels.items():
        if name != "train":
            check_same_columns(name, channel, train)
    target, frame = roles.target, train.frame
    if frame[target].isna().all():
        raise DataError(
            f"target column {target!r} is entirely empty in channel 'train'; "
            "every row needs a target value"
        )
    problem_type = features.infer_problem_type(
        frame[target].dropna(), config.problem_type
    )
    if problem_type == "classification":
        check_class_count(frame[target].dropna(), config.max_classes)
    importing.join()
    estimator = build_estimator(config, problem_type, n_jobs=n_jobs)
    if config.search:
        check_search_space(config, estimator)
    labelled = frame if frame[target].notna().all() else frame[frame[target].notna()]
    kinds = features.infer_kinds(
        labelled, roles.features, forced, config.max_invalid_fraction
    )
    splits = make_splits(channels, target, kinds, problem_type, config)
    schema = features.build_schema(
        splits["train"].features, kinds, target, problem_type
    )
    log(
        f"{problem_type} of {target!r} with {config.algorithm}: "
        f"{len(schema.numeric_features)} numeric, "
        f"{len(schema.categorical_features)} categorical features"
    )
    return Plan(target, problem_type, kinds, splits, schema, estimator)


# --- phase 4: fit --------------------------------------------------------------------
@dataclasses.dataclass
class Fitted:
    pipeline: Any
    search_record: dict[str, Any] | None = None
    # The preprocessed training rows, reused to evaluate them.
    transformed: Any = None


def fit(plan: Plan, config: TrainingConfig, timeline: Timeline) -> Fitted:
    from sklearn.pipeline import Pipeline

    algorithm = ALGORITHMS[config.algorithm]
    preprocess = features.build_preprocessor(
        plan.schema, algorithm.scale_numerics, algorithm.dense_input
    )
    pipeline = Pipeline([("preprocess", preprocess), ("model", plan.estimator)])
    train = plan.splits["train"]
    log("fitting")
    if config.search:
        with timeline.phase("fit_estimator"):
            best, record = fit_with_search(pipeline, train, config, plan.problem_type)
        fitted = Fitted(best, search_record=record)
    else:
        with timeline.phase("fit_preprocess"):
            transformed = pipeline[0].fit_transform(train.features, train.target)
        with timeline.phase("fit_estimator"):
            pipeline[-1].fit(transformed, train.target)
        fitted = Fitted(pipeline, transformed=transformed)
    log("fitted")
    return fitted


# --- phase 5: evaluate ---------------------------------------------------------------
def evaluate(
    plan: Plan, fitted: Fitted
) -> tuple[dict[str, dict[str, float]], dict[str, Any]]:
    """(metrics per split, classification details per split)."""
    metrics: dict[str, dict[str, float]] = {}
    details: dict[str, Any] = {}
    for name, split in plan.splits.items():
        metrics[name], split_details = evaluation.evaluate(
            fitted.pipeline,
            split.features,
            split.target,
            plan.problem_type,
            transformed=fitted.transformed if name == "train" else None,
        )
        if split_details is not None:
            details[name] = split_details
    return metrics, details


# --- phase 5b: calibrate ------------------------------------------------------------
def calibrate(plan: Plan, fitted: Fitted) -> dict[str, Any]:
    """The classifier's confidence calibrated on the validation rows, for the
    monitor's estimate of a window's performance before its labels arrive.

    Never fails the job: a model that cannot be calibrated is recorded with
    the reason (container/training/estimation.py).
    """
    record = estimation.calibrate(fitted.pipeline, plan.splits, plan.problem_type)
    if record["status"] == estimation.CALIBRATED:
        log(
            f"calibrated the confidence on {record['rows']} {record['split']} rows "
            f"(ECE {record['ece']['uncalibrated']:.4f} before, "
            f"{record['ece']['calibrated']:.4f} after)"
        )
    else:
        log(f"no performance estimation: {record['reason']}")
    return record


# --- phase 6: compile ----------------------------------------------------------------
def compile_predictor(
    plan: Plan, fitted: Fitted, config: TrainingConfig
) -> compilation.Outcome:
    """The pipeline as ONNX, checked on the validation rows (else the training rows).

    Never fails the job: whatever goes wrong is a "not compiled" reason, and
    `serve` then predicts with scikit-learn.
    """
    if not config.compile_predictor:
        outcome = compilation.disabled()
    else:
        split = "validation" if "validation" in plan.splits else "train"
        log(f"compiling the pipeline to ONNX, checking it on the {split} rows")
        outcome = compilation.compile_pipeline(
            fitted.pipeline,
            plan.schema,
            plan.problem_type,
            plan.splits[split].features,
            split,
        )
    log(compilation.describe(outcome))
    return outcome


# --- phase 7: describe ---------------------------------------------------------------
def describe(
    plan: Plan,
    fitted: Fitted,
    config: TrainingConfig,
    channels: Mapping[str, ChannelData],
    metrics: dict[str, dict[str, float]],
    env: TrainingEnvironment,
    timeline: Timeline,
) -> dict[str, Any]:
    """The manifest (model.json) without what `save` adds."""
    schema = plan.schema
    model = fitted.pipeline[-1]
    if plan.problem_type == "classification":
        classes = tuple(features.json_label(c) for c in fitted.pipeline.classes_)
        schema = dataclasses.replace(schema, classes=classes)
    data = {name: channel.to_dict() for name, channel in channels.items()}
    for name, split in plan.splits.items():
        data.setdefault(name, {"held_out_from": "train"})
        data[name]["rows_used"] = int(len(split.target))
    return {
        "schema": schema.to_dict(),
        "problem_type": plan.problem_type,
        "target": plan.target,
        "algorithm": config.algorithm,
        "estimator": type(model).__name__,
        "estimator_params": json_safe(model.get_params(deep=False)),
        "hyperparameters": config.to_dict(),
        "metrics": metrics,
        "data": data,
        "search": fitted.search_record,
        "warnings": timeline.warnings,
        "training_job_name": env.job_name,
        "training_job_arn": env.job_arn,
        "started_at": timeline.started_at,
    }


def json_safe(params: dict[str, Any]) -> dict[str, Any]:
    """Parameters JSON can hold as they are; others by their repr."""
    safe = {}
    for key, value in params.items():
        if value is None or isinstance(value, bool | int | float | str):
            safe[key] = value
        else:
            safe[key] = repr(value)
    return safe


# --- phase 8: report -----------------------------------------------------------------
def report(
    output_dir: Path,
    plan: Plan,
    fitted: Fitted,
    config: TrainingConfig,
    env: TrainingEnvironment,
    metrics: dict[str, dict[str, float]],
    details: dict[str, Any],
) -> None:
    """metrics.json, evaluation.json, search_trials.json and report.html."""
    write_json(output_dir / METRICS_FILE, metrics, default=str)
    if details:
        write_json(output_dir / EVALUATION_FILE, details, default=str)
    if fitted.search_record:
        write_json(output_dir / SEARCH_TRIALS_FILE, fitted.search_record, default=str)
    facts = {
        "training job": env.job_name or "(local)",
        "target": plan.target,
        "problem type": plan.problem_type,
        "algorithm": config.algorithm,
        "rows": ", ".join(f"{n}: {len(s.target)}" for n, s in plan.splits.items()),
    }
    title = f"Training report: {env.job_name or 'local job'}"
    write_atomic(
        output_dir / REPORT_FILE,
        evaluation.render_report(title, metrics, details, facts),
    )


# --- phase 9: save -------------------------------------------------------------------
def save(
    guard: StopGuard,
    model_dir: Path,
    pipeline: Any,
    manifest: dict[str, Any],
    timeline: Timeline,
    compiled: bytes | None = None,
) -> None:
    """Write the bundle, unless a stop was asked for (never half of it)."""
    with guard.publishing(), timeline.phase("save"):
        manifest["finished_at"] = utc_now()
        manifest["timings_seconds"] = timeline.timings
        save_bundle(model_dir, pipeline, manifest, compiled)
    log(f"model saved to {model_dir}")


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")

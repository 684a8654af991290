"""`train`: hyperparameters + channels → a validated, evaluated, self-describing bundle.

Run as ``python -m container.training`` (the image's `train` command). It reads
only the SageMaker contract (/opt/ml files and environment variables) and
writes only its outputs:

- /opt/ml/model: model.joblib + model.json, through `container.artifact`;
- /opt/ml/output/data: metrics.json, evaluation.json, report.html and, with a
  hyperparameter search, search_trials.json;
- stdout: one ``<split>:<metric>=<value>`` line per metric;
- /opt/ml/output/failure on failure (reason first, at most 1024 characters).

A failed or stopped job leaves no bundle behind. SIGTERM (StopTrainingJob,
MaxRuntimeInSeconds) interrupts the fit, removes what was written and exits
with 143 well inside SageMaker's 120 s grace period.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import threading
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from container import jobs
from container.contract.files import write_atomic, write_json
from container.contract.paths import OptMl
from container.contract.settings import TrainingEnvironment
from container.jobs import StopGuard
from container.training import options
from container.training.algorithms import ALGORITHMS
from container.training.errors import ConfigError, DataError, HyperparameterError

METRICS_FILE = "metrics.json"
EVALUATION_FILE = "evaluation.json"
REPORT_FILE = "report.html"
SEARCH_TRIALS_FILE = "search_trials.json"


def log(message: str) -> None:
    print(f"[train] {message}", file=sys.stderr, flush=True)


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


STOPPED_REASON = (
    "Training stopped: SIGTERM received (StopTrainingJob or MaxRuntimeInSeconds). "
    "No model was written."
)
OUT_OF_MEMORY_REASON = (
    "Out of memory while training. "
    "Use a larger instance type, fewer rows or columns, or a lighter algorithm."
)


# --- outputs --------------------------------------------------------------------------
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
            f"{path} must hold a JSON object of hyperparameters, e.g. "
            '{"target": "species", "max_depth": "5"}'
        )
    return {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in data.items()}


# --- the job --------------------------------------------------------------------------
@dataclasses.dataclass
class Split:
    name: str
    features: Any  # pd.DataFrame
    target: Any  # pd.Series


@contextmanager
def timed(timings: dict[str, float], phase: str) -> Iterator[None]:
    start = time.perf_counter()
    try:
        yield
    finally:
        timings[phase] = round(time.perf_counter() - start, 4)


@contextmanager
def recorded_warnings(sink: list[str]) -> Iterator[None]:
    """Fit warnings (convergence, ...) go to the log and the manifest, not nowhere."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    for item in caught:
        text = f"{item.category.__name__}: {item.message}"
        if text not in sink:
            sink.append(text)
            log(f"warning: {text}")


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


def warm_up_imports() -> threading.Thread:
    """Start importing scikit-learn; join the thread before the job imports it itself,
    so the two threads never import the same package at once."""
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


def run(
    opt_ml: OptMl, env: TrainingEnvironment, guard: StopGuard, model_dir: Path
) -> dict[str, Any]:
    """Train and save the bundle; returns the manifest. ByocError on bad input."""
    from container.training import channels as data_io
    from container.training import estimators
    from container.training.features import (
        build_preprocessor,
        build_schema,
        check_target,
        infer_kinds,
        infer_problem_type,
        resolve_column,
        resolve_target,
        select_columns,
    )

    started_at = utc_now()
    importing = warm_up_imports()
    timings: dict[str, float] = {}
    fit_warnings: list[str] = []

    hyperparameters, overridden = options.merge_hyperparameters(
        read_hyperparameters(opt_ml), env.hyperparameters
    )
    for key in overridden:
        log(
            f"hyperparameter {key}: hyperparameters.json wins over "
            f"SM_HPS/SM_HP_{key.upper()}"
        )
    config = options.parse_config(hyperparameters)
    if config.ignored:
        log(f"ignoring SageMaker-internal hyperparameters {list(config.ignored)}")

    with timed(timings, "read"):
        specs = data_io.discover_channels(opt_ml, env.channels)
        train_spec = data_io.train_channel(specs, opt_ml)
        used = {train_spec.name, *data_io.EVALUATION_CHANNELS}
        unused = sorted(set(specs) - used)
        if unused:
            log(
                f"channels {unused} are not read by train (it reads train, "
                f"validation, test)"
            )
        channels = {"train": data_io.read_channel(train_spec, config.header)}
        for name in data_io.EVALUATION_CHANNELS:
            if name in specs:
                channels[name] = data_io.read_channel(specs[name], config.header)
    for name, channel in channels.items():
        log(
            f"channel {name}: {len(channel.frame)} rows from {len(channel.files)} "
            f"file(s)"
        )

    with timed(timings, "prepare"):
        train = channels["train"]
        frame = train.frame
        columns = list(frame.columns)
        target = resolve_target(columns, config.target, train.has_header)
        roles = select_columns(columns, target, config.features, config.drop_columns)
        forced = [
            resolve_column(columns, c, "categorical_features entry")
            for c in config.categorical_features
        ]
        outside = sorted(set(forced) - set(roles.features))
        if outside:
            raise DataError(
                f"categorical_features names {outside}, which are not feature columns "
                f"(features: {list(roles.features)})"
            )
        for name, channel in channels.items():
            if name != "train":
                check_same_columns(name, channel, train)

        if frame[target].isna().all():
            raise DataError(
                f"target column {target!r} is entirely empty in channel 'train'; every "
                "row needs a target value"
            )
        problem_type = infer_problem_type(frame[target].dropna(), config.problem_type)
        importing.join()
        estimator = estimators.build_estimator(config, problem_type)
        if config.search:
            estimators.check_search_space(config, estimator)

        labelled = (
            frame if frame[target].notna().all() else frame.loc[frame[target].notna()]
        )
        kinds = infer_kinds(
            labelled,
            roles.features,
            forced,
            config.max_invalid_fraction,
        )
        splits = {
            name: make_split(name, channel.frame, target, kinds, problem_type, config)
            for name, channel in channels.items()
        }
        check_target(splits["train"].target, problem_type)
        if len(splits["train"].target) < config.min_rows:
            raise DataError(
                f"channel 'train' has {len(splits['train'].target)} usable rows (with "
                f"a "
                f"target value); at least min_rows={config.min_rows} are needed"
            )
        if "validation" not in splits and config.validation_fraction > 0:
            splits["train"], splits["validation"] = hold_out(
                splits["train"],
                config.validation_fraction,
                problem_type,
                config.random_state,
            )
        if problem_type == "classification":
            check_known_classes(splits)
        schema = build_schema(splits["train"].features, kinds, target, problem_type)
        log(
            f"{problem_type} of {target!r} with {config.algorithm}: "
            f"{len(schema.numeric_features)} numeric, "
            f"{len(schema.categorical_features)} categorical features"
        )

    from sklearn.pipeline import Pipeline

    algorithm = ALGORITHMS[config.algorithm]
    pipeline = Pipeline(
        [
            (
                "preprocess",
                build_preprocessor(
                    schema, algorithm.scale_numerics, algorithm.dense_input
                ),
            ),
            ("model", estimator),
        ]
    )
    train_split = splits["train"]
    log("fitting")
    search_record = None
    transformed = None  # the preprocessed training rows, reused to evaluate them
    with recorded_warnings(fit_warnings):
        if config.search:
            with timed(timings, "fit_estimator"):
                pipeline, search_record = fit_with_search(
                    pipeline, train_split, config, problem_type
                )
        else:
            with timed(timings, "fit_preprocess"):
                transformed = pipeline[0].fit_transform(
                    train_split.features, train_split.target
                )
            with timed(timings, "fit_estimator"):
                pipeline[-1].fit(transformed, train_split.target)
    log("fitted")

    from container.training.evaluation import evaluate, metric_lines, render_report

    metrics: dict[str, dict[str, float]] = {}
    details: dict[str, Any] = {}
    with timed(timings, "evaluate"), recorded_warnings(fit_warnings):
        for name, split in splits.items():
            metrics[name], split_details = evaluate(
                pipeline,
                split.features,
                split.target,
                problem_type,
                transformed=transformed if name == "train" else None,
            )
            if split_details is not None:
                details[name] = split_details
    for line in metric_lines(metrics):
        print(line, flush=True)

    if problem_type == "classification":
        schema = dataclasses.replace(schema, classes=tuple(pipeline.classes_))
        schema = dataclasses.replace(
            schema, classes=tuple(_json_label(c) for c in schema.classes)
        )
    data_description = {name: channel.to_dict() for name, channel in channels.items()}
    for name, split in splits.items():
        data_description.setdefault(name, {"held_out_from": "train"})
        data_description[name]["rows_used"] = int(len(split.target))

    manifest = {
        "schema": schema.to_dict(),
        "problem_type": problem_type,
        "target": target,
        "algorithm": config.algorithm,
        "estimator": type(pipeline[-1]).__name__,
        "estimator_params": _json_safe(pipeline[-1].get_params(deep=False)),
        "hyperparameters": config.to_dict(),
        "metrics": metrics,
        "data": data_description,
        "search": search_record,
        "warnings": fit_warnings,
        "training_job_name": env.job_name,
        "training_job_arn": env.job_arn,
        "started_at": started_at,
    }

    output_dir = (
        Path(env.output_data_dir) if env.output_data_dir else opt_ml.output_data_dir
    )
    write_json(output_dir / METRICS_FILE, metrics, default=str)
    if details:
        write_json(output_dir / EVALUATION_FILE, details, default=str)
    if search_record:
        write_json(output_dir / SEARCH_TRIALS_FILE, search_record, default=str)
    facts = {
        "training job": env.job_name or "(local)",
        "target": target,
        "problem type": problem_type,
        "algorithm": config.algorithm,
        "rows": ", ".join(f"{n}: {len(s.target)}" for n, s in splits.items()),
    }
    write_atomic(
        output_dir / REPORT_FILE,
        render_report(
            f"Training report: {env.job_name or 'local job'}", metrics, details, facts
        ),
    )

    from container.contract.bundle import save_bundle

    with guard.publishing(), timed(timings, "save"):
        manifest["finished_at"] = utc_now()
        manifest["timings_seconds"] = timings
        save_bundle(model_dir, pipeline, manifest)
    log(f"model saved to {model_dir}")
    return manifest


def _json_label(value: Any) -> Any:
    from container.training.features import json_label

    return json_label(value)


def _json_safe(params: dict[str, Any]) -> dict[str, Any]:
    safe = {}
    for key, value in params.items():
        if value is None or isinstance(value, bool | int | float | str):
            safe[key] = value
        else:
            safe[key] = repr(value)
    return safe


def check_same_columns(name: str, channel: Any, train: Any) -> None:
    from container.contract.columns import describe_difference
    from container.training.errors import DataError

    expected, got = list(train.frame.columns), list(channel.frame.columns)
    if set(expected) == set(got):
        return
    if train.has_header != channel.has_header:
        which = "has" if train.has_header else "has no"
        raise DataError(
            f"channel {name!r} columns differ from train: train {which} header row but "
            f"{name} {'does not' if train.has_header else 'does'}; give both the same "
            f"layout"
        )
    detail = describe_difference(expected, got)
    raise DataError(
        f"channel {name!r} columns differ from train: {detail} ({len(got)} columns vs {len(expected)} in train). "  # noqa: E501
        "Validation and test data must hold the same columns as the training data."
    )


def make_split(
    name: str,
    frame: Any,
    target: str,
    kinds: dict[str, str],
    problem_type: str,
    config: Any,
) -> Split:
    from container.training.errors import DataError
    from container.training.features import coerce_features, prepare_target

    present = frame[target].notna()
    dropped = int((~present).sum())
    if dropped:
        log(f"channel {name}: dropping {dropped} row(s) without a target value")
    if not present.any():
        raise DataError(
            f"target column {target!r} is entirely empty in channel {name!r}"
        )
    kept = frame if dropped == 0 else frame.loc[present]
    features = coerce_features(kept, kinds, name, config.max_invalid_fraction)
    labels = prepare_target(kept[target], problem_type, name)  # type: ignore[arg-type]
    return Split(name, features.reset_index(drop=True), labels.reset_index(drop=True))


def hold_out(
    split: Split, fraction: float, problem_type: str, seed: int | None
) -> tuple[Split, Split]:
    import pandas as pd
    from sklearn.model_selection import train_test_split

    features, target = split.features, split.target
    # A class seen once cannot be on both sides: it stays in the fit split, so
    # the held-out part never has a class the model was not trained on, and the
    # rest can still be stratified.
    singles = pd.Series(False, index=target.index)
    if problem_type == "classification":
        counts = target.value_counts()
        singles = target.isin(counts[counts < 2].index)
    rest_x, rest_y = features[~singles], target[~singles]
    stratify = rest_y if problem_type == "classification" and len(rest_y) else None
    x_fit, x_val, y_fit, y_val = train_test_split(
        rest_x, rest_y, test_size=fraction, random_state=seed, stratify=stratify
    )
    x_fit = pd.concat([x_fit, features[singles]])
    y_fit = pd.concat([y_fit, target[singles]])
    return (
        Split("train", x_fit.reset_index(drop=True), y_fit.reset_index(drop=True)),
        Split("validation", x_val.reset_index(drop=True), y_val.reset_index(drop=True)),
    )


def check_known_classes(splits: dict[str, Split]) -> None:
    from container.training.errors import DataError

    known = set(splits["train"].target.unique())
    for name, split in splits.items():
        unseen = sorted(str(c) for c in set(split.target.unique()) - known)
        if unseen:
            raise DataError(
                f"channel {name!r} has target classes {unseen} that never occur in the "
                f"training data (classes: {sorted(str(c) for c in known)}); the model "
                "cannot predict them"
            )


def fit_with_search(
    pipeline: Any, split: Split, config: Any, problem_type: str
) -> tuple[Any, dict[str, Any]]:
    """Grid or random search with cross-validation; every trial is recorded."""
    from sklearn.metrics import get_scorer, get_scorer_names
    from sklearn.model_selection import (
        GridSearchCV,
        KFold,
        ParameterGrid,
        RandomizedSearchCV,
        StratifiedKFold,
    )

    scoring = config.search_scoring or (
        "accuracy"
        if problem_type == "classification"
        else "neg_root_mean_squared_error"
    )
    try:
        get_scorer(scoring)
    except ValueError:
        raise HyperparameterError(
            f"hyperparameter search_scoring={scoring!r} is invalid: expected one of "
            f"scikit-learn's scorer names, e.g. "
            f"{', '.join(sorted(get_scorer_names())[:12])}, ..."
        ) from None
    if problem_type == "classification":
        smallest = int(split.target.value_counts().min())
        if smallest < config.search_cv:
            from container.training.errors import DataError

            raise DataError(
                f"search_cv={config.search_cv} folds need at least {config.search_cv} "
                f"rows of "
                f"every class, but the rarest class has {smallest}; lower search_cv"
            )
        cv = StratifiedKFold(
            config.search_cv, shuffle=True, random_state=config.random_state
        )
    else:
        cv = KFold(config.search_cv, shuffle=True, random_state=config.random_state)
    space = {f"model__{k}": v for k, v in config.search.items()}
    common = {"scoring": scoring, "cv": cv, "refit": True, "error_score": "raise"}
    if config.search_strategy == "random":
        iterations = min(config.search_iterations, len(ParameterGrid(space)))
        search = RandomizedSearchCV(
            pipeline,
            space,
            n_iter=iterations,
            random_state=config.random_state,
            **common,
        )
    else:
        search = GridSearchCV(pipeline, space, **common)
    search.fit(split.features, split.target)
    results = search.cv_results_
    trials = [
        {
            "params": {
                k.removeprefix("model__"): v for k, v in results["params"][i].items()
            },
            "mean_score": float(results["mean_test_score"][i]),
            "std_score": float(results["std_test_score"][i]),
            "rank": int(results["rank_test_score"][i]),
            "mean_fit_seconds": float(results["mean_fit_time"][i]),
        }
        for i in range(len(results["params"]))
    ]
    record = {
        "strategy": config.search_strategy,
        "scoring": scoring,
        "cv_folds": config.search_cv,
        "best_params": {
            k.removeprefix("model__"): v for k, v in search.best_params_.items()
        },
        "best_score": float(search.best_score_),
        "trials": trials,
    }
    for trial in trials:
        log(f"search trial {trial['params']}: {scoring}={trial['mean_score']:.4f}")
    return search.best_estimator_, record


# --- the command ----------------------------------------------------------------------
def main() -> int:
    """Run the training job; 0 on success, non-zero (and a failure file) otherwise."""
    from container.contract.bundle import remove_bundle

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
        run(opt_ml, env, guard, model_dir)

    return jobs.run(job, work)

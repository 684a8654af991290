"""Hyperparameter search with cross-validation (the `search` option).

Grid or random search over the estimator's parameters, scored by any
scikit-learn scorer; every trial is recorded (search_trials.json and the
manifest) and logged, and the best pipeline is refitted on all training rows.
"""

from __future__ import annotations

from typing import Any

from container.jobs import logger
from container.training.errors import DataError, HyperparameterError
from container.training.options import TrainingConfig
from container.training.splits import Split

log = logger("train")
STEP = "model__"  # the estimator's name inside the pipeline


def default_scoring(problem_type: str) -> str:
    if problem_type == "classification":
        return "accuracy"
    return "neg_root_mean_squared_error"


def check_scoring(scoring: str) -> None:
    from sklearn.metrics import get_scorer, get_scorer_names

    try:
        get_scorer(scoring)
    except ValueError:
        examples = ", ".join(sorted(get_scorer_names())[:12])
        raise HyperparameterError(
            f"hyperparameter search_scoring={scoring!r} is invalid: "
            f"expected one of scikit-learn's scorer names, e.g. {examples}, ..."
        ) from None


def folds(split: Split, config: TrainingConfig, problem_type: str) -> Any:
    from sklearn.model_selection import KFold, StratifiedKFold

    seed = config.random_state
    if problem_type != "classification":
        return KFold(config.search_cv, shuffle=True, random_state=seed)
    smallest = int(split.target.value_counts().min())
    if smallest < config.search_cv:
        raise DataError(
            f"search_cv={config.search_cv} folds need at least {config.search_cv} rows of every class, "  # noqa: E501
            f"but the rarest class has {smallest}; lower search_cv"
        )
    return StratifiedKFold(config.search_cv, shuffle=True, random_state=seed)


def fit_with_search(
    pipeline: Any, split: Split, config: TrainingConfig, problem_type: str
) -> tuple[Any, dict[str, Any]]:
    """Grid or random search with cross-validation; every trial is recorded."""
    from sklearn.model_selection import GridSearchCV, ParameterGrid, RandomizedSearchCV

    scoring = config.search_scoring or default_scoring(problem_type)
    check_scoring(scoring)
    space = {f"{STEP}{k}": v for k, v in config.search.items()}
    common = {
        "scoring": scoring,
        "cv": folds(split, config, problem_type),
        "refit": True,
        "error_score": "raise",
    }
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
    record = search_record(search, config, scoring)
    for trial in record["trials"]:
        log(f"search trial {trial['params']}: {scoring}={trial['mean_score']:.4f}")
    return search.best_estimator_, record


def search_record(search: Any, config: TrainingConfig, scoring: str) -> dict[str, Any]:
    results = search.cv_results_
    trials = [
        {
            "params": _unprefixed(results["params"][i]),
            "mean_score": float(results["mean_test_score"][i]),
            "std_score": float(results["std_test_score"][i]),
            "rank": int(results["rank_test_score"][i]),
            "mean_fit_seconds": float(results["mean_fit_time"][i]),
        }
        for i in range(len(results["params"]))
    ]
    return {
        "strategy": config.search_strategy,
        "scoring": scoring,
        "cv_folds": config.search_cv,
        "best_params": _unprefixed(search.best_params_),
        "best_score": float(search.best_score_),
        "trials": trials,
    }


def _unprefixed(params: dict[str, Any]) -> dict[str, Any]:
    return {k.removeprefix(STEP): v for k, v in params.items()}

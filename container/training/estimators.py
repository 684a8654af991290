"""The scikit-learn estimator a job asked for, configured and validated before the fit.

Every hyperparameter that is not a training option is an estimator parameter:
unknown names fail listing the estimator's parameters, and values are checked
by scikit-learn's own parameter validation, whose messages already name the
parameter and the allowed values.
"""

from __future__ import annotations

import importlib
from typing import Any

from container.training.algorithms import ALGORITHMS
from container.training.errors import HyperparameterError
from container.training.options import OPTIONS, TrainingConfig


# --- building the estimator -----------------------------------------------------------
def estimator_class(algorithm: str, problem_type: str) -> type:
    module_name, _, class_name = (
        ALGORITHMS[algorithm].estimator_path(problem_type).partition(":")
    )
    return getattr(importlib.import_module(module_name), class_name)


def build_estimator(
    config: TrainingConfig, problem_type: str, n_jobs: int | None = None
) -> Any:
    """The configured, validated (but unfitted) scikit-learn estimator.

    `n_jobs` (SM_NUM_CPUS) becomes the estimator's n_jobs when it has one and
    the hyperparameters do not set it.
    """
    cls = estimator_class(config.algorithm, problem_type)
    estimator = cls()
    allowed = estimator.get_params(deep=False)
    unknown = sorted(set(config.estimator_params) - set(allowed))
    if unknown:
        raise HyperparameterError(
            f"unknown hyperparameter(s) {unknown}: not a training option ({', '.join(OPTIONS)}) nor a parameter of {cls.__name__} ({', '.join(sorted(allowed))})"  # noqa: E501
        )
    params = dict(config.estimator_params)
    if "random_state" in allowed and "random_state" not in params:
        params["random_state"] = config.random_state
    if n_jobs is not None and "n_jobs" in allowed and "n_jobs" not in params:
        params["n_jobs"] = n_jobs
    estimator.set_params(**params)
    validate_params(estimator)
    return estimator


def validate_params(estimator: Any) -> None:
    """scikit-learn's own parameter check, run before the fit rather than inside it."""
    from sklearn.utils._param_validation import InvalidParameterError

    check = getattr(estimator, "_validate_params", None)
    if check is None:  # a future scikit-learn without it: fit() still validates
        return
    try:
        check()
    except InvalidParameterError as exc:
        raise HyperparameterError(f"invalid hyperparameter: {exc}") from None


def check_search_space(config: TrainingConfig, estimator: Any) -> None:
    """Every searched name is a parameter of the estimator, every value valid for it."""
    from sklearn.base import clone

    allowed = estimator.get_params(deep=False)
    unknown = sorted(set(config.search) - set(allowed))
    if unknown:
        raise HyperparameterError(
            f"search names {unknown}, which are not parameters of {type(estimator).__name__} ({', '.join(sorted(allowed))})"  # noqa: E501
        )
    for name, values in config.search.items():
        for value in values:
            trial = clone(estimator).set_params(**{name: value})
            try:
                validate_params(trial)
            except HyperparameterError as exc:
                raise HyperparameterError(
                    f"search value {name}={value!r}: {exc.message}"
                ) from None

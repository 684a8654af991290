"""The algorithms `train` offers, and the hyperparameters that configure a job.

Hyperparameters arrive as strings (hyperparameters.json, SM_HPS, SM_HP_*).
The options this project defines (target, algorithm, search, ...) are parsed
here with messages naming the key, the value received and what is allowed.
Every other key is passed to the scikit-learn estimator after JSON-style
coercion ("5" → 5, "0.1" → 0.1, "null" → None, "sqrt" stays text) and then
checked by scikit-learn's own parameter validation, whose messages already name
the parameter and the allowed values.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from container.contract.errors import JobInputError


class HyperparameterError(JobInputError):
    """A hyperparameter is unknown, malformed or out of range."""

    code = "invalid_hyperparameter"


@dataclass(frozen=True)
class Algorithm:
    name: str
    classifier: str | None  # "module:Class", imported only when used
    regressor: str | None
    # Distance- and gradient-based models need numerics on one scale; trees do not.
    scale_numerics: bool = False
    # Estimators that reject sparse matrices get dense one-hot output.
    dense_input: bool = False

    def estimator_path(self, problem_type: str) -> str:
        path = self.classifier if problem_type == "classification" else self.regressor
        if path is None:
            usable = [a.name for a in ALGORITHMS.values() if a.supports(problem_type)]
            raise HyperparameterError(
                f"algorithm={self.name!r} does not do {problem_type}; for "
                f"{problem_type} "
                f"use one of {usable}"
            )
        return path

    def supports(self, problem_type: str) -> bool:
        return (
            self.classifier if problem_type == "classification" else self.regressor
        ) is not None


ALGORITHMS: dict[str, Algorithm] = {
    a.name: a
    for a in (
        Algorithm(
            "random_forest",
            "sklearn.ensemble:RandomForestClassifier",
            "sklearn.ensemble:RandomForestRegressor",
        ),
        Algorithm(
            "extra_trees",
            "sklearn.ensemble:ExtraTreesClassifier",
            "sklearn.ensemble:ExtraTreesRegressor",
        ),
        Algorithm(
            "hist_gradient_boosting",
            "sklearn.ensemble:HistGradientBoostingClassifier",
            "sklearn.ensemble:HistGradientBoostingRegressor",
            dense_input=True,
        ),
        Algorithm(
            "gradient_boosting",
            "sklearn.ensemble:GradientBoostingClassifier",
            "sklearn.ensemble:GradientBoostingRegressor",
        ),
        Algorithm(
            "decision_tree",
            "sklearn.tree:DecisionTreeClassifier",
            "sklearn.tree:DecisionTreeRegressor",
        ),
        Algorithm(
            "logistic_regression",
            "sklearn.linear_model:LogisticRegression",
            None,
            scale_numerics=True,
        ),
        Algorithm(
            "linear_regression",
            None,
            "sklearn.linear_model:LinearRegression",
            scale_numerics=True,
        ),
        Algorithm("ridge", None, "sklearn.linear_model:Ridge", scale_numerics=True),
        Algorithm(
            "knn",
            "sklearn.neighbors:KNeighborsClassifier",
            "sklearn.neighbors:KNeighborsRegressor",
            scale_numerics=True,
        ),
    )
}
DEFAULT_ALGORITHM = "random_forest"
PROBLEM_TYPES = ("auto", "classification", "regression")
SEARCH_STRATEGIES = ("grid", "random")
DEFAULT_RANDOM_STATE = 0
DEFAULT_MIN_ROWS = 10
DEFAULT_MAX_INVALID_FRACTION = 0.01
DEFAULT_SEARCH_CV = 3
DEFAULT_SEARCH_ITERATIONS = 10
# Keys SageMaker tooling adds to hyperparameters for its own use (sagemaker_program,
# _tuning_objective_metric, ...): never meant for the estimator.
RESERVED_PREFIXES = ("sagemaker_", "_")

OPTIONS = (
    "target", "problem_type", "algorithm", "features", "categorical_features",
    "drop_columns", "header", "random_state", "min_rows", "max_invalid_fraction",
    "validation_fraction", "search", "search_strategy", "search_iterations",
    "search_cv", "search_scoring",
)  # fmt: skip


@dataclass(frozen=True)
class TrainingConfig:
    """Everything a job was asked to do, typed."""

    target: str | None = None
    problem_type: str = "auto"
    algorithm: str = DEFAULT_ALGORITHM
    features: tuple[str, ...] = ()
    categorical_features: tuple[str, ...] = ()
    drop_columns: tuple[str, ...] = ()
    header: bool | None = None  # None: detect per file
    random_state: int | None = DEFAULT_RANDOM_STATE
    min_rows: int = DEFAULT_MIN_ROWS
    max_invalid_fraction: float = DEFAULT_MAX_INVALID_FRACTION
    validation_fraction: float = 0.0
    search: dict[str, list[Any]] = field(default_factory=dict)
    search_strategy: str = "grid"
    search_iterations: int = DEFAULT_SEARCH_ITERATIONS
    search_cv: int = DEFAULT_SEARCH_CV
    search_scoring: str | None = None
    estimator_params: dict[str, Any] = field(default_factory=dict)
    ignored: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """The typed hyperparameters, as recorded in the manifest."""
        out = {name: getattr(self, name) for name in OPTIONS}
        for name in ("features", "categorical_features", "drop_columns"):
            out[name] = list(out[name])
        out["estimator_params"] = dict(self.estimator_params)
        return out


# --- parsing single values ------------------------------------------------------------
def _fail(key: str, raw: str, expected: str) -> HyperparameterError:
    return HyperparameterError(
        f"hyperparameter {key}={raw!r} is invalid: expected {expected}"
    )


def parse_value(raw: str) -> Any:
    """JSON-like coercion of a string hyperparameter; text that is no JSON stays."""
    text = raw.strip()
    lowered = text.lower()
    if lowered in ("none", "null"):
        return None
    if lowered in ("true", "false"):
        return lowered == "true"
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def parse_int(key: str, raw: str, minimum: int) -> int:
    try:
        value = int(raw.strip())
    except ValueError:
        raise _fail(key, raw, f"a whole number >= {minimum}") from None
    if value < minimum:
        raise _fail(key, raw, f"a whole number >= {minimum}")
    return value


def parse_fraction(key: str, raw: str, upper_open: bool = False) -> float:
    allowed = (
        "a number from 0 up to (not including) 1"
        if upper_open
        else "a number from 0 to 1"
    )
    try:
        value = float(raw.strip())
    except ValueError:
        raise _fail(key, raw, allowed) from None
    if not (0 <= value < 1 if upper_open else 0 <= value <= 1):
        raise _fail(key, raw, allowed)
    return value


def parse_choice(key: str, raw: str, choices: tuple[str, ...] | list[str]) -> str:
    value = raw.strip().lower()
    if value not in choices:
        raise _fail(key, raw, f"one of {', '.join(choices)}")
    return value


def parse_bool_or_auto(key: str, raw: str) -> bool | None:
    value = raw.strip().lower()
    if value in ("auto", ""):
        return None
    if value in ("true", "1", "yes", "present"):
        return True
    if value in ("false", "0", "no", "absent"):
        return False
    raise _fail(key, raw, "true, false or auto")


def parse_names(key: str, raw: str) -> tuple[str, ...]:
    """A comma-separated list or a JSON array of column names or 0-based positions."""
    text = raw.strip()
    if text.startswith("["):
        try:
            items = json.loads(text)
        except json.JSONDecodeError:
            raise _fail(
                key, raw, 'a JSON array such as ["a", "b"] or a list a,b'
            ) from None
        if not isinstance(items, list) or not all(
            isinstance(i, str | int) for i in items
        ):
            raise _fail(key, raw, "an array of column names or 0-based positions")
        return tuple(str(i) for i in items)
    return tuple(part.strip() for part in text.split(",") if part.strip())


def parse_search(raw: str) -> dict[str, list[Any]]:
    example = '{"max_depth": [3, 5, null], "n_estimators": [50, 100]}'
    try:
        space = json.loads(raw)
    except json.JSONDecodeError:
        raise _fail(
            "search",
            raw,
            f"a JSON object of parameter → list of values, e.g. {example}",
        ) from None
    if not isinstance(space, dict) or not space:
        raise _fail("search", raw, f"a non-empty JSON object, e.g. {example}")
    for name, values in space.items():
        if not isinstance(values, list) or not values:
            raise _fail(
                "search",
                raw,
                f"a non-empty list of values for {name!r}, e.g. {example}",
            )
    return space


# --- the whole configuration ----------------------------------------------------------
def merge_hyperparameters(
    from_file: Mapping[str, str], from_env: Mapping[str, str]
) -> tuple[dict[str, str], list[str]]:
    """hyperparameters.json wins over SM_HPS / SM_HP_*; returns (merged, overridden).

    The file is what the training job was created with (CreateTrainingJob's
    HyperParameters, shown in the console and recorded in lineage), so the
    recorded model must match it; environment variables only fill in keys the
    file does not have.
    """
    overridden = sorted(
        k for k in from_env if k in from_file and from_env[k] != from_file[k]
    )
    return {**dict(from_env), **dict(from_file)}, overridden


def parse_config(hyperparameters: Mapping[str, str]) -> TrainingConfig:
    hps = {
        str(k): v if isinstance(v, str) else json.dumps(v)
        for k, v in hyperparameters.items()
    }
    values: dict[str, Any] = {}
    estimator_params: dict[str, Any] = {}
    ignored = []
    for key, raw in hps.items():
        if key.startswith(RESERVED_PREFIXES):
            ignored.append(key)
        elif key in OPTIONS:
            values[key] = _parse_option(key, raw)
        else:
            estimator_params[key] = parse_value(raw)
    return TrainingConfig(
        **values, estimator_params=estimator_params, ignored=tuple(ignored)
    )


def _parse_option(key: str, raw: str) -> Any:
    if key == "target":
        return raw.strip() or None
    if key == "problem_type":
        return parse_choice(key, raw, PROBLEM_TYPES)
    if key == "algorithm":
        return parse_choice(key, raw, list(ALGORITHMS))
    if key in ("features", "categorical_features", "drop_columns"):
        return parse_names(key, raw)
    if key == "header":
        return parse_bool_or_auto(key, raw)
    if key == "random_state":
        return (
            None
            if raw.strip().lower() in ("none", "null", "")
            else parse_int(key, raw, 0)
        )
    if key == "min_rows":
        return parse_int(key, raw, 1)
    if key == "max_invalid_fraction":
        return parse_fraction(key, raw)
    if key == "validation_fraction":
        return parse_fraction(key, raw, upper_open=True)
    if key == "search":
        return parse_search(raw)
    if key == "search_strategy":
        return parse_choice(key, raw, SEARCH_STRATEGIES)
    if key == "search_iterations":
        return parse_int(key, raw, 1)
    if key == "search_cv":
        return parse_int(key, raw, 2)
    if key == "search_scoring":
        return raw.strip() or None
    raise AssertionError(
        f"option {key} has no parser"
    )  # OPTIONS and this table disagree


# --- building the estimator -----------------------------------------------------------
def estimator_class(algorithm: str, problem_type: str) -> type:
    module_name, _, class_name = (
        ALGORITHMS[algorithm].estimator_path(problem_type).partition(":")
    )
    return getattr(importlib.import_module(module_name), class_name)


def build_estimator(config: TrainingConfig, problem_type: str) -> Any:
    """The configured, validated (but unfitted) scikit-learn estimator."""
    cls = estimator_class(config.algorithm, problem_type)
    estimator = cls()
    allowed = estimator.get_params(deep=False)
    unknown = sorted(set(config.estimator_params) - set(allowed))
    if unknown:
        raise HyperparameterError(
            f"unknown hyperparameter(s) {unknown}: not a training option "
            f"({', '.join(OPTIONS)}) "
            f"nor a parameter of {cls.__name__} ({', '.join(sorted(allowed))})"
        )
    params = dict(config.estimator_params)
    if "random_state" in allowed and "random_state" not in params:
        params["random_state"] = config.random_state
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
            f"search names {unknown}, which are not parameters of "
            f"{type(estimator).__name__} ({', '.join(sorted(allowed))})"
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

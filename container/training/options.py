"""The hyperparameters `train` itself defines, each declared once, in `TrainingConfig`.

Hyperparameters arrive as strings (hyperparameters.json, SM_HPS, SM_HP_*).
Each field of `TrainingConfig` made with `option(...)` is a training option:
its name is the key, its type and default are the field's, and its parser
turns the string into the value or raises a message naming the key, the
value received and what is allowed. Every other key goes to the scikit-learn
estimator (see `container.training.estimators`), after JSON-style coercion by
`parse_value`.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from container.contract.settings import parse_flag
from container.training.algorithms import ALGORITHMS, DEFAULT_ALGORITHM
from container.training.errors import HyperparameterError

# Keys SageMaker tooling adds to hyperparameters for its own use (sagemaker_program,
# _tuning_objective_metric, ...): never meant for the estimator.
RESERVED_PREFIXES = ("sagemaker_", "_")
PROBLEM_TYPES = ("auto", "classification", "regression")
SEARCH_STRATEGIES = ("grid", "random")
DEFAULT_MAX_CLASSES = 100
SEARCH_EXAMPLE = '{"max_depth": [3, 5, null], "n_estimators": [50, 100]}'

Parser = Callable[[str, str], Any]  # (key, raw string) → value


# --- parsers of single values --------------------------------------------------------
def invalid(key: str, raw: str, expected: str) -> HyperparameterError:
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


def text_or_none(key: str, raw: str) -> str | None:
    return raw.strip() or None


def whole_number(minimum: int, none_allowed: bool = False) -> Parser:
    def parse(key: str, raw: str) -> int | None:
        if none_allowed and raw.strip().lower() in ("none", "null", ""):
            return None
        try:
            value = int(raw.strip())
        except ValueError:
            raise invalid(key, raw, f"a whole number >= {minimum}") from None
        if value < minimum:
            raise invalid(key, raw, f"a whole number >= {minimum}")
        return value

    return parse


def fraction(upper_open: bool = False) -> Parser:
    allowed = (
        "a number from 0 up to (not including) 1"
        if upper_open
        else "a number from 0 to 1"
    )

    def parse(key: str, raw: str) -> float:
        try:
            value = float(raw.strip())
        except ValueError:
            raise invalid(key, raw, allowed) from None
        if not (0 <= value < 1 if upper_open else 0 <= value <= 1):
            raise invalid(key, raw, allowed)
        return value

    return parse


def choice(choices: tuple[str, ...]) -> Parser:
    def parse(key: str, raw: str) -> str:
        value = raw.strip().lower()
        if value not in choices:
            raise invalid(key, raw, f"one of {', '.join(choices)}")
        return value

    return parse


def flag_or_auto(key: str, raw: str) -> bool | None:
    """true/false (also yes/no, 1/0, present/absent) or auto (None: detect)."""
    if raw.strip().lower() in ("auto", ""):
        return None
    value = parse_flag(raw, extra_true=("present",), extra_false=("absent",))
    if value is None:
        raise invalid(key, raw, "true, false or auto")
    return value


def flag(key: str, raw: str) -> bool:
    """true/false (also yes/no, 1/0, on/off)."""
    value = parse_flag(raw)
    if value is None:
        raise invalid(key, raw, "true or false")
    return value


def column_names(key: str, raw: str) -> tuple[str, ...]:
    """A comma-separated list or a JSON array of column names or 0-based positions."""
    text = raw.strip()
    if not text.startswith("["):
        return tuple(part.strip() for part in text.split(",") if part.strip())
    try:
        items = json.loads(text)
    except json.JSONDecodeError:
        raise invalid(
            key, raw, 'a JSON array such as ["a", "b"] or a list a,b'
        ) from None
    if not isinstance(items, list) or not all(isinstance(i, str | int) for i in items):
        raise invalid(key, raw, "an array of column names or 0-based positions")
    return tuple(str(i) for i in items)


def search_space(key: str, raw: str) -> dict[str, list[Any]]:
    try:
        space = json.loads(raw)
    except json.JSONDecodeError:
        expected = f"a JSON object of parameter → list of values, e.g. {SEARCH_EXAMPLE}"
        raise invalid(key, raw, expected) from None
    if not isinstance(space, dict) or not space:
        raise invalid(key, raw, f"a non-empty JSON object, e.g. {SEARCH_EXAMPLE}")
    for name, values in space.items():
        if not isinstance(values, list) or not values:
            expected = f"a non-empty list of values for {name!r}, e.g. {SEARCH_EXAMPLE}"
            raise invalid(key, raw, expected)
    return space


# --- the table -----------------------------------------------------------------------
def option(
    parse: Parser, default: Any = None, factory: Callable[[], Any] | None = None
):
    """A `TrainingConfig` field that is a training option, parsed by `parse`."""
    if factory is not None:
        return field(default_factory=factory, metadata={"parse": parse})
    return field(default=default, metadata={"parse": parse})


@dataclass(frozen=True)
class TrainingConfig:
    """Everything a job was asked to do, typed. docs/training.md explains each."""

    target: str | None = option(text_or_none)
    problem_type: str = option(choice(PROBLEM_TYPES), "auto")
    algorithm: str = option(choice(tuple(ALGORITHMS)), DEFAULT_ALGORITHM)
    features: tuple[str, ...] = option(column_names, ())
    categorical_features: tuple[str, ...] = option(column_names, ())
    drop_columns: tuple[str, ...] = option(column_names, ())
    header: bool | None = option(flag_or_auto)  # None: detect per file
    random_state: int | None = option(whole_number(0, none_allowed=True), 0)
    min_rows: int = option(whole_number(1), 10)
    # Memory grows with the class count (a forest keeps one value per class in
    # every tree node), so a target with more classes is refused before the fit.
    max_classes: int = option(whole_number(2), DEFAULT_MAX_CLASSES)
    max_invalid_fraction: float = option(fraction(), 0.01)
    validation_fraction: float = option(fraction(upper_open=True), 0.0)
    search: dict[str, list[Any]] = option(search_space, factory=dict)
    search_strategy: str = option(choice(SEARCH_STRATEGIES), "grid")
    search_iterations: int = option(whole_number(1), 10)
    search_cv: int = option(whole_number(2), 3)
    search_scoring: str | None = option(text_or_none)
    # Convert the fitted pipeline to ONNX for `serve` (container/training/compiled.py).
    compile_predictor: bool = option(flag, True)
    # Not options: every other key, for the estimator, and the keys left alone.
    estimator_params: dict[str, Any] = field(default_factory=dict)
    ignored: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """The typed hyperparameters, as recorded in the manifest."""
        out = {}
        for name in OPTIONS:
            value = getattr(self, name)
            out[name] = list(value) if isinstance(value, tuple) else value
        out["estimator_params"] = dict(self.estimator_params)
        return out


PARSERS: dict[str, Parser] = {
    f.name: f.metadata["parse"]
    for f in dataclasses.fields(TrainingConfig)
    if "parse" in f.metadata
}
OPTIONS = tuple(PARSERS)


# --- the whole configuration ---------------------------------------------------------
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
    values: dict[str, Any] = {}
    estimator_params: dict[str, Any] = {}
    ignored = []
    for key, value in hyperparameters.items():
        key = str(key)
        raw = value if isinstance(value, str) else json.dumps(value)
        if key.startswith(RESERVED_PREFIXES):
            ignored.append(key)
        elif key in PARSERS:
            values[key] = PARSERS[key](key, raw)
        else:
            estimator_params[key] = parse_value(raw)
    return TrainingConfig(
        **values, estimator_params=estimator_params, ignored=tuple(ignored)
    )

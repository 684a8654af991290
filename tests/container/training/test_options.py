"""Parsing the training options: one table, typed values, messages that name the key."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from container.training.errors import HyperparameterError
from container.training.options import (
    OPTIONS,
    TrainingConfig,
    merge_hyperparameters,
    parse_config,
    parse_value,
)

TRAINING_DOC = Path(__file__).resolve().parents[3] / "docs" / "training.md"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("5", 5), ("0.5", 0.5), ("null", None), ("None", None), ("True", True),
     ("sqrt", "sqrt"), ("[10, 5]", [10, 5]), ('"3"', "3")],
)  # fmt: skip
def test_parse_value(raw, expected):
    assert parse_value(raw) == expected


def test_options_are_typed_and_the_rest_goes_to_the_estimator():
    config = parse_config(
        {
            "target": "species",
            "features": "a, b",
            "categorical_features": '["b"]',
            "header": "false",
            "random_state": "7",
            "max_invalid_fraction": "0.05",
            "max_depth": "4",
            "sagemaker_program": "x.py",
            "_tuning_objective_metric": "validation:accuracy",
        }
    )
    assert config.features == ("a", "b")
    assert config.categorical_features == ("b",)
    assert config.header is False
    assert config.random_state == 7
    assert config.max_invalid_fraction == 0.05
    assert config.estimator_params == {"max_depth": 4}
    assert set(config.ignored) == {"sagemaker_program", "_tuning_objective_metric"}
    assert config.to_dict()["estimator_params"] == {"max_depth": 4}
    assert config.compile_predictor is True
    assert parse_config({"compile_predictor": "no"}).compile_predictor is False


@pytest.mark.parametrize(
    ("key", "raw", "message"),
    [
        ("problem_type", "clustering", "one of auto, classification, regression"),
        ("algorithm", "xgboost", "one of random_forest"),
        ("min_rows", "-3", "a whole number >= 1"),
        ("max_invalid_fraction", "2", "a number from 0 to 1"),
        ("validation_fraction", "1", "not including"),
        ("header", "maybe", "true, false or auto"),
        ("search", "[1,2]", "non-empty JSON object"),
        ("search", '{"max_depth": 3}', "non-empty list of values for 'max_depth'"),
        ("search_cv", "1", ">= 2"),
        ("compile_predictor", "sometimes", "true or false"),
    ],
)
def test_option_errors_name_key_value_and_allowed(key, raw, message):
    with pytest.raises(HyperparameterError) as info:
        parse_config({key: raw})
    assert f"{key}={raw!r}" in info.value.message
    assert message in info.value.message


def test_hyperparameters_json_wins_over_environment():
    merged, overridden = merge_hyperparameters(
        {"max_depth": "3", "target": "y"}, {"max_depth": "9", "n_estimators": "5"}
    )
    assert merged == {"max_depth": "3", "target": "y", "n_estimators": "5"}
    assert overridden == ["max_depth"]


def test_each_option_is_a_typed_field_with_its_default():
    fields = {f.name: f for f in dataclasses.fields(TrainingConfig)}
    assert set(OPTIONS) < set(fields)
    defaults = TrainingConfig()
    assert defaults.algorithm == "random_forest" and defaults.search == {}
    assert parse_config({}) == defaults


def test_every_option_is_documented():
    table = TRAINING_DOC.read_text()
    for name in OPTIONS:
        assert f"| `{name}` |" in table, f"{name} is missing from docs/training.md"

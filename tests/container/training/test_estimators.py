"""Hyperparameter parsing and the algorithm registry."""

from __future__ import annotations

import pytest

from container.training.estimators import (
    ALGORITHMS,
    HyperparameterError,
    build_estimator,
    check_search_space,
    merge_hyperparameters,
    parse_config,
    parse_value,
)


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
    ],
)
def test_option_errors_name_key_value_and_allowed(key, raw, message):
    with pytest.raises(HyperparameterError) as info:
        parse_config({key: raw})
    assert f"{key}={raw!r}" in info.value.message
    assert message in info.value.message


def test_estimator_params_are_validated_by_scikit_learn():
    estimator = build_estimator(parse_config({"n_estimators": "12"}), "classification")
    assert type(estimator).__name__ == "RandomForestClassifier"
    assert estimator.n_estimators == 12 and estimator.random_state == 0
    with pytest.raises(HyperparameterError, match="'n_estimators' parameter.*Got -1"):
        build_estimator(parse_config({"n_estimators": "-1"}), "classification")
    with pytest.raises(
        HyperparameterError, match=r"unknown hyperparameter\(s\) \['trees'\]"
    ):
        build_estimator(parse_config({"trees": "3"}), "regression")


@pytest.mark.parametrize("name", sorted(ALGORITHMS))
def test_every_algorithm_builds_for_what_it_supports(name):
    algorithm = ALGORITHMS[name]
    for problem in ("classification", "regression"):
        config = parse_config({"algorithm": name})
        if algorithm.supports(problem):
            assert build_estimator(config, problem) is not None
        else:
            with pytest.raises(HyperparameterError, match=f"does not do {problem}"):
                build_estimator(config, problem)


def test_search_space_is_checked_before_fitting():
    config = parse_config({"search": '{"max_depth": [2, -1]}'})
    estimator = build_estimator(config, "classification")
    with pytest.raises(HyperparameterError, match="search value max_depth=-1"):
        check_search_space(config, estimator)
    config = parse_config({"search": '{"depth": [2]}'})
    with pytest.raises(HyperparameterError, match=r"search names \['depth'\]"):
        check_search_space(config, build_estimator(config, "classification"))


def test_hyperparameters_json_wins_over_environment():
    merged, overridden = merge_hyperparameters(
        {"max_depth": "3", "target": "y"}, {"max_depth": "9", "n_estimators": "5"}
    )
    assert merged == {"max_depth": "3", "target": "y", "n_estimators": "5"}
    assert overridden == ["max_depth"]

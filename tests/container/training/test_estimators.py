"""The algorithm registry and the estimator built from the hyperparameters."""

from __future__ import annotations

import pytest

from container.training.algorithms import ALGORITHMS
from container.training.errors import HyperparameterError
from container.training.estimators import build_estimator, check_search_space
from container.training.options import parse_config


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

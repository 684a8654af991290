"""Trial hyperparameters drawn locally (Random, Grid), the best trial, and the
tuning job spec built from the config."""

from __future__ import annotations

import dataclasses
import math
import statistics

import pytest

from orchestration import specs, tuning
from orchestration.backends.base import (
    COMPLETED,
    FAILED,
    ParameterRange,
    TrainingJobSpec,
    TrialResult,
    TuningJobSpec,
)
from orchestration.config import ConfigError, RangeConfig, load_config

DEPTH = ParameterRange("max_depth", "Integer", "2", "10")
TREES = ParameterRange("n_estimators", "Integer", "20", "200", "Logarithmic")
RATE = ParameterRange("learning_rate", "Continuous", "0.001", "1.0", "Logarithmic")
MOMENTUM = ParameterRange(
    "momentum", "Continuous", "0.5", "0.999", "ReverseLogarithmic"
)
CRITERION = ParameterRange("criterion", "Categorical", values=("gini", "entropy"))
SPLIT = ParameterRange("min_samples_split", "Categorical", values=("2", "4", "8"))


def spec(strategy="Random", ranges=(DEPTH, TREES), max_jobs=4, **more):
    training = TrainingJobSpec("t", "img", {"target": "species"}, {})
    return TuningJobSpec(
        "tune-1",
        training,
        "validation:accuracy",
        "Maximize",
        tuple(ranges),
        strategy,
        max_jobs,
        **more,
    )


def test_random_trials_are_reproducible_from_the_seed_and_strings():
    first = tuning.trials(spec(max_jobs=8), seed=3)
    assert first == tuning.trials(spec(max_jobs=8), seed=3)
    assert first != tuning.trials(spec(max_jobs=8), seed=4)
    assert len(first) == 8
    assert all(isinstance(v, str) for trial in first for v in trial.values())


def test_integer_ranges_are_inclusive_at_both_ends():
    drawn = [int(t["max_depth"]) for t in tuning.random_trials([DEPTH], 400, seed=1)]
    assert set(drawn) == set(range(2, 11))


@pytest.mark.parametrize("r", [DEPTH, TREES, RATE, MOMENTUM])
def test_drawn_values_stay_within_bounds(r):
    low, high = float(r.min_value), float(r.max_value)
    drawn = [float(t[r.name]) for t in tuning.random_trials([r], 500, seed=2)]
    assert low <= min(drawn) and max(drawn) <= high


def test_logarithmic_scaling_draws_log_uniformly():
    drawn = [float(t[RATE.name]) for t in tuning.random_trials([RATE], 2000, seed=5)]
    # Uniform on a log scale: each decade holds about a third of the values,
    # where a linear draw would put 90 % of them in the last one.
    decades = [sum(1 for v in drawn if lo <= v < lo * 10) for lo in (1e-3, 1e-2, 1e-1)]
    assert all(abs(count / len(drawn) - 1 / 3) < 0.05 for count in decades)
    median = statistics.median(math.log10(v) for v in drawn)
    assert abs(median - (-1.5)) < 0.1


def test_logarithmic_integers_favour_small_values_and_reach_the_top():
    drawn = [int(t[TREES.name]) for t in tuning.random_trials([TREES], 3000, seed=6)]
    below_63 = sum(1 for v in drawn if v < 63) / len(drawn)  # sqrt(20 * 200) ~ 63
    assert abs(below_63 - 0.5) < 0.05
    assert max(drawn) == 200 and min(drawn) == 20


def test_reverse_logarithmic_scaling_crowds_values_towards_one():
    drawn = [float(t["momentum"]) for t in tuning.random_trials([MOMENTUM], 2000, 7)]
    # Log-uniform in 1 - x over [0.001, 0.5]: the median gap is sqrt(0.0005).
    median_gap = statistics.median(1 - v for v in drawn)
    assert abs(math.log(median_gap) - math.log(math.sqrt(0.001 * 0.5))) < 0.15


def test_grid_is_the_cartesian_product_in_the_given_order_capped_by_max_jobs():
    grid = tuning.trials(spec("Grid", (CRITERION, SPLIT), max_jobs=100), seed=0)
    assert grid == [
        {"criterion": c, "min_samples_split": s}
        for c in ("gini", "entropy")
        for s in ("2", "4", "8")
    ]
    capped = tuning.trials(spec("Grid", (CRITERION, SPLIT), max_jobs=4), seed=0)
    assert capped == grid[:4]


def test_grid_refuses_ranges_that_are_not_categorical():
    with pytest.raises(tuning.TuningError) as err:
        tuning.trials(spec("Grid", (CRITERION, DEPTH)), seed=0)
    assert "Grid searches categorical ranges only" in err.value.message
    assert "but max_depth is not" in err.value.message


@pytest.mark.parametrize("strategy", ["Bayesian", "Hyperband"])
def test_strategies_of_sagemakers_service_are_refused_locally(strategy):
    with pytest.raises(tuning.TuningError) as err:
        tuning.trials(spec(strategy), seed=0)
    assert f"the {strategy} strategy needs SageMaker's tuning service" in str(err.value)
    assert "use strategy Random or Grid" in str(err.value)
    assert "--backend aws" in str(err.value)


def trial(name, value, status=COMPLETED):
    return TrialResult(name, status, {}, value, {}, None)


def test_the_best_trial_by_objective_type_earliest_on_a_tie():
    trials = [
        trial("a", 0.9),
        trial("b", 0.95),
        trial("c", 0.95),
        trial("d", None, FAILED),
        trial("e", 0.99, FAILED),
    ]
    assert tuning.best(trials, "Maximize").job_name == "b"
    assert tuning.best(trials, "Minimize").job_name == "a"
    assert tuning.best([trial("x", None, FAILED)], "Maximize") is None


def test_a_missing_objective_metric_says_it_was_not_printed():
    value, reason = tuning.objective({"train:accuracy": 1.0}, "validation:accuracy")
    assert value is None
    assert "validation:accuracy was not printed" in reason
    assert "train:accuracy" in reason
    assert tuning.objective({"validation:accuracy": 0.5}, "validation:accuracy") == (
        0.5,
        None,
    )


# --- the spec, from the config ---------------------------------------------------
def training_spec(config):
    return specs.training(config, "t", "img", dict.fromkeys(specs.CHANNELS, "/d"), "")


def test_the_tuning_spec_takes_the_config_and_the_training_job():
    config = load_config()
    made = specs.tuning(config, "penguins-tune-1", training_spec(config))
    assert (
        made.training.hyperparameters["n_estimators"] == "100"
    )  # overridden per trial
    assert (made.strategy, made.max_jobs, made.max_parallel_jobs) == ("Random", 4, 2)
    assert made.objective_metric == "validation:accuracy"
    assert made.ranges[0] == ParameterRange(
        "n_estimators", "Integer", "20", "200", "Logarithmic"
    )


def test_ranges_train_does_not_take_are_refused_when_the_spec_is_built():
    config = load_config()
    config = dataclasses.replace(
        config,
        tuning=dataclasses.replace(
            config.tuning,
            ranges=(
                RangeConfig("max_dept", "Integer", 2, 4),
                RangeConfig("min_samples_leaf", "Integer", 1, 4),
            ),
        ),
    )
    with pytest.raises(ConfigError) as err:
        specs.tuning(config, "penguins-tune-1", training_spec(config))
    assert "tuning.ranges max_dept: not hyperparameters of `train`" in err.value.message
    assert "min_samples_leaf" not in err.value.message.split(":")[1]


def test_a_config_without_tuning_says_what_tune_needs():
    config = dataclasses.replace(load_config(), tuning=None)
    with pytest.raises(ConfigError, match="`tune` needs a `tuning:` section"):
        specs.tuning(config, "x", training_spec(config))

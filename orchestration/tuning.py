"""The hyperparameters of a tuning job's trials, where this machine picks them.

SageMaker's tuning service picks each training job's hyperparameters itself;
the local backend has no such service, so it draws them here, for the two
strategies that need no model of earlier results:

- Random: each searched hyperparameter drawn independently, from a seeded
  generator, so one seed gives the same trials again. Integer ranges are
  inclusive at both ends; Linear (and Auto, which SageMaker may resolve to
  either) draws uniformly, Logarithmic log-uniformly, ReverseLogarithmic as
  SageMaker defines it: log-uniformly in 1 - x, so values crowd towards 1.
- Grid: the cartesian product of the categorical ranges, in the order the
  ranges and their values are given, cut at `max_jobs`; SageMaker's Grid takes
  categorical ranges only, and so does this.

Every value is a string, as SageMaker passes hyperparameters. Bayesian and
Hyperband search need SageMaker's service and are refused here.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Iterable

from container.training.algorithms import ALGORITHMS, DEFAULT_ALGORITHM
from container.training.estimators import estimator_class
from container.training.options import OPTIONS, RESERVED_PREFIXES
from orchestration.backends.base import (
    COMPLETED,
    BackendError,
    ParameterRange,
    TrialResult,
    TuningJobSpec,
)
from orchestration.config import LOCAL_TUNING_STRATEGIES, grid_refusal

Trial = dict[str, str]  # the searched hyperparameters of one training job


class TuningError(BackendError):
    """A tuning job this machine cannot run as asked."""

    code = "invalid_tuning_job"


def check_local(spec: TuningJobSpec) -> None:
    """Refuse what only SageMaker's tuning service does."""
    if spec.strategy not in LOCAL_TUNING_STRATEGIES:
        raise TuningError(
            f"the {spec.strategy} strategy needs SageMaker's tuning service: locally use strategy Random or Grid (tuning.strategy), or run this tuning job with --backend aws"
        )
    if not spec.ranges:
        raise TuningError(f"tuning job {spec.tuning_job_name} searches no ranges")


def trials(spec: TuningJobSpec, seed: int) -> list[Trial]:
    """The searched hyperparameters of each trial, in launch order."""
    check_local(spec)
    if spec.strategy == "Grid":
        return grid_trials(spec.ranges, spec.max_jobs)
    return random_trials(spec.ranges, spec.max_jobs, seed)


def random_trials(
    ranges: Iterable[ParameterRange], count: int, seed: int
) -> list[Trial]:
    """`count` independent draws over `ranges`; the same seed, the same trials."""
    rng = random.Random(seed)
    ranges = tuple(ranges)
    return [{r.name: draw(r, rng) for r in ranges} for _ in range(count)]


def grid_trials(ranges: Iterable[ParameterRange], max_jobs: int) -> list[Trial]:
    """Every combination of the categorical values (the last range varies fastest),
    at most `max_jobs` of them."""
    ranges = tuple(ranges)
    searched = [r.name for r in ranges if r.kind != "Categorical"]
    if searched:
        raise TuningError(grid_refusal(searched))
    combinations = itertools.product(*(r.values for r in ranges))
    names = [r.name for r in ranges]
    return [
        dict(zip(names, values, strict=True))
        for values in itertools.islice(combinations, max_jobs)
    ]


def draw(r: ParameterRange, rng: random.Random) -> str:
    """One value of `r`, as a string."""
    if r.kind == "Categorical":
        return rng.choice(r.values)
    if r.kind == "Integer":
        return str(_integer(int(r.min_value), int(r.max_value), r.scaling, rng))
    if r.kind == "Continuous":
        return repr(_continuous(float(r.min_value), float(r.max_value), r.scaling, rng))
    raise TuningError(f"range {r.name!r} has an unknown kind {r.kind!r}")


def _integer(low: int, high: int, scaling: str, rng: random.Random) -> int:
    if scaling != "Logarithmic":
        return rng.randint(low, high)
    # Log-uniform over [low, high + 1), floored: each integer k is drawn with
    # probability log((k + 1) / k) / log((high + 1) / low), high included.
    value = math.exp(rng.uniform(math.log(low), math.log(high + 1)))
    return min(high, max(low, math.floor(value)))


def _continuous(low: float, high: float, scaling: str, rng: random.Random) -> float:
    if scaling == "Logarithmic":
        return min(high, max(low, math.exp(rng.uniform(math.log(low), math.log(high)))))
    if scaling == "ReverseLogarithmic":
        # SageMaker: log scaling of 1 - x, for ranges within 0 <= x < 1.
        gap = math.exp(rng.uniform(math.log(1 - high), math.log(1 - low)))
        return min(high, max(low, 1 - gap))
    return rng.uniform(low, high)


def objective(
    metrics: dict[str, float], metric: str
) -> tuple[float | None, str | None]:
    """A trial's objective value, or why it has none."""
    value = metrics.get(metric)
    if value is None or not math.isfinite(value):
        printed = ", ".join(sorted(metrics)) or "no metrics"
        return None, (
            f"the objective metric {metric} was not printed by the training job as `{metric}=<number>` (it printed {printed})"
        )
    return value, None


def best(results: Iterable[TrialResult], objective_type: str) -> TrialResult | None:
    """The completed trial with the best objective; the earliest one on a tie."""
    scored = [
        t for t in results if t.status == COMPLETED and t.objective_value is not None
    ]
    if not scored:
        return None
    sign = 1 if objective_type == "Maximize" else -1
    return max(scored, key=lambda t: sign * t.objective_value)


def unknown_names(
    ranges: Iterable[ParameterRange], static: dict[str, str]
) -> str | None:
    """Why some searched names are no hyperparameters `train` takes; None if all are.

    A name is known when it is one of `train`'s own options or a parameter of
    the estimator the static hyperparameters choose. Only what is cheap to know
    here is checked: a searched `algorithm`, an algorithm this code does not
    know, or no scikit-learn on this machine leaves the names to the job,
    whose failure file then names them.
    """
    searched = [r.name for r in ranges]
    reserved = [n for n in searched if n.startswith(RESERVED_PREFIXES)]
    if reserved:
        return f"{', '.join(reserved)}: names starting with {' or '.join(RESERVED_PREFIXES)} are SageMaker's own and ignored by `train`"
    algorithm = static.get("algorithm", DEFAULT_ALGORITHM)
    if "algorithm" in searched or algorithm not in ALGORITHMS:
        return None
    try:
        allowed = set(OPTIONS) | _estimator_parameters(algorithm, static)
    except ImportError:
        return None
    unknown = [n for n in searched if n not in allowed]
    if not unknown:
        return None
    return f"{', '.join(unknown)}: not hyperparameters of `train` with algorithm {algorithm} (its options: {', '.join(OPTIONS)}; the estimator's parameters: {', '.join(sorted(allowed - set(OPTIONS)))})"


def _estimator_parameters(algorithm: str, static: dict[str, str]) -> set[str]:
    """The estimator's parameters, for the problem type asked (both when "auto")."""
    kinds = {"classification", "regression"}
    asked = static.get("problem_type", "auto").strip().lower()
    names: set[str] = set()
    for kind in sorted(kinds if asked not in kinds else {asked}):
        if ALGORITHMS[algorithm].supports(kind):
            names |= set(estimator_class(algorithm, kind)().get_params(deep=False))
    return names

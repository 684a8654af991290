"""Model-quality constraints.json: suggested by `baseline`, checked by `monitor`.

The file is AWS's: `{"version": 0.0, "<problem>_constraints": {metric:
{"threshold": t, "comparison_operator": op}}}`. `baseline` suggests one
constraint per headline metric with the baseline's value as threshold (as
Model Monitor does): `LessThanThreshold` for metrics where higher is better,
`GreaterThanThreshold` for errors and false rates. Users edit thresholds and
operators; any metric of the block may be constrained.

A violation fires when `value <operator> threshold` holds, e.g. a recall of
0.7 is `LessThanThreshold` 0.8. An undefined value ("NaN") breaches nothing.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from container.monitoring.errors import MonitoringInputError
from container.monitoring.quality_metrics import CONSTRAINT_KEYS, scalar_metrics
from container.monitoring.quality_settings import BINARY, MULTICLASS, REGRESSION

OPERATORS: dict[str, Callable[[float, float], bool]] = {
    "LessThanThreshold": operator.lt,
    "LessThanOrEqualToThreshold": operator.le,
    "GreaterThanThreshold": operator.gt,
    "GreaterThanOrEqualToThreshold": operator.ge,
}
LOWER_IS_BETTER = frozenset(
    {"mae", "mse", "rmse", "false_positive_rate", "false_negative_rate"}
)
SUGGESTED = {
    REGRESSION: ("mae", "mse", "rmse", "r2"),
    BINARY: (
        "recall",
        "precision",
        "accuracy",
        "true_positive_rate",
        "true_negative_rate",
        "false_positive_rate",
        "false_negative_rate",
        "auc",
        "f0_5",
        "f1",
        "f2",
    ),
    MULTICLASS: (
        "accuracy",
        "weighted_recall",
        "weighted_precision",
        "weighted_f0_5",
        "weighted_f1",
        "weighted_f2",
    ),
}


@dataclass(frozen=True)
class MetricConstraint:
    metric: str
    threshold: float
    comparison_operator: str

    def breached(self, value: float) -> bool:
        return math.isfinite(value) and OPERATORS[self.comparison_operator](
            value, self.threshold
        )


def suggest_constraints(problem: str, block: dict[str, Any]) -> dict[str, Any]:
    metrics = scalar_metrics(block)
    suggested = {}
    for name in SUGGESTED[problem]:
        value = metrics.get(name, {}).get("value")
        if not isinstance(value, float):
            continue  # undefined on the baseline: nothing to compare with
        suggested[name] = {
            "threshold": value,
            "comparison_operator": "GreaterThanThreshold"
            if name in LOWER_IS_BETTER
            else "LessThanThreshold",
        }
    return {"version": 0.0, CONSTRAINT_KEYS[problem]: suggested}


def parse_constraints(
    document: Any, problem: str, where: str
) -> list[MetricConstraint]:
    key = CONSTRAINT_KEYS[problem]
    if not isinstance(document, dict):
        raise MonitoringInputError(f"baseline_constraints {where} is not a JSON object")
    if key not in document:
        found = [k for k in CONSTRAINT_KEYS.values() if k in document]
        hint = (
            f"it holds {', '.join(found)}: is problem_type right?"
            if found
            else "is it a model-quality constraints file (from baseline with analysis_type=MODEL_QUALITY)?"  # noqa: E501
        )
        raise MonitoringInputError(
            f"baseline_constraints {where} has no {key} for problem_type {problem}; {hint}"  # noqa: E501
        )
    section = document[key]
    if not isinstance(section, dict):
        raise MonitoringInputError(f"{key} in {where} is not an object")
    constraints = []
    for metric, spec in section.items():
        if not isinstance(spec, dict):
            raise MonitoringInputError(f"{key}.{metric} in {where} is not an object")
        op = spec.get("comparison_operator")
        if op not in OPERATORS:
            raise MonitoringInputError(
                f"{key}.{metric}.comparison_operator={op!r} in {where}: expected one of {', '.join(OPERATORS)}"  # noqa: E501
            )
        threshold = spec.get("threshold")
        if isinstance(threshold, bool) or not isinstance(threshold, int | float):
            raise MonitoringInputError(
                f"{key}.{metric}.threshold={threshold!r} in {where}: expected a number"
            )
        constraints.append(MetricConstraint(metric, float(threshold), op))
    return constraints


@dataclass(frozen=True)
class MetricCheck:
    constraint: MetricConstraint
    value: float | None  # None: the run has no such metric or it is undefined
    deviation: float | None
    breached: bool


def check_metrics(
    block: dict[str, Any], constraints: list[MetricConstraint]
) -> tuple[list[MetricCheck], list[dict[str, str]]]:
    """Each constraint's outcome, and the violations in AWS's shape."""
    metrics = scalar_metrics(block)
    checks, violations = [], []
    for constraint in constraints:
        metric = metrics.get(constraint.metric, {})
        value = metric.get("value")
        value = value if isinstance(value, float) else None
        deviation = metric.get("standard_deviation")
        deviation = deviation if isinstance(deviation, float) else None
        breached = value is not None and constraint.breached(value)
        checks.append(MetricCheck(constraint, value, deviation, breached))
        if breached:
            violations.append(violation(constraint, value, deviation))
    return checks, violations


def violation(
    constraint: MetricConstraint, value: float, deviation: float | None
) -> dict[str, str]:
    spread = f" +/- {deviation}" if deviation is not None else ""
    return {
        "feature_name": constraint.metric,
        "metric_name": constraint.metric,
        "constraint_check_type": constraint.comparison_operator,
        "description": f"Metric {constraint.metric} with {value}{spread} was "
        f"{constraint.comparison_operator} {constraint.threshold}",
    }

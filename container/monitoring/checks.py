"""Constraint checks: a current profile against baseline statistics and constraints.

Each check produces violations in constraint_violations.json's format, with
descriptions worded like AWS's analyzer, so tools that parse them (for
instance `distance: (.+) exceeds`) work on either. A column missing from the
current data gets only its missing_column_check: checking the completeness or
drift of something absent would repeat the same news.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from container.monitoring.constraints import ConstraintsFile, FeatureConstraints
from container.monitoring.distances import (
    Distance,
    categorical_distance,
    numerical_distance,
)
from container.monitoring.profile import FRACTIONAL, INTEGRAL, STRING, ColumnProfile
from container.monitoring.statistics import DatasetProfile, StatisticsFile

DATA_TYPE = "data_type_check"
COMPLETENESS = "completeness_check"
BASELINE_DRIFT = "baseline_drift_check"
MISSING_COLUMN = "missing_column_check"
EXTRA_COLUMN = "extra_column_check"
CATEGORICAL_VALUES = "categorical_values_check"
CHECK_TYPES = (
    DATA_TYPE,
    COMPLETENESS,
    BASELINE_DRIFT,
    MISSING_COLUMN,
    EXTRA_COLUMN,
    CATEGORICAL_VALUES,
)

# Appended to the output column's violations: AWS's wording first, so tools that
# parse `distance: (.+) exceeds` still read them.
OUTPUT_NOTE = "the column holds the model's predictions (endpointOutput)"

# Shares computed from the same data can differ in the last bits; do not call that
# a violation.
TOLERANCE = 1e-9


@dataclass
class FeatureResult:
    """What the checks measured for one feature (for metrics and the report)."""

    name: str
    baseline_type: str
    current_type: str | None = None
    completeness: float | None = None
    type_share: float | None = None
    domain_share: float | None = None
    distance: Distance | None = None
    threshold: float | None = None


@dataclass
class CheckOutcome:
    violations: list[dict[str, str]] = field(default_factory=list)
    features: dict[str, FeatureResult] = field(default_factory=dict)

    def add(self, feature: str, check: str, description: str) -> None:
        self.violations.append(
            {
                "feature_name": feature,
                "constraint_check_type": check,
                "description": description,
            }
        )

    def document(self) -> dict[str, Any]:
        return {"violations": self.violations}


def percent(share: float, threshold: float | None = None) -> str:
    """A share as AWS prints it (99.6%), with more digits if rounding hides a gap."""
    for digits in (1, 2, 3, 4, 6):
        text = f"{share * 100:.{digits}f}"
        if threshold is None or text != f"{threshold * 100:.{digits}f}":
            return text
    return f"{share * 100}"


def run_checks(
    current: DatasetProfile,
    constraints: ConstraintsFile,
    statistics: StatisticsFile | None,
    output_column: str | None = None,
) -> CheckOutcome:
    """Check `current` against the baseline.

    `output_column` names the column holding the model's predictions: it is
    checked like a feature when the baseline has it; when it does not, it is
    not an extra column (the baseline simply holds no predictions), and its
    violations say that the column is the model's predictions.
    """
    outcome = CheckOutcome()
    baseline_names = list(constraints.features)
    current_names = list(current.columns)
    missing = [n for n in baseline_names if n not in current.columns]
    extra = [
        n for n in current_names if n not in constraints.features and n != output_column
    ]
    counts = (
        f"Number of columns in current dataset: {len(current_names)}, "
        f"Number of columns in baseline constraints: {len(baseline_names)}"
    )
    for name in missing:
        outcome.add(
            name,
            MISSING_COLUMN,
            f"There are missing columns in current dataset. {counts}",
        )
    for name in extra:
        outcome.add(
            name, EXTRA_COLUMN, f"There are extra columns in current dataset. {counts}"
        )
    for name, feature in constraints.features.items():
        if name in missing:
            continue
        column = current.columns[name]
        result = FeatureResult(name, feature.inferred_type, column.inferred_type)
        outcome.features[name] = result
        if feature.config.evaluate_constraints:
            _check_type(outcome, feature, column, result)
            _check_completeness(outcome, feature, column, current.item_count, result)
            _check_domain(outcome, feature, column, result)
        baseline_stats = statistics.features.get(name) if statistics else None
        if feature.config.perform_comparison and baseline_stats is not None:
            _check_drift(outcome, feature, baseline_stats, column, result)
    if output_column is not None:
        for violation in outcome.violations:
            if violation["feature_name"] == output_column:
                violation["description"] += f" ({OUTPUT_NOTE})"
    return outcome


def _check_type(
    outcome: CheckOutcome,
    feature: FeatureConstraints,
    column: ColumnProfile,
    result: FeatureResult,
) -> None:
    if feature.inferred_type not in (INTEGRAL, FRACTIONAL):
        return  # every value is a valid String; Unknown promises nothing
    share = column.share_of_type(feature.inferred_type)
    result.type_share = share
    threshold = feature.config.datatype_check_threshold
    if share < threshold - TOLERANCE:
        outcome.add(
            feature.name,
            DATA_TYPE,
            f"Data type match requirement is not met. Expected data type: "
            f"{feature.inferred_type}, Expected match: {percent(threshold)}%. "
            f"Observed: "
            f"Only {percent(share, threshold)}% of data is {feature.inferred_type}.",
        )


def _check_completeness(
    outcome: CheckOutcome,
    feature: FeatureConstraints,
    column: ColumnProfile,
    item_count: int,
    result: FeatureResult,
) -> None:
    if not item_count:
        return
    share = column.num_present / item_count
    result.completeness = share
    if feature.completeness is not None and share < feature.completeness - TOLERANCE:
        outcome.add(
            feature.name,
            COMPLETENESS,
            "Data completeness requirement is not met. Expected completeness: "
            f"{percent(feature.completeness)}%. Observed: "
            f"Only {percent(share, feature.completeness)}% of data is complete.",
        )


def _check_domain(
    outcome: CheckOutcome,
    feature: FeatureConstraints,
    column: ColumnProfile,
    result: FeatureResult,
) -> None:
    if feature.domains is None or not column.value_counts:
        return
    domain = set(feature.domains)
    present = sum(column.value_counts.values())
    outside = {v: c for v, c in column.value_counts.items() if v not in domain}
    share = 1.0 - sum(outside.values()) / present
    result.domain_share = share
    threshold = feature.config.domain_content_threshold
    if share < threshold - TOLERANCE:
        worst = sorted(outside.items(), key=lambda kv: -kv[1])[:5]
        examples = ", ".join(f"{v!r} ({c})" for v, c in worst)
        outcome.add(
            feature.name,
            CATEGORICAL_VALUES,
            f"Categorical values requirement is not met. Expected match: {percent(threshold)}% of data within the baseline domain {list(feature.domains)}. "  # noqa: E501
            "Observed: "
            f"Only {percent(share, threshold)}% of data is within the domain; "
            f"values outside it: {examples}.",
        )


def _check_drift(
    outcome: CheckOutcome,
    feature: FeatureConstraints,
    baseline,
    column: ColumnProfile,
    result: FeatureResult,
) -> None:
    config = feature.config
    if baseline.is_numeric:
        if baseline.sketch is None or column.sketch is None:
            return
        distance = numerical_distance(
            baseline.sketch, column.sketch, config.comparison_method
        )
        threshold = config.comparison_threshold
        kind = "Numerical"
    elif baseline.inferred_type == STRING:
        if not baseline.categories or not column.value_counts:
            return
        distance = categorical_distance(
            baseline.categories, column.value_counts, config.categorical_drift_method
        )
        threshold = config.categorical_comparison_threshold
        kind = "Categorical"
    else:
        return
    result.distance, result.threshold = distance, threshold
    if distance.is_p_value:
        if distance.value < threshold:
            outcome.add(
                feature.name,
                BASELINE_DRIFT,
                "Categorical distance: "
                f"chi-squared p-value {distance.value} is below categorical threshold: "
                f"{threshold}",
            )
    elif distance.value > threshold:
        outcome.add(
            feature.name,
            BASELINE_DRIFT,
            f"{kind} distance: {distance.value} exceeds {kind.lower()} threshold: "
            f"{threshold}",
        )

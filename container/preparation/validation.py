"""Every rule of the declared schema, checked on every raw row.

Rows that break a rule are not dropped silently: each gets its reasons, and
the report counts the failing rows per column and check, with examples.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from container.preparation.rules import RawSchema


@dataclass
class ValidationReport:
    rows: int
    missing_columns: list[str] = field(default_factory=list)
    extra_columns: list[str] = field(default_factory=list)
    # column -> check -> number of failing rows, plus a few examples
    failures: dict[str, dict[str, Any]] = field(default_factory=dict)
    rejected_rows: int = 0
    dropped_no_measurements: int = 0
    annotations: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.missing_columns

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "missing_columns": self.missing_columns,
            "extra_columns": self.extra_columns,
            "failures": self.failures,
            "rejected_rows": self.rejected_rows,
            "dropped_no_measurements": self.dropped_no_measurements,
            "annotations": self.annotations,
        }


def _record_failure(
    report: ValidationReport, column: str, check: str, bad: pd.Series, values: pd.Series
) -> None:
    count = int(bad.sum())
    if count == 0:
        return
    examples = values[bad].astype(str).head(3).tolist()
    report.failures.setdefault(column, {})[check] = {
        "rows": count,
        "examples": examples,
    }


def validate(
    raw: pd.DataFrame, schema: RawSchema
) -> tuple[ValidationReport, pd.Series]:
    """Check every rule; return the report and each row's reason ('' if fine)."""
    report = ValidationReport(rows=len(raw))
    declared = [c.name for c in schema.columns]
    report.missing_columns = [c for c in declared if c not in raw.columns]
    report.extra_columns = [c for c in raw.columns if c not in declared]
    reasons = pd.Series("", index=raw.index, dtype=object)
    if report.missing_columns:
        return report, reasons

    def flag(column: str, check: str, bad: pd.Series) -> None:
        nonlocal reasons
        _record_failure(report, column, check, bad, raw[column])
        reasons = reasons.where(~bad, reasons + f"{column}: {check}; ")

    for rule in schema.columns:
        values = raw[rule.name]
        present = values.notna() & (values.astype(str).str.strip() != "")
        if not rule.nullable:
            flag(rule.name, "missing value", ~present)
        if rule.type in ("integer", "float"):
            numbers = pd.to_numeric(values, errors="coerce")
            flag(rule.name, f"not a {rule.type}", present & numbers.isna())
            if rule.type == "integer":
                flag(
                    rule.name,
                    "not a whole number",
                    numbers.notna() & (numbers % 1 != 0),
                )
            if rule.min is not None:
                flag(rule.name, f"below minimum {rule.min}", numbers < rule.min)
            if rule.max is not None:
                flag(rule.name, f"above maximum {rule.max}", numbers > rule.max)
        elif rule.type == "date":
            dates = pd.to_datetime(values, errors="coerce", format="%Y-%m-%d")
            flag(rule.name, "not a date (YYYY-MM-DD)", present & dates.isna())
        if rule.allowed:
            outside = present & ~values.astype(str).isin(rule.allowed)
            flag(rule.name, f"not one of {list(rule.allowed)}", outside)
        if rule.pattern:
            pattern = re.compile(rule.pattern)
            mismatch = present & ~values.astype(str).str.contains(pattern, regex=True)
            flag(rule.name, f"does not match {rule.pattern}", mismatch)
    report.rejected_rows = int((reasons != "").sum())
    return report, reasons

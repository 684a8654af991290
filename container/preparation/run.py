"""The whole preparation, from settings that hold no orchestration types.

`PreparationSettings` is what both callers build: the orchestration from its
YAML config, the processing job from the JSON it is given. `source` names are
what the manifest records (a repository path, an S3 URI), since the paths a
job reads from (/opt/ml/processing/input/...) say nothing about lineage.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from container.preparation.annotations import (
    AnnotationSettings,
    apply_annotations,
    read_ground_truth,
)
from container.preparation.cleaning import clean
from container.preparation.outputs import (
    SPLITS,
    PreparedData,
    sha256_file,
    write_prepared,
)
from container.preparation.problem import PROBLEM_TYPES, problem_type
from container.preparation.rules import DataValidationError, RawSchema
from container.preparation.splits import (
    STRATEGIES,
    group_split,
    random_split,
    stratified_split,
    time_split,
)
from container.preparation.validation import ValidationReport, validate


@dataclass(frozen=True)
class SplitSettings:
    train: float = 0.7
    validation: float = 0.15
    test: float = 0.15
    seed: int = 42
    # auto: stratified for classification, random for regression.
    strategy: str = "auto"
    group_column: str | None = None  # strategy group: rows of a group stay together
    time_column: str | None = None  # strategy time: oldest to train, newest to test

    def __post_init__(self) -> None:
        if self.strategy not in ("auto", *STRATEGIES):
            raise DataValidationError(
                f"split strategy must be one of auto, {', '.join(STRATEGIES)}, got {self.strategy!r}"
            )
        for strategy, key in (("group", "group_column"), ("time", "time_column")):
            given = getattr(self, key) is not None
            if self.strategy == strategy and not given:
                raise DataValidationError(
                    f"split strategy {strategy} needs {key}: the column that says each row's {strategy}"
                )
            if given and self.strategy != strategy:
                raise DataValidationError(
                    f"split {key} is for strategy {strategy}, but the strategy is {self.strategy}"
                )

    @property
    def fractions(self) -> dict[str, float]:
        return {name: getattr(self, name) for name in SPLITS}

    def chosen(self, problem: str) -> str:
        """The strategy used for a problem type (`auto` resolved)."""
        if self.strategy != "auto":
            return self.strategy
        return "stratified" if problem == "classification" else "random"


@dataclass(frozen=True)
class PreparationSettings:
    raw: Path
    schema: RawSchema
    output: Path
    split: SplitSettings = field(default_factory=SplitSettings)
    annotations: AnnotationSettings | None = None
    max_rejected_fraction: float = 0.1
    raw_source: str | None = None  # how the manifest names the raw file
    # classification | regression, or auto: the rule `train` applies by default
    # (see container.preparation.problem), so both see the same problem.
    problem_type: str = "auto"

    def __post_init__(self) -> None:
        if self.problem_type not in PROBLEM_TYPES:
            raise DataValidationError(
                f"problem_type must be one of {', '.join(PROBLEM_TYPES)}, got {self.problem_type!r}"
            )


def prepare(settings: PreparationSettings) -> PreparedData:
    """Validate, clean, label, split and write; returns the manifest."""
    schema = settings.schema
    if not settings.raw.is_file():
        raise DataValidationError(f"raw data file {settings.raw} does not exist")
    raw = read_raw(settings.raw)
    report, reasons = validate(raw, schema)
    if report.missing_columns:
        raise DataValidationError(
            f"{settings.raw} is missing declared column(s) {report.missing_columns}; it has {list(raw.columns)}"
        )
    rejected_share = report.rejected_rows / max(len(raw), 1)
    if rejected_share > settings.max_rejected_fraction:
        raise DataValidationError(
            f"{report.rejected_rows} of {len(raw)} rows ({rejected_share:.0%}) fail the schema, more than max_rejected_fraction {settings.max_rejected_fraction:.0%}; most common: {_worst_failures(report)}"
        )
    table = clean(raw[reasons == ""], schema)
    if settings.annotations is not None:
        labels = read_ground_truth(settings.annotations)
        table, report.annotations = apply_annotations(
            table, labels, schema, settings.annotations
        )
    if schema.require_any:
        measured = table[list(schema.require_any)].notna().any(axis=1)
        report.dropped_no_measurements = int((~measured).sum())
        table = table[measured]
    table = table[table[schema.target].notna()]
    problem = problem_type(table[schema.target], settings.problem_type)
    strategy = settings.split.chosen(problem)
    splits = split(table, raw, settings, problem, strategy)
    rejected = raw[reasons != ""].assign(
        rejection_reason=reasons[reasons != ""].str.rstrip("; ")
    )
    return write_prepared(
        settings.output,
        schema,
        splits,
        rejected,
        report.to_dict(),
        _manifest_head(settings, report, splits, problem, strategy),
    )


def split(
    table: pd.DataFrame,
    raw: pd.DataFrame,
    settings: PreparationSettings,
    problem: str,
    strategy: str,
) -> dict[str, pd.DataFrame]:
    """The kept rows split as `strategy` says; group and time read raw columns."""
    fractions, seed = settings.split.fractions, settings.split.seed
    target = settings.schema.target
    if strategy == "stratified":
        if problem == "regression":
            raise DataValidationError(
                f"split strategy stratified keeps class proportions, but target {target!r} is a regression target: use random, group or time"
            )
        return stratified_split(table, target, fractions, seed)
    if strategy == "random":
        return random_split(table, fractions, seed)
    if strategy == "group":
        column = settings.split.group_column or ""
        groups = split_column(raw, settings.schema, column, "group_column")
        return group_split(table, groups.loc[table.index], fractions, seed)
    column = settings.split.time_column or ""
    times = split_column(raw, settings.schema, column, "time_column")
    return time_split(table, times.loc[table.index], fractions)


def split_column(
    raw: pd.DataFrame, schema: RawSchema, name: str, key: str
) -> pd.Series:
    """A schema column's raw values (by its raw name or its `rename`), typed:
    times become dates or numbers so that they sort as times, not as text."""
    rule = next((c for c in schema.columns if name in (c.name, c.rename)), None)
    if rule is None:
        declared = [c.rename or c.name for c in schema.columns]
        raise DataValidationError(
            f"split {key} {name!r} is not a column of the schema; its columns are {declared}"
        )
    values = raw[rule.name].where(raw[rule.name].str.strip() != "")
    if key == "group_column":
        return values.rename(name)
    if rule.type == "date":
        return pd.to_datetime(values, format="%Y-%m-%d").rename(name)
    if rule.type in ("integer", "float"):
        return pd.to_numeric(values).rename(name)
    raise DataValidationError(
        f"split time_column {name!r} is a {rule.type} column; declare it as date, integer or float so that it sorts as time"
    )


def read_raw(path: Path) -> pd.DataFrame:
    """Every raw value as text: the schema, not pandas, decides what is a number."""
    return pd.read_csv(path, dtype=str, keep_default_na=True)


def _manifest_head(
    settings: PreparationSettings,
    report: ValidationReport,
    splits: dict[str, pd.DataFrame],
    problem: str,
    strategy: str,
) -> dict[str, Any]:
    target = settings.schema.target
    return {
        "raw": {
            "path": settings.raw_source or str(settings.raw),
            "sha256": sha256_file(settings.raw),
            "rows": report.rows,
        },
        "schema": settings.schema.to_dict(),
        "problem_type": problem,
        "split": _split_record(settings.split, strategy, target),
        # Classes per split; for regression, the target's range per split.
        "classes" if problem == "classification" else "target": {
            n: _target_summary(f[target], problem) for n, f in splits.items()
        },
        "files": None,  # filled in by write_prepared, in this position
        "rejected_rows": report.rejected_rows,
        "annotations": report.annotations,
    }


def _split_record(split: SplitSettings, strategy: str, target: str) -> dict[str, Any]:
    record: dict[str, Any] = {**split.fractions, "seed": split.seed}
    record["strategy"] = strategy
    if strategy == "stratified":
        record["stratify"] = target
    if strategy == "group":
        record["group_column"] = split.group_column
    if strategy == "time":
        record["time_column"] = split.time_column
    return record


def _target_summary(values: pd.Series, problem: str) -> dict[str, Any]:
    if problem == "classification":
        return values.value_counts().sort_index().to_dict()
    numbers = pd.to_numeric(values)
    if numbers.empty:
        return {"rows": 0}
    return {
        "rows": int(len(numbers)),
        "min": float(numbers.min()),
        "mean": round(float(numbers.mean()), 6),
        "max": float(numbers.max()),
    }


def _worst_failures(report: ValidationReport) -> str:
    items = [
        (detail["rows"], f"{column}: {check}")
        for column, checks in report.failures.items()
        for check, detail in checks.items()
    ]
    return "; ".join(
        f"{text} ({n} rows)" for n, text in sorted(items, reverse=True)[:3]
    )

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
from container.preparation.rules import DataValidationError, RawSchema
from container.preparation.splits import stratified_split
from container.preparation.validation import ValidationReport, validate


@dataclass(frozen=True)
class SplitSettings:
    train: float = 0.7
    validation: float = 0.15
    test: float = 0.15
    seed: int = 42

    @property
    def fractions(self) -> dict[str, float]:
        return {name: getattr(self, name) for name in SPLITS}


@dataclass(frozen=True)
class PreparationSettings:
    raw: Path
    schema: RawSchema
    output: Path
    split: SplitSettings = field(default_factory=SplitSettings)
    annotations: AnnotationSettings | None = None
    max_rejected_fraction: float = 0.1
    raw_source: str | None = None  # how the manifest names the raw file


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
    splits = stratified_split(
        table, schema.target, settings.split.fractions, settings.split.seed
    )
    rejected = raw[reasons != ""].assign(
        rejection_reason=reasons[reasons != ""].str.rstrip("; ")
    )
    return write_prepared(
        settings.output,
        schema,
        splits,
        rejected,
        report.to_dict(),
        _manifest_head(settings, report, splits),
    )


def read_raw(path: Path) -> pd.DataFrame:
    """Every raw value as text: the schema, not pandas, decides what is a number."""
    return pd.read_csv(path, dtype=str, keep_default_na=True)


def _manifest_head(
    settings: PreparationSettings,
    report: ValidationReport,
    splits: dict[str, pd.DataFrame],
) -> dict[str, Any]:
    target = settings.schema.target
    return {
        "raw": {
            "path": settings.raw_source or str(settings.raw),
            "sha256": sha256_file(settings.raw),
            "rows": report.rows,
        },
        "schema": settings.schema.to_dict(),
        "split": {
            **settings.split.fractions,
            "seed": settings.split.seed,
            "stratify": target,
        },
        "classes": {
            n: f[target].value_counts().sort_index().to_dict()
            for n, f in splits.items()
        },
        "files": None,  # filled in by write_prepared, in this position
        "rejected_rows": report.rejected_rows,
        "annotations": report.annotations,
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

"""`prepare`: the project's data config → the image's data preparation.

The preparation itself lives in `container.preparation`, so the same code
runs in process here and in the image as a processing job (the pipeline's
first step). This module reads what only the orchestration has: the YAML
schema file, the config's paths, and how the manifest should name the files
(relative to the repository).

The raw file is checked against a declared schema (config/*.schema.yaml:
columns, types, ranges, allowed values, patterns). Rows that break a rule are
set aside in ``rejected.csv`` with the reason, and every failed check is listed
in ``validation_report.json``; too many rejects, or a missing column, stop the
step. Labels may come from a SageMaker Ground Truth output manifest, joined on
the record id. The kept rows are renamed, recoded, reduced to target +
features and split train/validation/test with a fixed seed, so a rerun gives
byte-identical files. ``manifest.json`` records each file's sha256 and row
count for lineage.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from container.preparation import annotations as _annotations
from container.preparation.annotations import AnnotationSettings
from container.preparation.outputs import (
    BASELINE_DIR,
    MANIFEST_FILE,
    REJECTED_FILE,
    REPORT_FILE,
    SPLITS,
    PreparedData,
    sha256_file,
)
from container.preparation.rules import (
    TYPES,
    ColumnRule,
    DataValidationError,
    RawSchema,
    schema_from_dict,
)
from container.preparation.run import PreparationSettings, SplitSettings
from container.preparation.run import prepare as _prepare
from orchestration.config import AnnotationsConfig, DataConfig

__all__ = [
    "BASELINE_DIR",
    "MANIFEST_FILE",
    "REJECTED_FILE",
    "REPORT_FILE",
    "SPLITS",
    "TYPES",
    "ColumnRule",
    "DataValidationError",
    "PreparedData",
    "RawSchema",
    "apply_annotations",
    "load_prepared",
    "load_raw_schema",
    "job_settings",
    "prepare",
    "preparation_settings",
    "read_ground_truth",
    "sha256_file",
]


def load_raw_schema(path: Path) -> RawSchema:
    """Read a raw-data schema file, naming the offending key on any error."""
    if not Path(path).is_file():
        raise DataValidationError(f"schema file {path} does not exist")
    try:
        data = yaml.safe_load(Path(path).read_text()) or {}
    except yaml.YAMLError as exc:
        raise DataValidationError(f"{path}: not valid YAML: {exc}") from None
    return schema_from_dict(data, str(path))


def annotation_settings(config: AnnotationsConfig) -> AnnotationSettings:
    return AnnotationSettings(
        manifest=config.manifest,
        label_attribute=config.label_attribute,
        id_field=config.id_field,
        min_confidence=config.min_confidence,
        source=repo_relative(config.manifest),
    )


def preparation_settings(config: DataConfig) -> PreparationSettings:
    """The container's settings for this config, read and checked here."""
    return PreparationSettings(
        raw=config.raw,
        schema=load_raw_schema(config.schema),
        output=Path(config.processed),
        split=SplitSettings(
            train=config.split.train,
            validation=config.split.validation,
            test=config.split.test,
            seed=config.split.seed,
            strategy=config.split.strategy,
            group_column=config.split.group_column,
            time_column=config.split.time_column,
        ),
        annotations=(
            annotation_settings(config.annotations) if config.annotations else None
        ),
        max_rejected_fraction=config.max_rejected_fraction,
        raw_source=repo_relative(config.raw),
        problem_type=config.problem_type,
    )


def job_settings(
    config: DataConfig,
    raw_source: str | None = None,
    annotations_source: str | None = None,
) -> dict[str, Any]:
    """The `IMAGE prepare` job's settings document (its 'settings' input).

    The sources are how the manifest names the inputs; by default their
    repository paths, on AWS the S3 URIs `ingest` uploaded them to.
    """
    settings = preparation_settings(config)
    document: dict[str, Any] = {
        "schema": settings.schema.to_declaration(),
        "split": _split_settings(settings.split),
        "max_rejected_fraction": settings.max_rejected_fraction,
        "raw_file": config.raw.name,
        "raw_source": raw_source or settings.raw_source,
    }
    if settings.problem_type != "auto":
        document["problem_type"] = settings.problem_type
    if config.annotations is not None:
        document["annotations"] = {
            "file": config.annotations.manifest.name,
            "label_attribute": config.annotations.label_attribute,
            "id_field": config.annotations.id_field,
            "min_confidence": config.annotations.min_confidence,
            "source": annotations_source or repo_relative(config.annotations.manifest),
        }
    return document


def _split_settings(split: SplitSettings) -> dict[str, Any]:
    """The split as the job reads it; other keys than the defaults only when
    set, so a project that uses none of them runs on images older than them."""
    document: dict[str, Any] = split.fractions | {"seed": split.seed}
    if split.strategy != "auto":
        document["strategy"] = split.strategy
    for key in ("group_column", "time_column"):
        if getattr(split, key) is not None:
            document[key] = getattr(split, key)
    return document


def prepare(config: DataConfig) -> PreparedData:
    """Run the whole data preparation in process; returns the manifest."""
    return _prepare(preparation_settings(config))


def read_ground_truth(config: AnnotationsConfig) -> pd.DataFrame:
    return _annotations.read_ground_truth(annotation_settings(config))


def apply_annotations(
    table: pd.DataFrame,
    labels: pd.DataFrame,
    schema: RawSchema,
    config: AnnotationsConfig,
):
    return _annotations.apply_annotations(
        table, labels, schema, annotation_settings(config)
    )


def repo_relative(path: Path) -> str:
    from orchestration.config import REPO_ROOT

    try:
        return str(Path(path).resolve().relative_to(REPO_ROOT))
    except ValueError:
        return str(path)


def load_prepared(folder: Path) -> PreparedData:
    """The outputs of an earlier `prepare`, or a clear error if there are none."""
    path = Path(folder) / MANIFEST_FILE
    if not path.is_file():
        raise DataValidationError(
            f"no prepared data in {folder}: run `python -m orchestration prepare` first"
        )
    return PreparedData(folder=Path(folder), manifest=json.loads(path.read_text()))

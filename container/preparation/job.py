"""`IMAGE prepare`: data preparation as a SageMaker processing job.

Inputs (ProcessingInputs), under /opt/ml/processing/input:

- ``raw/``: the raw CSV (one file, or the one `raw_file` names);
- ``settings/preparation.json``: the declared schema, the split, the reject
  limit and, if labels come from Ground Truth, how to read the manifest;
- ``annotations/``: the Ground Truth output manifest, when the settings name one.

Output (ProcessingOutput ``prepared``): /opt/ml/processing/output/prepared,
the same files `python -m orchestration prepare` writes (splits, baseline
dataset, rejected rows, validation report, manifest.json). Bad data fails the
job with /opt/ml/output/failure naming the rule and the rows, as SageMaker
shows it in FailureReason.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from container.contract.paths import OptMl
from container.jobs import Job, StopGuard, run
from container.preparation.annotations import AnnotationSettings
from container.preparation.rules import DataValidationError, schema_from_dict
from container.preparation.run import PreparationSettings, SplitSettings, prepare

SETTINGS_FILE = "preparation.json"
SETTINGS_KEYS = {
    "schema",
    "split",
    "max_rejected_fraction",
    "raw_file",
    "raw_source",
    "annotations",
    "problem_type",
}
ANNOTATION_KEYS = {"file", "label_attribute", "id_field", "min_confidence", "source"}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="prepare", description=__doc__.split("\n")[0])
    parser.parse_args(argv)
    opt_ml = OptMl.from_env()
    job = Job(
        "prepare",
        opt_ml,
        activity="preparing the data",
        stopped_reason="stopped by SIGTERM (StopProcessingJob or the time limit); no splits were published",
        out_of_memory_reason="prepare ran out of memory; use a larger processing instance",
        writes_message=True,
    )
    return run(job, lambda guard: _prepare(opt_ml, guard))


def _prepare(opt_ml: OptMl, guard: StopGuard) -> str:
    inputs = opt_ml.processing_input_dir
    settings = settings_from_json(
        _read_settings(inputs / "settings" / SETTINGS_FILE),
        raw_dir=inputs / "raw",
        annotations_dir=inputs / "annotations",
        output=opt_ml.processing_output_dir / "prepared",
    )
    prepared = prepare(settings)
    files = prepared.manifest["files"]
    rows = ", ".join(
        f"{name} {files[name]['rows']}" for name in ("train", "validation", "test")
    )
    return f"prepared {settings.raw.name}: {rows} rows, {prepared.manifest['rejected_rows']} rejected"


def _read_settings(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise DataValidationError(
            f"no {SETTINGS_FILE} in {path.parent}: give the job a 'settings' input holding it"
        )
    try:
        document = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataValidationError(f"{SETTINGS_FILE} is not valid JSON: {exc}") from None
    if not isinstance(document, dict):
        raise DataValidationError(f"{SETTINGS_FILE} must be a JSON object")
    unknown = sorted(set(document) - SETTINGS_KEYS)
    if unknown:
        raise DataValidationError(
            f"{SETTINGS_FILE} has unknown key {unknown[0]!r}; expected some of {sorted(SETTINGS_KEYS)}"
        )
    return document


def settings_from_json(
    document: dict[str, Any], raw_dir: Path, annotations_dir: Path, output: Path
) -> PreparationSettings:
    """The job's settings document → `PreparationSettings`, naming any bad key."""
    split = document.get("split") or {}
    try:
        split_settings = SplitSettings(**split)
    except TypeError:
        raise DataValidationError(
            f"{SETTINGS_FILE}: split takes train, validation, test, seed, strategy, group_column and time_column, got {sorted(split)}"
        ) from None
    annotations = None
    if document.get("annotations"):
        spec = document["annotations"]
        unknown = sorted(set(spec) - ANNOTATION_KEYS)
        if unknown or "label_attribute" not in spec:
            raise DataValidationError(
                f"{SETTINGS_FILE}: annotations needs label_attribute and takes {sorted(ANNOTATION_KEYS)}"
            )
        annotations = AnnotationSettings(
            manifest=_one_file(annotations_dir, spec.get("file"), "annotations"),
            label_attribute=str(spec["label_attribute"]),
            id_field=str(spec.get("id_field", "source")),
            min_confidence=float(spec.get("min_confidence", 0.0)),
            source=spec.get("source"),
        )
    return PreparationSettings(
        raw=_one_file(raw_dir, document.get("raw_file"), "raw"),
        schema=schema_from_dict(document.get("schema"), f"{SETTINGS_FILE}: schema"),
        output=output,
        split=split_settings,
        annotations=annotations,
        max_rejected_fraction=float(document.get("max_rejected_fraction", 0.1)),
        raw_source=document.get("raw_source"),
        problem_type=str(document.get("problem_type", "auto")),
    )


def _one_file(folder: Path, name: str | None, channel: str) -> Path:
    """The named file in an input folder, or its only file."""
    if name is not None:
        if "/" in name or name in ("", ".", ".."):
            raise DataValidationError(
                f"{channel} file name {name!r} must be a plain file name"
            )
        path = folder / name
        if not path.is_file():
            raise DataValidationError(f"the {channel!r} input has no file {name!r}")
        return path
    found = (
        sorted(p for p in folder.rglob("*") if p.is_file()) if folder.is_dir() else []
    )
    if len(found) != 1:
        raise DataValidationError(
            f"the {channel!r} input must hold exactly one file (or name it in {SETTINGS_FILE}); found {len(found)}"
        )
    return found[0]


if __name__ == "__main__":
    sys.exit(main())

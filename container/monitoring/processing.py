"""The processing-job contract, shared by `baseline` and `monitor`.

Parses `dataset_format`, names headerless columns from a model bundle's
schema, and runs both commands in the shared job shell (`container.jobs`),
which turns any failure into what SageMaker shows a user. Command-line flags
override the environment so the same commands run outside SageMaker.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

from container import jobs
from container.contract.bundle import manifest_schema, read_manifest
from container.contract.paths import OptMl
from container.contract.schema import Schema
from container.contract.settings import parse_flag
from container.monitoring.datasets import DatasetFormat, NameChoices
from container.monitoring.errors import MonitoringInputError

FORMAT_KEYS = {
    "csv": "csv",
    "json": "json",
    "parquet": "parquet",
    "sagemakerCaptureJson": "capture",
}
STOPPED_REASON = (
    "stopped by SIGTERM (StopProcessingJob or the time limit); "
    "no results were published"
)


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a bad flag gives one line on stderr and exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def parse_dataset_format(raw: str | None, default: DatasetFormat) -> DatasetFormat:
    """`dataset_format` JSON, e.g. {"csv": {"header": true}} or
    {"sagemakerCaptureJson": {"captureIndexNames": ["endpointInput"]}}."""
    if raw is None or raw.strip() == "":
        return default
    try:
        doc = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise MonitoringInputError(
            f"dataset_format is not valid JSON: {exc.msg}"
        ) from None
    keys = [k for k in FORMAT_KEYS if isinstance(doc, dict) and k in doc]
    if len(keys) != 1:
        raise MonitoringInputError(
            f"dataset_format={raw!r} must be an object with exactly one of {', '.join(FORMAT_KEYS)}, "  # noqa: E501
            'e.g. {"csv": {"header": true}}'
        )
    key = keys[0]
    options = doc[key] or {}
    if not isinstance(options, dict):
        raise MonitoringInputError(f"dataset_format.{key} must be an object of options")
    kind = FORMAT_KEYS[key]
    if kind == "json" and options.get("lines") is False:
        raise MonitoringInputError(
            "dataset_format json with lines=false is not supported: "
            "give JSON Lines (one object per line)"
        )
    position = str(options.get("output_columns_position", "START")).upper()
    if position not in ("START", "END"):
        raise MonitoringInputError(
            f"dataset_format output_columns_position={position!r}: "
            "expected START or END"
        )
    index_names = options.get("captureIndexNames") or options.get("capture_index_names")
    index_names = tuple(index_names) if index_names else default.capture_index_names
    unknown = set(index_names) - {"endpointInput", "endpointOutput"}
    if unknown:
        raise MonitoringInputError(
            f"captureIndexNames has {sorted(unknown)}: "
            "expected endpointInput and/or endpointOutput"
        )
    return DatasetFormat(
        kind=kind,  # type: ignore[arg-type]
        header=_header_flag(options.get("header", True)),
        output_columns_position=position,
        capture_index_names=index_names,
    )


def _header_flag(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    flag = parse_flag(value) if isinstance(value, str) else None
    if flag is not None:
        return flag
    raise MonitoringInputError(
        f"dataset_format header={value!r}: expected true or false"
    )


def read_schema(model_dir: Path | None) -> Schema | None:
    """The model bundle's schema (names, order, target), or None without a bundle."""
    if model_dir is None or not Path(model_dir).is_dir():
        return None
    manifest = read_manifest(Path(model_dir))
    return manifest_schema(manifest, Path(model_dir))


def schema_name_choices(
    model_dir: Path | None, position: str = "START"
) -> NameChoices | None:
    """Column names for headerless data from a model bundle: the features, or the
    target and the features (target first for START, last for END)."""
    schema = read_schema(model_dir)
    if schema is None:
        return None
    features = schema.feature_names
    with_target = (
        [schema.target, *features]
        if position == "START"
        else [*features, schema.target]
    )
    return [features, with_target]


def model_dir_for_job(flag: str | None, opt_ml: OptMl) -> Path | None:
    """--model-dir, else a processing input folder named `model` when mounted."""
    if flag:
        path = Path(flag)
        if not path.is_dir():
            raise MonitoringInputError(f"--model-dir {flag} is not a folder")
        return path
    mounted = opt_ml.processing_input_dir / "model"
    return mounted if mounted.is_dir() else None


def read_json_file(path: Path, what: str) -> Any:
    if not path.is_file():
        raise MonitoringInputError(f"{what} file {path} does not exist")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MonitoringInputError(
            f"{what} file {path} is not valid JSON: {exc}"
        ) from None


def run_job(name: str, opt_ml: OptMl, work: Callable[[jobs.StopGuard], str]) -> int:
    """Run a processing job (`baseline` or `monitor`) in the shared job shell.

    The job is PID 1 in its container, where a signal without a handler is
    ignored: the shell's handler makes SageMaker's SIGTERM stop it.
    """
    job = jobs.Job(
        name,
        opt_ml,
        activity=f"running {name}",
        stopped_reason=STOPPED_REASON,
        out_of_memory_reason=f"{name} ran out of memory; use a larger instance",
        writes_message=True,
    )
    return jobs.run(job, work)

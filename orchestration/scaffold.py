"""`init`: a project config and a raw schema for a user's own CSV file.

`python -m orchestration init --data my.csv --target COL` reads the file,
guesses its schema (`orchestration.schema_inference`), and writes
``<out>/<name>.yaml`` and ``<out>/<name>-raw.schema.yaml`` such that
`run --config <out>/<name>.yaml` takes the data from prepare to a monitored
endpoint. It says what it guessed and what to check, and never overwrites a
file unless told to (`--force`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from container.contract.errors import ByocError
from orchestration.names import is_valid_name
from orchestration.schema_inference import SchemaGuess, guess_schema

DEFAULT_OUT = Path("config")
DRIFTED_FEATURES = 2  # numeric features the demo's drifted traffic shifts
DRIFT_IN_STDS = 1.5  # how far: clearly drift, still plausible values


class InitError(ByocError):
    """The data file cannot start a project: missing, empty, not CSV, no target."""

    code = "invalid_init"


@dataclass(frozen=True)
class InitResult:
    config: Path
    schema: Path
    guess: SchemaGuess
    notes: list[str] = field(default_factory=list)  # what the user should check


def init_project(
    data: Path,
    target: str,
    name: str | None = None,
    out: Path = DEFAULT_OUT,
    force: bool = False,
) -> InitResult:
    """Write the config and schema for `data`; refuses to overwrite without `force`."""
    table = read_table(Path(data))
    if target not in table.columns:
        raise InitError(
            f"{data} has no column {target!r}; its columns are {list(table.columns)}"
        )
    if (table[target].dropna().str.strip() == "").all():
        raise InitError(f"target column {target!r} of {data} holds no value")
    name = name or project_name(Path(data))
    if not is_valid_name(name) or len(name) > 40:
        raise InitError(
            f"project name {name!r} must be letters, digits and hyphens, at most 40 characters (--name)"
        )
    out = Path(out)
    config_path, schema_path = out / f"{name}.yaml", out / f"{name}-raw.schema.yaml"
    existing = [str(p) for p in (config_path, schema_path) if p.exists()]
    if existing and not force:
        raise InitError(
            f"{', '.join(existing)} already exist(s); pass --force to overwrite"
        )
    guess = guess_schema(table, target)
    if not guess.features:
        raise InitError(
            f"{data} has no column to learn {target!r} from: {guess.left_out or 'only the target'}"
        )
    root = out.resolve().parent  # where the config's relative paths start
    out.mkdir(parents=True, exist_ok=True)
    schema_path.write_text(_schema_text(guess, Path(data)))
    config = project_config(name, guess, table, _relative(Path(data), root))
    config["data"]["schema"] = _relative(schema_path, root)
    config_path.write_text(_config_text(config, Path(data)))
    return InitResult(config_path, schema_path, guess, _notes(guess, config))


def read_table(path: Path) -> pd.DataFrame:
    """Every value as text, as `prepare` reads it; a one-line error otherwise."""
    if not path.is_file():
        raise InitError(f"data file {path} does not exist")
    try:
        head = path.read_bytes()[:65536]
        head.decode("utf-8")
    except UnicodeDecodeError:
        raise InitError(
            f"{path} is not a text CSV file (it does not read as UTF-8); export it as CSV"
        ) from None
    if not head.strip():
        raise InitError(f"{path} is empty")
    if head.lstrip()[:1] in (b"{", b"["):
        raise InitError(
            f"{path} looks like JSON, not CSV; export it as CSV with a header line"
        )
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=True)
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise InitError(f"{path} is not a readable CSV file: {first}") from None
    if len(table.columns) < 2:
        raise InitError(
            f"{path} has {len(table.columns)} column: a CSV with a header line and at least a target and a feature is needed"
        )
    if table.empty:
        raise InitError(f"{path} has a header line but no rows")
    return table


def project_name(data: Path) -> str:
    """A SageMaker-valid name from the file's name: my_data.csv → my-data."""
    name = re.sub(r"[^0-9a-zA-Z]+", "-", data.stem).strip("-").lower()
    return name[:40].strip("-") or "project"


def project_config(
    name: str, guess: SchemaGuess, table: pd.DataFrame, raw: str
) -> dict[str, Any]:
    """The config as a mapping; every section `run` needs, nothing else."""
    classification = guess.problem_type == "classification"
    config: dict[str, Any] = {
        "project": name,
        "backend": "local",
        "state_dir": f".state/{name}",
        "image": "sklearn-byoc:latest",
        "data": {
            "raw": raw,
            "schema": None,  # filled in by the caller
            "processed": f"data/processed/{name}",
            "max_rejected_fraction": 0.1,
            "split": {"train": 0.7, "validation": 0.15, "test": 0.15, "seed": 42},
        },
        "training": {
            "instance_type": "ml.m5.large",
            "max_runtime_seconds": 900,
            "hyperparameters": {
                "target": guess.target,
                "problem_type": guess.problem_type,
                "algorithm": "random_forest",
                "n_estimators": 100,
                "max_depth": 8,
                "random_state": 42,
            },
        },
        "registry": {
            "model_group": f"{name}-model",
            "auto_approval": _approval(guess, table),
        },
        "endpoint": {"name": f"{name}-local", "capture_sampling_percentage": 100},
        "monitoring": {
            "schedule_minutes": 60,
            "window_minutes": 60,
            "drift": _drift(guess, table),
        },
        "alerts": {
            "rules": [
                {"name": "any-drift", "kind": "feature_drift"},
                {"name": "many-violations", "kind": "violations", "min_violations": 3},
                {
                    "name": "endpoint-errors",
                    "kind": "error_rate",
                    "max_error_rate": 0.05,
                },
                {"name": "model-quality", "kind": "model_quality"},
            ]
        },
    }
    if classification:
        # Probabilities in the capture: the monitor estimates accuracy from them.
        config["endpoint"]["environment"] = {
            "SKLEARN_BYOC_RETURN_PROBABILITIES": "true"
        }
    return config


def _approval(guess: SchemaGuess, table: pd.DataFrame) -> dict[str, Any]:
    """A bar a useful model clears: better than the best constant guess."""
    if guess.problem_type == "regression":
        # R² 0 is what predicting the mean scores.
        return {"metric": "validation:r2", "threshold": 0.0, "direction": "max"}
    labels = table[guess.column(guess.target).name].dropna()
    majority = float(labels.value_counts(normalize=True).max())
    return {
        "metric": "validation:accuracy",
        "threshold": round(majority, 2),
        "direction": "max",
    }


def _drift(guess: SchemaGuess, table: pd.DataFrame) -> dict[str, Any]:
    """How the demo's drifted traffic differs: a few numeric features shifted
    by a multiple of their spread, and one category set to its rarest value."""
    shifts: dict[str, float] = {}
    override: dict[str, str] = {}
    for feature in guess.features:
        column = guess.column(feature)
        values = table[column.name]
        if column.type in ("integer", "float") and column.distinct > 2:
            spread = float(pd.to_numeric(values).std())
            if len(shifts) < DRIFTED_FEATURES and spread > 0:
                shift = float(f"{DRIFT_IN_STDS * spread:.3g}")
                # A whole-number column stays whole, so the monitor sees drift
                # rather than a changed data type.
                whole = column.type == "integer"
                shifts[feature] = float(max(round(shift), 1)) if whole else shift
        elif column.allowed and not override:
            override[feature] = str(values.value_counts().idxmin())
    drift: dict[str, Any] = {}
    if shifts:
        drift["numeric_shift"] = shifts
    if override:
        drift["categorical_override"] = override
    return drift


def _relative(path: Path, root: Path) -> str:
    try:
        return str(path.resolve().relative_to(root))
    except ValueError:
        return str(path.resolve())


def _schema_text(guess: SchemaGuess, data: Path) -> str:
    head = (
        f"# The declared shape of {data.name}, guessed by `init` from its values:\n"
        "# check the ranges (widened by a margin), the allowed values and which\n"
        "# columns may be empty; `prepare` rejects rows that break them.\n"
    )
    # One line per column, as hand-written schemas read.
    body = yaml.safe_dump(
        guess.declaration(), sort_keys=False, default_flow_style=None, width=200
    )
    return head + body


def _config_text(config: dict[str, Any], data: Path) -> str:
    head = (
        f"# A project for {data.name}, written by `init`.\n"
        "# `python -m orchestration run --config <this file>` runs the lifecycle.\n"
        "# Check the auto-approval bar and the drift the demo traffic gets.\n"
    )
    return head + yaml.safe_dump(config, sort_keys=False, width=88)


def _notes(guess: SchemaGuess, config: dict[str, Any]) -> list[str]:
    rule = config["registry"]["auto_approval"]
    notes = [
        f"problem type {guess.problem_type} (from the target's values); set "
        "training.hyperparameters.problem_type if that is wrong",
        f"auto-approval: {rule['metric']} >= {rule['threshold']}; raise the bar "
        "to what a useful model must reach",
        "ranges are the values seen widened by 10%: widen them if new data may go further",
    ]
    if guess.id_column is None:
        notes.append(
            "no column identifies a row, so the record id is the row number: "
            "name an id column in the schema's `id.from` if there is one"
        )
    for column, why in guess.left_out.items():
        notes.append(f"column {column!r} is not a feature: {why}")
    if guess.problem_type == "classification":
        notes.append(
            "the split keeps class proportions (stratified); every class needs 3 rows"
        )
    return notes


def summary_lines(result: InitResult) -> list[str]:
    """What `init` prints: the files, the guessed columns, what to check."""
    guess = result.guess
    lines = [f"wrote {result.config} and {result.schema}", "columns:"]
    for column in guess.columns:
        shown = column.type
        if column.min is not None:
            shown += f" {column.min}..{column.max}"
        if column.allowed:
            shown += f" one of {list(column.allowed)}"
        if column.nullable:
            shown += ", may be empty"
        role = (
            " (target)"
            if column.produced == guess.target
            else (" (feature)" if column.produced in guess.features else "")
        )
        rename = f" → {column.rename}" if column.rename else ""
        lines.append(f"  {column.name}{rename}: {shown}{role}")
    ident = guess.id_column or "the row number"
    lines.append(f"record id: {guess.id_name} from {ident}")
    lines.append("check:")
    lines.extend(f"  - {note}" for note in result.notes)
    lines.append(f"then: python -m orchestration run --config {result.config}")
    return lines

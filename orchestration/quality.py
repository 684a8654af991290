"""Model quality on this machine: labels in, ground truth out, predictions to baseline.

SageMaker's ModelQualityMonitor compares what an endpoint predicted with
ground-truth labels that arrive later, matched by inference id. This module
holds the steps' plain-file side of that:

- `read_labels`: a labels file (CSV with an ``inference_id,label`` header, or
  JSON Lines ``{"inference_id": ..., "label": ...}``), checked line by line;
- `write_ground_truth`: those labels as Model Monitor's ground-truth records,
  in the ``yyyy/mm/dd/hh`` folder of the hour they were collected;
- `write_labels`: a labels file for traffic the demo sent, by inference id;
- `validation_predictions`: the model's predictions of the validation split,
  next to its labels, which the model-quality baseline measures;
- `problem_type`: Model Monitor's problem type for a bundle's schema;
- `bundle_folder` / `calibrated`: a model.tar.gz's contents, and whether
  they hold the calibration the monitor estimates a window's accuracy from.
"""

from __future__ import annotations

import csv
import io
import json
import tarfile
import tempfile
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

import pandas as pd

from container.contract import archives
from container.contract.errors import ByocError

LABEL_COLUMNS = ("inference_id", "label")
REGRESSION = "Regression"
BINARY = "BinaryClassification"
MULTICLASS = "MulticlassClassification"
# Columns of the model-quality baseline dataset.
GROUND_TRUTH_COLUMN = "label"
PREDICTION_COLUMN = "prediction"
PROBABILITY_COLUMN = "probability"


class LabelsError(ByocError):
    """A labels file that cannot be read as ``inference_id,label`` pairs."""

    code = "invalid_labels"


class ModelUnreadable(ByocError):
    """A model artifact this machine cannot open to predict with."""

    code = "model_unreadable"


def problem_type(schema: dict) -> str:
    """Model Monitor's problem type for a bundle's schema (model.json `schema`)."""
    if schema.get("problem_type") == "regression":
        return REGRESSION
    classes = schema.get("classes") or []
    return BINARY if len(classes) == 2 else MULTICLASS


# --- labels files ----------------------------------------------------------------
def read_labels(path: Path) -> list[tuple[str, str]]:
    """(inference id, label) pairs from a CSV or JSON Lines labels file."""
    path = Path(path)
    if not path.is_file():
        raise LabelsError(f"labels file {path} does not exist")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise LabelsError(f"cannot read labels file {path}: {exc}") from None
    if not text.strip():
        raise LabelsError(f"labels file {path} is empty")
    jsonl = path.suffix.lower() in (".jsonl", ".json", ".ndjson") or (
        text.lstrip().startswith("{")
    )
    rows = _jsonl_rows(path, text) if jsonl else _csv_rows(path, text)
    pairs: list[tuple[str, str]] = []
    seen: dict[str, int] = {}
    for line, inference_id, label in rows:
        if not inference_id:
            raise LabelsError(f"{path} line {line}: inference_id is empty")
        if label == "":
            raise LabelsError(
                f"{path} line {line}: no label for inference id {inference_id!r}"
            )
        if inference_id in seen:
            raise LabelsError(
                f"{path} line {line}: inference id {inference_id!r} is already "
                f"labelled on line {seen[inference_id]}"
            )
        seen[inference_id] = line
        pairs.append((inference_id, label))
    if not pairs:
        raise LabelsError(f"labels file {path} holds no labels, only its header")
    return pairs


def _csv_rows(path: Path, text: str) -> Iterable[tuple[int, str, str]]:
    reader = csv.reader(io.StringIO(text))
    header = [h.strip() for h in next(reader)]
    missing = [c for c in LABEL_COLUMNS if c not in header]
    if missing:
        raise LabelsError(
            f"{path}: the header {','.join(header)!r} lacks {', '.join(missing)}; "
            "expected a header line `inference_id,label`"
        )
    at = {c: header.index(c) for c in LABEL_COLUMNS}
    for row in reader:
        line = reader.line_num
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            raise LabelsError(
                f"{path} line {line}: {len(row)} fields where the header has {len(header)}"
            )
        yield line, row[at["inference_id"]].strip(), row[at["label"]].strip()


def _jsonl_rows(path: Path, text: str) -> Iterable[tuple[int, str, str]]:
    for line, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            record = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise LabelsError(f"{path} line {line}: not JSON: {exc.msg}") from None
        if not isinstance(record, dict) or any(c not in record for c in LABEL_COLUMNS):
            raise LabelsError(
                f'{path} line {line}: expected {{"inference_id": ..., "label": ...}}'
            )
        label = record["label"]
        if isinstance(label, (dict, list)) or label is None:
            raise LabelsError(
                f"{path} line {line}: the label must be a single value, got {json.dumps(label)}"
            )
        yield line, str(record["inference_id"]).strip(), _text(label)


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value).strip()


def write_labels(path: Path, pairs: Iterable[tuple[str, object]]) -> Path:
    """A labels file (CSV, `inference_id,label`) for `read_labels`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(LABEL_COLUMNS)
        writer.writerows((i, _text(label)) for i, label in pairs)
    return path


def shuffled(pairs: list[tuple[str, str]], seed: int = 0) -> list[tuple[str, str]]:
    """The same ids with their labels shuffled among them: labels that say
    the model got worse, as the demo gives its drifted traffic."""
    import random

    labels = [label for _, label in pairs]
    random.Random(seed).shuffle(labels)
    return [(i, y) for (i, _), y in zip(pairs, labels, strict=True)]


# --- ground-truth records -------------------------------------------------------------
def ground_truth_record(inference_id: str, label: str) -> dict:
    """One Model Monitor ground-truth record; JSON-encoded when CSV would split it."""
    plain = not any(ch in label for ch in ',"\n\r')
    data = label if plain else json.dumps(label)
    return {
        "groundTruthData": {"data": data, "encoding": "CSV" if plain else "JSON"},
        "eventMetadata": {"eventId": inference_id},
        "eventVersion": "0",
    }


def hour_folder(root: Path, when: datetime) -> Path:
    return Path(root) / when.strftime("%Y/%m/%d/%H")


def write_ground_truth(
    root: Path, pairs: list[tuple[str, str]], collected: datetime, name: str
) -> Path:
    """`pairs` as ``root/yyyy/mm/dd/hh/<name>.jsonl`` (`collected`'s hour, UTC)."""
    folder = hour_folder(root, collected)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{name}.jsonl"
    temporary = target.with_name(f".{target.name}.tmp")
    temporary.write_text(
        "".join(json.dumps(ground_truth_record(i, y)) + "\n" for i, y in pairs)
    )
    temporary.replace(target)
    return target


def ground_truth_since(root: Path, start: datetime) -> int:
    """How many ground-truth files the monitor would read for a window from `start`.

    Hour folders from `start`'s hour on (labels arrive late, so later hours
    count), as the image's monitor reads them.
    """
    root = Path(root)
    if not root.is_dir():
        return 0
    first = start.strftime("%Y/%m/%d/%H")
    count = 0
    for path in root.rglob("*.jsonl"):
        parts = path.relative_to(root).parts[:-1]
        if len(parts) == 4 and "/".join(parts) < first:
            continue
        count += 1
    return count


# --- the model bundle ---------------------------------------------------------------
def bundle_folder(artifact: Path, folder: Path) -> Path:
    """The bundle of `artifact`: the folder itself, or a model.tar.gz's
    contents extracted to `folder` (its archive members kept inside it)."""
    artifact = Path(artifact)
    if artifact.is_dir():
        return artifact
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    try:
        with tarfile.open(artifact, "r:*") as tar:
            archives.extract(tar, folder)
    except (tarfile.TarError, OSError, archives.UnsafeArchive) as exc:
        raise ModelUnreadable(
            f"cannot extract the model artifact {artifact}: {exc}"
        ) from None
    return folder


def calibrated(folder: Path) -> bool:
    """Whether a bundle's model.json holds a calibration (``performance_estimation``
    with status ``calibrated``): then the model-quality monitor estimates a
    window's accuracy from the captured probabilities, labels or not."""
    try:
        manifest = json.loads((Path(folder) / "model.json").read_text())
    except (OSError, ValueError):
        return False
    record = (
        manifest.get("performance_estimation") if isinstance(manifest, dict) else None
    )
    return isinstance(record, dict) and record.get("status") == "calibrated"


# --- the baseline's dataset -------------------------------------------------------------
def validation_predictions(
    artifact: Path, table: pd.DataFrame
) -> tuple[pd.DataFrame, str]:
    """The model's predictions of `table` (with its target), beside the labels;
    and the model's problem type.

    Loads the bundle of `artifact` (a model.tar.gz, or its extracted folder)
    in this process and predicts as the server does. Columns: `label`,
    `prediction`, and for a binary classifier `probability` (of the second
    class in scikit-learn's order, the positive one).
    """
    from container.contract.bundle import load_bundle
    from container.serving.inference import align, predict

    with tempfile.TemporaryDirectory() as scratch:
        bundle = load_bundle(bundle_folder(artifact, Path(scratch)))
    schema = bundle.schema
    if schema.target not in table.columns:
        raise LabelsError(
            f"the validation split has no {schema.target!r} column to take labels from"
        )
    features, _ = align(table.drop(columns=[schema.target]), schema)
    problem = problem_type(schema.to_dict())
    binary = problem == BINARY
    predictions, probabilities, _classes = predict(bundle, features, binary)
    out = pd.DataFrame(
        {
            GROUND_TRUTH_COLUMN: table[schema.target].astype(str).to_numpy(),
            PREDICTION_COLUMN: [_text(p) for p in predictions],
        }
    )
    if binary and probabilities is not None:
        out[PROBABILITY_COLUMN] = probabilities[:, -1]
    return out, problem


# --- constraints -------------------------------------------------------------------------
LENIENT = {
    "LessThanThreshold": -1,
    "LessThanOrEqualToThreshold": -1,
    "GreaterThanThreshold": 1,
    "GreaterThanOrEqualToThreshold": 1,
}


def relax_constraints(constraints: dict, slack: float) -> dict:
    """`constraints` with each threshold moved by `slack` away from violating.

    The image suggests the baseline's own values as thresholds, so any
    window slightly worse than the validation split would violate; a
    threshold `t` moves by ``slack * max(|t|, 1)`` in the lenient direction
    (down for accuracy-like metrics, up for errors and false rates).
    """
    out = json.loads(json.dumps(constraints))
    for key, block in out.items():
        if not (key.endswith("_constraints") and isinstance(block, dict)):
            continue
        for constraint in block.values():
            direction = LENIENT.get(str(constraint.get("comparison_operator")))
            threshold = constraint.get("threshold")
            if direction is None or not isinstance(threshold, (int, float)):
                continue
            moved = threshold + direction * slack * max(abs(threshold), 1.0)
            constraint["threshold"] = round(moved, 6)
    return out


# --- the metric alerted on --------------------------------------------------------------
# One metric per problem type that a CloudWatch alarm watches on AWS: the
# error for a regressor, F1 for a binary classifier (accuracy hides a missed
# minority class), accuracy over all classes otherwise.
ALARM_METRICS = {REGRESSION: "rmse", BINARY: "f1", MULTICLASS: "accuracy"}
CONSTRAINT_BLOCKS = {
    REGRESSION: "regression_constraints",
    BINARY: "binary_classification_constraints",
    MULTICLASS: "multiclass_classification_constraints",
}


def alarm_constraint(constraints: dict, problem: str) -> dict | None:
    """The alarmed metric's name, threshold and comparison operator, taken from
    `constraints` (constraints.json); None when it has no such constraint."""
    metric = ALARM_METRICS.get(problem)
    block = constraints.get(CONSTRAINT_BLOCKS.get(problem, ""))
    found = block.get(metric) if isinstance(block, dict) and metric else None
    if not isinstance(found, dict):
        return None
    threshold = found.get("threshold")
    operator = found.get("comparison_operator")
    if not isinstance(threshold, (int, float)) or operator not in LENIENT:
        return None
    return {
        "metric": metric,
        "threshold": float(threshold),
        "comparison_operator": operator,
    }

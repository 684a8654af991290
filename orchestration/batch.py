"""The `transform` step: score a file offline with a batch transform job.

SageMaker users score offline with CreateTransformJob rather than an
endpoint: the approved model version runs over every object of an input
location and writes one ``<input>.out`` per input. With `transform.capture`
(the default) the job captures its records as an endpoint does, so
`monitor --transform-job NAME` checks batch traffic for drift and, once its
labels are given with `ground-truth`, for model quality.

Without `--input` the held-out test split's features are scored, and their
true labels written by inference id (``<file>:<line>``) for `ground-truth`.
"""

from __future__ import annotations

import collections
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from orchestration import lifecycle, quality, specs
from orchestration.backends.base import COMPLETED, JobFailed, TransformJobResult
from orchestration.times import iso

HELD_OUT_FILE = "held-out.csv"
SHOWN_LINES = 3


def transform(
    p: lifecycle.Project,
    version: int | None = None,
    input_path: Path | None = None,
    progress: lifecycle.Say | None = None,
) -> dict[str, Any]:
    """Run a transform job of `version` (default: the latest approved)."""
    chosen = lifecycle.deployable(p, version)
    name = lifecycle.job_name(p, "transform")
    work = p.config.state_dir / "transform" / name
    if input_path is None:
        inputs, labels = _held_out_input(p, work / "input")
    else:
        inputs, labels = _user_input(Path(input_path), work / "input"), None
    # Under the prefix jobs' inputs go to (on AWS, where transform.json lets it write).
    input_location = p.backend.upload_data(inputs, f"jobs/{name}/input")
    output_location = p.backend.location("transform", name, "output")
    capture = p.backend.location("capture")
    spec = specs.transform(
        p.config,
        name,
        chosen.model_artifact,
        chosen.image or p.backend.ensure_image(),
        (input_location, output_location),
        capture,
    )
    group = p.config.registry.model_group
    p.say(f"transform job {name} on {p.backend.name}: {group} version {chosen.version}")
    started = iso(datetime.now(UTC))
    result = p.backend.run_transform_job(spec, progress or lifecycle.quiet)
    ended = iso(datetime.now(UTC) + timedelta(seconds=1))
    record = {
        "name": name,
        "version": chosen.version,
        "status": result.status,
        "input": input_location,
        "output": output_location,
        "capture": capture if result.capture_destination else None,
        "window": [started, ended],
        "records": result.records,
        "labels": str(labels) if labels else None,
        "failure_reason": result.failure_reason,
    }
    transforms = dict(p.state.get("transforms", {}))
    transforms[name] = record
    p.save(transforms=transforms, last_transform=name)
    if result.status != COMPLETED:
        raise JobFailed(
            f"transform job {name} {result.status}: {result.failure_reason}",
            result.failure_reason,
        )
    local = (
        p.backend.fetch(output_location, work / "output")
        if "://" in output_location
        else Path(output_location)  # already on this machine: no copy
    )
    _summarise(p, result, local)
    record["local_output"] = str(local)
    transforms[name] = record
    p.save(transforms=transforms)
    if labels:
        p.say(f"  their true labels: {labels} (`ground-truth --labels {labels}`)")
    if record["capture"]:
        p.say(f"  captured; check it with `monitor --transform-job {name}`")
    return record


def _held_out_input(p: lifecycle.Project, folder: Path) -> tuple[Path, Path]:
    """The test split's features as one headerless CSV, and its labels by id."""
    table = lifecycle.held_out(p)
    target = p.config.target
    folder.mkdir(parents=True, exist_ok=True)
    table.drop(columns=[target]).to_csv(
        folder / HELD_OUT_FILE, header=False, index=False, lineterminator="\n"
    )
    labels = quality.write_labels(
        p.config.state_dir / "labels" / f"{folder.parent.name}.csv",
        (
            (f"{HELD_OUT_FILE}:{line}", label)
            for line, label in enumerate(table[target].tolist(), start=1)
        ),
    )
    return folder, labels


def _user_input(path: Path, folder: Path) -> Path:
    """A file or folder of the user's, as the job's input folder."""
    if not path.exists():
        raise lifecycle.LifecycleError(
            f"--input {path} does not exist: give a CSV / JSON Lines file or a folder of them"
        )
    if path.is_dir():
        return path
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(path, folder / path.name)
    return folder


def _summarise(p: lifecycle.Project, result: TransformJobResult, local: Path) -> None:
    outputs = sorted(local.rglob("*.out"))
    labels: collections.Counter[str] = collections.Counter()
    first: list[str] = []
    for path in outputs:
        with path.open(encoding="utf-8", errors="replace") as lines:
            for line in lines:
                line = line.rstrip("\n")
                if len(first) < SHOWN_LINES:
                    first.append(line)
                labels[line.split(",", 1)[0].strip('"')] += 1
    p.say(
        f"  {result.status} in {result.duration_seconds:.1f} s: "
        f"{result.records} records → {len(outputs)} output file(s) in {local}"
    )
    mix = ", ".join(f"{label} {count}" for label, count in labels.most_common(5))
    p.say(f"  predicted: {mix}; first lines: {first}")

"""Writing the splits, the rejected rows, the report and the data manifest.

Everything goes to a staging folder inside the output folder first and is
moved into place entry by entry only when complete, so a failed run never
leaves half-written splits next to a complete old manifest.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from container.preparation.rules import RawSchema

SPLITS = ("train", "validation", "test")
MANIFEST_FILE = "manifest.json"
REPORT_FILE = "validation_report.json"
REJECTED_FILE = "rejected.csv"
IDS_FILE = "ids.csv"
BASELINE_DIR = "baseline"  # features only, with header: the baseline job's input


@dataclass(frozen=True)
class PreparedData:
    folder: Path
    manifest: dict[str, Any]

    def split_dir(self, name: str) -> Path:
        return self.folder / name

    @property
    def data_hashes(self) -> dict[str, str]:
        return {k: v["sha256"] for k, v in self.manifest["files"].items()}


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def write_prepared(
    target: Path,
    schema: RawSchema,
    splits: dict[str, pd.DataFrame],
    rejected: pd.DataFrame,
    report: dict[str, Any],
    manifest_head: dict[str, Any],
) -> PreparedData:
    """Write every output, then the manifest (`manifest_head` plus the files)."""
    target.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".prepare-", dir=target))
    try:
        files: dict[str, Any] = {}
        for name, frame in splits.items():
            # One folder per split: a SageMaker channel is a folder (an S3 prefix).
            path = staging / name / f"{name}.csv"
            path.parent.mkdir()
            frame.drop(columns=[schema.id_name]).to_csv(
                path, index=False, lineterminator="\n"
            )
            files[name] = _file_entry(path, staging, frame, schema)
        pd.concat(
            [f[[schema.id_name]].assign(split=n) for n, f in splits.items()]
        ).to_csv(staging / IDS_FILE, index=False, lineterminator="\n")
        baseline = staging / BASELINE_DIR / "baseline.csv"
        baseline.parent.mkdir()
        splits["train"][list(schema.features)].to_csv(
            baseline, index=False, lineterminator="\n"
        )
        files[BASELINE_DIR] = {
            "path": f"{BASELINE_DIR}/baseline.csv",
            "sha256": sha256_file(baseline),
            "rows": len(splits["train"]),
        }
        rejected.to_csv(staging / REJECTED_FILE, index=False, lineterminator="\n")
        (staging / REPORT_FILE).write_text(json.dumps(report, indent=2) + "\n")
        manifest = {**manifest_head, "files": files}
        (staging / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2) + "\n")
        _swap_into_place(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return PreparedData(folder=target, manifest=manifest)


def _file_entry(path: Path, root: Path, frame: pd.DataFrame, schema: RawSchema) -> dict:
    return {
        "path": str(path.relative_to(root)),
        "sha256": sha256_file(path),
        "rows": len(frame),
        "columns": [schema.target, *schema.features],
    }


def _swap_into_place(staging: Path, target: Path) -> None:
    """Replace the previous outputs with the staged ones, entry by entry."""
    for entry in staging.iterdir():
        destination = target / entry.name
        if destination.is_dir():
            shutil.rmtree(destination)
        elif destination.exists():
            destination.unlink()
        entry.rename(destination)
    staging.rmdir()

"""What a training job left besides its metrics: the documents worth keeping with its run.

A completed job leaves model.tar.gz, whose model.json is the bundle's
metadata (schema, classes, metrics, library versions, data hashes, its own
search), and beside it output.tar.gz (SageMaker's output/data), holding the
evaluation (evaluation.json, metrics.json, report.html) and, when the job
searched hyperparameters itself, search_trials.json. Both are read member by
member, so nothing of the archive is extracted and model.joblib is never
loaded. The artifact is a path locally and an s3:// URI on AWS: it is
brought here through the backend.
"""

from __future__ import annotations

import json
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from container.contract.bundle import MANIFEST_FILE
from container.contract.errors import ByocError
from orchestration.backends.base import Backend

OUTPUT_ARCHIVE = "output.tar.gz"  # SageMaker's name for output/data, beside the model
BUNDLE_FOLDER = "bundle"
EVALUATION_FOLDER = "evaluation"
SEARCH_FOLDER = "search"


def _output_documents() -> dict[str, str]:
    """output.tar.gz member -> folder it is kept under (the image's file names)."""
    from container.training import job

    return {
        job.EVALUATION_FILE: EVALUATION_FOLDER,
        job.METRICS_FILE: EVALUATION_FOLDER,
        job.REPORT_FILE: EVALUATION_FOLDER,
        job.SEARCH_TRIALS_FILE: SEARCH_FOLDER,
    }


@dataclass(frozen=True)
class TrainingOutputs:
    """Documents by the path they are kept under (`bundle/model.json`, ...)."""

    files: dict[str, bytes]
    # What could not be read, each with why: logging goes on without it.
    missing: tuple[str, ...] = ()

    def document(self, path: str) -> dict[str, Any] | None:
        raw = self.files.get(path)
        return json.loads(raw) if raw is not None else None

    @property
    def search(self) -> dict[str, Any] | None:
        """The training job's own hyperparameter search, if it ran one."""
        from container.training import job

        found = self.document(f"{SEARCH_FOLDER}/{job.SEARCH_TRIALS_FILE}")
        if found:
            return found
        bundle = self.document(f"{BUNDLE_FOLDER}/{MANIFEST_FILE}") or {}
        return bundle.get("search") or None


def output_archive(model_artifact: str) -> str:
    """Where SageMaker (and the local backend) put output.tar.gz: beside the model."""
    head, _, _ = model_artifact.rpartition("/")
    return f"{head}/{OUTPUT_ARCHIVE}" if head else OUTPUT_ARCHIVE


def read(backend: Backend, model_artifact: str | None) -> TrainingOutputs:
    """The bundle's model.json and the job's evaluation and search documents."""
    if not model_artifact:
        return TrainingOutputs({}, ("no model artifact: the job did not complete",))
    files: dict[str, bytes] = {}
    missing: list[str] = []
    wanted = {
        model_artifact: {MANIFEST_FILE: BUNDLE_FOLDER},
        output_archive(model_artifact): _output_documents(),
    }
    with tempfile.TemporaryDirectory(prefix="training-outputs-") as scratch:
        for number, (location, members) in enumerate(wanted.items()):
            try:
                archive = _here(backend, location, Path(scratch) / str(number))
                files.update(_members(archive, members))
            except (ByocError, OSError, tarfile.TarError) as exc:
                why = getattr(exc, "message", None) or str(exc)
                missing.append(f"{location}: {why}")
    return TrainingOutputs(files, tuple(missing))


def _here(backend: Backend, location: str, folder: Path) -> Path:
    """The archive on this machine: where it is, or fetched into `folder`."""
    if "://" not in location and Path(location).is_file():
        return Path(location)
    return Path(backend.fetch(location, folder))


def _members(archive: Path, wanted: dict[str, str]) -> dict[str, bytes]:
    """Top-level members named in `wanted`, read without extracting anything."""
    found: dict[str, bytes] = {}
    with tarfile.open(archive, "r:*") as tar:
        for member in tar.getmembers():
            name = PurePosixPath(member.name)
            if len(name.parts) != 1 or name.name not in wanted or not member.isfile():
                continue
            handle = tar.extractfile(member)
            if handle is not None:
                found[f"{wanted[name.name]}/{name.name}"] = handle.read()
    return found

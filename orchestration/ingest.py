"""`ingest`: the raw files, as they are, to a versioned prefix of the backend.

Today only the processed splits reach S3; a pipeline that prepares the data
on SageMaker needs the raw data there first. `ingest` uploads

    <data prefix>/raw/<version>/raw/<raw file>
                               /annotations/<Ground Truth manifest>
                               /settings/preparation.json

where <version> is the first 16 hex digits of a sha256 over the three files,
so the same data always lands at the same prefix (ingesting it again does
nothing) and changed data never overwrites what an earlier model was trained
on. The files' own sha256 values are kept in the project state,
and `register` writes them, with the prefix, into the version's lineage.

Locally the "prefix" is a folder under the state folder, copied once.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchestration import dataprep
from orchestration.dataprep import sha256_file

if TYPE_CHECKING:
    from orchestration.lifecycle import Project

VERSION_DIGITS = 16
SETTINGS_NAME = "preparation.json"


@dataclass(frozen=True)
class Ingested:
    location: str  # the backend's prefix (s3://... or a folder)
    version: str
    files: dict[str, dict[str, str]]  # role -> {name, sha256}

    def to_dict(self) -> dict[str, Any]:
        return {"location": self.location, "version": self.version, "files": self.files}


def stage(p: Project, folder: Path) -> tuple[str, dict[str, dict[str, str]]]:
    """Lay the raw data out in `folder`; returns its version and file hashes."""
    data = p.config.data
    raw_source = dataprep.repo_relative(data.raw)
    annotations_source = (
        dataprep.repo_relative(data.annotations.manifest) if data.annotations else None
    )
    settings = dataprep.job_settings(data, raw_source, annotations_source)
    files = {"raw": data.raw}
    if data.annotations is not None:
        files["annotations"] = data.annotations.manifest
    for role, path in files.items():
        if not path.is_file():
            raise dataprep.DataValidationError(f"{role} file {path} does not exist")
        (folder / role).mkdir()
        shutil.copyfile(path, folder / role / path.name)
    (folder / "settings").mkdir()
    settings_file = folder / "settings" / SETTINGS_NAME
    settings_file.write_text(json.dumps(settings, indent=2, sort_keys=True) + "\n")
    hashes = {
        role: {"name": path.name, "sha256": sha256_file(path)}
        for role, path in {**files, "settings": settings_file}.items()
    }
    digest = hashlib.sha256()
    for role in sorted(hashes):
        digest.update(
            f"{role}:{hashes[role]['name']}:{hashes[role]['sha256']}\n".encode()
        )
    return digest.hexdigest()[:VERSION_DIGITS], hashes


def ingest(p: Project) -> Ingested:
    """Upload the raw data once per version; remember where it is."""
    with tempfile.TemporaryDirectory(prefix="ingest-") as scratch:
        staged = Path(scratch) / "staged"
        staged.mkdir()
        version, hashes = stage(p, staged)
        previous = p.state.get("ingested") or {}
        if previous.get("version") == version and previous.get("location"):
            p.say(
                f"raw data version {version} already ingested at {previous['location']}"
            )
            return Ingested(previous["location"], version, previous["files"])
        location = p.backend.upload_data(
            _kept(p, staged, version), f"data/raw/{version}"
        )
    ingested = Ingested(location, version, hashes)
    p.save(ingested=ingested.to_dict())
    names = ", ".join(f"{f['name']} ({f['sha256'][:12]})" for f in hashes.values())
    p.say(f"ingested raw data version {version} → {location}: {names}")
    return ingested


def _kept(p: Project, staged: Path, version: str) -> Path:
    """Locally the backend keeps the folder it is given, so give it a lasting one."""
    if p.backend.name != "local":
        return staged
    kept = Path(p.backend.location("data", "raw", version))
    if not kept.is_dir():
        kept.parent.mkdir(parents=True, exist_ok=True)
        partial = Path(tempfile.mkdtemp(prefix=f".{version}-", dir=kept.parent))
        shutil.copytree(staged, partial, dirs_exist_ok=True)
        partial.rename(kept)
    return kept

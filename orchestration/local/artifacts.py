"""model.tar.gz in and out, and the /opt/ml config files, as SageMaker makes them.

SageMaker tars /opt/ml/model at the end of a training job and extracts the
tarball back to /opt/ml/model for an endpoint; the local backend does the
same, writing through a temporary file so no half-written tarball is ever
visible, and refusing archive members that would land outside the folder.
"""

from __future__ import annotations

import json
import re
import shutil
import tarfile
from pathlib import Path

from container.contract import archives
from container.contract.paths import OptMl
from orchestration import files
from orchestration.backends.base import BackendError

# The `name=value` lines the image prints; AWS's MetricDefinitions use the
# same pattern, so local and AWS runs report the same metrics.
METRIC_LINE = re.compile(
    r"^\s*(?P<name>[A-Za-z_][\w.:/-]*)\s*=\s*"
    r"(?P<value>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*$"
)
RESOURCE_CONFIG = {
    "current_host": "algo-1",
    "hosts": ["algo-1"],
    "network_interface_name": "eth0",
}


def parse_metric(line: str) -> tuple[str, float] | None:
    match = METRIC_LINE.match(line)
    if match is None:
        return None
    return match["name"], float(match["value"])


def write_training_config(
    opt_ml: Path,
    hyperparameters: dict[str, str],
    channels: list[str],
    content_type: str,
) -> None:
    """The three config files SageMaker writes for a training job."""
    layout = OptMl(Path(opt_ml))
    layout.config_dir.mkdir(parents=True, exist_ok=True)
    layout.hyperparameters_file.write_text(json.dumps(hyperparameters))
    layout.inputdataconfig_file.write_text(
        json.dumps(
            {
                channel: {
                    "ContentType": content_type,
                    "TrainingInputMode": "File",
                    "S3DistributionType": "FullyReplicated",
                    "RecordWrapperType": "None",
                }
                for channel in channels
            }
        )
    )
    layout.resourceconfig_file.write_text(json.dumps(RESOURCE_CONFIG))


def copy_tree(source: Path, destination: Path) -> None:
    """Copy a file or folder; a job gets its own copy, as SageMaker downloads one."""
    source = Path(source)
    if not source.exists():
        raise BackendError(f"input {source} does not exist")
    destination.parent.mkdir(parents=True, exist_ok=True)
    if source.is_dir():
        shutil.copytree(source, destination, dirs_exist_ok=True)
    else:
        destination.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, destination / source.name)


def make_tarball(folder: Path, tarball: Path) -> Path:
    """Tar a folder's contents (not the folder itself) to tarball, atomically."""
    with files.replacing(tarball) as tmp, tarfile.open(tmp, "w:gz") as tar:
        for entry in sorted(Path(folder).iterdir()):
            tar.add(entry, arcname=entry.name)
    return tarball


def extract_tarball(tarball: Path, destination: Path) -> Path:
    """Extract model.tar.gz into an empty folder, refusing unsafe members."""
    tarball = Path(tarball)
    if not tarball.is_file():
        raise BackendError(f"model artifact {tarball} does not exist")
    destination.mkdir(parents=True, exist_ok=True)
    root = destination.resolve()
    try:
        with tarfile.open(tarball, "r:*") as tar:
            archives.extract(tar, root)
    except archives.UnsafeArchive as exc:
        raise BackendError(exc.message) from None
    except tarfile.TarError as exc:
        raise BackendError(f"{tarball} is not a readable tar.gz: {exc}") from None
    return destination


def fresh_folder(path: Path) -> Path:
    """`path` as an empty folder: whatever an earlier attempt left there goes."""
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    return path


def publish_folder(source: Path, destination: Path) -> None:
    """Copy `source` beside `destination`, then swap it in whole.

    A reader sees the previous outputs or the new ones, never a mix.
    """
    destination.parent.mkdir(parents=True, exist_ok=True)
    staging = destination.with_name(f".{destination.name}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(source, staging)
    if destination.exists():
        shutil.rmtree(destination)
    staging.rename(destination)


def read_head(path: Path, limit: int = 1024) -> str | None:
    """The first `limit` characters of a status file, as SageMaker reports them."""
    if not path.is_file():
        return None
    text = path.read_text(errors="replace").strip()
    return text[:limit] or None

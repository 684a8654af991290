"""`lineage`: where a served model came from, from the endpoint back to the raw data.

endpoint → each variant's model (DescribeEndpoint → its endpoint config →
DescribeModel on AWS) → the model version whose model.tar.gz that is → the
training run (and the tuning job it was a trial of) → image and digest →
code revision → the processed files' hashes, checked against the data
manifest → the raw file. Or the same from a model version down.

Everything comes from what the steps already keep: the backend's
`describe_endpoint_models`, the registry (on AWS the version's whole
lineage.json, which the Model Registry's short metadata entries only
summarise), the tracker's runs and tuning jobs, and `data.processed`'s
manifest.json. Nothing is cut: every hash, id and ARN is shown whole.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from container.contract.errors import ByocError
from orchestration import dataprep
from orchestration.backends.base import BackendError, ResourceNotFound
from orchestration.config import REPO_ROOT
from orchestration.lifecycle import Project
from orchestration.registry import ModelVersion
from orchestration.tracking import RunNotFound, tuning_lineage


class LineageError(ByocError):
    """The endpoint or version to trace does not exist."""

    status_code = 404
    code = "lineage_not_found"


# --- the facts, as plain JSON-able data -------------------------------------------
def of_endpoint(p: Project, endpoint: str) -> dict[str, Any]:
    """The endpoint's variants, each with the lineage of the version it serves."""
    try:
        served = p.backend.describe_endpoint_models(endpoint)
    except ResourceNotFound as exc:
        raise LineageError(
            f"no endpoint {endpoint!r} on the {p.backend.name} backend ({exc.message}); `status` lists the endpoints, `lineage --version N` traces a version"
        ) from exc
    group = p.config.registry.model_group
    versions = p.registry.list(group)
    variants = []
    for model in served:
        matching = [
            v
            for v in versions
            if model.model_artifact and v.model_artifact == model.model_artifact
        ]
        variants.append(
            {
                **model.to_dict(),
                "model_versions": [of_model_version(p, v) for v in matching],
            }
        )
    return {
        "endpoint": endpoint,
        "backend": p.backend.name,
        "model_group": group,
        "variants": variants,
    }


def of_version(p: Project, number: int) -> dict[str, Any]:
    """The lineage of version `number` of the project's model group."""
    return of_model_version(p, p.registry.get(p.config.registry.model_group, number))


def of_model_version(p: Project, version: ModelVersion) -> dict[str, Any]:
    lineage, source = recorded_lineage(p, version)
    run_id = lineage.get("run_id")
    return {
        "model_group": version.group,
        "version": version.version,
        "arn": version.arn,
        "approval": version.approval,
        "approval_reason": version.approval_reason,
        "created_at": version.created_at,
        "model_artifact": version.model_artifact,
        "image": version.image,
        "metrics": version.metrics,
        "lineage_source": source,
        "training_run": _run(p, run_id, lineage.get("training_job")),
        "tuning_job": lineage.get("tuning_job") or _tuning(p, run_id),
        "image_digest": lineage.get("image_digest"),
        "code_revision": lineage.get("code_revision"),
        "data": data_lineage(
            p, lineage.get("data_hashes") or {}, lineage.get("raw_sha256")
        ),
    }


def recorded_lineage(p: Project, version: ModelVersion) -> tuple[dict[str, Any], str]:
    """The version's lineage, whole: its lineage document when the registry keeps
    one (AWS), else what the registry holds; and where it was read."""
    where = version.documents.get("lineage")
    if not where:
        return dict(version.lineage), "registry"
    try:
        with tempfile.TemporaryDirectory(prefix="lineage-") as scratch:
            fetched = Path(p.backend.fetch(where, Path(scratch)))
            return json.loads(fetched.read_text()), where
    except (BackendError, OSError, ValueError) as exc:
        why = getattr(exc, "message", None) or str(exc)
        return dict(version.lineage), (
            f"registry metadata only: {where} could not be read ({why}), and facts too long for an entry are left out there"
        )


def _run(p: Project, run_id: str | None, job: str | None) -> dict[str, Any]:
    if not run_id:
        return {"run_id": None, "training_job": job, "recorded": False}
    try:
        run = p.tracker.get(run_id)
    except RunNotFound:
        # Trained from another state folder (another machine): the version's
        # lineage still names the job, and SageMaker keeps it on AWS.
        return {"run_id": run_id, "training_job": job, "recorded": False}
    return {**run.to_dict(), "recorded": True}


def _tuning(p: Project, run_id: str | None) -> dict[str, Any] | None:
    if not run_id:
        return None
    try:
        return tuning_lineage(p.tracker, p.tracker.get(run_id))
    except RunNotFound:
        return None


def data_lineage(
    p: Project, hashes: dict[str, str], raw_sha256: str | None
) -> dict[str, Any]:
    """The run's data hashes, the manifest they match (or not), and the raw file.

    The manifest in `data.processed` is the last `prepare`'s: it names the raw
    file and each split only when its hashes are the run's.
    """
    folder = Path(p.config.data.processed)
    manifest_path = folder / dataprep.MANIFEST_FILE
    manifest = (
        json.loads(manifest_path.read_text()) if manifest_path.is_file() else None
    )
    files = (manifest or {}).get("files") or {}
    differing = sorted(
        name
        for name, digest in hashes.items()
        if files.get(name, {}).get("sha256") != digest
    )
    matches = manifest is not None and bool(hashes) and not differing
    raw = (manifest or {}).get("raw") or {}
    if not matches or raw.get("sha256") != raw_sha256:
        # That manifest is of other data: only the recorded hash is known;
        # the configured raw file is compared with it.
        raw = {"path": _shown(p.config.data.raw), "sha256": raw_sha256}
    raw_path = _resolved(raw.get("path"))
    now = dataprep.sha256_file(raw_path) if raw_path and raw_path.is_file() else None
    return {
        "hashes": dict(hashes),
        "manifest": str(manifest_path) if manifest else None,
        "manifest_matches": matches,
        "differing": differing if manifest else sorted(hashes),
        "files": {
            name: {**files.get(name, {}), "sha256": digest}
            if matches
            else {"sha256": digest}
            for name, digest in hashes.items()
        },
        "raw": {
            **raw,
            "sha256": raw_sha256,
            "sha256_now": now,
            "unchanged": now is not None and now == raw_sha256,
        },
    }


def _shown(path: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(REPO_ROOT))
    except ValueError:
        return str(path)


def _resolved(path: str | None) -> Path | None:
    if not path:
        return None
    candidate = Path(path)
    return candidate if candidate.is_absolute() else REPO_ROOT / candidate


# --- the same as a tree -------------------------------------------------------------
@dataclass
class Node:
    text: str
    notes: list[str] = field(default_factory=list)
    children: list[Node] = field(default_factory=list)


def render(root: Node) -> list[str]:
    """The tree as lines, children drawn with ├── and └──, notes under their node."""
    lines = [root.text, *(f"  {n}" for n in root.notes)]
    lines += _render_children(root.children, "")
    return lines


def _render_children(children: list[Node], prefix: str) -> list[str]:
    lines: list[str] = []
    for index, child in enumerate(children):
        last = index == len(children) - 1
        lines.append(f"{prefix}{'└── ' if last else '├── '}{child.text}")
        below = prefix + ("    " if last else "│   ")
        bar = "  " if not child.children else "│ "
        lines += [f"{below}{bar}{note}" for note in child.notes]
        lines += _render_children(child.children, below)
    return lines


def endpoint_tree(found: dict[str, Any]) -> Node:
    root = Node(
        f"endpoint {found['endpoint']} ({found['backend']} backend, model group {found['model_group']})"
    )
    for variant in found["variants"]:
        kind = "shadow variant" if variant["shadow"] else "variant"
        node = Node(
            f"{kind} {variant['variant_name']} (weight {variant['weight']:g}): model {variant['model_name']}",
            [
                f"artifact {variant['model_artifact'] or '(the model no longer exists)'}",
                *([f"image {variant['image']}"] if variant.get("image") else []),
            ],
        )
        if not variant["model_versions"]:
            node.children.append(
                Node(
                    f"no version of {found['model_group']} has this artifact: registered elsewhere, or not registered"
                )
            )
        node.children += [version_tree(v) for v in variant["model_versions"]]
        root.children.append(node)
    return root


def version_tree(v: dict[str, Any]) -> Node:
    reason = f" ({v['approval_reason']})" if v.get("approval_reason") else ""
    notes = [
        f"created {v['created_at']}",
        *([f"arn {v['arn']}"] if v.get("arn") else []),
        f"artifact {v['model_artifact']}",
        f"metrics {_pairs(v['metrics'])}",
        f"lineage from {v['lineage_source']}",
    ]
    node = Node(
        f"model version {v['model_group']} v{v['version']}: {v['approval']}{reason}",
        notes,
    )
    node.children.append(_run_node(v["training_run"]))
    if v.get("tuning_job"):
        node.children.append(_tuning_node(v["tuning_job"]))
    node.children.append(
        Node(
            f"image {v['image']}", [f"digest {v.get('image_digest') or 'not recorded'}"]
        )
    )
    node.children.append(
        Node(f"code revision {v.get('code_revision') or 'not recorded'}")
    )
    node.children.append(_data_node(v["data"]))
    return node


def _run_node(run: dict[str, Any]) -> Node:
    name = run.get("training_job") or run.get("run_id")
    if not run.get("recorded"):
        return Node(
            f"training job {name}",
            [
                "no run of it is recorded in this state folder (trained from another one)"
            ],
        )
    notes = [
        f"started {run['started_at']} on {run['backend']}, {run.get('duration_seconds') or 0} s",
        f"hyperparameters {_pairs(run['hyperparameters'])}",
        f"metrics {_pairs(run['metrics'])}",
    ]
    if run.get("mlflow_run_id"):
        notes.append(f"MLflow run {run['mlflow_run_id']}")
    if run.get("failure_reason"):
        notes.append(f"failure {run['failure_reason']}")
    return Node(f"training run {run['run_id']}: {run['status']}", notes)


def _tuning_node(job: dict[str, Any]) -> Node:
    if "trials" not in job:
        return Node(f"tuning job {job['name']} (not recorded in this state folder)")
    node = Node(
        f"tuning job {job['name']}: {job['strategy']} search, {job['objective_type']} {job['objective_metric']}",
        [f"best {job.get('best_training_job')}"],
    )
    for trial in job["trials"]:
        value = trial.get("objective_value")
        shown = "-" if value is None else str(value)
        node.children.append(
            Node(
                f"trial {trial['training_job']}: {trial['status']}, "
                f"{_pairs(trial['hyperparameters'])}, {job['objective_metric']}={shown}"
            )
        )
    return node


def _data_node(data: dict[str, Any]) -> Node:
    if data["manifest"] is None:
        head = "data: no manifest.json in data.processed (run `prepare`)"
    elif data["manifest_matches"]:
        head = f"data: manifest {data['manifest']} (its hashes are the run's)"
    else:
        head = f"data: manifest {data['manifest']} is of other data (differs in {', '.join(data['differing'])}): the run's hashes only"
    node = Node(head)
    for name, entry in data["files"].items():
        where = f"{entry['path']} " if entry.get("path") else ""
        rows = f" ({entry['rows']} rows)" if "rows" in entry else ""
        node.children.append(Node(f"{name}: {where}sha256 {entry['sha256']}{rows}"))
    raw = data["raw"]
    if raw["sha256_now"] is None:
        state = "not on this machine"
    elif raw["unchanged"]:
        state = "unchanged since"
    else:
        state = f"changed since: now sha256 {raw['sha256_now']}"
    rows = f", {raw['rows']} rows" if "rows" in raw else ""
    node.children.append(
        Node(
            f"raw {raw.get('path')}: sha256 {raw.get('sha256') or 'not recorded'}{rows} ({state})"
        )
    )
    return node


def _pairs(values: dict[str, Any]) -> str:
    """Every value as recorded: no rounding, nothing left out."""
    if not values:
        return "none"
    return ", ".join(f"{k}={v}" for k, v in sorted(values.items()))

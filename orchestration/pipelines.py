"""The `pipeline` step: definition, run --local, upsert, start, status.

- ``pipeline definition [--out FILE]``: the definition JSON CreatePipeline
  receives (for the config's backend: AWS's with RegisterModel, the local one
  with CreateModel);
- ``pipeline run --local``: executed by LocalPipelineSession on this machine
  (orchestration/pipeline_local.py); when it succeeds, the trained model is
  tracked as a run and registered in the local registry, as `train` +
  `register` would, with the pipeline execution in its lineage;
- ``pipeline upsert`` / ``start`` / ``status`` (aws backend): the same
  definition as a SageMaker Pipeline (orchestration/aws/pipelines.py).
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from container.contract.errors import ByocError
from orchestration import dataprep, ingest, pipeline_local
from orchestration.pipeline_definition import (
    EVALUATE,
    TRAIN,
    PipelineSettings,
    build_pipeline,
    definition,
    pipeline_settings,
    quiet_sdk,
)
from orchestration.pipeline_local import LocalExecution, PipelineError
from orchestration.times import iso
from orchestration.tracking import Run, code_revision

if TYPE_CHECKING:
    from orchestration.lifecycle import Project
    from orchestration.registry import ModelVersion

SUCCEEDED = "Succeeded"


def run_locally(
    p: Project,
    s3_endpoint: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> ModelVersion | None:
    """Run the pipeline locally; register its model when the pipeline passes."""
    if p.backend.name != "local":
        raise ByocError(
            "pipeline run --local runs on this machine: use --backend local (on aws: `pipeline upsert` then `pipeline start`)"
        )
    started = datetime.now(UTC)
    settings = settings_for(p, local=True, image=p.backend.ensure_image())
    execution = pipeline_local.run_local(p, settings, s3_endpoint, progress)
    for step in execution.steps:
        reason = step.get("FailureReason")
        outcome = (step.get("Metadata") or {}).get("Condition", {}).get("Outcome")
        p.say(
            f"  {step['StepName']:<13} {step['StepStatus']}"
            + (f" (outcome {outcome})" if outcome is not None else "")
            + (f": {reason}" if reason else "")
        )
    p.say(f"  outputs in {execution.folder}")
    if execution.status != SUCCEEDED:
        raise PipelineError(
            f"pipeline execution {execution.name} {execution.status}: {execution.failure_reason}"
        )
    if not _model_created(execution):
        p.say(
            "  no model was created: the condition sent the execution to its fail step"
        )
        return None
    _record_run(p, execution, started)
    from orchestration import lifecycle

    return lifecycle.register(p)


def _model_created(execution: LocalExecution) -> bool:
    return any((step.get("Metadata") or {}).get("Model") for step in execution.steps)


def _record_run(p: Project, execution: LocalExecution, started: datetime) -> Run:
    """The pipeline's training job as a tracked run, and its data as `prepared`."""
    training = execution.properties[TRAIN]
    job = training["TrainingJobName"]
    folder = execution.folder
    archives = sorted((folder / "training").rglob("model.tar.gz"))
    if len(archives) != 1:
        raise PipelineError(
            f"expected the Train step's model.tar.gz under {folder / 'training'}, found {len(archives)}"
        )
    evaluation_file = folder / "evaluation" / "evaluation.json"
    evaluation = json.loads(evaluation_file.read_text())
    prepared = dataprep.load_prepared(folder / "prepared")
    metrics = {
        f"{split}:{name}": value
        for split, values in evaluation["metrics"].items()
        for name, value in values.items()
    }
    run = p.tracker.record(
        Run(
            run_id=job,
            project=p.config.project,
            job_name=job,
            backend=p.backend.name,
            status="Completed",
            started_at=iso(started),
            duration_seconds=round((datetime.now(UTC) - started).total_seconds(), 3),
            hyperparameters=dict(p.config.training.hyperparameters),
            metrics=metrics,
            data_hashes=prepared.data_hashes,
            image=p.backend.ensure_image(),
            image_digest=p.backend.image_digest(),
            code_revision=code_revision(),
            model_artifact=str(archives[0]),
        )
    )
    channels = {
        name: str(prepared.split_dir(name))
        for name in (*dataprep.SPLITS, dataprep.BASELINE_DIR)
    }
    p.save(
        prepared={
            "folder": str(prepared.folder),
            "channels": channels,
            "data_hashes": prepared.data_hashes,
            "raw_sha256": prepared.manifest["raw"]["sha256"],
        },
        features=list(prepared.manifest["schema"]["features"]),
        last_run=run.run_id,
        pipeline_run={
            "run_id": run.run_id,
            "execution": execution.name,
            "outputs": str(folder),
            "evaluation": str(evaluation_file),
        },
    )
    shown = ", ".join(
        f"{k}={v:.4g}" for k, v in sorted(metrics.items()) if k.endswith("accuracy")
    )
    p.say(f"  tracked run {run.run_id} ({EVALUATE}: {shown})")
    return run


def settings_for(
    p: Project, *, local: bool, image: str | None = None
) -> PipelineSettings:
    """The definition's settings on the project's backend (or for the local run)."""
    if local:
        with tempfile.TemporaryDirectory(prefix="ingest-") as scratch:
            version, _ = ingest.stage(p, Path(scratch))
        raw = f"s3://{pipeline_local.BUCKET}/raw/{version}"
        return pipeline_settings(
            p.config,
            name=pipeline_local.pipeline_name(p),
            image=image or p.config.image,
            role_arn=pipeline_local.LOCAL_ROLE,
            artifacts_uri=f"s3://{pipeline_local.BUCKET}/pipelines",
            raw_uri=raw,
            settings_uri=f"{raw}/settings/{ingest.SETTINGS_NAME}",
            local=True,
        )
    ingested = p.state.get("ingested") or {}
    if not str(ingested.get("location", "")).startswith("s3://"):
        raise ByocError(
            "the pipeline reads the raw data from S3: run `python -m orchestration ingest --backend aws` first"
        )
    raw = ingested["location"].rstrip("/")
    return pipeline_settings(
        p.config,
        name=pipeline_local.pipeline_name(p),
        image=image or p.backend.ensure_image(),
        role_arn=p.config.aws.role_arn,
        artifacts_uri=p.backend.location("pipelines"),
        raw_uri=raw,
        settings_uri=f"{raw}/settings/{ingest.SETTINGS_NAME}",
        local=False,
    )


def definition_document(p: Project, *, local: bool) -> dict[str, Any]:
    """The definition JSON, built on a session that sends nothing anywhere."""
    settings = settings_for(p, local=local)
    with quiet_sdk():
        from sagemaker.workflow.pipeline_context import (
            LocalPipelineSession,
            PipelineSession,
        )

        # Building a definition calls nothing: any session will do.
        boto_session = pipeline_local.dummy_session()
        kind = LocalPipelineSession if local else PipelineSession
        session = kind(
            boto_session=boto_session,
            default_bucket=settings.artifacts_uri.split("/")[2],
        )
        return definition(build_pipeline(settings, session))


def write_definition(p: Project, out: Path | None, local: bool) -> dict[str, Any]:
    """Print the definition, or write it to `out`."""
    document = definition_document(p, local=local)
    text = json.dumps(document, indent=2) + "\n"
    if out is None:
        print(text, end="")
    else:
        out.write_text(text)
        p.say(f"pipeline definition ({len(document['Steps'])} top-level steps) → {out}")
    return document


# --- on SageMaker (the aws backend) ---------------------------------------------
def upsert(p: Project) -> str:
    settings = settings_for(p, local=False)
    document = definition_document(p, local=False)
    arn = p.backend.upsert_pipeline(settings.name, document, settings.tags)
    p.save(pipeline={"name": settings.name, "arn": arn})
    p.say(
        f"pipeline {settings.name} upserted: {arn} ({len(document['Steps'])} top-level steps)"
    )
    return arn


def start(p: Project, parameters: dict[str, str]) -> str:
    name = _upserted(p)["name"]
    arn = p.backend.start_pipeline(name, parameters)
    p.save(pipeline={**p.state["pipeline"], "last_execution": arn})
    p.say(f"pipeline {name}: execution {arn} started; `pipeline status` follows it")
    return arn


def status(p: Project) -> dict[str, Any]:
    record = _upserted(p)
    outcome = p.backend.pipeline_status(record["name"], record.get("last_execution"))
    p.say(
        f"pipeline {record['name']} execution {outcome['execution_arn']}: {outcome['status']}"
    )
    for step in outcome["steps"]:
        reason = step["failure_reason"]
        p.say(
            f"  {step['name']:<13} {step['status']}" + (f": {reason}" if reason else "")
        )
    if outcome["failure_reason"]:
        p.say(f"  failure: {outcome['failure_reason']}")
    return outcome


def _upserted(p: Project) -> dict[str, Any]:
    if p.backend.name != "aws":
        p.backend.start_pipeline("", {})  # the local backend says what to run instead
    return p.need("pipeline", "pipeline upsert")

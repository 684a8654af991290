"""Processing jobs: `IMAGE baseline|monitor` with the Model Monitor environment.

A job copies each input to its place under /opt/ml/processing in a folder of
its own, runs the command with the spec's environment, and publishes
/opt/ml/processing/output to the output location only when the job
completed, whole. The first 1 KB of /opt/ml/output/message is its exit
message; a job that fails says why from that message, its failure file or its
last log lines.
"""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path

from container.contract.paths import DEFAULT_ROOT, OptMl
from orchestration.backends.base import (
    COMPLETED,
    FAILED,
    BackendError,
    ProcessingJobResult,
    ProcessingJobSpec,
    Progress,
    check_name,
    processing_container_path,
)
from orchestration.local import artifacts
from orchestration.local.engine import Engine, JobRun
from orchestration.local.state import LocalState

KIND = "processing-job"


def run_processing_job(
    engine: Engine,
    state: LocalState,
    root: Path,
    spec: ProcessingJobSpec,
    progress: Progress,
) -> ProcessingJobResult:
    """Run `baseline` or `monitor` to the end; a failed job is a result."""
    check_name(spec.job_name, "processing job")
    started = time.monotonic()
    with state.recording_job(spec.job_name, KIND, asdict(spec)):
        opt_ml = OptMl(artifacts.fresh_folder(root / "jobs" / spec.job_name) / "opt_ml")
        opt_ml.processing_output_dir.mkdir(parents=True)
        opt_ml.output_dir.mkdir(parents=True)
        for key, location in spec.inputs.items():
            artifacts.copy_tree(Path(location), host_path(opt_ml, key))
        container = engine.create(
            spec.command,
            KIND,
            spec.job_name,
            environment=dict(spec.environment),
            volumes=engine.job_volumes(opt_ml.root),
        )
        state.set_job_container(spec.job_name, container.id)
        run = engine.run_job(
            container, spec.job_name, spec.max_runtime_seconds, progress
        )
        result = _result(spec, opt_ml, run, started)
        state.finish_job(spec.job_name, result.status, result.to_dict())
    return result


def host_path(opt_ml: OptMl, key: str) -> Path:
    """Where, in a job's folder, the input mounted at `key` goes.

    The container path must lie under /opt/ml, and stays there once resolved:
    a key such as ``../../x`` would otherwise copy an input outside the job.
    """
    inside = processing_container_path(key)
    relative = inside[len(DEFAULT_ROOT) + 1 :]
    target = (opt_ml.root / relative).resolve()
    root = opt_ml.root.resolve()
    if not inside.startswith(f"{DEFAULT_ROOT}/") or root not in target.parents:
        raise BackendError(f"processing input {key!r} must be under {DEFAULT_ROOT}")
    return opt_ml.root / relative


def _result(
    spec: ProcessingJobSpec, opt_ml: OptMl, run: JobRun, started: float
) -> ProcessingJobResult:
    message = artifacts.read_head(opt_ml.message_file)
    if run.exit_code == 0:
        artifacts.publish_folder(
            opt_ml.processing_output_dir, Path(spec.output_location)
        )
        return ProcessingJobResult(
            spec.job_name,
            COMPLETED,
            message,
            spec.output_location,
            duration_seconds=time.monotonic() - started,
        )
    if run.timed_out:
        reason = "MaxRuntimeExceeded"
    else:
        failure = artifacts.read_head(opt_ml.failure_file)
        last_lines = " | ".join(run.lines[-3:])
        reason = (
            message
            or failure
            or f"AlgorithmError: Exit Code: {run.exit_code}; {last_lines}"
        )
    return ProcessingJobResult(
        spec.job_name,
        FAILED,
        message,
        spec.output_location,
        failure_reason=reason,
        duration_seconds=time.monotonic() - started,
    )

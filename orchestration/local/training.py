"""Training jobs: `IMAGE train` over its own /opt/ml, as SageMaker lays it out.

A job gets a folder of its own with the three config files (hyperparameters
as strings), a copy of each channel and empty model, output/data and
checkpoints folders, mounted as /opt/ml. Its logs are streamed and its
``name=value`` lines read as metrics. /opt/ml/model is then tarred into
``<output>/<job>/output/model.tar.gz`` (and output/data, if any, into
output.tar.gz); the job is Completed, Failed (with /opt/ml/output/failure as
the reason), or Stopped past its max runtime or when interrupted.
"""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path

from container.contract import settings
from container.contract.paths import OptMl
from orchestration.backends.base import (
    COMPLETED,
    FAILED,
    STOPPED,
    Progress,
    TrainingJobResult,
    TrainingJobSpec,
    check_name,
)
from orchestration.local import artifacts
from orchestration.local.engine import Engine, JobRun
from orchestration.local.state import LocalState

KIND = "training-job"
FAKE_ACCOUNT = "000000000000"


def arn(kind: str, name: str) -> str:
    """An ARN in SageMaker's shape, in a region and account that do not exist."""
    return f"arn:aws:sagemaker:local:{FAKE_ACCOUNT}:{kind}/{name}"


def run_training_job(
    engine: Engine,
    state: LocalState,
    root: Path,
    spec: TrainingJobSpec,
    progress: Progress,
) -> TrainingJobResult:
    """Run `train` to the end; a failed job is a result, not an exception."""
    check_name(spec.job_name, "training job")
    started = time.monotonic()
    with state.recording_job(spec.job_name, KIND, asdict(spec)):
        opt_ml = OptMl(artifacts.fresh_folder(root / "jobs" / spec.job_name) / "opt_ml")
        _lay_out(opt_ml, spec)
        container = engine.create(
            "train",
            KIND,
            spec.job_name,
            environment={
                settings.TRAINING_JOB_NAME: spec.job_name,
                settings.TRAINING_JOB_ARN: arn(KIND, spec.job_name),
                **spec.environment,
            },
            volumes=engine.job_volumes(opt_ml.root),
        )
        state.set_job_container(spec.job_name, container.id)
        run = engine.run_job(
            container, spec.job_name, spec.max_runtime_seconds, progress
        )
        output = Path(spec.output_location or root / "artifacts") / spec.job_name
        result = _result(
            spec, opt_ml, run, output / "output", time.monotonic() - started
        )
        state.finish_job(spec.job_name, result.status, result.to_dict())
    return result


def _lay_out(opt_ml: OptMl, spec: TrainingJobSpec) -> None:
    for folder in (opt_ml.model_dir, opt_ml.output_data_dir, opt_ml.checkpoints_dir):
        folder.mkdir(parents=True, exist_ok=True)
    artifacts.write_training_config(
        opt_ml.root, spec.hyperparameters, sorted(spec.channels), spec.content_type
    )
    for channel, location in spec.channels.items():
        artifacts.copy_tree(Path(location), opt_ml.channel_dir(channel))


def _result(
    spec: TrainingJobSpec, opt_ml: OptMl, run: JobRun, output: Path, duration: float
) -> TrainingJobResult:
    metrics = dict(m for m in map(artifacts.parse_metric, run.lines) if m)
    name = spec.job_name
    if run.timed_out:
        reason = f"MaxRuntimeExceeded: stopped after {spec.max_runtime_seconds} s"
        return TrainingJobResult(name, STOPPED, None, reason, metrics, duration)
    if run.exit_code != 0:
        failure = artifacts.read_head(opt_ml.failure_file)
        reason = f"AlgorithmError: {failure or f'Exit Code: {run.exit_code}'}"
        return TrainingJobResult(name, FAILED, None, reason, metrics, duration)
    tarball = artifacts.make_tarball(opt_ml.model_dir, output / "model.tar.gz")
    if any(opt_ml.output_data_dir.iterdir()):
        artifacts.make_tarball(opt_ml.output_data_dir, output / "output.tar.gz")
    return TrainingJobResult(name, COMPLETED, str(tarball), None, metrics, duration)

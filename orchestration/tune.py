"""`tune`: a hyperparameter tuning job over the training job `train` runs.

SageMaker's HyperParameterTuningJob, run through the backend: each trial is
a training job with the config's hyperparameters and its own values of the
`tuning.ranges`, and the best trial by `tuning.objective` is the run
`register` takes next, as after `train`. Every trial is a tracked run naming
the tuning job, so the registered version's lineage carries the whole search
(`orchestration.tracking.tuning_lineage`). The trials are also written to
``<state_dir>/tuning/<tuning-job>/trials.json`` with an HTML report beside it
(``report.html``, the objective of each trial pictured).
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from pathlib import Path

from orchestration import files, specs
from orchestration.backends.base import (
    COMPLETED,
    JobFailed,
    TrialResult,
    TuningJobResult,
    TuningJobSpec,
)
from orchestration.lifecycle import Project, Say
from orchestration.reports import tuning_html
from orchestration.times import iso
from orchestration.tracking import Run, TuningJobRecord, code_revision

TUNING_JOB_NAME_MAX_LENGTH = 32  # SageMaker's limit; trials add -NNN-<token>


def tuning_job_name(project: str, now: datetime | None = None) -> str:
    """A unique tuning job name SageMaker accepts: 32 characters at most."""
    moment = (now or datetime.now(UTC)).strftime("%y%m%d-%H%M%S")
    unique = f"{moment}-{secrets.token_hex(2)}"
    head = f"{project}-tune"[: TUNING_JOB_NAME_MAX_LENGTH - len(unique) - 1]
    return f"{head.rstrip('-')}-{unique}"


def tune(p: Project, progress: Say | None = None) -> TuningJobResult:
    """Run the tuning job; its best trial becomes the last run (`register` next)."""
    prepared = p.need("prepared", "prepare")
    image = p.backend.ensure_image()
    name = tuning_job_name(p.config.project)
    training = specs.training(
        p.config, name, image, prepared["channels"], p.backend.location("training")
    )
    spec = specs.tuning(p.config, name, training)
    p.say(
        f"tuning job {name} on {p.backend.name}: {spec.strategy} search over "
        f"{', '.join(r.name for r in spec.ranges)}, {spec.max_jobs} trial(s) at most, "
        f"{spec.max_parallel_jobs} at a time; {spec.objective_type} {spec.objective_metric}"
    )
    started = iso(datetime.now(UTC))
    result = p.backend.run_tuning_job(spec, progress or _quiet)
    _track(p, spec, result, started, image, prepared["data_hashes"])
    for line in trials_table(spec, result):
        p.say(f"  {line}")
    folder = _write_reports(p, spec, result)
    p.say(f"  trials: {folder / 'trials.json'}; report: {folder / 'report.html'}")
    best = result.best
    if result.status != COMPLETED or best is None:
        raise JobFailed(
            f"tuning job {name} {result.status}: {result.failure_reason}",
            result.failure_reason,
        )
    p.say(
        f"  best: {best.job_name} ({spec.objective_metric}={best.objective_value:.4g}); "
        f"`register` registers it"
    )
    p.save(
        last_run=best.job_name,
        tuning={"name": name, "best": best.job_name, "folder": str(folder)},
    )
    return result


def _quiet(line: str) -> None:
    """Progress nobody asked to see (--quiet)."""


def _track(
    p: Project,
    spec: TuningJobSpec,
    result: TuningJobResult,
    started: str,
    image: str,
    data_hashes: dict[str, str],
) -> None:
    """Every trial as a run of the tuning job, then the tuning job itself; in
    MLflow too when configured, the trials nested under the tuning job."""
    digest, revision = p.backend.image_digest(), code_revision()
    for trial in result.trials:
        p.tracker.record(
            Run(
                run_id=trial.job_name,
                project=p.config.project,
                job_name=trial.job_name,
                backend=p.backend.name,
                status=trial.status,
                # Trials report no start of their own: the tuning job's.
                started_at=started,
                duration_seconds=round(trial.duration_seconds, 3),
                hyperparameters={
                    **spec.training.hyperparameters,
                    **trial.hyperparameters,
                },
                metrics=dict(trial.metrics),
                data_hashes=data_hashes,
                image=image,
                image_digest=digest,
                code_revision=revision,
                model_artifact=trial.model_artifact,
                failure_reason=trial.failure_reason,
                tuning_job=spec.tuning_job_name,
            )
        )
    job = p.tracker.record_tuning_job(
        TuningJobRecord(
            tuning_job=spec.tuning_job_name,
            project=p.config.project,
            backend=p.backend.name,
            status=result.status,
            started_at=started,
            strategy=spec.strategy,
            objective_metric=spec.objective_metric,
            objective_type=spec.objective_type,
            searched=tuple(r.name for r in spec.ranges),
            best_run=result.best_job_name,
            failure_reason=result.failure_reason,
        )
    )
    if p.config.tracking is not None:
        from orchestration import mlflow_runs

        mlflow_runs.log_tuning_job(
            p.config.tracking,
            p.backend,
            job,
            p.tracker.trials(job.tuning_job),
            p.say,
            p.tracker.set_mlflow_run,
        )


def trials_table(spec: TuningJobSpec, result: TuningJobResult) -> list[str]:
    """The trials as aligned text: job, searched values, objective, status."""
    names = [r.name for r in spec.ranges]
    header = ["training job", *names, spec.objective_metric, "status"]
    rows = [
        [
            trial.job_name,
            *(trial.hyperparameters.get(n, "") for n in names),
            _value(trial),
            trial.status
            + (" (best)" if trial.job_name == result.best_job_name else ""),
        ]
        for trial in result.trials
    ]
    widths = [
        max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))
    ]
    return [
        "  ".join(
            str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)
        ).rstrip()
        for row in [header, *rows]
    ]


def _value(trial: TrialResult) -> str:
    return "-" if trial.objective_value is None else f"{trial.objective_value:.4g}"


def _write_reports(p: Project, spec: TuningJobSpec, result: TuningJobResult) -> Path:
    folder = p.config.state_dir / "tuning" / spec.tuning_job_name
    document = {
        "tuning_job": spec.tuning_job_name,
        "backend": p.backend.name,
        "strategy": spec.strategy,
        "objective": {"metric": spec.objective_metric, "type": spec.objective_type},
        "ranges": [vars(r) for r in spec.ranges],
        "max_jobs": spec.max_jobs,
        "max_parallel_jobs": spec.max_parallel_jobs,
        "early_stopping": spec.early_stopping,
        "random_seed": spec.random_seed,
        **result.to_dict(),
    }
    files.write_json(folder / "trials.json", document)
    files.write_text(folder / "report.html", tuning_html(document))
    return folder

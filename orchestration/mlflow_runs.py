"""Tracked runs, also logged to MLflow when the config sets `tracking.mlflow_uri`.

The project's SQLite table (`orchestration.tracking`) stays the record every
step reads; MLflow is where people look at runs side by side. Each run
becomes an MLflow run named after its training job: hyperparameters as
params, metrics as metrics, the data hashes, image and digest and code
revision as tags (the revision also as MLflow's own `mlflow.source.git.commit`),
and the bundle's model.json and the job's evaluation (evaluation.json,
metrics.json, report.html) as artifacts. A training job that searched
hyperparameters itself gets one nested run per candidate; a tuning job is a
parent run with one nested run per trial.

Nothing here may stop a step: MLflow missing, a server that does not answer
or a refused request is one warning line, and the run stays recorded
locally. MLflow is imported only here, and only when configured, so the CLI
runs without it.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from container.contract.errors import ByocError
from orchestration import training_outputs
from orchestration.backends.base import COMPLETED, FAILED, STOPPED
from orchestration.config import MLFLOW_TRACKING_SERVER_ARN, TrackingConfig
from orchestration.tracking import Run, TuningJobRecord
from orchestration.training_outputs import TrainingOutputs

Say = Callable[[str], None]
TAG = "sklearn_byoc."  # the prefix of this project's tags
PARENT_RUN_TAG = "mlflow.parentRunId"  # what makes a run nested in MLflow's UI
GIT_COMMIT_TAG = "mlflow.source.git.commit"
SAGEMAKER_PLUGIN = "sagemaker-mlflow"
# Our statuses (SageMaker's) as MLflow's RunStatus names them.
MLFLOW_STATUS = {COMPLETED: "FINISHED", FAILED: "FAILED", STOPPED: "KILLED"}
# A tracking server that does not answer must not hold a step for minutes
# (MLflow's defaults retry 7 times with backoff): two tries, 10 s each,
# unless the environment says otherwise.
HTTP_DEFAULTS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "10",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
}
# MLflow 3 keeps its file store (file:///path) in maintenance mode and refuses
# it unless asked; a URI the config names explicitly is that request.
ALLOW_FILE_STORE = "MLFLOW_ALLOW_FILE_STORE"
TRACKING_URI = "MLFLOW_TRACKING_URI"


class MlflowUnavailable(ByocError):
    """MLflow (or the plugin a tracking URI needs) is not installed here."""

    code = "mlflow_unavailable"


@dataclass(frozen=True)
class LoggedRun:
    """Where a run went in MLflow."""

    run_id: str
    experiment_id: str
    experiment: str
    tracking_uri: str

    def where(self) -> str:
        return f"MLflow run {self.run_id} in experiment {self.experiment} (id {self.experiment_id}) at {self.tracking_uri}"


def client_for(settings: TrackingConfig) -> Any:
    """An MlflowClient on the configured tracking URI, or why there is none."""
    uri = settings.mlflow_uri
    if MLFLOW_TRACKING_SERVER_ARN.fullmatch(uri) and not _installed("sagemaker_mlflow"):
        raise MlflowUnavailable(
            f"tracking.mlflow_uri names a SageMaker MLflow tracking server, which MLflow reaches through the {SAGEMAKER_PLUGIN} plugin: pip install {SAGEMAKER_PLUGIN} (or the project's `orchestration` extra)"
        )
    if not _installed("mlflow"):
        raise MlflowUnavailable(
            "tracking.mlflow_uri is set but MLflow is not installed: pip install mlflow-skinny (or the project's `orchestration` extra)"
        )
    from mlflow.tracking import MlflowClient

    # MLflow logs lines of its own on stderr (database migrations, plugins'
    # complaints about URIs not theirs); what matters is said here, once.
    # After the import, which sets MLflow's own levels.
    logging.getLogger("mlflow").setLevel(logging.ERROR)
    return MlflowClient(tracking_uri=uri)


@contextmanager
def mlflow_environment(settings: TrackingConfig) -> Iterator[None]:
    """MLflow's settings for one logging, unless the environment has its own;
    restored afterwards, so nothing else in the process sees them."""
    defaults = dict(HTTP_DEFAULTS)
    uri = settings.mlflow_uri
    if uri.startswith("file:"):
        defaults[ALLOW_FILE_STORE] = "true"
    settings_now = {name: os.environ.get(name) for name in (*defaults, TRACKING_URI)}
    for name, value in defaults.items():
        os.environ.setdefault(name, value)
    if MLFLOW_TRACKING_SERVER_ARN.fullmatch(uri):
        # sagemaker-mlflow signs requests for the process's tracking URI
        # (mlflow.get_tracking_uri), not for the client's: both must be the ARN.
        os.environ[TRACKING_URI] = uri
    try:
        yield
    finally:
        for name, value in settings_now.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


class MlflowLog:
    """Runs of one experiment, logged through one client."""

    def __init__(self, settings: TrackingConfig, client: Any | None = None):
        self.settings = settings
        self.client = client or client_for(settings)
        self.experiment_id = self._experiment()

    def _experiment(self) -> str:
        name = self.settings.experiment
        found = self.client.get_experiment_by_name(name)
        if found is not None:
            return found.experiment_id
        return self.client.create_experiment(
            name, artifact_location=artifact_location(self.settings)
        )

    def logged(self, run_id: str) -> LoggedRun:
        return LoggedRun(
            run_id,
            self.experiment_id,
            self.settings.experiment,
            self.settings.mlflow_uri,
        )

    def log_run(
        self, run: Run, outputs: TrainingOutputs, parent: str | None = None
    ) -> LoggedRun:
        """`run` as an MLflow run (nested under `parent`), its search nested in it."""
        tags = run_tags(run)
        if parent:
            tags[PARENT_RUN_TAG] = parent
        started = _millis(run.started_at)
        created = self.client.create_run(
            self.experiment_id, start_time=started, tags=tags, run_name=run.job_name
        )
        mlflow_id = created.info.run_id
        try:
            self._batch(mlflow_id, params=run.hyperparameters, metrics=run.metrics)
            with _files(outputs.files) as folder:
                for sub in sorted(p for p in folder.iterdir() if p.is_dir()):
                    self.client.log_artifacts(mlflow_id, str(sub), sub.name)
            search = outputs.search
            if search:
                self._log_search(mlflow_id, run, search, started)
        except Exception:
            # Not left RUNNING in MLflow's UI forever: marked failed, then said.
            self._abandon(mlflow_id)
            raise
        self.client.set_terminated(
            mlflow_id,
            MLFLOW_STATUS.get(run.status, "FAILED"),
            _ended(started, run.duration_seconds),
        )
        return self.logged(mlflow_id)

    def log_tuning_job(
        self,
        job: TuningJobRecord,
        trials: list[tuple[Run, TrainingOutputs]],
    ) -> tuple[LoggedRun, list[LoggedRun]]:
        """The tuning job as a parent run, each trial nested under it."""
        started = _millis(job.started_at)
        created = self.client.create_run(
            self.experiment_id,
            start_time=started,
            run_name=job.tuning_job,
            tags={
                f"{TAG}project": job.project,
                f"{TAG}backend": job.backend,
                f"{TAG}tuning_job": job.tuning_job,
                f"{TAG}status": job.status,
                f"{TAG}best_training_job": job.best_run or "",
                **(
                    {f"{TAG}failure_reason": job.failure_reason}
                    if job.failure_reason
                    else {}
                ),
            },
        )
        parent = created.info.run_id
        try:
            best = next((r for r, _ in trials if r.run_id == job.best_run), None)
            value = best.metrics.get(job.objective_metric) if best else None
            self._batch(
                parent,
                params={
                    "strategy": job.strategy,
                    "objective_metric": job.objective_metric,
                    "objective_type": job.objective_type,
                    "searched": ",".join(job.searched),
                    "trials": str(len(trials)),
                },
                metrics={f"best:{job.objective_metric}": value}
                if value is not None
                else {},
            )
            nested = [
                self.log_run(run, outputs, parent=parent) for run, outputs in trials
            ]
        except Exception:
            self._abandon(parent)
            raise
        self.client.set_terminated(parent, MLFLOW_STATUS.get(job.status, "FAILED"))
        return self.logged(parent), nested

    def _log_search(
        self, parent: str, run: Run, search: dict[str, Any], started: int
    ) -> None:
        """Each candidate of the training job's own search, as a run nested in it."""
        scoring = search.get("scoring") or "score"
        for number, trial in enumerate(search.get("trials") or [], start=1):
            child = self.client.create_run(
                self.experiment_id,
                start_time=started,
                run_name=f"{run.job_name}-search-{number}",
                tags={
                    PARENT_RUN_TAG: parent,
                    f"{TAG}training_job": run.job_name,
                    f"{TAG}search_strategy": str(search.get("strategy", "")),
                    f"{TAG}search_rank": str(trial.get("rank", "")),
                },
            )
            metrics = {
                f"cv:{scoring}:mean": trial.get("mean_score"),
                f"cv:{scoring}:std": trial.get("std_score"),
                "cv:mean_fit_seconds": trial.get("mean_fit_seconds"),
            }
            self._batch(
                child.info.run_id,
                params={k: str(v) for k, v in (trial.get("params") or {}).items()},
                metrics={k: v for k, v in metrics.items() if v is not None},
            )
            self.client.set_terminated(child.info.run_id, "FINISHED")

    def _abandon(self, run_id: str) -> None:
        # If the server went away this fails too: the warning says why.
        with suppress(Exception):
            self.client.set_terminated(run_id, "FAILED")

    def _batch(
        self, run_id: str, params: dict[str, str], metrics: dict[str, float]
    ) -> None:
        from mlflow.entities import Metric, Param

        now = _millis(None)
        self.client.log_batch(
            run_id,
            metrics=[Metric(k, float(v), now, 0) for k, v in sorted(metrics.items())],
            params=[Param(k, str(v)) for k, v in sorted(params.items())],
        )


def run_tags(run: Run) -> dict[str, str]:
    """What went into the run, as tags: job, status, data, image, code."""
    facts: dict[str, str | None] = {
        "project": run.project,
        "run_id": run.run_id,
        "training_job": run.job_name,
        "backend": run.backend,
        "status": run.status,
        "image": run.image,
        "image_digest": run.image_digest,
        "code_revision": run.code_revision,
        "model_artifact": run.model_artifact,
        "tuning_job": run.tuning_job,
        "failure_reason": run.failure_reason,
        **{f"data.{k}.sha256": v for k, v in sorted(run.data_hashes.items())},
    }
    tags = {f"{TAG}{k}": v for k, v in facts.items() if v}
    if run.code_revision:
        tags[GIT_COMMIT_TAG] = run.code_revision.removesuffix("-dirty")
    return tags


def artifact_location(settings: TrackingConfig) -> str | None:
    """Where a new experiment keeps artifacts: as configured; beside an sqlite file.

    MLflow's own default for a database store is ./mlruns under whatever
    folder the command ran in; next to the database keeps them together.
    """
    if settings.artifact_location:
        return settings.artifact_location
    prefix = "sqlite:///"
    if settings.mlflow_uri.startswith(prefix):
        database = Path(unquote(settings.mlflow_uri[len(prefix) :]))
        return (database.parent.resolve() / "mlartifacts").as_uri()
    return None


@contextmanager
def _files(files: dict[str, bytes]) -> Iterator[Path]:
    """`files` (path -> bytes) written under a scratch folder, to log from."""
    with tempfile.TemporaryDirectory(prefix="mlflow-artifacts-") as scratch:
        root = Path(scratch)
        for name, content in files.items():
            path = root / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)
        yield root


def _millis(iso_time: str | None) -> int:
    moment = (
        datetime.fromisoformat(iso_time) if iso_time else datetime.now().astimezone()
    )
    return int(moment.timestamp() * 1000)


def _ended(started: int, duration_seconds: float | None) -> int | None:
    if duration_seconds is None:
        return None
    return started + int(duration_seconds * 1000)


# --- what the steps call: never raises, says one line either way ------------------
def log_training_run(
    settings: TrackingConfig | None,
    backend: Any,
    run: Run,
    say: Say,
    record: Callable[[str, str], None] | None = None,
) -> LoggedRun | None:
    """Log `run` to MLflow if configured; say where, or warn why not.

    `record(run_id, mlflow_run_id)` keeps the MLflow id with the local run.
    """
    if settings is None:
        return None
    with _warned(say, f"run {run.run_id}") as done, mlflow_environment(settings):
        log = MlflowLog(settings)
        logged = log.log_run(run, _outputs(backend, run, say))
        done(logged)
    if record and done.logged:
        record(run.run_id, done.logged.run_id)
    return done.logged


def log_tuning_job(
    settings: TrackingConfig | None,
    backend: Any,
    job: TuningJobRecord,
    trials: list[Run],
    say: Say,
    record: Callable[[str, str], None] | None = None,
) -> LoggedRun | None:
    """Log a tuning job and its trials to MLflow if configured."""
    if settings is None:
        return None
    with (
        _warned(say, f"tuning job {job.tuning_job}") as done,
        mlflow_environment(settings),
    ):
        log = MlflowLog(settings)
        parent, nested = log.log_tuning_job(
            job, [(run, _outputs(backend, run, say)) for run in trials]
        )
        done(parent)
    if done.logged is not None:
        say(f"  {len(trials)} trial(s) nested under it")
        if record:
            for run, child in zip(trials, nested, strict=True):
                record(run.run_id, child.run_id)
    return done.logged


def _outputs(backend: Any, run: Run, say: Say) -> TrainingOutputs:
    if run.status != COMPLETED:
        return TrainingOutputs({})
    outputs = training_outputs.read(backend, run.model_artifact)
    for missing in outputs.missing:
        say(f"  MLflow: {run.run_id} logged without {missing}")
    return outputs


class _Outcome:
    def __init__(self) -> None:
        self.logged: LoggedRun | None = None

    def __call__(self, logged: LoggedRun) -> None:
        self.logged = logged


@contextmanager
def _warned(say: Say, what: str) -> Iterator[_Outcome]:
    """Say where `what` was logged; any failure becomes one warning line."""
    outcome = _Outcome()
    try:
        yield outcome
    except Exception as exc:  # MLflow raises many kinds; none may stop a step
        outcome.logged = None
        say(
            f"  warning: {what} was not logged to MLflow ({_one_line(exc)}); it is recorded locally (`runs list`)"
        )
        return
    if outcome.logged is not None:
        say(f"  {outcome.logged.where()}")


def _one_line(exc: Exception) -> str:
    text = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    return " ".join(str(text).split())

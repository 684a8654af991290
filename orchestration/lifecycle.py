"""The lifecycle's steps, backend-agnostic: prepare → train → baseline → register
→ approve → deploy → predict → monitor → alert → teardown.

Each step is a function of a `Project` (config, backend, registry, tracker,
alerts and a `say` callback for progress) that says what it did and records
what later steps need in ``<state_dir>/<project>.lifecycle.json``, so the CLI
can run one step per invocation and pick up where it left off. `run` chains
them the way the demo does.
"""

from __future__ import annotations

import json
import secrets
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from container.contract.errors import ByocError
from orchestration import dataprep, files, quality, registry, specs, traffic
from orchestration.alerts import Alert, LocalAlerts, MonitoringOutcome, evaluate
from orchestration.backends import get_backend
from orchestration.backends.base import (
    COMPLETED,
    IN_SERVICE,
    STOPPED,
    Backend,
    BackendError,
    CaptureFound,
    EndpointInfo,
    EndpointSpec,
    JobFailed,
    ProcessingJobResult,
    ProcessingJobSpec,
    ResourceNotFound,
    UpdateRolledBack,
    join_location,
)
from orchestration.config import ProjectConfig
from orchestration.names import NAME_MAX_LENGTH
from orchestration.reports import run_summary_html
from orchestration.times import iso, parse_utc, stamp
from orchestration.tracking import Run, Tracker, code_revision, tuning_lineage

Say = Callable[[str], None]
CHANNELS = specs.CHANNELS


class LifecycleError(ByocError):
    """A step cannot run yet (an earlier step is missing) or its job failed."""

    code = "lifecycle_error"


class NoCapturedTraffic(JobFailed):
    """A monitoring window holds no captured traffic; no job was started.

    A `JobFailed`, so the schedule reports such a window as a failed
    execution and goes on, as SageMaker's does.
    """

    code = "no_captured_traffic"

    def __init__(self, message: str):
        super().__init__(message, message)


@dataclass
class Project:
    config: ProjectConfig
    backend: Backend
    registry: registry.ModelRegistry
    tracker: Tracker
    alerts: LocalAlerts
    say: Say = print
    state: dict[str, Any] = field(default_factory=dict)

    @property
    def state_file(self) -> Path:
        return self.config.state_dir / f"{self.config.project}.lifecycle.json"

    def load_state(self) -> None:
        self.state = (
            json.loads(self.state_file.read_text()) if self.state_file.is_file() else {}
        )

    def save(self, **updates: Any) -> None:
        """Merge `updates` into the lifecycle state and write it atomically."""
        self.state.update(updates)
        files.write_json(self.state_file, self.state)

    def need(self, key: str, step: str) -> Any:
        if key not in self.state:
            raise LifecycleError(
                f"nothing to use from `{step}` yet: run `python -m orchestration {step}` first"
            )
        return self.state[key]

    @contextmanager
    def exclusive(self, step: str) -> Iterator[None]:
        """Hold the state folder's lock for `step`, then re-read the state.

        A second command doing the same waits, and then sees what the first
        recorded (the endpoint it deployed) rather than what was there before.
        """
        with files.exclusive(self.config.state_dir, f"`{step}`", self.say):
            self.load_state()
            yield


def open_project(
    config: ProjectConfig, say: Say = print, backend: Backend | None = None
) -> Project:
    """Build the backend, registry, tracker and alerts the config asks for."""
    backend = backend or get_backend(config.backend, config)
    project = Project(
        config,
        backend,
        backend.registry(),
        Tracker(config.state_dir),
        LocalAlerts(config.state_dir, config.alerts, say),
        say,
    )
    project.load_state()
    return project


def unique_name(head: str, unique: str) -> str:
    """`head-unique` in at most 63 characters: `head` is cut, never `unique`."""
    return f"{head}-"[: NAME_MAX_LENGTH - len(unique)] + unique


def job_name(project: Project, kind: str) -> str:
    """A SageMaker-valid, unique job name (63 characters at most).

    A millisecond stamp alone is not unique: two jobs of one kind can start in
    the same millisecond (a schedule catching up on windows), so a random token
    follows it, and a long project name is cut rather than the unique part.
    """
    return unique_name(
        f"{project.config.project}-{kind}", f"{stamp()}-{secrets.token_hex(4)}"
    )


# --- prepare ---------------------------------------------------------------------
def prepare(
    p: Project, as_job: bool = False, progress: Say | None = None
) -> dataprep.PreparedData:
    """The splits, made in process, or by the image as a processing job over
    the ingested raw data (`as_job`: the pipeline's first step, run alone)."""
    if as_job:
        return _prepare_as_job(p, progress)
    data = dataprep.prepare(p.config.data)
    _prepared(p, data, channels=None)
    return data


def _prepare_as_job(p: Project, progress: Say | None) -> dataprep.PreparedData:
    from orchestration import ingest

    raw = ingest.ingest(p)  # nothing is uploaded when this version is there
    name = job_name(p, "prepare")
    output = p.backend.location("prepare", name)
    spec = specs.preparation(
        p.config, name, p.backend.ensure_image(), raw.location, output
    )
    p.say(
        f"prepare job {name} on {p.backend.name}, over raw data version {raw.version}"
    )
    result, local = _run_processing(p, spec, "prepare", progress)
    p.say(f"  {result.exit_message or result.status}")
    data = dataprep.load_prepared(local / specs.PREPARED_OUTPUT)
    prefix = join_location(output, specs.PREPARED_OUTPUT)
    channels = {
        name: join_location(prefix, name) for name in (*CHANNELS, dataprep.BASELINE_DIR)
    }
    _prepared(p, data, channels)
    return data


def _prepared(
    p: Project, data: dataprep.PreparedData, channels: dict[str, str] | None
) -> None:
    """Say what `prepare` made and remember it (the channels: on the backend)."""
    m = data.manifest
    rows = ", ".join(f"{k} {m['files'][k]['rows']}" for k in CHANNELS)
    p.say(
        f"prepared {m['raw']['rows']} raw rows → {rows} ({m['problem_type']}, "
        f"{split_description(m['split'])}, seed {m['split']['seed']}); rejected "
        f"{m['rejected_rows']}; Ground Truth labels joined: "
        f"{m['annotations'].get('joined', 0)}"
    )
    if channels is None:
        channels = {
            name: p.backend.upload_data(data.split_dir(name), f"data/processed/{name}")
            for name in (*CHANNELS, dataprep.BASELINE_DIR)
        }
    p.save(
        prepared={
            "folder": str(data.folder),
            "channels": channels,
            "data_hashes": data.data_hashes,
            "raw_sha256": m["raw"]["sha256"],
            "problem_type": m["problem_type"],
        },
        # The drift alarm on AWS watches one metric per feature.
        features=list(m["schema"]["features"]),
    )
    p.say(f"  data in {data.folder} (manifest.json, validation_report.json)")


def split_description(split: dict[str, Any]) -> str:
    """How the manifest says the rows were split, in a few words."""
    strategy = split.get("strategy", "stratified")
    column = {
        "stratified": split.get("stratify"),
        "group": split.get("group_column"),
        "time": split.get("time_column"),
    }.get(strategy)
    by = {"stratified": "on", "group": "by", "time": "ordered by"}.get(strategy)
    return f"{strategy} split" + (f" {by} {column}" if column else "")


# --- train -------------------------------------------------------------------------
def train(p: Project, progress: Say | None = None) -> Run:
    prepared = p.need("prepared", "prepare")
    image = p.backend.ensure_image()
    name = job_name(p, "train")
    cfg = p.config.training
    spec = specs.training(
        p.config, name, image, prepared["channels"], p.backend.location("training")
    )
    p.say(
        f"training job {name} on {p.backend.name} ({cfg.hyperparameters.get('algorithm')})"
    )
    started = iso(datetime.now(UTC))
    result = p.backend.run_training_job(spec, progress or quiet)
    run = p.tracker.record(
        Run(
            run_id=name,
            project=p.config.project,
            job_name=name,
            backend=p.backend.name,
            status=result.status,
            started_at=started,
            duration_seconds=round(result.duration_seconds, 3),
            hyperparameters=dict(cfg.hyperparameters),
            metrics=result.metrics,
            data_hashes=prepared["data_hashes"],
            image=image,
            image_digest=p.backend.image_digest(),
            code_revision=code_revision(),
            model_artifact=result.model_artifact,
            failure_reason=result.failure_reason,
        )
    )
    log_to_mlflow(p, run)
    if result.status != COMPLETED:
        raise JobFailed(
            f"training job {name} {result.status}: {result.failure_reason}",
            result.failure_reason,
        )
    shown = ", ".join(
        f"{k}={v:.4g}"
        for k, v in sorted(result.metrics.items())
        if k.startswith(("validation:", "test:"))
    )
    p.say(f"  {result.status} in {result.duration_seconds:.1f} s: {shown}")
    p.say(f"  model: {result.model_artifact}")
    p.save(last_run=run.run_id)
    return run


def quiet(line: str) -> None:
    """Progress nobody asked to see (--quiet)."""


def log_to_mlflow(p: Project, run: Run) -> None:
    """Also log the recorded run to MLflow when `tracking.mlflow_uri` is set;
    a failure there is a warning, never the step's."""
    if p.config.tracking is None:
        return
    from orchestration import mlflow_runs

    mlflow_runs.log_training_run(
        p.config.tracking, p.backend, run, p.say, p.tracker.set_mlflow_run
    )


# --- register / approve ---------------------------------------------------------------
def register(p: Project) -> registry.ModelVersion:
    run_id = p.need("last_run", "train")
    run = p.tracker.get(run_id)
    group = p.config.registry.model_group
    lineage = {
        "run_id": run.run_id,
        "training_job": run.job_name,
        "data_hashes": run.data_hashes,
        "image_digest": run.image_digest,
        "code_revision": run.code_revision,
        "raw_sha256": p.state.get("prepared", {}).get("raw_sha256"),
    }
    tuned = tuning_lineage(p.tracker, run)  # a trial of `tune`: the whole search
    if tuned:
        lineage["tuning_job"] = tuned
    pipeline = p.state.get("pipeline_run") or {}
    if pipeline.get("run_id") == run.run_id:  # trained by `pipeline run --local`
        lineage["pipeline"] = {k: v for k, v in pipeline.items() if k != "run_id"}
    ingested = p.state.get("ingested") or {}
    raw_file = ingested.get("files", {}).get("raw", {})
    if raw_file.get("sha256") == lineage["raw_sha256"]:
        lineage["raw_data"] = ingested  # where `ingest` put these very raw files
    measured = _measured_quality(p, run)
    model_metrics = (
        registry.model_quality_metrics(
            measured["statistics"], measured.get("constraints")
        )
        if measured
        else None
    )
    version = p.registry.register(
        group,
        run.model_artifact or "",
        run.image or "",
        run.metrics,
        lineage,
        model_metrics,
    )
    p.say(f"registered {group} version {version.version} from run {run.run_id}")
    if measured:
        p.say(f"  model quality: the baseline of job {measured['job']}")
    else:
        p.say(
            f"  no model-quality baseline of run {run.run_id} to record with the version (`baseline` before `register` takes one)"
        )
    rule = p.config.registry.auto_approval
    if rule is not None:
        approved = registry.latest(p.registry, group, registry.APPROVED)
        decision, reason = registry.auto_approval(rule, version, approved)
        version = p.registry.set_approval(group, version.version, decision, reason)
        p.say(f"  {decision}: {reason}")
    p.save(last_version=version.version, registered_run=run.run_id)
    return version


def _measured_quality(p: Project, run: Run) -> dict[str, Any] | None:
    """The model-quality baseline `baseline` took of `run`'s model, if any.

    SageMaker takes a version's ModelMetrics only when the version is
    created, so the baseline has to come first: `baseline` measures the
    trained model until it is registered (see `_baseline_model`).
    """
    measured = (p.state.get("baseline") or {}).get("quality")
    if not measured or not measured.get("statistics"):
        return None
    if measured.get("run_id") != run.run_id:
        return None
    return measured


def approve(
    p: Project, version: int | None = None, reject: bool = False, reason: str = ""
) -> registry.ModelVersion:
    group = p.config.registry.model_group
    number = version if version is not None else p.need("last_version", "register")
    status = registry.REJECTED if reject else registry.APPROVED
    updated = p.registry.set_approval(
        group, number, status, reason or f"{status.lower()} by hand"
    )
    p.say(f"{group} version {number}: {status}")
    return updated


# --- deploy / predict -----------------------------------------------------------------
def deploy(p: Project, version: int | None = None) -> dict[str, Any]:
    """Serve `version` (default: the latest approved) with data capture.

    One deploy at a time per state folder: a second one waits for the
    first, then updates the endpoint the first one made.
    """
    with p.exclusive("deploy"):
        chosen = deployable(p, version)
        group = p.config.registry.model_group
        capture = p.backend.location("capture")
        spec = specs.endpoint(
            p.config,
            unique_name(f"{group}-v{chosen.version}", stamp()),
            chosen.model_artifact,
            chosen.image or p.backend.ensure_image(),
            capture,
        )
        info = _serve(p, spec, chosen.version)
        if info.status != IN_SERVICE:
            raise LifecycleError(
                f"endpoint {spec.endpoint_name} is {info.status}: {info.failure_reason}"
            )
        p.say(
            f"  {info.status} at {info.url or info.endpoint_name}; capturing to {capture}"
        )
        endpoint = {
            "name": spec.endpoint_name,
            "version": chosen.version,
            "capture": capture,
            "url": info.url,
            "invocations": 0,
            "errors": 0,
        }
        p.save(endpoint=endpoint)
    return endpoint


def deployable(p: Project, version: int | None) -> registry.ModelVersion:
    """The version to deploy: `version` if approved, else the latest approved."""
    group = p.config.registry.model_group
    if version is None:
        chosen = registry.latest(p.registry, group, registry.APPROVED)
        if chosen is None:
            versions = [v.version for v in p.registry.list(group)]
            raise LifecycleError(
                f"no approved version in {group}: `approve` one first (versions: {versions})"
            )
        return chosen
    chosen = p.registry.get(group, version)
    if chosen.approval != registry.APPROVED:
        raise LifecycleError(
            f"{group} version {version} is {chosen.approval}: only approved versions are deployed (`approve --version {version}`)"
        )
    return chosen


def _serve(p: Project, spec: EndpointSpec, version: int) -> EndpointInfo:
    """Update the endpoint this project deployed, or create it."""
    group, name = p.config.registry.model_group, spec.endpoint_name
    deployed = p.state.get("endpoint")
    if deployed and deployed.get("name") == name:
        p.say(f"updating endpoint {name} to {group} version {version}")
        try:
            return p.backend.update_endpoint(spec)
        except ResourceNotFound:
            # Deleted outside this tool since the last deploy: create it afresh.
            p.say(f"  endpoint {name} no longer exists; creating it")
        except UpdateRolledBack as exc:
            # The old version still serves, so the recorded endpoint (and what
            # `monitor` compares against) stays on it.
            raise UpdateRolledBack(
                f"{group} version {version} was not deployed, endpoint {name} stays on version {deployed.get('version')}: {exc.message}",
                exc.reason,
            ) from exc
    p.say(f"creating endpoint {name} with {group} version {version}")
    return p.backend.create_endpoint(spec)


def held_out(p: Project) -> pd.DataFrame:
    prepared = p.need("prepared", "prepare")
    table = pd.read_csv(
        Path(prepared["folder"]) / "test" / "test.csv", dtype=str, keep_default_na=False
    )
    return table


def send(
    p: Project, rows: pd.DataFrame, label: str, variant: str | None = None
) -> traffic.TrafficResult:
    """One request per row; counts errors instead of stopping at the first.

    Each request's inference id (`label-<stamp>-<row>`) is unique across
    sends, so ground-truth labels given by id match this traffic only.
    """
    endpoint = p.need("endpoint", "deploy")
    result = traffic.TrafficResult()
    batch = f"{label}-{stamp()}-{secrets.token_hex(2)}"
    for index, (_, row) in enumerate(rows.iterrows()):
        inference_id = f"{batch}-{index}"
        result.inference_ids.append(inference_id)
        try:
            body = p.backend.invoke_endpoint(
                endpoint["name"],
                traffic.csv_line(row),
                "text/csv",
                "text/csv",
                inference_id=inference_id,
                **({"target_variant": variant} if variant else {}),
            )
            result.predictions.append(traffic.first_prediction(body))
        except BackendError as exc:
            result.errors += 1
            result.predictions.append("")
            result.error_messages.append(exc.message)
        result.sent += 1
    endpoint["invocations"] += result.sent
    endpoint["errors"] += result.errors
    p.save(endpoint=endpoint)
    return result


def predict(
    p: Project,
    drifted: bool = False,
    limit: int | None = None,
    variant: str | None = None,
) -> tuple[traffic.TrafficResult, tuple[str, str]]:
    """Send the held-out rows (or a drifted copy); returns result and time window.

    With `variant`, every request targets that production variant.
    """
    table = held_out(p)
    target = p.config.target
    features = table.drop(columns=[target])
    if drifted:
        features = traffic.drift(features, p.config.monitoring.drift)
    if limit is not None:
        features, table = features.head(limit), table.head(limit)
    # Capture times have one-second resolution: keep windows a whole second apart.
    time.sleep(max(0.0, 1.05 - (time.time() % 1)))
    start = iso(datetime.now(UTC))
    label = "drifted" if drifted else "held-out"
    result = send(p, features, label, variant)
    end = iso(datetime.now(UTC) + timedelta(seconds=1))
    time.sleep(max(0.0, 1.05 - (time.time() % 1)))
    problem = p.state["prepared"].get("problem_type", "classification")
    shown = "" if drifted else result.quality_text(table[target].tolist(), problem)
    p.say(
        f"sent {result.sent} {label} requests to {p.state['endpoint']['name']}: {result.errors} errors{shown}; e.g. {result.predictions[:3]}"
    )
    labels = quality.write_labels(
        p.config.state_dir / "labels" / f"{label}.csv",
        zip(result.inference_ids, table[target].tolist(), strict=True),
    )
    p.say(f"  their true labels: {labels} (`ground-truth --labels {labels}`)")
    p.save(**{f"window_{label}": [start, end], f"labels_{label}": str(labels)})
    return result, (start, end)


# --- ground truth ---------------------------------------------------------------------
def ground_truth(
    p: Project, labels: Path, name: str | None = None, collected: datetime | None = None
) -> Path | str:
    """Labels for captured inferences, as Model Monitor's ground-truth records.

    `labels` is a CSV (`inference_id,label`) or JSON Lines file; the records
    go to ``groundtruth/yyyy/mm/dd/hh/<name>.jsonl`` under the backend's
    location, in the hour they were collected (now, UTC), where `monitor`
    (locally) or the model-quality schedule (on SageMaker) reads them. On a
    backend whose location is S3 the file is written to a scratch folder and
    uploaded to the same key; the returned location is then an s3:// URI.
    """
    root = p.backend.location("groundtruth")
    pairs = quality.read_labels(labels)
    collected = collected or datetime.now(UTC)
    name = name or f"labels-{stamp(collected)}-{secrets.token_hex(2)}"
    if "://" not in root:
        written: Path | str = quality.write_ground_truth(
            Path(root), pairs, collected, name
        )
    else:
        with tempfile.TemporaryDirectory() as scratch:
            local = quality.write_ground_truth(Path(scratch), pairs, collected, name)
            p.backend.upload_data(Path(scratch), root)
            written = join_location(root, local.relative_to(scratch).as_posix())
    p.say(f"{len(pairs)} ground-truth label(s) from {labels} → {written}")
    return written


# --- baseline / monitor ---------------------------------------------------------------
def baseline(p: Project, progress: Say | None = None) -> str:
    prepared = p.need("prepared", "prepare")
    name = job_name(p, "baseline")
    output = p.backend.location("baseline", name)
    spec = specs.baseline(
        p.config,
        name,
        p.backend.ensure_image(),
        prepared["channels"][dataprep.BASELINE_DIR],
        output,
    )
    p.say(f"baseline job {name} on the training features")
    result, local = _run_processing(p, spec, "baseline", progress)
    p.say(f"  {result.exit_message or result.status}")
    p.say(f"  statistics.json and constraints.json in {local}")
    record: dict[str, Any] = {"job": name, "location": output, "local": str(local)}
    record["quality"] = _quality_baseline(p, progress)
    p.save(baseline=record)
    return output


def _baseline_model(p: Project) -> registry.ModelVersion | Run | None:
    """The model whose quality is baselined: the last trained one until it is
    registered (its version then records the baseline), else the deployed one,
    else the last trained."""
    last_run = p.state.get("last_run")
    if last_run is not None and not _registered(p, last_run):
        return p.tracker.get(last_run)
    endpoint = p.state.get("endpoint")
    if endpoint and endpoint.get("version") is not None:
        return p.registry.get(p.config.registry.model_group, endpoint["version"])
    if last_run is not None:
        return p.tracker.get(last_run)
    return None


def _registered(p: Project, run_id: str) -> bool:
    """Whether `register` registered that run (the last one it registered).

    A state from before `registered_run` was recorded says a version was
    registered (`last_version`) and not which: taken as the last run's.
    """
    if "registered_run" in p.state:
        return p.state["registered_run"] == run_id
    return "last_version" in p.state


def _local_artifact(p: Project, artifact: str, folder: Path) -> Path:
    """model.tar.gz on this machine: where it is, or fetched from the backend."""
    if Path(artifact).exists():
        return Path(artifact)
    fetched = p.backend.fetch(artifact, folder)
    found = sorted(Path(fetched).rglob("model.tar.gz"))
    return found[0] if found else Path(fetched)


def _quality_baseline(p: Project, progress: Say | None) -> dict[str, Any] | None:
    """The model-quality baseline: the model's metrics on the validation split.

    The model predicts the validation rows in this process (as the server
    would, so no request reaches the endpoint or its capture); the image's
    `baseline` with analysis_type=MODEL_QUALITY measures those predictions
    against the labels and suggests constraints. Without a trained model,
    or with one that cannot be loaded here, it is skipped and says why.
    """
    model = _baseline_model(p)
    if model is None or not model.model_artifact:
        p.say("  model-quality baseline skipped: no trained model yet (`train`)")
        return None
    name = job_name(p, "quality-baseline")
    work = p.config.state_dir / "quality" / name
    validation = Path(p.state["prepared"]["folder"]) / "validation" / "validation.csv"
    table = pd.read_csv(validation, dtype=str, keep_default_na=False)
    try:
        artifact = _local_artifact(p, model.model_artifact, work / "model")
        predicted, problem = quality.validation_predictions(artifact, table)
    except ByocError as exc:
        p.say(f"  model-quality baseline skipped: {exc.message}")
        return None
    dataset = work / "dataset"
    dataset.mkdir(parents=True, exist_ok=True)
    predicted.to_csv(dataset / "validation_predictions.csv", index=False)
    output = p.backend.location("baseline", name)
    spec = specs.quality_baseline(
        p.config,
        name,
        p.backend.ensure_image(),
        p.backend.upload_data(dataset, f"quality/{name}"),
        output,
        problem,
        quality.PROBABILITY_COLUMN in predicted.columns,
    )
    p.say(
        f"model-quality baseline job {name}: {problem} on {len(predicted)} validation predictions"
    )
    result, local = _run_processing(p, spec, "model-quality baseline", progress)
    p.say(f"  {result.exit_message or result.status}")
    if not _quality_metrics(local):
        # An image older than model quality ignores analysis_type and
        # profiles the two columns as data.
        p.say(
            f"  model-quality baseline skipped: {spec.image} wrote no model-quality metrics; use an image whose `baseline` supports analysis_type=MODEL_QUALITY"
        )
        return None
    record = {
        "job": name,
        "location": output,
        "local": str(local),
        "problem_type": problem,
        "rows": len(predicted),
        # Which model was measured: `register` files the baseline with the
        # version of this run only.
        "run_id": _run_id(model),
        "model_artifact": model.model_artifact,
    }
    record["statistics"] = _baseline_file(record, local, "statistics.json")
    suggested = sorted(local.rglob("constraints.json"))
    if suggested:
        slack = p.config.monitoring.model_quality_slack
        relaxed = quality.relax_constraints(json.loads(suggested[0].read_text()), slack)
        folder = work / "constraints"
        files.write_json(folder / "constraints.json", relaxed)
        where = p.backend.upload_data(folder, f"quality/{name}/constraints")
        record["constraints"] = join_location(where, "constraints.json")
        # What a CloudWatch alarm watches where a scheduler service runs the
        # model-quality monitor (SageMaker): the headline metric's constraint.
        record["alarm"] = quality.alarm_constraint(relaxed, problem)
        p.say(f"  model-quality constraints (slack {slack:g}) in {folder}")
    return record


def _run_id(model: registry.ModelVersion | Run) -> str | None:
    if isinstance(model, Run):
        return model.run_id
    return model.lineage.get("run_id")


def _run_processing(
    p: Project, spec: ProcessingJobSpec, kind: str, progress: Say | None
) -> tuple[ProcessingJobResult, Path]:
    """Run a processing job to the end; its outputs, fetched to the reports folder."""
    result = p.backend.run_processing_job(spec, progress or quiet)
    if result.status != COMPLETED:
        raise _processing_failed(kind, result)
    reports = p.config.state_dir / "reports" / spec.job_name
    return result, p.backend.fetch(spec.output_location, reports)


@dataclass(frozen=True)
class MonitorReport:
    job_name: str
    status: str
    exit_message: str | None
    violations: list[dict[str, str]]
    folder: Path
    alerts: list[Alert]
    # The model-quality part: `status` (Completed, CompletedWithViolations,
    # NoGroundTruth, ...), and when measured `metrics` and `violations`.
    quality: dict[str, Any] = field(default_factory=dict)

    @property
    def report_html(self) -> Path | None:
        return _report_html(self.folder)


def monitor(
    p: Project,
    start: str | None = None,
    end: str | None = None,
    progress: Say | None = None,
    schedule_name: str | None = None,
    wait_for_capture: bool | None = None,
    transform_job: str | None = None,
    variant: str | None = None,
) -> MonitorReport:
    """Monitor [start, end) (default: the last `window_minutes`).

    With `transform_job`, the capture of that batch transform job is
    monitored instead of the endpoint's, over the job's run by default. With
    `variant`, only that production (or shadow) variant's capture, with the
    bundle of the version it serves, against the last model-quality
    baseline's constraints; its outcome is kept per variant for `status`.

    First the backend finds the window's capture. With `wait_for_capture`
    (default: when traffic `predict` sent lies in the window) it waits for
    capture written after the responses, as on AWS, up to the end of that
    traffic. A window without captured traffic fails here, with no job
    started.
    """
    base = p.need("baseline", "baseline")
    if transform_job is None:
        endpoint = _variant_of(p, p.need("endpoint", "deploy"), variant)
    else:
        endpoint = _transformed(p, transform_job)
        start = start or endpoint["window"][0]
        end = end or endpoint["window"][1]
    start, end = _window(p, start, end)
    _require_capture(p, endpoint, start, end, progress or p.say, wait_for_capture)
    name = job_name(p, "monitor")
    local_baseline = Path(base["local"])
    spec = specs.monitor(
        p.config,
        name,
        p.backend.ensure_image(),
        (start, end),
        endpoint["name"],
        endpoint["capture"],
        (
            _baseline_file(base, local_baseline, "statistics.json"),
            _baseline_file(base, local_baseline, "constraints.json"),
        ),
        p.backend.location("monitoring", name),
        schedule_name or f"{endpoint['name']}-adhoc",
    )
    spec = specs.for_variant(spec, endpoint)
    p.say(f"monitoring job {name} over {start} → {end}")
    result, local = _run_processing(p, spec, "monitoring", progress)
    violations = _violations(local)
    p.say(f"  {result.exit_message or result.status}")
    for v in violations:
        p.say(
            f"    {v.get('feature_name')}: {v.get('constraint_check_type')}: {v.get('description')}"
        )
    model_quality = _quality_monitor(
        p, base, endpoint, (start, end), schedule_name, progress
    )
    traffic = None
    if transform_job is None:  # a batch job's records are counted by the job
        traffic = _window_traffic(p, endpoint, (start, end), variant)
        if traffic is not None:
            endpoint = {
                **endpoint,
                "invocations": traffic["requests"],
                "errors": traffic["errors_4xx"] + traffic["errors_5xx"],
                "latency_p99_ms": traffic.get("latency_p99_ms"),
            }
    raised = _alert(p, endpoint, name, violations, local, model_quality)
    outcome = {
        "job": name,
        "window": [start, end],
        "violations": len(violations),
        "folder": str(local),
        "alerts": [a.rule for a in raised],
        "quality": model_quality,
        "traffic": traffic,
    }
    p.save(last_monitor=outcome)
    if variant is not None:
        p.save(
            variant_monitors={**p.state.get("variant_monitors", {}), variant: outcome}
        )
    return MonitorReport(
        name,
        result.status,
        result.exit_message,
        violations,
        local,
        raised,
        model_quality,
    )


# What the model-quality part of a window found, besides the analysis's own
# outcomes (Completed, CompletedWithViolations).
NO_QUALITY_BASELINE = "NoModelQualityBaseline"
NO_GROUND_TRUTH = "NoGroundTruth"
NO_MATCHING_LABELS = "NoMatchingLabels"
# The image's message when none of a window's captures has a label.
UNMATCHED = "could be merged with a ground-truth label"


def _quality_monitor(
    p: Project,
    base: dict[str, Any],
    endpoint: dict[str, Any],
    window: tuple[str, str],
    schedule_name: str | None,
    progress: Say | None,
) -> dict[str, Any]:
    """The window's model quality, when there are labels to measure it with.

    The job gets the deployed version's bundle, so a calibrated classifier's
    window also gets its accuracy (and binary AUC) estimated from the
    captured probabilities; with such a bundle a window without labels yet
    is still monitored, for that estimate alone. Otherwise a window without
    ground truth (none collected since it began, or none matching its
    inferences) is reported as such, not as a failure: labels often come
    later, and a later run over the window measures them.
    """
    mq = base.get("quality")
    if not mq:
        p.say("  model quality: no model-quality baseline (rerun `baseline`)")
        return {"status": NO_QUALITY_BASELINE}
    root = p.backend.location("groundtruth")
    start, end = window
    name = job_name(p, "quality-monitor")
    work = p.config.state_dir / "quality" / name
    model = _deployed_bundle(p, endpoint, work)
    labelled = _ground_truth_since(p, root, parse_utc(start, "start")) > 0
    if not labelled and (model is None or not quality.calibrated(model)):
        p.say(
            f"  model quality: no ground truth for this window yet (`ground-truth --labels FILE` writes it to {root})"
        )
        return {"status": NO_GROUND_TRUTH}
    if not labelled:
        p.say(
            "  model quality: no ground truth for this window yet; estimating it from the model's calibrated confidence"
        )
    local_baseline = Path(mq["local"])
    spec = specs.quality_monitor(
        p.config,
        name,
        p.backend.ensure_image(),
        window,
        endpoint["name"],
        endpoint["capture"],
        root if labelled else str(_no_ground_truth(work)),
        (
            _baseline_file(mq, local_baseline, "statistics.json"),
            mq.get("constraints")
            or _baseline_file(mq, local_baseline, "constraints.json"),
        ),
        p.backend.location("monitoring", name),
        schedule_name or f"{endpoint['name']}-adhoc",
        mq["problem_type"],
        str(model) if model else None,
    )
    spec = specs.for_variant(spec, endpoint)
    p.say(f"model-quality job {name} over {start} → {end}")
    result = p.backend.run_processing_job(spec, progress or quiet)
    if result.status != COMPLETED:
        said = f"{result.failure_reason or ''} {result.exit_message or ''}"
        if UNMATCHED in said:
            p.say("  model quality: none of the window's inferences is labelled yet")
            status = NO_MATCHING_LABELS if labelled else NO_GROUND_TRUTH
            return {"status": status, "job": name}
        raise _processing_failed("model-quality", result)
    local = p.backend.fetch(
        spec.output_location, p.config.state_dir / "reports" / spec.job_name
    )
    violations = _violations(local)
    metrics = _quality_metrics(local)
    estimated = _estimated_metrics(local)
    p.say(f"  {result.exit_message or result.status}")
    for v in violations:
        p.say(
            f"    {v.get('metric_name') or v.get('feature_name')}: {v.get('description')}"
        )
    headline = ", ".join(f"{k}={v:.4g}" for k, v in list(metrics.items())[:4])
    if headline:
        p.say(f"  model quality: {headline}")
    if estimated:
        shown = ", ".join(f"{k}={v:.4g}" for k, v in estimated.items())
        p.say(f"  model quality, estimated from the confidence: {shown}")
    report = _report_html(local)
    if report:
        p.say(f"  model-quality report: {report}")
    return {
        "status": "CompletedWithViolations" if violations else COMPLETED,
        "job": name,
        "folder": str(local),
        "report": str(report or local),
        "metrics": metrics,
        "estimated": estimated,
        "violations": violations,
    }


def _deployed_bundle(p: Project, endpoint: dict[str, Any], work: Path) -> Path | None:
    """The bundle of the version the endpoint serves, extracted under `work`,
    for the model-quality job's estimated metrics; None (said) when it cannot
    be had, and the job then runs without it."""
    version = endpoint.get("version")
    if version is None:
        return None
    try:
        model = p.registry.get(p.config.registry.model_group, version)
        if not model.model_artifact:
            return None
        artifact = _local_artifact(p, model.model_artifact, work / "artifact")
        return quality.bundle_folder(artifact, work / "model")
    except ByocError as exc:
        p.say(
            f"  model quality: no estimated metrics, the deployed model is not to be had: {exc.message}"
        )
        return None


# A ground-truth folder for a window none of whose labels have come: a
# hidden file (which the monitor skips) keeps it from being empty, which an
# S3 input of a SageMaker job may not be.
NO_LABELS_YET = ".no-labels-yet"


def _no_ground_truth(work: Path) -> Path:
    folder = work / "no-groundtruth"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / NO_LABELS_YET).write_text("")
    return folder


REALISED_METRIC_BLOCKS = (
    "regression_metrics",
    "binary_classification_metrics",
    "multiclass_classification_metrics",
)


def _ground_truth_since(p: Project, root: str, start: datetime) -> int:
    """Ground-truth files from `start`'s hour on, where the backend keeps them.

    On S3 the records are fetched to a scratch folder to be counted the same
    way: a job over a prefix without ground truth would fail on SageMaker
    (no objects to mount) rather than say there are no labels yet.
    """
    if "://" not in root:
        return quality.ground_truth_since(Path(root), start)
    with tempfile.TemporaryDirectory() as scratch:
        try:
            fetched = p.backend.fetch(root, Path(scratch))
        except ResourceNotFound:
            return 0
        return quality.ground_truth_since(Path(fetched), start)


def _quality_metrics(folder: Path) -> dict[str, float]:
    """The window's realised metrics (accuracy, f1, ...) from its statistics.json.

    `estimated_metrics` (from probabilities, before labels) is not one of them.
    """
    statistics = _statistics(folder)
    for key, block in statistics.items():
        if key in REALISED_METRIC_BLOCKS and isinstance(block, dict):
            return {
                name: float(metric["value"])
                for name, metric in block.items()
                if isinstance(metric, dict)
                and isinstance(metric.get("value"), (int, float))
            }
    return {}


def _estimated_metrics(folder: Path) -> dict[str, float]:
    """The window's estimated metrics (accuracy, auc) from its statistics.json:
    what the calibrated confidence says, before or beside the labels."""
    block = _statistics(folder).get("estimated_metrics")
    if not isinstance(block, dict) or block.get("status") != "estimated":
        return {}
    return {
        name: float(block[name]["value"])
        for name in ("accuracy", "auc")
        if isinstance(block.get(name), dict)
        and isinstance(block[name].get("value"), (int, float))
    }


def _variant_of(
    p: Project, endpoint: dict[str, Any], variant: str | None
) -> dict[str, Any]:
    """The endpoint narrowed to one variant (its version too), for `monitor`."""
    if variant is None:
        return endpoint
    known = endpoint.get("variants") or {
        "AllTraffic": {"version": endpoint.get("version")}
    }
    if variant not in known:
        raise LifecycleError(
            f"{endpoint['name']} has no variant {variant!r}: its variants are {', '.join(known)}"
        )
    return {**endpoint, "variant": variant, "version": known[variant].get("version")}


def _transformed(p: Project, name: str) -> dict[str, Any]:
    """A transform job's record, shaped as the endpoint's for `monitor`: its
    capture sits under the job's name as an endpoint's under the endpoint's."""
    known = p.state.get("transforms", {})
    job = known.get(name)
    if job is None:
        raise LifecycleError(
            f"no transform job {name!r} of this project (known: {', '.join(sorted(known)) or 'none; run `transform` first'})"
        )
    if p.backend.name == "aws":
        raise LifecycleError(
            f"transform job {name} ran on SageMaker, which writes a transform job's capture in its own batch layout; `monitor --transform-job` reads the local backend's capture only"
        )
    if not job.get("capture"):
        raise LifecycleError(
            f"transform job {name} captured nothing (transform.capture is off, or it failed): nothing to monitor"
        )
    return {**job, "invocations": job.get("records") or 0, "errors": 0}


def _window_traffic(
    p: Project, endpoint: dict, window: tuple[str, str], variant: str | None
) -> dict[str, Any] | None:
    """The window's real traffic (all of it, or the variant's), as the
    endpoint's own request logs or metrics count it; None when unreadable."""
    deployed = (p.state.get("endpoint") or {}).get("variants") or {"AllTraffic": {}}
    try:
        traffic = p.backend.endpoint_traffic(
            endpoint["name"], sorted(deployed), *window
        )
    except ByocError as exc:
        p.say(f"  endpoint traffic unknown: {exc.message}")
        return None
    counted = traffic.get(variant or "all") or {}
    if "requests" not in counted:
        return None
    p.say(
        f"  traffic in the window: {counted['requests']} requests, "
        f"{counted['errors_4xx']} 4xx, {counted['errors_5xx']} 5xx, "
        f"p50 {counted.get('latency_p50_ms')} ms, p99 {counted.get('latency_p99_ms')} ms"
    )
    return counted


def _window(p: Project, start: str | None, end: str | None) -> tuple[str, str]:
    """[start, end), defaulting to the `window_minutes` that end now."""
    if end is None:
        end = iso(datetime.now(UTC) + timedelta(seconds=1))
    if start is None:
        window = timedelta(minutes=p.config.monitoring.window_minutes)
        start = iso(parse_utc(end, "end") - window)
    return start, end


def _require_capture(
    p: Project, endpoint: dict, start: str, end: str, say: Say, wait: bool | None
) -> None:
    """Refuse a window without captured traffic, before any job is started."""
    found = _captured(p, endpoint, start, end, say, wait)
    if found.files:
        return
    waited = (
        f" (waited {found.waited_seconds:.0f} s for it)" if found.waited_seconds else ""
    )
    raise NoCapturedTraffic(
        f"no traffic was captured between {start} and {end} under {found.location}{waited}"
    )


def _alert(
    p: Project,
    endpoint: dict,
    job: str,
    violations: list[dict],
    folder: Path,
    model_quality: dict[str, Any] | None = None,
) -> list[Alert]:
    """The alerts the config's rules raise over one monitoring job, delivered."""
    report = _report_html(folder)
    model_quality = model_quality or {}
    outcome = MonitoringOutcome(
        endpoint["name"],
        job,
        violations,
        str(report or folder),
        endpoint.get("invocations", 0),
        endpoint.get("errors", 0),
        model_quality.get("violations", []),
        model_quality.get("metrics", {}),
        endpoint.get("latency_p99_ms"),
    )
    raised = evaluate(p.config.alerts.rules, outcome)
    p.alerts.deliver(raised)
    if not raised:
        p.say("  no alert raised")
    if report:
        p.say(f"  report: {report}")
    return raised


def _report_html(folder: Path) -> Path | None:
    found = sorted(folder.rglob("*.html"))
    return found[0] if found else None


def _captured(
    p: Project, endpoint: dict, start: str, end: str, say: Say, wait: bool | None
) -> CaptureFound:
    """The window's capture, waited for up to the end of the traffic sent in it."""
    sent_until = _traffic_end(p, start, end)
    if wait is None:
        wait = sent_until is not None
    capture, name = endpoint["capture"], endpoint["name"]
    if not wait:
        return p.backend.wait_for_capture(capture, name, start, end, say, wait=False)
    found = p.backend.wait_for_capture(
        capture, name, start, sent_until or end, say, wait=True
    )
    if found.files or sent_until in (None, end):
        return found
    # None of that traffic came; other traffic may still lie later in the window.
    rest = p.backend.wait_for_capture(capture, name, start, end, say, wait=False)
    return replace(rest, waited_seconds=found.waited_seconds)


def _traffic_end(p: Project, start: str, end: str) -> str | None:
    """When the latest traffic `predict` recorded inside [start, end) ended,
    capped at `end`; None when it recorded none there."""
    begin, finish = parse_utc(start, "start"), parse_utc(end, "end")
    ends = [
        (min(parse_utc(sent_end), finish), sent_end)
        for sent_start, sent_end in (
            p.state[key]
            for key in ("window_held-out", "window_drifted")
            if key in p.state
        )
        if parse_utc(sent_start) < finish and parse_utc(sent_end) > begin
    ]
    if not ends:
        return None
    latest, text = max(ends)
    return end if latest == finish else text


def _processing_failed(kind: str, result: ProcessingJobResult) -> JobFailed:
    """A failed or stopped job, with the backend's reason and the job's own message.

    SageMaker's FailureReason is often generic ("AlgorithmError: see job
    logs"); the container's exit message says what went wrong.
    """
    said = [result.failure_reason, result.exit_message]
    reasons = "; ".join(dict.fromkeys(r for r in said if r))
    if result.status == STOPPED:
        text = f"{kind} job {result.job_name} was stopped before it finished"
        text += f": {reasons}" if reasons else " (no reason given)"
    else:
        text = f"{kind} job {result.job_name} {result.status}: "
        text += reasons or "no failure reason given; see the job's logs"
    return JobFailed(text, reasons or result.status)


def _baseline_file(base: dict, local: Path, filename: str) -> str:
    """Where the baseline job wrote `filename` (found in its fetched copy, `local`)."""
    matches = sorted(local.rglob(filename))
    if not matches:
        raise LifecycleError(
            f"the baseline job {base['job']} left no {filename} in {local}: rerun `baseline`"
        )
    # The job gets a copy of just that file in the mounted folder.
    return join_location(base["location"], matches[0].relative_to(local).as_posix())


def _statistics(folder: Path) -> dict[str, Any]:
    found = sorted(folder.rglob("statistics.json"))
    return json.loads(found[0].read_text()) if found else {}


def _violations(folder: Path) -> list[dict[str, str]]:
    found = sorted(folder.rglob("constraint_violations.json"))
    if not found:
        return []
    return json.loads(found[0].read_text()).get("violations", [])


# --- status / teardown ----------------------------------------------------------------
def status(p: Project) -> dict[str, Any]:
    group = p.config.registry.model_group
    return {
        "project": p.config.project,
        "backend": p.backend.status(),
        "model_versions": [
            {
                "version": v.version,
                "approval": v.approval,
                "metrics": v.metrics,
                "model_metrics": v.model_metrics,
            }
            for v in p.registry.list(group)
        ],
        "runs": len(p.tracker.list(p.config.project)),
        "lifecycle": p.state,
    }


def teardown(p: Project) -> list[str]:
    """Delete the endpoint and every container this project still has."""
    removed = []
    with p.exclusive("teardown"):
        endpoint = p.state.get("endpoint")
        if endpoint:
            try:
                p.backend.delete_endpoint(endpoint["name"])
                removed.append(endpoint["name"])
            except BackendError as exc:
                p.say(f"  endpoint {endpoint['name']}: {exc.message}")
        containers = p.backend.cleanup()
        p.state.pop("endpoint", None)
        p.save()
    p.say(
        f"teardown: deleted endpoint(s) {removed or 'none'}; removed "
        f"{len(containers)} other container(s)"
        + (f" ({', '.join(c[:12] for c in containers)})" if containers else "")
    )
    return removed + containers


# --- the whole lifecycle --------------------------------------------------------------
class _Steps:
    """Runs named steps one after another, saying each title and timing it."""

    def __init__(self, say: Say):
        self.say = say
        self.timings: dict[str, float] = {}

    def __call__(self, title: str, fn: Callable[[], Any]) -> Any:
        self.say(f"\n== {title}")
        started = time.monotonic()
        value = fn()
        self.timings[title] = round(time.monotonic() - started, 2)
        return value


def run(p: Project, keep: bool = False) -> dict[str, Any]:
    """Every step in order, as the demo runs them; tears down unless `keep`."""
    step = _Steps(p.say)
    total = time.monotonic()
    try:
        summary, statistics = _every_step(p, step)
    finally:
        if not keep:
            step("teardown", lambda: teardown(p))
    summary["timings_seconds"] = step.timings
    summary["total_seconds"] = round(time.monotonic() - total, 2)
    out = files.write_json(
        p.config.state_dir / f"{p.config.project}.run-summary.json", summary
    )
    page = files.write_text(
        out.with_suffix(".html"), run_summary_html(summary, *statistics)
    )
    p.say(f"\ndone in {summary['total_seconds']:.0f} s; summary in {out} and {page}")
    p.say(f"drift report: {summary['report']}")
    for window, found in summary.get("quality", {}).items():
        p.say(f"model quality, {window} window: {quality_line(found)}")
    scored = summary.get("transform") or {}
    if scored.get("quality"):
        p.say(
            f"model quality, transform job {scored['job']}: {quality_line(scored['quality'])}"
        )
    return summary


def quality_line(found: dict[str, Any]) -> str:
    """One window's model quality in a line: its status, headline metric, violations."""
    status = found.get("status", "?")
    metrics = found.get("metrics") or {}
    shown = ", ".join(
        f"{k}={metrics[k]:.3f}"
        for k in ("accuracy", "weighted_f1", "f1", "rmse", "r2")
        if k in metrics
    )
    estimated = found.get("estimated") or {}
    guessed = ", ".join(f"{k}={v:.3f}" for k, v in estimated.items())
    count = len(found.get("violations") or [])
    return (
        f"{status}"
        + (f" ({shown})" if shown else "")
        + (f" (estimated {guessed})" if guessed else "")
        + (f", {count} violation(s)" if count else "")
    )


def _batch_steps(p: Project, step: _Steps) -> dict[str, Any]:
    """The held-out split scored offline by a transform job, then its capture
    monitored (with its labels) as an endpoint's window is."""
    from orchestration import batch  # the step module builds on this one

    job = step("batch transform of the held-out split", lambda: batch.transform(p))
    found: dict[str, Any] = {"job": job["name"], "records": job["records"]}
    found["output"] = job.get("local_output")
    if p.backend.name != "local":
        p.say(
            "  (its capture is SageMaker's own batch layout, which `monitor` does not read: not monitored)"
        )
        return found
    step(
        "ground truth for the transform job",
        lambda: ground_truth(p, Path(job["labels"])),
    )
    checked = step(
        "monitor the transform job's capture",
        lambda: monitor(p, transform_job=job["name"], schedule_name="demo-batch"),
    )
    found["violations"] = len(checked.violations)
    found["quality"] = checked.quality
    return found


def _shuffled_labels(p: Project, labels: Path) -> Path:
    """A copy of a labels file with its labels shuffled among its ids."""
    pairs = quality.shuffled(quality.read_labels(labels))
    return quality.write_labels(labels.with_name(f"{labels.stem}-shuffled.csv"), pairs)


def _every_step(p: Project, step: _Steps) -> tuple[dict[str, Any], tuple[dict, dict]]:
    """prepare → ... → monitor twice; the summary, and the statistics compared."""
    step("image", lambda: p.say(f"image {p.backend.ensure_image()} ready"))
    step("prepare", lambda: prepare(p))
    trained = step("train", lambda: train(p))
    # Before `register`: the version records the trained model's quality
    # baseline (ModelMetrics), which SageMaker takes only on creation.
    step("baseline", lambda: baseline(p))
    version = step("register", lambda: register(p))
    if version.approval != registry.APPROVED:
        step(
            "approve",
            lambda: approve(p, version.version, reason="approved by the demo run"),
        )
    step("deploy", lambda: deploy(p))
    held = step("predict held-out traffic", lambda: predict(p))
    step(
        "ground truth for the held-out traffic (the true labels)",
        lambda: ground_truth(p, Path(p.state["labels_held-out"])),
    )
    # On AWS capture reaches S3 minutes after the requests: wait for it.
    healthy = step(
        "monitor held-out window",
        lambda: monitor(
            p, *held[1], schedule_name="demo-held-out", wait_for_capture=True
        ),
    )
    drifted = step("predict drifted traffic", lambda: predict(p, drifted=True))
    step(
        "ground truth for the drifted traffic (shuffled: the model got worse)",
        lambda: ground_truth(p, _shuffled_labels(p, Path(p.state["labels_drifted"]))),
    )
    found = step(
        "monitor drifted window",
        lambda: monitor(
            p, *drifted[1], schedule_name="demo-drifted", wait_for_capture=True
        ),
    )
    scored = _batch_steps(p, step)
    summary = {
        "metrics": trained.metrics,
        "model_version": version.version,
        "transform": scored,
        "held_out_violations": len(healthy.violations),
        "drift_violations": found.violations,
        "alerts": [a.to_dict() for a in found.alerts],
        "report": str(found.report_html or found.folder),
        # Per window: the model-quality status, metrics and violations.
        "quality": {"held-out": healthy.quality, "drifted": found.quality},
    }
    statistics = (
        _statistics(Path(p.state["baseline"]["local"])),
        _statistics(found.folder),
    )
    return summary, statistics

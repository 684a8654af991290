"""The local backend: SageMaker's jobs and endpoints on this machine's Docker engine.

Glue over `orchestration.local`, one module per concern: `engine` (Docker),
`training`, `tuning` (trials as training jobs), `hosting` (endpoints and
capture), `processing`, `state`
(SQLite) and `artifacts`. Every container is labelled, recorded by id in the
state database before it runs, and removed by id when it ends or on teardown.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from orchestration.backends.base import (
    STOPPED,
    BackendError,
    CaptureFound,
    EndpointInfo,
    EndpointSpec,
    MonitorDue,
    MonitoringScheduleSpec,
    ProcessingJobResult,
    ProcessingJobSpec,
    Progress,
    ResourceNotFound,
    ScheduleRun,
    ServedModel,
    TrainingJobResult,
    TrainingJobSpec,
    TransformJobResult,
    TransformJobSpec,
    TuningJobResult,
    TuningJobSpec,
    VariantInfo,
    VariantSpec,
    no_progress,
)
from orchestration.config import ProjectConfig
from orchestration.local import (
    artifacts,
    hosting,
    monitoring,
    processing,
    training,
    transform_job,
    tuning,
)
from orchestration.local.engine import Engine
from orchestration.local.hosting import EndpointInvocationError, Endpoints
from orchestration.local.state import LocalState
from orchestration.local.variants import Variants
from orchestration.registry import LocalRegistry

__all__ = ["EndpointInvocationError", "LocalBackend", "create_backend"]


def create_backend(config: ProjectConfig) -> LocalBackend:
    return LocalBackend(
        config.state_dir,
        config.image,
        project=config.project,
        startup_timeout=config.endpoint.startup_timeout_seconds,
    )


NO_PIPELINES = (
    "pipeline upsert/start/status talk to SageMaker Pipelines: use --backend aws; "
    "on this machine, `pipeline run --local` runs the same definition"
)


class LocalBackend:
    name = "local"

    def __init__(
        self,
        state_dir: Path,
        image: str,
        project: str = "default",
        startup_timeout: float = 120,
        client: Any = None,
    ):
        self.state_dir = Path(state_dir)
        self.root = self.state_dir.resolve() / "local"
        self.image = image
        self.project = project
        self.state = LocalState(Path(state_dir))
        self.engine = Engine(image, project, self.root, client)
        self.endpoints = Endpoints(self.engine, self.state, self.root, startup_timeout)
        self.variants = Variants(self.endpoints)
        self._image_digest: str | None = None

    # --- where things are ---------------------------------------------------
    def location(self, *parts: str) -> str:
        """A folder under <state_dir>/local."""
        return str(self.root / Path(*parts))

    def registry(self) -> LocalRegistry:
        """Model versions in the state folder's SQLite database."""
        return LocalRegistry(self.state_dir)

    # --- image and data ----------------------------------------------------
    def ensure_image(self) -> str:
        """The image must exist locally; it is built with `make image` if missing."""
        self._image_digest = self.engine.image_id()
        return self.image

    def image_digest(self) -> str | None:
        """The local image id (sha256:...), recorded as lineage of each run."""
        if self._image_digest is None:
            self.ensure_image()
        return self._image_digest

    def upload_data(self, local_dir: Path, prefix: str) -> str:
        # Jobs copy their inputs when they start, so the folder itself is the location.
        if not Path(local_dir).exists():
            raise BackendError(f"{local_dir} does not exist")
        return str(Path(local_dir).resolve())

    def fetch(self, location: str, local_dir: Path) -> Path:
        source = Path(location)
        if not source.exists():
            raise ResourceNotFound(f"{location} does not exist")
        local_dir = Path(local_dir)
        if local_dir.resolve() == source.resolve():
            return local_dir
        artifacts.copy_tree(source, local_dir)
        return local_dir

    # --- jobs --------------------------------------------------------------
    def run_training_job(
        self, spec: TrainingJobSpec, progress: Progress = no_progress
    ) -> TrainingJobResult:
        return training.run_training_job(
            self.engine, self.state, self.root, spec, progress
        )

    def endpoint_traffic(
        self, endpoint_name: str, variants: list[str], start: str, end: str
    ) -> dict[str, dict[str, Any]]:
        """From the serving containers' own request logs (request_log.py),
        which name every variant that answered."""
        return self.endpoints.traffic(endpoint_name, start, end)

    # --- pipelines: SageMaker's, run locally by the SDK, not by this backend ---
    def upsert_pipeline(
        self, name: str, definition: dict[str, Any], tags: dict[str, str]
    ) -> str:
        raise BackendError(NO_PIPELINES)

    def start_pipeline(self, name: str, parameters: dict[str, str]) -> str:
        raise BackendError(NO_PIPELINES)

    def pipeline_status(self, name: str, execution_arn: str | None) -> dict[str, Any]:
        raise BackendError(NO_PIPELINES)

    def run_tuning_job(
        self, spec: TuningJobSpec, progress: Progress = no_progress
    ) -> TuningJobResult:
        """Random or Grid search, its trials as local training jobs side by side
        (see `orchestration.local.tuning` for what is not emulated)."""
        return tuning.run_tuning_job(self.engine, self.state, self.root, spec, progress)

    def run_processing_job(
        self, spec: ProcessingJobSpec, progress: Progress = no_progress
    ) -> ProcessingJobResult:
        return processing.run_processing_job(
            self.engine, self.state, self.root, spec, progress
        )

    def run_transform_job(
        self, spec: TransformJobSpec, progress: Progress = no_progress
    ) -> TransformJobResult:
        return transform_job.run_transform_job(
            self.engine, self.state, self.root, spec, progress
        )

    # --- endpoints -----------------------------------------------------------
    def create_endpoint(self, spec: EndpointSpec) -> EndpointInfo:
        return self.endpoints.create(spec)

    def update_endpoint(self, spec: EndpointSpec) -> EndpointInfo:
        """A whole update: the new version alone serves, as a one-variant
        endpoint config replaces every variant on SageMaker."""
        info = self.endpoints.update(spec)
        record = self.state.endpoint(spec.endpoint_name)
        self.variants.retire(
            spec.endpoint_name, record.container_id if record else None
        )
        if record is not None and record.container_id:
            # The endpoint's URL is its one container's again, not the front's.
            self.state.save_endpoint(spec.endpoint_name, url=info.url)
        return info

    def describe_endpoint(self, endpoint_name: str) -> EndpointInfo:
        return self.endpoints.describe(endpoint_name)

    def invoke_endpoint(
        self,
        endpoint_name: str,
        body: bytes,
        content_type: str,
        accept: str,
        inference_id: str | None = None,
        target_variant: str | None = None,
    ) -> bytes:
        return self.endpoints.invoke(
            endpoint_name, body, content_type, accept, inference_id, target_variant
        )

    def delete_endpoint(self, endpoint_name: str) -> None:
        if self.state.endpoint(endpoint_name) is not None:
            self.variants.retire(endpoint_name)
        self.endpoints.delete(endpoint_name)

    # --- production variants -------------------------------------------------
    def deploy_variant(
        self, endpoint_name: str, spec: VariantSpec
    ) -> list[VariantInfo]:
        return self.variants.deploy(endpoint_name, spec)

    def set_variant_weights(
        self, endpoint_name: str, weights: dict[str, float]
    ) -> list[VariantInfo]:
        return self.variants.set_weights(endpoint_name, weights)

    def remove_variants(
        self, endpoint_name: str, names: list[str]
    ) -> list[VariantInfo]:
        return self.variants.remove(endpoint_name, names)

    def describe_variants(self, endpoint_name: str) -> list[VariantInfo]:
        return self.variants.describe(endpoint_name)

    def describe_endpoint_models(self, endpoint_name: str) -> list[ServedModel]:
        """From the endpoint's record and routes: each variant's model.tar.gz.

        The record keeps no image (the version it serves names its own).
        """
        record = self.state.endpoint(endpoint_name)
        if record is None:
            raise ResourceNotFound(f"endpoint {endpoint_name} does not exist")
        return [
            ServedModel(
                variant_name=v["name"],
                model_name=v.get("model_name"),
                model_artifact=v.get("model_artifact"),
                shadow=bool(v.get("shadow")),
                weight=float(v["weight"]),
            )
            for v in self.variants.routes(record)
        ]

    def wait_for_capture(
        self,
        destination: str,
        endpoint_name: str,
        start: str,
        end: str,
        progress: Progress = no_progress,
        wait: bool = True,
    ) -> CaptureFound:
        """Local capture is written before each response: found at once."""
        return hosting.captured(destination, endpoint_name, start, end)

    def run_monitoring_schedule(
        self,
        spec: MonitoringScheduleSpec,
        monitor_due: MonitorDue,
        say: Progress,
        progress: Progress = no_progress,
        once: bool = False,
        max_runs: int | None = None,
    ) -> ScheduleRun:
        """No scheduler service here: this process runs the schedule."""
        return monitoring.run_schedule(spec, monitor_due, say, once, max_runs)

    # --- status and teardown -------------------------------------------------
    def status(self) -> dict:
        jobs = [
            {
                "job_name": j["job_name"],
                "kind": j["kind"],
                "status": j["status"],
                "started_at": j["started_at"],
                "ended_at": j["ended_at"],
                "failure_reason": (j["result"] or {}).get("failure_reason"),
                **_best_trial(j),
            }
            for j in self.state.jobs()
        ]
        return {
            "backend": self.name,
            "image": self.image,
            "jobs": jobs,
            "endpoints": self.endpoints.status(),
        }

    def cleanup(self) -> list[str]:
        """Remove every container still recorded (endpoints, stray jobs), by id."""
        removed = []
        for record in self.state.endpoints():
            self.variants.retire(record.endpoint_name)
            self.endpoints.remove(record)
            if record.container_id:
                removed.append(record.container_id)
        for job in self.state.jobs():
            if job["container_id"]:
                self.engine.remove(job["container_id"])
                self.state.finish_job(
                    job["job_name"], STOPPED, {"failure_reason": "stopped by teardown"}
                )
                removed.append(job["container_id"])
        # A command killed between creating a container and recording it (e.g.
        # during an endpoint update) leaves one only our label knows about.
        for container_id in self.engine.labelled_ids():
            self.engine.remove(container_id)
            removed.append(container_id)
        return removed


def _best_trial(job: dict[str, Any]) -> dict[str, Any]:
    """A tuning job's best training job, for `status`; nothing for other jobs."""
    if job["kind"] != tuning.KIND:
        return {}
    return {"best_job_name": (job["result"] or {}).get("best_job_name")}

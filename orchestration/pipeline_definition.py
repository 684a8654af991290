"""The lifecycle as a SageMaker Pipeline, built with `sagemaker.workflow`.

    Prepare ─▶ Train ─▶ Evaluate ─▶ CheckMetric ─┬─ yes ─▶ Baseline
    (processing) (training) (processing)  (condition) ├────▶ Model (CreateModel locally,
                                                  │        RegisterModel on AWS)
                                                  └─ no ──▶ MetricTooLow (fail)

Every step runs the project's image: `prepare` and `evaluate` are image
commands written for this (container/preparation, container/training/
assessment.py), `train` and `baseline` are the ones the imperative steps run.
The condition compares the evaluation step's property file (evaluation.json,
read with JsonGet) with the approval threshold, a pipeline parameter, in the
direction of the registry's auto-approval rule.

The same definition runs on AWS (`pipeline upsert` / `start`) and under the
SDK's LocalPipelineSession (`pipeline run --local`), with one difference:
LocalPipelineSession cannot run a RegisterModel step, so the local pipeline
creates the model (CreateModel, which it can run) and `pipeline run --local`
registers that model in the local registry after the execution succeeds, with
the evaluation's metrics, exactly as `register` does.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchestration import specs
from orchestration.aws.settings import DEFAULT_METRIC_NAMES
from orchestration.aws.training import metric_definitions
from orchestration.backends.base import CONTAINER
from orchestration.config import ProjectConfig

PREPARE, TRAIN, EVALUATE, CHECK, BASELINE, MODEL, FAIL = (
    "Prepare",
    "Train",
    "Evaluate",
    "CheckMetric",
    "Baseline",
    "Model",
    "MetricTooLow",
)
PREPARED_OUTPUT = "prepared"
EVALUATION_OUTPUT = "evaluation"
EVALUATION_PROPERTY_FILE = "Evaluation"
BASELINE_OUTPUT = "baseline"
PROCESSING = str(CONTAINER.processing_dir)
LOCAL_INSTANCE = "local"  # what LocalPipelineSession runs jobs on
SDK_NOTICE = r".*SageMaker Python SDK v2"


@dataclass(frozen=True)
class PipelineSettings:
    """Everything the definition needs, resolved from the config and the backend."""

    name: str
    image: str
    role_arn: str
    artifacts_uri: str  # s3:// prefix every step writes under
    raw_uri: str  # s3:// prefix holding raw/ and annotations/ (what `ingest` uploads)
    settings_uri: str  # s3:// URI of the prepare job's preparation.json
    hyperparameters: dict[str, str]
    metric_names: tuple[str, ...]
    approval_metric: str  # e.g. validation:accuracy
    approval_threshold: float
    approval_direction: str  # max | min
    model_group: str
    training_instance_type: str
    processing_instance_type: str
    max_runtime_seconds: int = 3600
    local: bool = False
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def metric_path(self) -> str:
        """The approval metric inside evaluation.json: validation:accuracy →
        metrics.validation.accuracy."""
        split, _, name = self.approval_metric.partition(":")
        return f"metrics.{split}.{name}"


def pipeline_settings(
    config: ProjectConfig,
    *,
    name: str,
    image: str,
    role_arn: str,
    artifacts_uri: str,
    raw_uri: str,
    settings_uri: str,
    local: bool,
    metric_names: tuple[str, ...] = DEFAULT_METRIC_NAMES,
) -> PipelineSettings:
    rule = config.registry.auto_approval
    return PipelineSettings(
        name=name,
        image=image,
        role_arn=role_arn,
        artifacts_uri=artifacts_uri.rstrip("/"),
        raw_uri=raw_uri.rstrip("/"),
        settings_uri=settings_uri,
        hyperparameters=dict(config.training.hyperparameters),
        metric_names=metric_names,
        approval_metric=rule.metric,
        approval_threshold=float(rule.threshold),
        approval_direction=rule.direction,
        model_group=config.registry.model_group,
        training_instance_type=(
            LOCAL_INSTANCE if local else config.training.instance_type
        ),
        processing_instance_type=(
            LOCAL_INSTANCE if local else config.monitoring.instance_type
        ),
        max_runtime_seconds=config.training.max_runtime_seconds,
        local=local,
        tags={"sklearn-byoc:project": config.project},
    )


@contextmanager
def quiet_sdk() -> Iterator[None]:
    """The 2.x SDK used quietly and without telemetry.

    - Its "path of deprecation" notices go: 2.x is a deliberate choice
      (pyproject.toml) and they say nothing a user can act on; so does
      "Running within a PipelineSession ... no job being started", which is
      the point of building a definition.
    - Nothing leaves the machine that the user did not ask for: the SDK's
      telemetry requests are not sent. Its documented opt-out is a
      TelemetryOptOut key in the SDK's config, but any config makes the SDK
      re-check its JSON schema on every lookup (about 12 s per definition),
      so the request itself is switched off while we use the SDK.
    """
    from sagemaker.telemetry import telemetry_logging

    send = telemetry_logging._send_telemetry_request
    telemetry_logging._send_telemetry_request = _no_telemetry
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=SDK_NOTICE)
            warnings.filterwarnings(
                "ignore", message="Running within a PipelineSession"
            )
            yield
    finally:
        telemetry_logging._send_telemetry_request = send


def _no_telemetry(*args: Any, **kwargs: Any) -> None:
    return None


def build_pipeline(settings: PipelineSettings, session: Any) -> Any:
    """The `sagemaker.workflow.pipeline.Pipeline` for `settings` on `session`
    (a PipelineSession on AWS, a LocalPipelineSession locally)."""
    with quiet_sdk():
        return _build(settings, session)


def _build(settings: PipelineSettings, session: Any) -> Any:
    from sagemaker.estimator import Estimator
    from sagemaker.inputs import TrainingInput
    from sagemaker.model import Model
    from sagemaker.processing import ProcessingInput, ProcessingOutput, Processor
    from sagemaker.workflow.condition_step import ConditionStep
    from sagemaker.workflow.conditions import (
        ConditionGreaterThanOrEqualTo,
        ConditionLessThanOrEqualTo,
    )
    from sagemaker.workflow.fail_step import FailStep
    from sagemaker.workflow.functions import Join, JsonGet
    from sagemaker.workflow.model_step import ModelStep
    from sagemaker.workflow.parameters import ParameterFloat, ParameterString
    from sagemaker.workflow.pipeline import Pipeline
    from sagemaker.workflow.properties import PropertyFile
    from sagemaker.workflow.steps import ProcessingStep, TrainingStep

    raw_uri = ParameterString("RawDataUri", default_value=settings.raw_uri)
    training_instance = ParameterString(
        "TrainingInstanceType", default_value=settings.training_instance_type
    )
    processing_instance = ParameterString(
        "ProcessingInstanceType", default_value=settings.processing_instance_type
    )
    threshold = ParameterFloat(
        "ApprovalThreshold", default_value=settings.approval_threshold
    )
    approval_status = ParameterString(
        "ModelApprovalStatus", default_value="PendingManualApproval"
    )

    def processor(command: str, environment: dict[str, str] | None = None):
        # The image's commands are on PATH, so ContainerEntrypoint names one.
        return Processor(
            role=settings.role_arn,
            image_uri=settings.image,
            entrypoint=[command],
            instance_count=1,
            instance_type=processing_instance,
            env=environment,
            max_runtime_in_seconds=settings.max_runtime_seconds,
            sagemaker_session=session,
        )

    def under(*parts: Any) -> Join:
        return Join(on="/", values=list(parts))

    inputs_dir = CONTAINER.processing_input_dir
    prepare = ProcessingStep(
        PREPARE,
        step_args=processor("prepare").run(
            inputs=[
                ProcessingInput(
                    source=under(raw_uri, "raw"),
                    destination=str(inputs_dir / "raw"),
                    input_name="raw",
                ),
                ProcessingInput(
                    source=under(raw_uri, "annotations"),
                    destination=str(inputs_dir / "annotations"),
                    input_name="annotations",
                ),
                ProcessingInput(
                    source=settings.settings_uri,
                    destination=str(inputs_dir / "settings"),
                    input_name="settings",
                ),
            ],
            outputs=[
                ProcessingOutput(
                    output_name=PREPARED_OUTPUT,
                    source=str(CONTAINER.processing_output_dir / PREPARED_OUTPUT),
                    destination=f"{settings.artifacts_uri}/prepared",
                )
            ],
        ),
    )
    prepared = prepare.properties.ProcessingOutputConfig.Outputs[
        PREPARED_OUTPUT
    ].S3Output.S3Uri

    estimator = Estimator(
        image_uri=settings.image,
        role=settings.role_arn,
        instance_count=1,
        instance_type=training_instance,
        hyperparameters=dict(settings.hyperparameters),
        metric_definitions=metric_definitions(settings.metric_names),
        output_path=f"{settings.artifacts_uri}/training",
        max_run=settings.max_runtime_seconds,
        # The image is not a SageMaker framework container: it has no
        # Debugger hook or profiler agent to configure.
        disable_profiler=True,
        debugger_hook_config=False,
        sagemaker_session=session,
    )
    train = TrainingStep(
        TRAIN,
        step_args=estimator.fit(
            {
                channel: TrainingInput(
                    under(prepared, channel), content_type="text/csv"
                )
                for channel in specs.CHANNELS
            }
        ),
    )
    model_data = train.properties.ModelArtifacts.S3ModelArtifacts

    evaluation_file = PropertyFile(
        name=EVALUATION_PROPERTY_FILE,
        output_name=EVALUATION_OUTPUT,
        path="evaluation.json",
    )
    evaluate = ProcessingStep(
        EVALUATE,
        step_args=processor("evaluate").run(
            inputs=[
                ProcessingInput(
                    source=model_data,
                    destination=str(inputs_dir / "model"),
                    input_name="model",
                ),
                ProcessingInput(
                    source=under(prepared, "test"),
                    destination=str(inputs_dir / "test"),
                    input_name="test",
                ),
            ],
            outputs=[
                ProcessingOutput(
                    output_name=EVALUATION_OUTPUT,
                    source=f"{PROCESSING}/evaluation",
                    destination=f"{settings.artifacts_uri}/evaluation",
                )
            ],
        ),
        property_files=[evaluation_file],
    )
    measured = JsonGet(
        step_name=evaluate.name,
        property_file=evaluation_file,
        json_path=settings.metric_path,
    )

    baseline_job = specs.baseline_environment()
    baseline = ProcessingStep(
        BASELINE,
        step_args=processor("baseline", baseline_job).run(
            inputs=[
                ProcessingInput(
                    source=under(prepared, "baseline"),
                    destination=str(CONTAINER.baseline_dataset_dir),
                    input_name="baseline_dataset_input",
                )
            ],
            outputs=[
                ProcessingOutput(
                    output_name=BASELINE_OUTPUT,
                    source=str(CONTAINER.processing_output_dir),
                    destination=f"{settings.artifacts_uri}/baseline",
                )
            ],
        ),
    )

    model = Model(
        image_uri=settings.image,
        model_data=model_data,
        role=settings.role_arn,
        sagemaker_session=session,
    )
    if settings.local:
        model_step = ModelStep(MODEL, step_args=model.create(instance_type="local"))
    else:
        model_step = ModelStep(
            MODEL,
            step_args=model.register(
                content_types=["text/csv", "application/json"],
                response_types=["application/json", "text/csv"],
                inference_instances=["ml.m5.large", "ml.m5.xlarge"],
                transform_instances=["ml.m5.large"],
                model_package_group_name=settings.model_group,
                approval_status=approval_status,
                description=f"registered by the {settings.name} pipeline",
            ),
        )

    comparison = (
        ConditionGreaterThanOrEqualTo
        if settings.approval_direction == "max"
        else ConditionLessThanOrEqualTo
    )
    bound = "at least" if settings.approval_direction == "max" else "at most"
    fail = FailStep(
        FAIL,
        error_message=Join(
            on=" ",
            values=[
                f"{settings.approval_metric} is",
                measured,
                f"but must be {bound}",
                threshold,
                "(ApprovalThreshold): no model was created or registered",
            ],
        ),
    )
    check = ConditionStep(
        CHECK,
        conditions=[comparison(left=measured, right=threshold)],
        if_steps=[baseline, model_step],
        else_steps=[fail],
    )
    parameters = [raw_uri, training_instance, processing_instance, threshold]
    if not settings.local:
        parameters.append(approval_status)
    return Pipeline(
        name=settings.name,
        parameters=parameters,
        steps=[prepare, train, evaluate, check],
        sagemaker_session=session,
    )


def definition(pipeline: Any) -> dict[str, Any]:
    """The pipeline's definition JSON, as CreatePipeline receives it."""
    with quiet_sdk():
        return json.loads(pipeline.definition())


def write_definition(pipeline: Any, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(definition(pipeline), indent=2) + "\n")
    return path

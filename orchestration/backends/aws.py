"""The AWS backend: the lifecycle's steps as SageMaker resources, through boto3.

Implements `orchestration.backends.base.Backend` with the small modules of
`orchestration.aws` (one per AWS concern): S3 locations, ECR, training,
hosting with data capture, processing, the SageMaker Model Registry, and
monitoring schedules running the image's `monitor` (data quality, and model
quality against uploaded ground truth) with CloudWatch alarms notifying SNS,
batch transform jobs and hyperparameter tuning jobs. Every boto3 failure
leaves here as a `BackendError` that
names the step and what AWS said.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from orchestration.aws import (
    alarms,
    capture,
    ecr,
    hosting,
    model_quality,
    monitoring,
    pipelines,
    processing,
    s3,
    training,
    transform,
    tuning,
    variants,
)
from orchestration.aws.clients import AwsClients
from orchestration.aws.errors import (
    AwsCallFailed,
    AwsConfigError,
    aws_call,
    describe,
    is_not_found,
)
from orchestration.aws.naming import timestamped
from orchestration.aws.registry import AwsModelRegistry
from orchestration.aws.settings import AwsSettings
from orchestration.aws.waiting import wait_for
from orchestration.backends.base import (
    COMPLETED,
    FAILED,
    IN_SERVICE,
    BackendError,
    CaptureFound,
    EndpointFailed,
    EndpointInfo,
    EndpointSpec,
    ModelQualityScheduleSpec,
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
    UpdateRolledBack,
    VariantInfo,
    VariantSpec,
    no_progress,
)
from orchestration.times import parse_utc

STATUS_LIST_SIZE = 20


class AwsBackend:
    """SageMaker training, hosting and processing, addressed through S3 URIs."""

    name = "aws"

    def __init__(
        self,
        settings: AwsSettings,
        clients: AwsClients | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.settings = settings
        self.clients = clients or AwsClients(settings)
        self._sleep = sleep
        # Schedule name -> its cron expression, for the alarms' periods.
        self._schedule_expressions: dict[str, str] = {}

    # --- where things are ---------------------------------------------------
    def location(self, *parts: str) -> str:
        """An S3 prefix under s3://<bucket>/<prefix>."""
        settings = self.settings
        return "s3://" + "/".join([settings.bucket, settings.prefix.strip("/"), *parts])

    # --- data and image ----------------------------------------------------
    def upload_data(self, local_dir: Path, prefix: str) -> str:
        target = (
            prefix
            if s3.is_s3_uri(prefix)
            else s3.join(self.settings.data_prefix, prefix)
        )
        return s3.upload_dir(self.clients.s3, Path(local_dir), target)

    def ensure_image(self) -> str:
        settings = self.settings
        repository_uri = ecr.ensure_repository(
            self.clients.ecr, settings.ecr_repository, settings.tags
        )
        image = f"{repository_uri}:{settings.image_tag}"
        if ecr.image_digest(
            self.clients.ecr, settings.ecr_repository, settings.image_tag
        ):
            return image
        if settings.build_and_push:
            ecr.run_build_and_push(
                settings.ecr_repository, settings.image_tag, settings.region
            )
            if ecr.image_digest(
                self.clients.ecr, settings.ecr_repository, settings.image_tag
            ):
                return image
        raise BackendError(
            f"image {image} is not in ECR: run ./build_and_push.sh --repository {settings.ecr_repository} --tag {settings.image_tag} --region {settings.region}, or set aws.options.build_and_push: true to let this step run it"
        )

    def image_digest(self) -> str | None:
        """The ECR digest of the configured tag, recorded as lineage of each run."""
        return ecr.image_digest(
            self.clients.ecr, self.settings.ecr_repository, self.settings.image_tag
        )

    # --- training ------------------------------------------------------------
    def run_training_job(
        self, spec: TrainingJobSpec, progress: Progress = no_progress
    ) -> TrainingJobResult:
        channel_uris, output_uri = self._training_locations(spec, spec.job_name)
        request = training.training_request(
            spec,
            self.settings.role_arn,
            channel_uris,
            output_uri,
            self.settings.metric_names,
            self.settings.training_volume_gb,
            self.settings.tags,
        )
        sagemaker = self.clients.sagemaker
        with aws_call(f"creating training job {spec.job_name}"):
            sagemaker.create_training_job(**request)
        progress(f"training job {spec.job_name} created; image {spec.image}")
        try:
            description = self._wait(
                lambda: sagemaker.describe_training_job(TrainingJobName=spec.job_name),
                lambda d: d["TrainingJobStatus"],
                training.TERMINAL,
                progress,
                f"training job {spec.job_name}",
                training.progress_detail,
            )
        except KeyboardInterrupt:
            # Ctrl-C must not leave an instance billing on AWS.
            self.stop_training_job(spec.job_name)
            progress(f"training job {spec.job_name}: stop requested")
            raise
        result = training.result_from_description(description)
        if result.status != COMPLETED:
            progress(
                f"training job {spec.job_name} {result.status}: {result.failure_reason}"
            )
        return result

    def _training_locations(
        self, spec: TrainingJobSpec, job_name: str
    ) -> tuple[dict[str, str], str]:
        """The channels on S3 (uploaded under the job's prefix when local), and
        where model.tar.gz goes: what a training job and a tuning job share."""
        channel_uris = {
            channel: self._as_s3(location, f"jobs/{job_name}/input/{channel}")
            for channel, location in spec.channels.items()
        }
        output_uri = (
            spec.output_location
            if s3.is_s3_uri(spec.output_location)
            else training.default_output_uri(self.settings.data_prefix)
        )
        return channel_uris, output_uri

    def stop_training_job(self, job_name: str) -> None:
        with aws_call(f"stopping training job {job_name}"):
            self.clients.sagemaker.stop_training_job(TrainingJobName=job_name)

    # --- hyperparameter tuning ---------------------------------------------------
    def endpoint_traffic(
        self, endpoint_name: str, variant_names: list[str], start: str, end: str
    ) -> dict[str, dict[str, Any]]:
        """CloudWatch's AWS/SageMaker metrics of each variant over the window,
        as one period. "all" adds the counts up; its latencies are the worst
        variant's (percentiles of different variants do not add)."""
        window = (parse_utc(start, "start"), parse_utc(end, "end"))
        request = variants.metric_data_request(
            endpoint_name, list(variant_names), window[1], window[0]
        )
        results: list[dict[str, Any]] = []
        with aws_call(f"reading the CloudWatch metrics of endpoint {endpoint_name}"):
            pages = self.clients.cloudwatch.get_paginator("get_metric_data")
            for page in pages.paginate(**request):
                results += page.get("MetricDataResults", [])
        traffic = variants.traffic_from(
            list(variant_names), results, window[1] - window[0]
        )
        traffic["all"] = variants.combined(list(traffic.values()))
        return traffic

    # --- pipelines -------------------------------------------------------------
    def upsert_pipeline(
        self, name: str, definition: dict[str, Any], tags: dict[str, str]
    ) -> str:
        return pipelines.upsert(
            self.clients.sagemaker,
            name,
            definition,
            self.settings.role_arn,
            {**self.settings.tags, **tags},
        )

    def start_pipeline(self, name: str, parameters: dict[str, str]) -> str:
        return pipelines.start(self.clients.sagemaker, name, parameters)

    def pipeline_status(self, name: str, execution_arn: str | None) -> dict[str, Any]:
        arn = execution_arn or pipelines.latest_execution(self.clients.sagemaker, name)
        if arn is None:
            raise ResourceNotFound(
                f"pipeline {name} has no execution yet: `pipeline start`"
            )
        return pipelines.execution_status(self.clients.sagemaker, arn)

    def run_tuning_job(
        self, spec: TuningJobSpec, progress: Progress = no_progress
    ) -> TuningJobResult:
        """Run the tuning job to its end, then read what each trial found.

        Every completed trial is described (DescribeTrainingJob, one call each)
        for its metrics and model.tar.gz, so the result can register any of
        them, not only the best; failed and stopped trials are not.
        """
        name = spec.tuning_job_name
        trial = spec.training
        channel_uris, output_uri = self._training_locations(trial, name)
        request = tuning.tuning_request(
            spec,
            self.settings.role_arn,
            channel_uris,
            output_uri,
            self.settings.metric_names,
            self.settings.training_volume_gb,
            self.settings.tags,
        )
        sagemaker = self.clients.sagemaker
        with aws_call(f"creating tuning job {name}"):
            sagemaker.create_hyper_parameter_tuning_job(**request)
        progress(
            f"tuning job {name} created: {spec.strategy} search of {', '.join(r.name for r in spec.ranges)} by {spec.objective_metric} ({spec.objective_type})"
        )
        try:
            description = self._wait(
                lambda: sagemaker.describe_hyper_parameter_tuning_job(
                    HyperParameterTuningJobName=name
                ),
                lambda d: d["HyperParameterTuningJobStatus"],
                tuning.TERMINAL,
                progress,
                f"tuning job {name}",
                tuning.progress_detail,
            )
        except KeyboardInterrupt:
            # Ctrl-C must not leave its trials billing on AWS.
            self.stop_tuning_job(name)
            progress(f"tuning job {name}: stop requested (its trials stop too)")
            raise
        with aws_call(f"listing the training jobs of tuning job {name}"):
            summaries = tuning.list_trials(sagemaker, name)
        described = {}
        for summary in summaries:
            if summary["TrainingJobStatus"] == COMPLETED:
                job = summary["TrainingJobName"]
                with aws_call(f"describing training job {job}"):
                    described[job] = sagemaker.describe_training_job(
                        TrainingJobName=job
                    )
        result = tuning.result_from(description, summaries, described)
        if result.status != COMPLETED:
            progress(f"tuning job {name} {result.status}: {result.failure_reason}")
        return result

    def stop_tuning_job(self, tuning_job_name: str) -> None:
        with aws_call(f"stopping tuning job {tuning_job_name}"):
            self.clients.sagemaker.stop_hyper_parameter_tuning_job(
                HyperParameterTuningJobName=tuning_job_name
            )

    # --- batch transform ---------------------------------------------------------
    def run_transform_job(
        self, spec: TransformJobSpec, progress: Progress = no_progress
    ) -> TransformJobResult:
        """Create the job's model, run the job to its end, delete the model.

        A local input folder is uploaded first; a local output location
        becomes a prefix below the data prefix. The model is deleted however
        the job ends (a transform job keeps the model definition it started
        with); a failed deletion is reported through `progress`, not raised,
        so the job's result is not lost.
        """
        name = spec.job_name
        output_uri = (
            spec.output_location
            if s3.is_s3_uri(spec.output_location)
            else s3.join(self.settings.data_prefix, "jobs", name, "output")
        )
        # Everything is checked before the upload and any resource is made.
        on_s3 = replace(
            spec,
            input_location=spec.input_location
            if s3.is_s3_uri(spec.input_location)
            else s3.join(self.settings.data_prefix, "jobs", name, "input"),
            output_location=output_uri,
        )
        tags = self.settings.tags
        transform.transform_request(on_s3, tags)
        model = hosting.container_model_request(
            spec.model_name,
            spec.model_artifact,
            spec.image,
            {},
            self.settings.role_arn,
            tags,
        )
        on_s3 = replace(
            on_s3, input_location=self._as_s3(spec.input_location, f"jobs/{name}/input")
        )
        request = transform.transform_request(on_s3, tags)
        sagemaker = self.clients.sagemaker
        with aws_call(f"creating model {spec.model_name}"):
            sagemaker.create_model(**model)
        try:
            return self._transform(on_s3, request, progress)
        finally:
            self._delete_job_model(spec.model_name, progress)

    def _transform(
        self, spec: TransformJobSpec, request: dict[str, Any], progress: Progress
    ) -> TransformJobResult:
        name = spec.job_name
        sagemaker = self.clients.sagemaker
        with aws_call(f"creating transform job {name}"):
            sagemaker.create_transform_job(**request)
        progress(
            f"transform job {name} created: {spec.input_location} -> {spec.output_location}"
        )
        try:
            description = self._wait(
                lambda: sagemaker.describe_transform_job(TransformJobName=name),
                lambda d: d["TransformJobStatus"],
                transform.TERMINAL,
                progress,
                f"transform job {name}",
                lambda d: d.get("FailureReason"),
            )
        except KeyboardInterrupt:
            self.stop_transform_job(name)
            progress(f"transform job {name}: stop requested")
            raise
        result = transform.result_from_description(description)
        if result.status != COMPLETED:
            progress(f"transform job {name} {result.status}: {result.failure_reason}")
            return result
        bucket, _ = s3.parse_s3_uri(result.output_location)
        keys = s3.list_keys(self.clients.s3, result.output_location)
        return replace(result, outputs=transform.output_uris(bucket, keys))

    def stop_transform_job(self, job_name: str) -> None:
        with aws_call(f"stopping transform job {job_name}"):
            self.clients.sagemaker.stop_transform_job(TransformJobName=job_name)

    def _delete_job_model(self, model_name: str, progress: Progress) -> None:
        try:
            self._delete_model(model_name)
        except BackendError as exc:
            progress(f"{exc.message}: delete model {model_name} by hand")

    # --- hosting --------------------------------------------------------------
    def create_endpoint(self, spec: EndpointSpec) -> EndpointInfo:
        name = spec.endpoint_name
        config_name = self._create_model_and_config(spec)
        try:
            with aws_call(f"creating endpoint {name}"):
                self.clients.sagemaker.create_endpoint(
                    EndpointName=name,
                    EndpointConfigName=config_name,
                    Tags=[
                        {"Key": k, "Value": v}
                        for k, v in sorted(self.settings.tags.items())
                    ],
                )
        except BackendError as exc:
            # Refused: the new config and model serve nothing, and nothing
            # records them for teardown.
            _add_note(exc, self._discard(config_name, [spec.model_name]))
            raise
        description = self._wait_for_endpoint(name, no_progress)
        if description["EndpointStatus"] == FAILED:
            raise self._failed_creation(spec, config_name, description)
        return self._info(description, spec)

    def update_endpoint(self, spec: EndpointSpec) -> EndpointInfo:
        """Switch to a new config and model; keep whichever the endpoint serves.

        SageMaker rolls a failed update back: the endpoint ends InService on
        the old config with a FailureReason. That is reported as
        `UpdateRolledBack`, the new config and model are deleted and the old
        ones, still serving, are kept.
        """
        name = spec.endpoint_name
        sagemaker = self.clients.sagemaker
        previous = self._describe_endpoint(name)
        if previous["EndpointStatus"] == FAILED:
            reason = previous.get("FailureReason")
            raise EndpointFailed(
                f"endpoint {name} is Failed ({reason or 'no FailureReason given'}) and SageMaker accepts only DeleteEndpoint on a failed endpoint: run `teardown`, then `deploy`",
                reason,
            )
        old_config = previous["EndpointConfigName"]
        old_models = self._models_of(old_config)
        config_name = self._create_model_and_config(spec)
        new_models = [spec.model_name]
        try:
            with aws_call(f"updating endpoint {name}"):
                sagemaker.update_endpoint(
                    EndpointName=name, EndpointConfigName=config_name
                )
        except BackendError as exc:
            _add_note(exc, self._discard(config_name, new_models))
            raise
        description = self._wait_for_endpoint(name, no_progress)
        status = description["EndpointStatus"]
        serving = description.get("EndpointConfigName")
        reason = description.get("FailureReason")
        said = reason or "no FailureReason given"
        unused_old = [m for m in old_models if m not in new_models]
        if status == hosting.UPDATE_ROLLBACK_FAILED:
            raise EndpointFailed(
                f"updating endpoint {name} failed and so did SageMaker's rollback ({said}): it serves a mix of endpoint configs {old_config} and {config_name}, so both are kept; deploy again, or run `teardown`",
                reason,
            )
        if serving == config_name:
            # The old config and model serve nothing now; the registry keeps the
            # version, so a rollback is another update, not these leftovers.
            self._delete_config_and_models(old_config, unused_old)
            if status == IN_SERVICE:
                return self._info(description, spec)
            raise EndpointFailed(
                f"updating endpoint {name} left it {status}: {said}; it serves nothing now: run `teardown`, then `deploy`",
                reason,
            )
        # The endpoint does not use the new config: delete it and its model.
        self._delete_config_and_models(config_name, new_models)
        if status != IN_SERVICE:
            raise EndpointFailed(
                f"updating endpoint {name} left it {status}: {said}; it serves nothing now (deleted the new endpoint config {config_name} and model {spec.model_name}): run `teardown`, then `deploy`",
                reason,
            )
        serving_models = old_models if serving == old_config else []
        if serving and serving != old_config:
            serving_models = self._models_of(serving)
        raise UpdateRolledBack(
            f"updating endpoint {name} to model {spec.model_name} failed and SageMaker rolled it back: it still serves endpoint config {serving} (model {', '.join(serving_models) or 'unknown'}); SageMaker says: {said}; deleted the new endpoint config {config_name} and model {spec.model_name}",
            reason,
        )

    def invoke_endpoint(
        self,
        endpoint_name: str,
        body: bytes,
        content_type: str,
        accept: str,
        inference_id: str | None = None,
        target_variant: str | None = None,
    ) -> bytes:
        request: dict[str, Any] = {
            "EndpointName": endpoint_name,
            "Body": body,
            "ContentType": content_type,
            "Accept": accept,
        }
        if inference_id:
            request["InferenceId"] = inference_id
        if target_variant:
            # That production variant answers, whatever the weights say.
            request["TargetVariant"] = target_variant
        try:
            response = self.clients.runtime.invoke_endpoint(**request)
        except ClientError as exc:
            raise _invocation_error(endpoint_name, exc) from exc
        except BotoCoreError as exc:
            raise AwsCallFailed(
                f"invoking endpoint {endpoint_name} failed: {exc}"
            ) from exc
        return response["Body"].read()

    def delete_endpoint(self, endpoint_name: str) -> None:
        description = self._describe_endpoint(endpoint_name)
        sagemaker = self.clients.sagemaker
        # SageMaker refuses to delete an endpoint that schedules still watch.
        for schedule in monitoring.schedules_for_endpoint(sagemaker, endpoint_name):
            definition = self._quality_definition(schedule)
            monitoring.delete_schedule(sagemaker, schedule)
            self._wait_gone(
                lambda name=schedule: sagemaker.describe_monitoring_schedule(
                    MonitoringScheduleName=name
                ),
                f"monitoring schedule {schedule}",
            )
            if definition:
                # Only once the schedule that names it is gone.
                _delete_if_present(
                    lambda name=definition: (
                        sagemaker.delete_model_quality_job_definition(
                            JobDefinitionName=name
                        )
                    ),
                    f"deleting model-quality job definition {definition}",
                )
        alarms.delete_alarms(
            self.clients.cloudwatch, alarms.alarm_names_for(endpoint_name)
        )
        config = description["EndpointConfigName"]
        models = self._models_of(config)
        with aws_call(f"deleting endpoint {endpoint_name}"):
            sagemaker.delete_endpoint(EndpointName=endpoint_name)
        self._delete_config_and_models(config, models)

    def _quality_definition(self, schedule_name: str) -> str | None:
        """The model-quality job definition a schedule names (None: another kind)."""
        try:
            described = self.clients.sagemaker.describe_monitoring_schedule(
                MonitoringScheduleName=schedule_name
            )
        except ClientError as exc:
            if is_not_found(exc):
                return None
            raise describe(
                exc, f"describing monitoring schedule {schedule_name}"
            ) from exc
        return model_quality.definition_of(described)

    # --- processing (baseline, monitor) ---------------------------------------
    def run_processing_job(
        self, spec: ProcessingJobSpec, progress: Progress = no_progress
    ) -> ProcessingJobResult:
        input_uris = {
            relative: self._as_s3(
                location, f"jobs/{spec.job_name}/{relative.strip('/')}"
            )
            for relative, location in spec.inputs.items()
        }
        if not s3.is_s3_uri(spec.output_location):
            spec = replace(
                spec,
                output_location=s3.join(
                    self.settings.data_prefix, "jobs", spec.job_name, "output"
                ),
            )
        request = processing.processing_request(
            spec,
            self.settings.role_arn,
            input_uris,
            self.settings.processing_volume_gb,
            self.settings.tags,
        )
        sagemaker = self.clients.sagemaker
        with aws_call(f"creating processing job {spec.job_name}"):
            sagemaker.create_processing_job(**request)
        progress(f"processing job {spec.job_name} ({spec.command}) created")
        description = self._wait(
            lambda: sagemaker.describe_processing_job(ProcessingJobName=spec.job_name),
            lambda d: d["ProcessingJobStatus"],
            processing.TERMINAL,
            progress,
            f"processing job {spec.job_name}",
            lambda d: d.get("ExitMessage") or d.get("FailureReason"),
        )
        return processing.result_from_description(description)

    def fetch(self, location: str, local_dir: Path) -> Path:
        return s3.download(self.clients.s3, location, Path(local_dir))

    def wait_for_capture(
        self,
        destination: str,
        endpoint_name: str,
        start: str,
        end: str,
        progress: Progress = no_progress,
        wait: bool = True,
        variant: str = "AllTraffic",
    ) -> CaptureFound:
        """The window's capture objects in S3, waited for (see `aws.capture`).

        SageMaker writes capture asynchronously, so with `wait` this lists the
        window's hour prefixes every few seconds until an object written after
        the window's end is there, for at most aws.options.capture_wait_seconds.
        """
        return capture.wait_for_window(
            self.clients.s3,
            destination,
            endpoint_name,
            variant,
            start,
            end,
            progress,
            timeout_seconds=self.settings.capture_wait_seconds if wait else 0.0,
            poll_seconds=self.settings.poll_seconds,
            sleep=self._sleep,
        )

    # --- schedule, alarm, registry ---------------------------------------------
    def run_monitoring_schedule(
        self,
        spec: MonitoringScheduleSpec,
        monitor_due: MonitorDue,
        say: Progress,
        progress: Progress = no_progress,
        once: bool = False,
        max_runs: int | None = None,
    ) -> ScheduleRun:
        """SageMaker runs the schedule: create (or update) it and its alarms.

        The expression is aws.options.schedule_expression, else
        `schedule_minutes` as one SageMaker accepts (refused, before any AWS
        call, when there is none). Nothing is monitored by this process, so
        `monitor_due`, `once` and `max_runs` have nothing to do here.
        """
        expression = self.schedule_expression(spec.schedule_minutes)
        schedule = monitoring.ScheduleSpec(
            schedule_name=spec.schedule_name,
            endpoint_name=spec.endpoint_name,
            image=self.ensure_image(),
            statistics_uri=spec.statistics_location,
            constraints_uri=spec.constraints_location,
            output_uri=spec.output_location,
            schedule_expression=expression,
            instance_type=spec.instance_type,
        )
        self.create_monitoring_schedule(schedule, progress)
        alarm = self.create_drift_alarm(
            spec.endpoint_name,
            spec.schedule_name,
            spec.features,
            schedule_expression=expression,
        )
        say(
            f"monitoring schedule {spec.schedule_name} ({expression}); alarm {alarm['alarm_name']} → {alarm['topic_arn']}"
        )
        record: dict[str, Any] = {"name": spec.schedule_name, **alarm}
        traffic = self.create_traffic_alarms(spec, alarm["topic_arn"])
        if traffic:
            record["traffic_alarm_names"] = traffic
            say(f"traffic alarms {', '.join(traffic)} → {alarm['topic_arn']}")
        if spec.quality is not None:
            record["model_quality"] = self.create_quality_schedule(
                spec, spec.quality, schedule.image, expression, progress
            )
            say(
                f"model-quality schedule {record['model_quality']['name']} (job definition {record['model_quality']['job_definition']}); alarm {record['model_quality'].get('alarm_name') or 'none (the baseline suggested no constraint for its metric)'}"
            )
        return ScheduleRun(record, [])

    def create_traffic_alarms(
        self, spec: MonitoringScheduleSpec, topic_arn: str
    ) -> list[str]:
        """The error_rate and latency rules' alarms on the endpoint's metrics."""
        return alarms.put_traffic_alarms(
            self.clients.cloudwatch,
            alarms.TrafficAlarmSpec(
                endpoint_name=spec.endpoint_name,
                variant_names=spec.variant_names,
                topic_arn=topic_arn,
                max_error_rate=spec.max_error_rate,
                max_latency_p99_ms=spec.max_latency_p99_ms,
            ),
        )

    def schedule_expression(self, minutes: int) -> str:
        """aws.options.schedule_expression if set, else `minutes` as a cron."""
        return self.settings.schedule_expression or (
            monitoring.schedule_expression_for(minutes)
        )

    def create_monitoring_schedule(
        self, spec: monitoring.ScheduleSpec, progress: Progress = no_progress
    ) -> str:
        """Create the schedule, or update it to `spec` if it exists; wait for it."""
        sagemaker = self.clients.sagemaker
        try:
            monitoring.create_schedule(
                sagemaker, spec, self.settings.role_arn, self.settings.tags
            )
        except AwsCallFailed as exc:
            if exc.error_code != "ResourceInUse":
                raise
            # `schedule` run again (new baseline, image or expression).
            progress(f"monitoring schedule {spec.schedule_name} exists; updating it")
            monitoring.update_schedule(sagemaker, spec, self.settings.role_arn)
        self._schedule_expressions[spec.schedule_name] = spec.schedule_expression
        return self._wait_scheduled(spec.schedule_name, progress)

    def _wait_scheduled(self, schedule_name: str, progress: Progress) -> str:
        sagemaker = self.clients.sagemaker
        description = self._wait(
            lambda: sagemaker.describe_monitoring_schedule(
                MonitoringScheduleName=schedule_name
            ),
            lambda d: d["MonitoringScheduleStatus"],
            monitoring.SCHEDULE_TERMINAL,
            progress,
            f"monitoring schedule {schedule_name}",
            lambda d: d.get("FailureReason"),
        )
        status = description["MonitoringScheduleStatus"]
        if status != monitoring.SCHEDULED:
            raise BackendError(
                f"monitoring schedule {schedule_name} is {status}: {description.get('FailureReason') or 'no reason given'}"
            )
        return schedule_name

    def create_quality_schedule(
        self,
        spec: MonitoringScheduleSpec,
        quality: ModelQualityScheduleSpec,
        image: str,
        expression: str,
        progress: Progress = no_progress,
    ) -> dict[str, Any]:
        """The model-quality job definition, its schedule and alarm.

        A job definition cannot be changed, so each run creates one with a
        new name; a schedule that exists is pointed at it and the definition
        it named is deleted. A refused schedule deletes the new definition.
        """
        settings = self.settings
        sagemaker = self.clients.sagemaker
        name = model_quality.schedule_name_for(spec.endpoint_name)
        mq = model_quality.QualityScheduleSpec(
            schedule_name=name,
            definition_name=timestamped(f"{spec.endpoint_name}-mq"),
            endpoint_name=spec.endpoint_name,
            image=image,
            problem_type=quality.problem_type,
            constraints_uri=quality.constraints_location,
            ground_truth_uri=quality.ground_truth_location,
            output_uri=quality.output_location,
            schedule_expression=expression,
            instance_type=spec.instance_type,
            volume_gb=settings.processing_volume_gb,
        )
        model_quality.create_job_definition(
            sagemaker, mq, settings.role_arn, settings.tags
        )
        replaced = None
        try:
            try:
                model_quality.create_schedule(sagemaker, mq, settings.tags)
            except AwsCallFailed as exc:
                if exc.error_code != "ResourceInUse":
                    raise
                progress(f"monitoring schedule {name} exists; updating it")
                with aws_call(f"describing monitoring schedule {name}"):
                    described = sagemaker.describe_monitoring_schedule(
                        MonitoringScheduleName=name
                    )
                replaced = model_quality.definition_of(described)
                model_quality.update_schedule(sagemaker, mq)
        except BackendError as exc:
            _add_note(exc, self._discard_definition(mq.definition_name))
            raise
        self._wait_scheduled(name, progress)
        if replaced and replaced != mq.definition_name:
            _delete_if_present(
                lambda: sagemaker.delete_model_quality_job_definition(
                    JobDefinitionName=replaced
                ),
                f"deleting model-quality job definition {replaced}",
            )
        record: dict[str, Any] = {"name": name, "job_definition": mq.definition_name}
        if quality.alarm_metric and quality.alarm_operator:
            topic_arn = alarms.ensure_topic(
                self.clients.sns, settings.alarm_topic, (), settings.tags
            )
            record["alarm_name"] = alarms.put_quality_alarm(
                self.clients.cloudwatch,
                alarms.QualityAlarmSpec(
                    endpoint_name=spec.endpoint_name,
                    schedule_name=name,
                    metric=quality.alarm_metric,
                    threshold=float(quality.alarm_threshold or 0.0),
                    comparison_operator=quality.alarm_operator,
                    topic_arn=topic_arn,
                    period_seconds=alarms.schedule_interval_seconds(expression),
                ),
            )
        return record

    def _discard_definition(self, name: str) -> str:
        """Delete a job definition no schedule uses; a note if that fails."""
        try:
            model_quality.delete_job_definition(self.clients.sagemaker, name)
        except BackendError as exc:
            return f"; deleting the new job definition failed too, delete {name} by hand: {exc.message}"
        return ""

    def create_drift_alarm(
        self,
        endpoint_name: str,
        schedule_name: str,
        features: tuple[str, ...],
        schedule_expression: str | None = None,
    ) -> dict[str, str]:
        """The drift and silence alarms over the features, notifying the topic.

        Their period is the schedule's interval: `schedule_expression`, else
        the one this backend created the schedule with, else the configured one.
        """
        settings = self.settings
        expression = (
            schedule_expression
            or self._schedule_expressions.get(schedule_name)
            or settings.schedule_expression
            or monitoring.HOURLY
        )
        topic_arn = alarms.ensure_topic(
            self.clients.sns, settings.alarm_topic, settings.alarm_emails, settings.tags
        )
        drift, silence = alarms.put_alarms(
            self.clients.cloudwatch,
            alarms.DriftAlarmSpec(
                alarm_name=alarms.alarm_name_for(endpoint_name),
                endpoint_name=endpoint_name,
                schedule_name=schedule_name,
                features=features,
                topic_arn=topic_arn,
                namespace=settings.drift_namespace,
                threshold=settings.drift_threshold,
                period_seconds=alarms.schedule_interval_seconds(expression),
            ),
        )
        return {
            "alarm_name": drift,
            "silence_alarm_name": silence,
            "topic_arn": topic_arn,
        }

    def registry(self) -> AwsModelRegistry:
        return AwsModelRegistry(
            self.clients.sagemaker,
            self.clients.s3,
            s3.join(self.settings.data_prefix, "registry"),
        )

    # --- status and teardown -------------------------------------------------------
    def cleanup(self) -> list[str]:
        """Nothing runs on AWS besides the endpoint, which `delete_endpoint` removes
        with its schedules and alarms; jobs end on their own (max runtime)."""
        return []

    def status(self) -> dict:
        sagemaker = self.clients.sagemaker
        newest = {"SortBy": "CreationTime", "SortOrder": "Descending"}
        with aws_call("listing SageMaker jobs and endpoints"):
            jobs = sagemaker.list_training_jobs(MaxResults=STATUS_LIST_SIZE, **newest)
            processing_jobs = sagemaker.list_processing_jobs(
                MaxResults=STATUS_LIST_SIZE, **newest
            )
            endpoints = sagemaker.list_endpoints(MaxResults=STATUS_LIST_SIZE, **newest)
            schedules = sagemaker.list_monitoring_schedules(
                MaxResults=STATUS_LIST_SIZE, **newest
            )
        return {
            "backend": self.name,
            "region": self.settings.region,
            "training_jobs": [
                {"name": j["TrainingJobName"], "status": j["TrainingJobStatus"]}
                for j in jobs["TrainingJobSummaries"]
            ],
            "processing_jobs": [
                {"name": j["ProcessingJobName"], "status": j["ProcessingJobStatus"]}
                for j in processing_jobs["ProcessingJobSummaries"]
            ],
            "endpoints": [
                {"name": e["EndpointName"], "status": e["EndpointStatus"]}
                for e in endpoints["Endpoints"]
            ],
            "monitoring_schedules": [
                {
                    "name": s["MonitoringScheduleName"],
                    "status": s["MonitoringScheduleStatus"],
                    "endpoint": s.get("EndpointName"),
                    "last_execution": self._last_execution(s["MonitoringScheduleName"]),
                }
                for s in schedules["MonitoringScheduleSummaries"]
            ],
        }

    def _last_execution(self, schedule_name: str) -> dict[str, Any] | None:
        """The newest execution's status and failure reason, None if none ran.

        A schedule whose executions all fail looks fine in its own status
        (Scheduled), so this is where a failing monitor shows. A refused
        call (e.g. a status policy without ListMonitoringExecutions) is shown
        in place rather than failing the whole status.
        """
        try:
            execution = monitoring.last_execution(self.clients.sagemaker, schedule_name)
        except BackendError as exc:
            return {"error": exc.message}
        if execution is None:
            return None
        return {
            "status": execution["MonitoringExecutionStatus"],
            "scheduled_time": execution["ScheduledTime"].isoformat(),
            "failure_reason": execution.get("FailureReason"),
            "processing_job_arn": execution.get("ProcessingJobArn"),
        }

    # --- helpers -------------------------------------------------------------------
    def _as_s3(self, location: str, default_prefix: str) -> str:
        """An S3 URI for a job input: used as is, or uploaded from a local folder."""
        if s3.is_s3_uri(location):
            return location
        return self.upload_data(Path(location), default_prefix)

    def _wait(
        self, describe_call, status_of, terminal, progress, what, detail_of
    ) -> dict:
        with aws_call(f"waiting for {what}"):
            return wait_for(
                describe_call,
                status_of,
                terminal,
                progress,
                what,
                poll_seconds=self.settings.poll_seconds,
                timeout_seconds=self.settings.wait_timeout_seconds,
                detail_of=detail_of,
                sleep=self._sleep,
            )

    def _wait_gone(self, describe_call: Callable[[], Any], what: str) -> None:
        deadline = time.monotonic() + self.settings.wait_timeout_seconds
        while time.monotonic() < deadline:
            try:
                describe_call()
            except ClientError as exc:
                if is_not_found(exc):
                    return
                raise describe(exc, f"waiting for {what} to be deleted") from exc
            self._sleep(self.settings.poll_seconds)
        raise BackendError(f"{what} was not deleted within the wait timeout")

    def _create_model_and_config(self, spec: EndpointSpec) -> str:
        sagemaker = self.clients.sagemaker
        tags = self.settings.tags
        model = hosting.model_request(spec, self.settings.role_arn, tags)
        config_name = timestamped(spec.endpoint_name)
        config = hosting.endpoint_config_request(spec, config_name, tags)
        with aws_call(f"creating model {spec.model_name}"):
            sagemaker.create_model(**model)
        try:
            with aws_call(f"creating endpoint config {config_name}"):
                sagemaker.create_endpoint_config(**config)
        except BackendError as exc:
            _add_note(exc, self._discard(None, [spec.model_name]))
            raise
        return config_name

    def _wait_for_endpoint(self, endpoint_name: str, progress: Progress) -> dict:
        sagemaker = self.clients.sagemaker
        return self._wait(
            lambda: sagemaker.describe_endpoint(EndpointName=endpoint_name),
            lambda d: d["EndpointStatus"],
            hosting.TERMINAL,
            progress,
            f"endpoint {endpoint_name}",
            lambda d: d.get("FailureReason"),
        )

    def _info(self, description: dict[str, Any], spec: EndpointSpec) -> EndpointInfo:
        info = hosting.endpoint_info(description, self.settings.region)
        return replace(info, model_name=spec.model_name)

    def _failed_creation(
        self, spec: EndpointSpec, config_name: str, description: dict[str, Any]
    ) -> EndpointFailed:
        """Delete a new endpoint that failed to start, with its config and model.

        A failed endpoint serves nothing and accepts only DeleteEndpoint, its
        name stays taken until it is deleted, and the lifecycle records no
        endpoint for teardown to find; so it goes now, and the error keeps
        SageMaker's reason.
        """
        name = spec.endpoint_name
        reason = description.get("FailureReason")
        sagemaker = self.clients.sagemaker
        try:
            with aws_call(f"deleting failed endpoint {name}"):
                sagemaker.delete_endpoint(EndpointName=name)
            self._wait_gone(
                lambda: sagemaker.describe_endpoint(EndpointName=name),
                f"endpoint {name}",
            )
            self._delete_config_and_models(config_name, [spec.model_name])
            cleaned = f"deleted it, endpoint config {config_name} and model {spec.model_name}, so `deploy` can run again"
        except BackendError as exc:
            cleaned = f"deleting it failed ({exc.message}): delete endpoint {name}, endpoint config {config_name} and model {spec.model_name} by hand"
        return EndpointFailed(
            f"endpoint {name} failed to start: {reason or 'no FailureReason given'}; {cleaned} (container logs: CloudWatch log group /aws/sagemaker/Endpoints/{name})",
            reason,
        )

    def _discard(self, config_name: str | None, models: list[str]) -> str:
        """Delete a config and models nothing serves; a note if that fails."""
        try:
            if config_name is not None:
                self._delete_config_and_models(config_name, models)
            else:
                for model in models:
                    self._delete_model(model)
        except BackendError as exc:
            return f"; cleaning up failed too, delete by hand: {exc.message}"
        return ""

    def _describe_endpoint(self, endpoint_name: str) -> dict[str, Any]:
        try:
            return self.clients.sagemaker.describe_endpoint(EndpointName=endpoint_name)
        except ClientError as exc:
            if is_not_found(exc):
                raise ResourceNotFound(
                    f"endpoint {endpoint_name} does not exist"
                ) from exc
            raise describe(exc, f"describing endpoint {endpoint_name}") from exc

    def _models_of(self, config_name: str) -> list[str]:
        try:
            config = self.clients.sagemaker.describe_endpoint_config(
                EndpointConfigName=config_name
            )
        except ClientError as exc:
            if is_not_found(exc):
                return []
            raise describe(exc, f"describing endpoint config {config_name}") from exc
        return [v["ModelName"] for v in config["ProductionVariants"]]

    def _delete_config_and_models(self, config_name: str, models: list[str]) -> None:
        # Already gone is fine: a teardown retried after a partial failure
        # must finish the job rather than stop at what the first try removed.
        sagemaker = self.clients.sagemaker
        _delete_if_present(
            lambda: sagemaker.delete_endpoint_config(EndpointConfigName=config_name),
            f"deleting endpoint config {config_name}",
        )
        for model in models:
            self._delete_model(model)

    def _delete_model(self, model: str) -> None:
        _delete_if_present(
            lambda: self.clients.sagemaker.delete_model(ModelName=model),
            f"deleting model {model}",
        )

    # --- production and shadow variants -----------------------------------------
    def deploy_variant(
        self, endpoint_name: str, spec: VariantSpec
    ) -> list[VariantInfo]:
        """Add `spec` to the endpoint's variants, or replace the one of its name.

        A new config holds every variant as it runs now plus this one, and the
        endpoint switches to it blue/green (`variants.update_request`). When
        the new fleet does not come up, or a rollback alarm goes off while it
        bakes, SageMaker keeps the old one serving: the new config and model
        are deleted and `UpdateRolledBack` is raised.
        """
        endpoint, config = self._serving(endpoint_name)
        before = variants.deployed(endpoint, config)
        after = variants.with_variant(endpoint_name, before, spec)
        model = hosting.model_request(
            variants.model_spec(endpoint_name, spec),
            self.settings.role_arn,
            self.settings.tags,
        )
        replacing = spec.variant_name in {v.variant_name for v in before}
        rollback_alarms = (
            self._existing_alarms(variants.rollback_alarm_names(endpoint_name))
            if replacing
            else []
        )
        with aws_call(f"creating model {spec.model_name}"):
            self.clients.sagemaker.create_model(**model)
        self._switch_variants(
            endpoint_name,
            config,
            before,
            after,
            rollback_alarms,
            [spec.model_name],
            f"deploying variant {spec.variant_name} (model {spec.model_name})",
        )
        return self.describe_variants(endpoint_name)

    def set_variant_weights(
        self, endpoint_name: str, weights: dict[str, float]
    ) -> list[VariantInfo]:
        """New weights in place (UpdateEndpointWeightsAndCapacities): no new
        instances, and the endpoint serves throughout."""
        endpoint, config = self._serving(endpoint_name)
        request = variants.weights_request(
            endpoint_name, variants.deployed(endpoint, config), weights
        )
        with aws_call(f"setting the variant weights of endpoint {endpoint_name}"):
            self.clients.sagemaker.update_endpoint_weights_and_capacities(**request)
        description = self._wait_for_endpoint(endpoint_name, no_progress)
        if description["EndpointStatus"] != IN_SERVICE:
            reason = description.get("FailureReason")
            raise EndpointFailed(
                f"setting the variant weights of endpoint {endpoint_name} left it {description['EndpointStatus']}: {reason or 'no FailureReason given'}",
                reason,
            )
        return self.describe_variants(endpoint_name)

    def remove_variants(
        self, endpoint_name: str, names: list[str]
    ) -> list[VariantInfo]:
        """A config without `names`; once the endpoint serves it, the old config
        and the removed variants' models are deleted."""
        endpoint, config = self._serving(endpoint_name)
        before = variants.deployed(endpoint, config)
        after = variants.without_variants(endpoint_name, before, list(names))
        self._switch_variants(
            endpoint_name,
            config,
            before,
            after,
            [],
            [],
            f"removing variant {', '.join(names)}",
        )
        return self.describe_variants(endpoint_name)

    def describe_variants(self, endpoint_name: str) -> list[VariantInfo]:
        """DescribeEndpoint's variants, with their models and last hour's traffic."""
        endpoint = self._describe_endpoint(endpoint_name)
        config: dict[str, Any] = {}
        config_name = endpoint.get("EndpointConfigName")
        if config_name:
            try:
                with aws_call(f"describing endpoint config {config_name}"):
                    config = self.clients.sagemaker.describe_endpoint_config(
                        EndpointConfigName=config_name
                    )
            except ResourceNotFound:
                pass  # deleted by hand: the variants show without their models
        names = [
            v["VariantName"]
            for key in ("ProductionVariants", "ShadowProductionVariants")
            for v in endpoint.get(key) or []
        ]
        return variants.variant_infos(
            endpoint, config, self._variant_traffic(endpoint_name, names)
        )

    def describe_endpoint_models(self, endpoint_name: str) -> list[ServedModel]:
        """DescribeEndpoint → its endpoint config → DescribeModel of each variant."""
        endpoint = self._describe_endpoint(endpoint_name)
        config_name = endpoint["EndpointConfigName"]
        with aws_call(f"describing endpoint config {config_name}"):
            config = self.clients.sagemaker.describe_endpoint_config(
                EndpointConfigName=config_name
            )
        served = []
        for key, shadow in (
            ("ProductionVariants", False),
            ("ShadowProductionVariants", True),
        ):
            for variant in config.get(key) or []:
                container = self._model_container(variant["ModelName"])
                served.append(
                    ServedModel(
                        variant_name=variant["VariantName"],
                        model_name=variant["ModelName"],
                        model_artifact=container.get("ModelDataUrl"),
                        image=container.get("Image"),
                        shadow=shadow,
                        weight=float(variant.get("InitialVariantWeight", 1.0)),
                    )
                )
        return served

    def _model_container(self, model_name: str) -> dict[str, Any]:
        """A model's (first) container; empty when the model was deleted."""
        try:
            with aws_call(f"describing model {model_name}"):
                model = self.clients.sagemaker.describe_model(ModelName=model_name)
        except ResourceNotFound:
            return {}
        return model.get("PrimaryContainer") or (model.get("Containers") or [{}])[0]

    def _variant_traffic(
        self, endpoint_name: str, names: list[str]
    ) -> dict[str, dict[str, Any]]:
        """Last hour's CloudWatch metrics per variant; a refused call (a policy
        without GetMetricData) is shown in place rather than failing the step."""
        if not names:
            return {}
        request = variants.metric_data_request(endpoint_name, names, datetime.now(UTC))
        results: list[dict[str, Any]] = []
        try:
            with aws_call(
                f"reading the CloudWatch metrics of endpoint {endpoint_name}"
            ):
                pages = self.clients.cloudwatch.get_paginator("get_metric_data")
                for page in pages.paginate(**request):
                    results += page.get("MetricDataResults", [])
        except BackendError as exc:
            return {name: {"error": exc.message} for name in names}
        return variants.traffic_from(names, results)

    def _serving(self, endpoint_name: str) -> tuple[dict[str, Any], dict[str, Any]]:
        """DescribeEndpoint and its config, for an endpoint that can change."""
        description = self._describe_endpoint(endpoint_name)
        status = description["EndpointStatus"]
        if status == FAILED:
            reason = description.get("FailureReason")
            raise EndpointFailed(
                f"endpoint {endpoint_name} is Failed ({reason or 'no FailureReason given'}) and SageMaker accepts only DeleteEndpoint on a failed endpoint: run `teardown`, then `deploy`",
                reason,
            )
        if status != IN_SERVICE:
            raise BackendError(
                f"endpoint {endpoint_name} is {status}: SageMaker changes an endpoint's variants only while it is InService; wait for it (`status`) and try again"
            )
        config_name = description["EndpointConfigName"]
        with aws_call(f"describing endpoint config {config_name}"):
            config = self.clients.sagemaker.describe_endpoint_config(
                EndpointConfigName=config_name
            )
        return description, config

    def _existing_alarms(self, names: list[str]) -> list[str]:
        """Those of the alarms `names` that exist (AutoRollbackConfiguration
        refuses an alarm that does not)."""
        with aws_call(f"looking up CloudWatch alarms {', '.join(names)}"):
            found = self.clients.cloudwatch.describe_alarms(AlarmNames=names)
        return [a["AlarmName"] for a in found.get("MetricAlarms", [])]

    def _switch_variants(
        self,
        endpoint_name: str,
        config: dict[str, Any],
        before: list[variants.Variant],
        after: list[variants.Variant],
        rollback_alarms: list[str],
        new_models: list[str],
        what: str,
    ) -> None:
        """Create the config of `after`, switch the endpoint to it, and keep
        whichever config and models the endpoint serves in the end.

        `new_models` (created for `after`) are deleted with the new config
        when the endpoint stays on the old one; the old config and the models
        `after` no longer holds, once it serves the new one. Nothing that
        serves is deleted: when SageMaker's rollback failed too, both stay.
        """
        sagemaker = self.clients.sagemaker
        old_config = config["EndpointConfigName"]
        config_name = timestamped(endpoint_name)
        request = variants.endpoint_config_request(
            config_name, after, config, self.settings.tags
        )
        try:
            with aws_call(f"creating endpoint config {config_name}"):
                sagemaker.create_endpoint_config(**request)
        except BackendError as exc:
            _add_note(exc, self._discard(None, new_models))
            raise
        update = variants.update_request(
            endpoint_name,
            config_name,
            before,
            after,
            rollback_alarms,
            self.settings.wait_timeout_seconds,
        )
        try:
            with aws_call(f"updating endpoint {endpoint_name}"):
                sagemaker.update_endpoint(**update)
        except BackendError as exc:
            _add_note(exc, self._discard(config_name, new_models))
            raise
        description = self._wait_for_endpoint(endpoint_name, no_progress)
        status = description["EndpointStatus"]
        serving = description.get("EndpointConfigName")
        reason = description.get("FailureReason")
        said = reason or "no FailureReason given"
        what = f"{what} on endpoint {endpoint_name}"
        new = f"the new endpoint config {config_name}" + (
            f" and model {', '.join(new_models)}" if new_models else ""
        )
        if status == hosting.UPDATE_ROLLBACK_FAILED:
            raise EndpointFailed(
                f"{what} failed and so did SageMaker's rollback ({said}): it serves a mix of endpoint configs {old_config} and {config_name}, so both are kept with their models; deploy again, or run `teardown`",
                reason,
            )
        if serving == config_name:
            held = {v.model_name for v in after}
            unused = [v.model_name for v in before if v.model_name not in held]
            self._delete_config_and_models(old_config, unused)
            if status == IN_SERVICE:
                return
            raise EndpointFailed(
                f"{what} left it {status}: {said}; it serves nothing now: run `teardown`, then `deploy`",
                reason,
            )
        # The endpoint does not use the new config: it and its model go.
        self._delete_config_and_models(config_name, new_models)
        if status != IN_SERVICE:
            raise EndpointFailed(
                f"{what} left it {status}: {said}; it serves nothing now (deleted {new}): run `teardown`, then `deploy`",
                reason,
            )
        raise UpdateRolledBack(
            f"{what} failed and SageMaker rolled it back: it still serves endpoint config {serving} (variants {variants.names_of(before) if serving == old_config else 'unknown'}); SageMaker says: {said}; deleted {new}",
            reason,
        )


def _add_note(exc: BackendError, note: str) -> None:
    """Add `note` (what a clean-up after `exc` could not do) to its message."""
    if note:
        exc.message += note
        exc.args = (exc.message, *exc.args[1:])


def _delete_if_present(delete: Callable[[], Any], action: str) -> None:
    try:
        delete()
    except ClientError as exc:
        if not is_not_found(exc):
            raise describe(exc, action) from exc


def create_backend(config: Any) -> AwsBackend:
    """The backend factory `orchestration.backends.get_backend` calls."""
    if getattr(config, "aws", None) is None:
        raise AwsConfigError(
            "the aws backend needs an `aws:` section in the config (see config/aws-example.yaml)"
        )
    return AwsBackend(AwsSettings.from_config(config.aws, image=config.image))


def _invocation_error(endpoint_name: str, exc: ClientError) -> AwsCallFailed:
    """ModelError carries the container's own 4xx/5xx status and body: pass them on."""
    error = exc.response.get("Error", {})
    original = exc.response.get("OriginalMessage") or error.get("Message", "")
    status = exc.response.get("OriginalStatusCode") or exc.response.get(
        "ResponseMetadata", {}
    ).get("HTTPStatusCode", 500)
    return AwsCallFailed(
        f"endpoint {endpoint_name} answered {status}: {original}",
        error_code=error.get("Code", ""),
        status_code=int(status),
    )

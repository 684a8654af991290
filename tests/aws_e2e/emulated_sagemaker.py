"""SageMaker for the AWS backend's tests: real containers, AWS's request shapes.

The AWS backend runs unchanged, through its own boto3 clients pointed at a
moto server (`AWS_ENDPOINT_URL`). Every request is first checked against the
service model (tests/service_model.py) and then answered by whichever
emulator does what SageMaker does:

- The SageMaker SDK 2.x local mode (`LocalSession().sagemaker_client`) runs the
  real image in Docker for training and processing jobs, models, endpoint
  configs and endpoints, and `.sagemaker_runtime_client` sends InvokeEndpoint
  to the container. Local mode reads and writes S3 through moto.
- moto gets a copy of each Create/Delete as well, so its List* calls, endpoint
  configs and the model registry see the same resources.
- What neither has is answered by the small adapters below, each written to
  the SageMaker documentation it names:
  * FinalMetricDataList: the training job's log lines matched with the
    request's MetricDefinitions regexes, as SageMaker scrapes them.
  * ExitMessage / FailureReason of processing jobs: /opt/ml/output/message and
    /opt/ml/output/failure, collected through an extra output.
  * DataCaptureConfig (local mode takes none): each InvokeEndpoint's request
    and response written to S3 as a capture record
    (`{destination}/{endpoint}/{variant}/yyyy/mm/dd/hh/*.jsonl`).
  * ModelError: a container 4xx/5xx answered as SageMaker runtime does (424,
    OriginalStatusCode, OriginalMessage).
  * Batch transform outputs: local mode runs CreateTransformJob with the real
    container but writes `{S3OutputPath}/{job}/{input}.out`; SageMaker writes
    `{S3OutputPath}/{input}.out` (batch-transform docs), so the outputs are
    moved there. Local mode ignores DataCaptureConfig and DataProcessing
    (filters, JoinSource) of a transform job; neither is emulated here. It
    also takes a BatchStrategy from the container's /execution-parameters
    only spelled as the API spells it (MultiRecord), not as the documented
    example answers it (MULTI_RECORD), so jobs run here set BatchStrategy.
- Hyperparameter tuning jobs are neither in local mode nor here: the AWS
  tests answer them from moto and botocore's Stubber, without containers.
  * Monitoring schedules (Create/Describe/Update/List/Delete) and
    ListMonitoringExecutions: kept here; `run_schedule` executes a schedule's
    own MonitoringJobDefinition as a processing job with the environment the
    bring-your-own-container contract describes, and publishes the CloudWatch
    metrics the container wrote to moto, as SageMaker publishes them.

Requests are answered through botocore's `before-call` event (the mechanism
botocore's Stubber uses), so the caller's client validates, signs nothing and
parses nothing differently from a real call. Calls made while emulating the
platform (local mode's own S3 transfers, the copies sent to moto) are not
recorded as the backend's calls.
"""

from __future__ import annotations

import copy
import io
import json
import re
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, redirect_stdout
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import IO, Any, TextIO

import botocore.session
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError
from botocore.response import StreamingBody

# Where the SageMaker documentation's own examples read Model Monitor's
# metrics; only a real account can confirm the namespace of BYOC monitors.
MONITORING_NAMESPACE = "aws/sagemaker/Endpoints/data-metrics"
ACCOUNT = "123456789012"
CAPTURE_JSON_FORMAT = {
    "sagemakerCaptureJson": {"captureIndexNames": ["endpointInput", "endpointOutput"]}
}
# The monitoring-job contract's fixed paths (model-monitor-byoc-contract-inputs).
BASELINE_CONSTRAINTS = "/opt/ml/processing/baseline/constraints"
BASELINE_STATISTICS = "/opt/ml/processing/baseline/stats"
CONTAINER_OUTPUT = "/opt/ml/output"


@dataclass(frozen=True)
class Call:
    """One request the code under test sent, and the step that sent it."""

    step: str
    service: str
    operation: str
    params: dict[str, Any]


class ServiceError(Exception):
    """An error answer, shaped as the service would send it."""

    def __init__(self, code: str, message: str, status: int = 400, **extra: Any):
        super().__init__(message)
        self.code, self.message, self.status, self.extra = code, message, status, extra


def not_found(what: str) -> ServiceError:
    return ServiceError("ValidationException", f"Could not find {what}.")


@dataclass
class _Job:
    request: dict[str, Any]
    status: str = "InProgress"
    failure_reason: str | None = None
    exit_message: str | None = None
    metrics: list[dict[str, Any]] = field(default_factory=list)
    created: datetime = field(default_factory=lambda: datetime.now(UTC))
    ended: datetime | None = None


class EmulatedSageMaker:
    """Answers the backend's SageMaker calls; see the module docstring."""

    def __init__(self, boto_session: Any, moto_url: str, scratch_bucket: str):
        import sagemaker.local

        self.region = boto_session.region_name
        self.scratch_bucket = scratch_bucket
        self._platform = threading.local()
        with self.platform():
            self.moto = {
                name: boto_session.client(name, endpoint_url=moto_url)
                for name in ("sagemaker", "s3", "cloudwatch")
            }
            self.moto["s3"].create_bucket(
                Bucket=scratch_bucket,
                CreateBucketConfiguration={"LocationConstraint": self.region},
            )
            self.local_session = sagemaker.local.LocalSession(
                boto_session=boto_session, s3_endpoint_url=moto_url
            )
        self.local = self.local_session.sagemaker_client
        self.runtime = self.local_session.sagemaker_runtime_client
        self.step = ""
        self.calls: list[Call] = []
        self.training_jobs: dict[str, _Job] = {}
        self.processing_jobs: dict[str, _Job] = {}
        self.transform_jobs: dict[str, _Job] = {}
        self.endpoint_configs: dict[str, dict[str, Any]] = {}
        self.endpoints: dict[str, dict[str, Any]] = {}
        self.schedules: dict[str, dict[str, Any]] = {}
        # Model-quality job definitions by name: recorded, not executed.
        self.quality_definitions: dict[str, dict[str, Any]] = {}
        self.executions: dict[str, list[dict[str, Any]]] = {}
        self.published: list[dict[str, Any]] = []  # PutMetricData, as SageMaker
        self._answers: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
            "CreateTrainingJob": self._create_training_job,
            "DescribeTrainingJob": self._describe_training_job,
            "CreateProcessingJob": self._create_processing_job,
            "DescribeProcessingJob": self._describe_processing_job,
            "CreateModel": self._create_model,
            "DeleteModel": self._delete_model,
            "CreateEndpointConfig": self._create_endpoint_config,
            "DeleteEndpointConfig": self._delete_endpoint_config,
            "CreateEndpoint": self._create_endpoint,
            "DescribeEndpoint": self._describe_endpoint,
            "DeleteEndpoint": self._delete_endpoint,
            "CreateMonitoringSchedule": self._create_schedule,
            "UpdateMonitoringSchedule": self._update_schedule,
            "DescribeMonitoringSchedule": self._describe_schedule,
            "ListMonitoringSchedules": self._list_schedules,
            "DeleteMonitoringSchedule": self._delete_schedule,
            "CreateModelQualityJobDefinition": self._create_quality_definition,
            "DeleteModelQualityJobDefinition": self._delete_quality_definition,
            "ListMonitoringExecutions": self._list_executions,
            "InvokeEndpoint": self._invoke_endpoint,
            "CreateTransformJob": self._create_transform_job,
            "DescribeTransformJob": self._describe_transform_job,
        }

    # --- wiring -------------------------------------------------------------------
    @contextmanager
    def platform(self) -> Iterator[None]:
        """Calls made in here are SageMaker's own work, not the backend's."""
        previous = getattr(self._platform, "on", False)
        self._platform.on = True
        try:
            yield
        finally:
            self._platform.on = previous

    def attach(self, client: Any) -> None:
        """Record this client's calls and answer its SageMaker ones."""
        events = client.meta.events
        events.register("before-parameter-build", self._record)
        service = client.meta.service_model.service_id.hyphenize()
        if service in ("sagemaker", "sagemaker-runtime") and not self._on_platform:
            events.register(f"before-call.{service}", self._answer)

    @property
    def _on_platform(self) -> bool:
        return getattr(self._platform, "on", False)

    def _record(self, model, params, context, **kwargs) -> None:
        context["emulator_params"] = snapshot(params)
        if not self._on_platform:
            service = model.service_model.service_id.hyphenize()
            self.calls.append(Call(self.step, service, model.name, snapshot(params)))

    def _answer(self, model, context, **kwargs):
        answer = self._answers.get(model.name)
        if answer is None:
            return None  # moto answers it
        params = context["emulator_params"]
        try:
            with self.platform():
                parsed = answer(params)
        except ServiceError as error:
            body = {
                "Error": {"Code": error.code, "Message": error.message},
                "ResponseMetadata": {"HTTPStatusCode": error.status},
                **error.extra,
            }
            return AWSResponse(None, error.status, {}, None), body
        parsed.setdefault("ResponseMetadata", {"HTTPStatusCode": 200})
        return AWSResponse(None, 200, {}, None), parsed

    def operations(self, step: str | None = None) -> list[str]:
        return [c.operation for c in self.calls if step is None or c.step == step]

    # --- training -------------------------------------------------------------------
    def _create_training_job(self, params: dict[str, Any]) -> dict[str, Any]:
        name = params["TrainingJobName"]
        if name in self.training_jobs:
            raise ServiceError("ResourceInUse", f"Training job {name} already exists")
        self.moto["sagemaker"].create_training_job(**params)
        job = self.training_jobs[name] = _Job(params)
        logs = io.StringIO()
        try:
            with redirect_stdout(_Tee(logs, sys.stdout)):
                self.local.create_training_job(**copy.deepcopy(params))
            job.status = "Completed"
        except Exception as exc:  # noqa: BLE001 - a failed job, as SageMaker reports it
            job.status, job.failure_reason = "Failed", f"AlgorithmError: {exc}"
        job.ended = datetime.now(UTC)
        definitions = params["AlgorithmSpecification"].get("MetricDefinitions", [])
        job.metrics = final_metrics(logs.getvalue(), definitions, job.ended)
        return {"TrainingJobArn": self._arn("training-job", name)}

    def _describe_training_job(self, params: dict[str, Any]) -> dict[str, Any]:
        name = params["TrainingJobName"]
        job = self.training_jobs.get(name)
        if job is None:
            raise not_found(f"training job {name}")
        found = (
            self.local.describe_training_job(name) if job.status == "Completed" else {}
        )
        artifacts = (found.get("ModelArtifacts") or {}).get("S3ModelArtifacts")
        description = {
            "TrainingJobName": name,
            "TrainingJobArn": self._arn("training-job", name),
            "TrainingJobStatus": job.status,
            "SecondaryStatus": job.status,
            "CreationTime": job.created,
            "TrainingStartTime": job.created,
            "TrainingEndTime": job.ended,
            "AlgorithmSpecification": job.request["AlgorithmSpecification"],
            "FinalMetricDataList": job.metrics,
        }
        if artifacts:
            description["ModelArtifacts"] = {"S3ModelArtifacts": artifacts}
        if job.failure_reason:
            description["FailureReason"] = job.failure_reason
        return description

    # --- processing -----------------------------------------------------------------
    def _create_processing_job(self, params: dict[str, Any]) -> dict[str, Any]:
        name = params["ProcessingJobName"]
        if name in self.processing_jobs:
            raise ServiceError("ResourceInUse", f"Processing job {name} already exists")
        self.moto["sagemaker"].create_processing_job(**params)
        job = self.processing_jobs[name] = _Job(params)
        request = copy.deepcopy(params)
        # Collects /opt/ml/output (message, failure, CloudWatch metrics), which
        # SageMaker reads from every processing container.
        request.setdefault("ProcessingOutputConfig", {"Outputs": []})["Outputs"].append(
            {
                "OutputName": "emulator-container-output",
                "S3Output": {
                    "S3Uri": self._scratch_uri(name),
                    "LocalPath": CONTAINER_OUTPUT,
                    "S3UploadMode": "EndOfJob",
                },
            }
        )
        error = None
        try:
            self.local.create_processing_job(**request)
            job.status = "Completed"
        except Exception as exc:  # noqa: BLE001 - the container's failure file says why
            job.status, error = "Failed", exc
        job.ended = datetime.now(UTC)
        job.exit_message = self._container_file(name, "message")
        if job.status == "Failed":
            job.failure_reason = (
                self._container_file(name, "failure")
                or f"ClientError: the job did not run: {type(error).__name__}: {error}"
            )
        return {"ProcessingJobArn": self._arn("processing-job", name)}

    def _describe_processing_job(self, params: dict[str, Any]) -> dict[str, Any]:
        name = params["ProcessingJobName"]
        job = self.processing_jobs.get(name)
        if job is None:
            raise not_found(f"processing job {name}")
        description = {
            "ProcessingJobName": name,
            "ProcessingJobArn": self._arn("processing-job", name),
            "ProcessingJobStatus": job.status,
            "CreationTime": job.created,
            "ProcessingStartTime": job.created,
            "ProcessingEndTime": job.ended,
            "LastModifiedTime": job.ended,
            "AppSpecification": job.request["AppSpecification"],
            "ProcessingResources": job.request["ProcessingResources"],
            "RoleArn": job.request["RoleArn"],
        }
        for key in ("ProcessingInputs", "ProcessingOutputConfig", "Environment"):
            if key in job.request:
                description[key] = job.request[key]
        if job.exit_message:
            description["ExitMessage"] = job.exit_message[:1024]
        if job.failure_reason:
            description["FailureReason"] = job.failure_reason[:1024]
        return description

    def container_output(self, job_name: str, relative: str) -> str | None:
        """A file the job's container left under /opt/ml/output, if any."""
        return self._container_file(job_name, relative)

    def _container_file(self, job_name: str, relative: str) -> str | None:
        key = f"{job_name}/output/{relative}"
        try:
            body = self.moto["s3"].get_object(Bucket=self.scratch_bucket, Key=key)
        except ClientError:
            return None
        return body["Body"].read().decode("utf-8", "replace").strip() or None

    def _scratch_uri(self, job_name: str) -> str:
        return f"s3://{self.scratch_bucket}/{job_name}/output"

    # --- batch transform ------------------------------------------------------------
    def _create_transform_job(self, params: dict[str, Any]) -> dict[str, Any]:
        name = params["TransformJobName"]
        if name in self.transform_jobs:
            raise ServiceError("ResourceInUse", f"Transform job {name} already exists")
        self.moto["sagemaker"].create_transform_job(**params)
        job = self.transform_jobs[name] = _Job(params)
        request = copy.deepcopy(params)
        output = request["TransformOutput"]
        output["S3OutputPath"] = self._scratch_uri(name)
        arguments = {
            k: request.pop(k)
            for k in (
                "TransformJobName",
                "ModelName",
                "TransformInput",
                "TransformOutput",
                "TransformResources",
            )
        }
        try:
            self.local.create_transform_job(**arguments, **request)
            self._move_outputs(
                f"{self._scratch_uri(name)}/{name}/",
                params["TransformOutput"]["S3OutputPath"],
            )
            job.status = "Completed"
        except Exception as exc:  # noqa: BLE001 - a failed job, as SageMaker reports it
            job.status = "Failed"
            job.failure_reason = f"ClientError: {type(exc).__name__}: {exc}"
            self._stop_transform_container(name)
        job.ended = datetime.now(UTC)
        return {"TransformJobArn": self._arn("transform-job", name)}

    def _stop_transform_container(self, name: str) -> None:
        """Local mode stops a transform job's container only when it succeeds."""
        local_job = type(self.local)._transform_jobs.get(name)
        container = getattr(local_job, "container", None)
        if container is not None:
            try:
                container.stop_serving()
            except Exception:  # noqa: BLE001 - already gone is fine
                pass

    def _move_outputs(self, scratch: str, destination: str) -> None:
        s3 = self.moto["s3"]
        bucket, _, prefix = scratch[len("s3://") :].partition("/")
        target_bucket, _, target = destination[len("s3://") :].partition("/")
        pages = s3.get_paginator("list_objects_v2").paginate(
            Bucket=bucket, Prefix=prefix
        )
        for key in [o["Key"] for page in pages for o in page.get("Contents", [])]:
            relative = key[len(prefix) :]
            s3.copy_object(
                Bucket=target_bucket,
                Key="/".join(p for p in (target.strip("/"), relative) if p),
                CopySource={"Bucket": bucket, "Key": key},
            )
            s3.delete_object(Bucket=bucket, Key=key)

    def _describe_transform_job(self, params: dict[str, Any]) -> dict[str, Any]:
        name = params["TransformJobName"]
        job = self.transform_jobs.get(name)
        if job is None:
            raise not_found(f"transform job {name}")
        description = {
            "TransformJobName": name,
            "TransformJobArn": self._arn("transform-job", name),
            "TransformJobStatus": job.status,
            "CreationTime": job.created,
            "TransformStartTime": job.created,
            "TransformEndTime": job.ended,
        }
        for key in (
            "ModelName",
            "TransformInput",
            "TransformOutput",
            "TransformResources",
            "DataProcessing",
            "DataCaptureConfig",
            "BatchStrategy",
            "MaxPayloadInMB",
            "MaxConcurrentTransforms",
            "ModelClientConfig",
            "Environment",
        ):
            if key in job.request:
                description[key] = job.request[key]
        if job.failure_reason:
            description["FailureReason"] = job.failure_reason[:1024]
        return description

    # --- hosting --------------------------------------------------------------------
    def _create_model(self, params: dict[str, Any]) -> dict[str, Any]:
        self.moto["sagemaker"].create_model(**params)
        self.local.create_model(params["ModelName"], params["PrimaryContainer"])
        return {"ModelArn": self._arn("model", params["ModelName"])}

    def _delete_model(self, params: dict[str, Any]) -> dict[str, Any]:
        self.moto["sagemaker"].delete_model(**params)
        self.local.delete_model(params["ModelName"])
        return {}

    def _create_endpoint_config(self, params: dict[str, Any]) -> dict[str, Any]:
        name = params["EndpointConfigName"]
        self.moto["sagemaker"].create_endpoint_config(**params)
        # Local mode takes no DataCaptureConfig: capture is this adapter's job.
        self.local.create_endpoint_config(
            name, copy.deepcopy(params["ProductionVariants"])
        )
        self.endpoint_configs[name] = params
        return {"EndpointConfigArn": self._arn("endpoint-config", name)}

    def _delete_endpoint_config(self, params: dict[str, Any]) -> dict[str, Any]:
        self.moto["sagemaker"].delete_endpoint_config(**params)
        self.local.delete_endpoint_config(params["EndpointConfigName"])
        self.endpoint_configs.pop(params["EndpointConfigName"], None)
        return {}

    def _create_endpoint(self, params: dict[str, Any]) -> dict[str, Any]:
        name, config = params["EndpointName"], params["EndpointConfigName"]
        if name in self.endpoints:
            raise ServiceError(
                "ValidationException",
                f'Cannot create already existing endpoint "{name}"',
            )
        self.moto["sagemaker"].create_endpoint(**params)
        self.local.create_endpoint(name, config)  # returns once /ping answers
        self.endpoints[name] = {"config": config, "created": datetime.now(UTC)}
        return {"EndpointArn": self._arn("endpoint", name)}

    def _describe_endpoint(self, params: dict[str, Any]) -> dict[str, Any]:
        name = params["EndpointName"]
        endpoint = self.endpoints.get(name)
        if endpoint is None:
            raise not_found(f'endpoint "{self._arn("endpoint", name)}"')
        config = self.endpoint_configs[endpoint["config"]]
        description = {
            "EndpointName": name,
            "EndpointArn": self._arn("endpoint", name),
            "EndpointConfigName": endpoint["config"],
            "EndpointStatus": "InService",
            "CreationTime": endpoint["created"],
            "LastModifiedTime": endpoint["created"],
            "ProductionVariants": [
                {
                    "VariantName": v["VariantName"],
                    "CurrentInstanceCount": v["InitialInstanceCount"],
                    "DesiredInstanceCount": v["InitialInstanceCount"],
                }
                for v in config["ProductionVariants"]
            ],
        }
        capture = config.get("DataCaptureConfig")
        if capture:
            description["DataCaptureConfig"] = {
                "EnableCapture": capture.get("EnableCapture", True),
                "CaptureStatus": "Started",
                "CurrentSamplingPercentage": capture["InitialSamplingPercentage"],
                "DestinationS3Uri": capture["DestinationS3Uri"],
            }
        return description

    def _delete_endpoint(self, params: dict[str, Any]) -> dict[str, Any]:
        name = params["EndpointName"]
        if name not in self.endpoints:
            raise not_found(f'endpoint "{self._arn("endpoint", name)}"')
        watched = [s for s, v in self.schedules.items() if v["EndpointName"] == name]
        if watched:
            # SageMaker refuses to delete an endpoint that a schedule watches.
            raise ServiceError(
                "ValidationException",
                f"Endpoint {name} is in use by monitoring schedule(s) {watched}",
            )
        self.moto["sagemaker"].delete_endpoint(**params)
        self.local.delete_endpoint(name)
        del self.endpoints[name]
        return {}

    def _invoke_endpoint(self, params: dict[str, Any]) -> dict[str, Any]:
        name = params["EndpointName"]
        endpoint = self.endpoints.get(name)
        if endpoint is None:
            raise not_found(f"endpoint {name}")
        sent = {
            k: params[k]
            for k in (
                "Body",
                "ContentType",
                "Accept",
                "CustomAttributes",
                "InferenceId",
            )
            if k in params
        }
        body = (
            sent["Body"] if isinstance(sent["Body"], bytes) else sent["Body"].encode()
        )
        sent["Body"] = body
        response = self.runtime.invoke_endpoint(EndpointName=name, **sent)["Body"]
        answer, status = response.read(), response.status
        content_type = response.headers.get("Content-Type", "")
        response.release_conn()
        if status >= 400:
            raise ServiceError(
                "ModelError",
                f"Received client error ({status}) from primary with message "
                f'"{answer.decode("utf-8", "replace")}".',
                status=424,
                OriginalStatusCode=status,
                OriginalMessage=answer.decode("utf-8", "replace"),
            )
        config = self.endpoint_configs[endpoint["config"]]
        self._capture(name, config, params, body, answer, content_type)
        return {
            "Body": StreamingBody(io.BytesIO(answer), len(answer)),
            "ContentType": content_type,
            "InvokedProductionVariant": config["ProductionVariants"][0]["VariantName"],
        }

    def _capture(
        self,
        endpoint: str,
        config: dict[str, Any],
        request: dict[str, Any],
        body: bytes,
        answer: bytes,
        answer_type: str,
    ) -> None:
        """One capture record per request, where SageMaker would put it."""
        capture = config.get("DataCaptureConfig")
        if not capture or not capture.get("EnableCapture", True):
            return
        if capture["InitialSamplingPercentage"] < 100:
            raise NotImplementedError("the capture adapter samples 100 % only")
        from container.contract.settings import CaptureSettings
        from container.serving.capture import capture_record

        header = capture.get("CaptureContentTypeHeader") or {}
        modes = {o["CaptureMode"] for o in capture["CaptureOptions"]}
        variant = config["ProductionVariants"][0]["VariantName"]
        settings = CaptureSettings(
            destination="s3",
            capture_input="Input" in modes,
            capture_output="Output" in modes,
            csv_content_types=tuple(header.get("CsvContentTypes", ["text/csv"])),
            json_content_types=tuple(header.get("JsonContentTypes", [])),
            endpoint_name=endpoint,
            variant_name=variant,
        )
        when = datetime.now(UTC)
        record = capture_record(
            settings,
            body,
            request.get("ContentType"),
            answer,
            answer_type,
            when,
            inference_id=request.get("InferenceId"),
        )
        bucket, _, prefix = capture["DestinationS3Uri"][len("s3://") :].partition("/")
        key = "/".join(
            part
            for part in (
                prefix.strip("/"),
                endpoint,
                variant,
                when.strftime("%Y/%m/%d/%H"),
                f"{when:%M-%S-%f}-{uuid.uuid4()}.jsonl",
            )
            if part
        )
        self.moto["s3"].put_object(
            Bucket=bucket, Key=key, Body=(json.dumps(record) + "\n").encode()
        )

    # --- monitoring schedules --------------------------------------------------------
    def _create_schedule(self, params: dict[str, Any]) -> dict[str, Any]:
        name = params["MonitoringScheduleName"]
        if name in self.schedules:
            raise ServiceError(
                "ResourceInUse", f"Monitoring schedule {name} already exists"
            )
        now = datetime.now(UTC)
        config = params["MonitoringScheduleConfig"]
        if "MonitoringJobDefinitionName" in config:
            named = config["MonitoringJobDefinitionName"]
            if named not in self.quality_definitions:
                raise ServiceError(
                    "ValidationException", f"Job definition {named} does not exist"
                )
            job_input = self.quality_definitions[named]["ModelQualityJobInput"]
            watched = job_input["EndpointInput"]["EndpointName"]
        else:
            (monitored,) = config["MonitoringJobDefinition"]["MonitoringInputs"]
            watched = monitored["EndpointInput"]["EndpointName"]
        self.schedules[name] = {
            "request": params,
            "EndpointName": watched,
            "CreationTime": now,
            "LastModifiedTime": now,
        }
        self.executions[name] = []
        return {"MonitoringScheduleArn": self._arn("monitoring-schedule", name)}

    def _update_schedule(self, params: dict[str, Any]) -> dict[str, Any]:
        name = params["MonitoringScheduleName"]
        schedule = self._schedule(name)
        schedule["request"] = {**schedule["request"], **params}
        schedule["LastModifiedTime"] = datetime.now(UTC)
        return {"MonitoringScheduleArn": self._arn("monitoring-schedule", name)}

    def _schedule(self, name: str) -> dict[str, Any]:
        if name not in self.schedules:
            raise ServiceError(
                "ResourceNotFound", f"Monitoring schedule {name} does not exist", 404
            )
        return self.schedules[name]

    def _describe_schedule(self, params: dict[str, Any]) -> dict[str, Any]:
        name = params["MonitoringScheduleName"]
        schedule = self._schedule(name)
        description = {
            "MonitoringScheduleArn": self._arn("monitoring-schedule", name),
            "MonitoringScheduleName": name,
            "MonitoringScheduleStatus": "Scheduled",
            "MonitoringType": schedule["request"]["MonitoringScheduleConfig"].get(
                "MonitoringType", "DataQuality"
            ),
            "CreationTime": schedule["CreationTime"],
            "LastModifiedTime": schedule["LastModifiedTime"],
            "MonitoringScheduleConfig": schedule["request"]["MonitoringScheduleConfig"],
            "EndpointName": schedule["EndpointName"],
        }
        if self.executions[name]:
            description["LastMonitoringExecutionSummary"] = self.executions[name][-1]
        return description

    def _list_schedules(self, params: dict[str, Any]) -> dict[str, Any]:
        summaries = [
            {
                "MonitoringScheduleName": name,
                "MonitoringScheduleArn": self._arn("monitoring-schedule", name),
                "CreationTime": s["CreationTime"],
                "LastModifiedTime": s["LastModifiedTime"],
                "MonitoringScheduleStatus": "Scheduled",
                "EndpointName": s["EndpointName"],
            }
            for name, s in self.schedules.items()
            if params.get("EndpointName") in (None, s["EndpointName"])
            and params.get("NameContains", "") in name
        ]
        reverse = params.get("SortOrder", "Descending") == "Descending"
        summaries.sort(key=lambda s: s["CreationTime"], reverse=reverse)
        return {
            "MonitoringScheduleSummaries": summaries[: params.get("MaxResults", 10)]
        }

    def _create_quality_definition(self, params: dict[str, Any]) -> dict[str, Any]:
        name = params["JobDefinitionName"]
        if name in self.quality_definitions:
            raise ServiceError("ResourceInUse", f"Job definition {name} already exists")
        self.quality_definitions[name] = params
        return {"JobDefinitionArn": self._arn("model-quality-job-definition", name)}

    def _delete_quality_definition(self, params: dict[str, Any]) -> dict[str, Any]:
        name = params["JobDefinitionName"]
        if name not in self.quality_definitions:
            raise not_found(f"Job definition {name}")
        in_use = [
            s
            for s, v in self.schedules.items()
            if v["request"]["MonitoringScheduleConfig"].get(
                "MonitoringJobDefinitionName"
            )
            == name
        ]
        if in_use:
            raise ServiceError(
                "ResourceInUse", f"Job definition {name} is used by {in_use[0]}"
            )
        del self.quality_definitions[name]
        return {}

    def _delete_schedule(self, params: dict[str, Any]) -> dict[str, Any]:
        self._schedule(params["MonitoringScheduleName"])
        del self.schedules[params["MonitoringScheduleName"]]
        return {}

    def _list_executions(self, params: dict[str, Any]) -> dict[str, Any]:
        name = params.get("MonitoringScheduleName")
        found = [
            e
            for schedule, runs in self.executions.items()
            if name in (None, schedule)
            for e in runs
        ]
        reverse = params.get("SortOrder", "Descending") == "Descending"
        found.sort(key=lambda e: e["ScheduledTime"], reverse=reverse)
        return {"MonitoringExecutionSummaries": found[: params.get("MaxResults", 10)]}

    def run_schedule(self, schedule_name: str, start: str, end: str) -> dict[str, Any]:
        """One execution of a schedule over [start, end], as SageMaker runs it.

        The schedule's MonitoringJobDefinition becomes a processing job: the
        endpoint's capture mounted under the input's LocalPath, the baseline
        files at the contract's paths, the contract's environment, results
        under `{S3Uri}/{endpoint}/{schedule}/yyyy/mm/dd/hh`. The metrics the
        container wrote are then published to CloudWatch.
        """
        with self.platform():
            return self._run_schedule(schedule_name, start, end)

    def _run_schedule(self, schedule_name: str, start: str, end: str) -> dict[str, Any]:
        schedule = self._schedule(schedule_name)
        definition = schedule["request"]["MonitoringScheduleConfig"][
            "MonitoringJobDefinition"
        ]
        endpoint = schedule["EndpointName"]
        (monitored,) = definition["MonitoringInputs"]
        local_path = monitored["EndpointInput"]["LocalPath"]
        config = self.endpoint_configs[self.endpoints[endpoint]["config"]]
        capture_uri = config["DataCaptureConfig"]["DestinationS3Uri"].rstrip("/")
        scheduled = datetime.strptime(end, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        baseline = definition.get("BaselineConfig", {})
        (output,) = definition["MonitoringOutputConfig"]["MonitoringOutputs"]
        results = "/".join(
            [
                output["S3Output"]["S3Uri"].rstrip("/"),
                endpoint,
                schedule_name,
                scheduled.strftime("%Y/%m/%d/%H"),
            ]
        )
        inputs = [
            _input("endpoint", f"{capture_uri}/{endpoint}", f"{local_path}/{endpoint}")
        ]
        environment = {
            "dataset_format": json.dumps(CAPTURE_JSON_FORMAT),
            "dataset_source": local_path,
            "output_path": output["S3Output"]["LocalPath"],
            "publish_cloudwatch_metrics": "Enabled",
            "sagemaker_endpoint_name": endpoint,
            "sagemaker_monitoring_schedule_name": schedule_name,
            "start_time": start,
            "end_time": end,
            "metric_time": end,
        }
        for kind, folder, variable in (
            ("Constraints", BASELINE_CONSTRAINTS, "baseline_constraints"),
            ("Statistics", BASELINE_STATISTICS, "baseline_statistics"),
        ):
            uri = (baseline.get(f"{kind}Resource") or {}).get("S3Uri")
            if uri:
                inputs.append(_input(kind.lower(), uri, folder))
                environment[variable] = f"{folder}/{uri.rsplit('/', 1)[-1]}"
        environment.update(definition.get("Environment") or {})
        app = definition["MonitoringAppSpecification"]
        job_name = f"model-monitoring-{scheduled:%Y%m%d%H%M%S}-{uuid.uuid4().hex[:8]}"
        cluster = definition["MonitoringResources"]["ClusterConfig"]
        self._create_processing_job(
            {
                "ProcessingJobName": job_name,
                "ProcessingInputs": inputs,
                "ProcessingOutputConfig": {
                    "Outputs": [
                        {
                            "OutputName": "result",
                            "S3Output": {**output["S3Output"], "S3Uri": results},
                        }
                    ]
                },
                "ProcessingResources": {"ClusterConfig": cluster},
                "StoppingCondition": definition["StoppingCondition"],
                "AppSpecification": {
                    "ImageUri": app["ImageUri"],
                    **{
                        k: app[k]
                        for k in ("ContainerEntrypoint", "ContainerArguments")
                        if k in app
                    },
                },
                "Environment": environment,
                "RoleArn": definition["RoleArn"],
            }
        )
        job = self.processing_jobs[job_name]
        metrics = self._publish_metrics(job_name) if job.status == "Completed" else []
        violations = self._violations(results)
        status = job.status
        if status == "Completed" and violations:
            status = "CompletedWithViolations"
        execution = {
            "MonitoringScheduleName": schedule_name,
            "ScheduledTime": scheduled,
            "CreationTime": job.created,
            "LastModifiedTime": job.ended,
            "MonitoringExecutionStatus": status,
            "ProcessingJobArn": self._arn("processing-job", job_name),
            "EndpointName": endpoint,
            "MonitoringType": "DataQuality",
        }
        if job.failure_reason:
            execution["FailureReason"] = job.failure_reason
        self.executions[schedule_name].append(execution)
        return {
            **execution,
            "job_name": job_name,
            "results": results,
            "violations": violations,
            "metrics": metrics,
        }

    def _publish_metrics(self, job_name: str) -> list[dict[str, Any]]:
        text = self._container_file(job_name, "metrics/cloudwatch/metrics.jsonl") or ""
        lines = [json.loads(line) for line in text.splitlines() if line.strip()]
        for line in lines:
            datum = {k: v for k, v in line.items() if k != "Timestamp"}
            datum["Timestamp"] = datetime.strptime(
                line["Timestamp"], "%Y-%m-%dT%H:%M:%SZ"
            ).replace(tzinfo=UTC)
            self.moto["cloudwatch"].put_metric_data(
                Namespace=MONITORING_NAMESPACE, MetricData=[datum]
            )
            self.published.append({"Namespace": MONITORING_NAMESPACE, **line})
        return lines

    def _violations(self, results_uri: str) -> list[dict[str, Any]]:
        bucket, _, prefix = results_uri[len("s3://") :].partition("/")
        key = f"{prefix}/constraint_violations.json"
        try:
            body = self.moto["s3"].get_object(Bucket=bucket, Key=key)["Body"].read()
        except ClientError:
            return []
        return json.loads(body).get("violations", [])

    def _arn(self, kind: str, name: str) -> str:
        return f"arn:aws:sagemaker:{self.region}:{ACCOUNT}:{kind}/{name.lower()}"


def snapshot(value: Any) -> Any:
    """A copy of a request's dicts and lists; bodies (open files) are shared."""
    if isinstance(value, dict):
        return {k: snapshot(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [snapshot(v) for v in value]
    return value


def _input(name: str, uri: str, local_path: str) -> dict[str, Any]:
    return {
        "InputName": name,
        "S3Input": {
            "S3Uri": uri,
            "LocalPath": local_path,
            "S3DataType": "S3Prefix",
            "S3InputMode": "File",
            "S3DataDistributionType": "FullyReplicated",
        },
    }


def final_metrics(
    logs: str, definitions: list[dict[str, str]], when: datetime
) -> list[dict[str, Any]]:
    """The last value each MetricDefinition's regex finds in the logs."""
    found = []
    for definition in definitions:
        values = re.findall(definition["Regex"], logs, flags=re.MULTILINE)
        if values:
            last = values[-1]
            value = last[0] if isinstance(last, tuple) else last
            found.append(
                {
                    "MetricName": definition["Name"],
                    "Value": float(value),
                    "Timestamp": when,
                }
            )
    return found


class _Tee(io.TextIOBase):
    """Write to several streams: the job's logs are scraped and still shown."""

    def __init__(self, *streams: Any):
        self.streams = streams

    def write(self, text: str) -> int:
        for stream in self.streams:
            stream.write(text)
        return len(text)


def _copy_lines(source: IO[bytes], target: TextIO) -> None:
    for line in iter(source.readline, b""):
        target.write(line.decode("utf-8", "replace"))


def drain_local_mode_output() -> Callable[[], None]:
    """Make local mode keep every log line of a container that has exited.

    SDK 2.x's `_stream_output` stops reading as soon as the process ends, so
    the last lines, which hold train's metrics, can be lost; SageMaker keeps
    them all. Returns the function that puts the SDK's own back.
    """
    from sagemaker.local import image

    original = image._stream_output

    def stream_output(process: subprocess.Popen) -> int:
        # The hosting container's compose process also pipes stderr, which the
        # SDK never reads: drain it too, or a chatty container blocks on a full
        # pipe, and close both, or their file objects leak until a collection
        # finds them (which once failed an unrelated later test).
        stderr_drain = None
        if process.stderr is not None:
            stderr_drain = threading.Thread(
                target=_copy_lines, args=(process.stderr, sys.stderr), daemon=True
            )
            stderr_drain.start()
        try:
            _copy_lines(process.stdout, sys.stdout)
            exit_code = process.wait()
            if stderr_drain is not None:
                stderr_drain.join()
        finally:
            for pipe in (process.stdout, process.stderr):
                if pipe is not None:
                    pipe.close()
        if exit_code not in (0, 130):
            raise RuntimeError(
                f"Failed to run: {process.args}. Process exited with code: {exit_code}"
            )
        return exit_code

    image._stream_output = stream_output
    return lambda: setattr(image, "_stream_output", original)


def patch_client_creation(emulator: EmulatedSageMaker) -> Callable[[], None]:
    """Attach the emulator to every botocore client created from now on."""
    checked = botocore.session.Session.create_client

    def create_client(self, *args, **kwargs):
        client = checked(self, *args, **kwargs)
        emulator.attach(client)
        return client

    botocore.session.Session.create_client = create_client
    return lambda: setattr(botocore.session.Session, "create_client", checked)

"""SageMaker Pipelines: CreatePipeline / UpdatePipeline, StartPipelineExecution,
and an execution's status with its steps.

The requests are built here, not by the SDK's `Pipeline.upsert`, so every one
passes through our clients (retries, validation, the service-model checks in
the tests) and its failure is one `BackendError` naming what was refused.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from botocore.exceptions import ClientError

from orchestration.aws.errors import aws_call
from orchestration.aws.naming import check_name

# CreatePipeline's PipelineDefinition: at most 1 MB of JSON (service model).
MAX_DEFINITION_CHARS = 1_048_576
TERMINAL = ("Succeeded", "Failed", "Stopped")


def upsert_request(
    name: str, document: dict[str, Any], role_arn: str
) -> dict[str, Any]:
    check_name(name, "pipeline")
    body = json.dumps(document, separators=(",", ":"))
    if len(body) > MAX_DEFINITION_CHARS:
        from orchestration.backends.base import BackendError

        raise BackendError(
            f"pipeline definition is {len(body)} characters; CreatePipeline takes at most {MAX_DEFINITION_CHARS}"
        )
    return {
        "PipelineName": name,
        "PipelineDefinition": body,
        "PipelineDescription": "sklearn-byoc lifecycle: prepare, train, evaluate, condition, baseline, register",
        "RoleArn": role_arn,
    }


def upsert(
    sagemaker: Any,
    name: str,
    document: dict[str, Any],
    role_arn: str,
    tags: dict[str, str],
) -> str:
    """Create the pipeline, or update it when it exists; returns its ARN."""
    request = upsert_request(name, document, role_arn)
    with aws_call(f"creating pipeline {name}"):
        try:
            created = sagemaker.create_pipeline(
                **request,
                ClientRequestToken=str(uuid.uuid4()),
                Tags=[{"Key": k, "Value": v} for k, v in sorted(tags.items())],
            )
            return created["PipelineArn"]
        except ClientError as exc:
            if exc.response["Error"][
                "Code"
            ] != "ResourceInUse" and "already exists" not in str(exc):
                raise
    with aws_call(f"updating pipeline {name}"):
        return sagemaker.update_pipeline(**request)["PipelineArn"]


def start(sagemaker: Any, name: str, parameters: dict[str, str]) -> str:
    """Start an execution with `parameters` overriding the defaults; its ARN."""
    with aws_call(f"starting pipeline {name}"):
        return sagemaker.start_pipeline_execution(
            PipelineName=name,
            PipelineParameters=[
                {"Name": k, "Value": str(v)} for k, v in sorted(parameters.items())
            ],
            ClientRequestToken=str(uuid.uuid4()),
        )["PipelineExecutionArn"]


def latest_execution(sagemaker: Any, name: str) -> str | None:
    with aws_call(f"listing executions of pipeline {name}"):
        found = sagemaker.list_pipeline_executions(
            PipelineName=name,
            SortBy="CreationTime",
            SortOrder="Descending",
            MaxResults=1,
        ).get("PipelineExecutionSummaries", [])
    return found[0]["PipelineExecutionArn"] if found else None


def execution_status(sagemaker: Any, arn: str) -> dict[str, Any]:
    """The execution's status, failure reason and every step, paged."""
    with aws_call(f"describing pipeline execution {arn}"):
        described = sagemaker.describe_pipeline_execution(PipelineExecutionArn=arn)
        steps: list[dict[str, Any]] = []
        token: str | None = None
        while True:
            page = sagemaker.list_pipeline_execution_steps(
                PipelineExecutionArn=arn,
                SortOrder="Ascending",
                **({"NextToken": token} if token else {}),
            )
            steps.extend(page.get("PipelineExecutionSteps", []))
            token = page.get("NextToken")
            if not token:
                break
    return {
        "execution_arn": arn,
        "status": described["PipelineExecutionStatus"],
        "failure_reason": described.get("FailureReason"),
        "steps": [
            {
                "name": s["StepName"],
                "status": s.get("StepStatus"),
                "failure_reason": s.get("FailureReason"),
                "metadata": s.get("Metadata", {}),
            }
            for s in steps
        ],
    }

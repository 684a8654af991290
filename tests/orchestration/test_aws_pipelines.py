"""`ingest` and `pipeline upsert` / `start` / `status` on the AWS backend,
against moto's server.

moto creates, updates, starts and describes pipelines (it runs no step); it
has no ListPipelineExecutionSteps, which botocore's Stubber answers, as it
answers the failures moto cannot produce. Every request is checked against
the service model by the suite's hook (tests/conftest.py), and every call
against the IAM policy of its step.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from orchestration import ingest, pipelines
from tests import iam_policies
from tests.orchestration import aws_conftest_helpers as helpers
from tests.orchestration.aws_conftest_helpers import (
    BUCKET,
    CallLog,
    PartialStubber,
    push_fake_image,
)

moto_url = helpers.moto_url
aws_settings = helpers.aws_settings
backend = helpers.backend
ROOT = Path(__file__).resolve().parents[2]
TOO_LOW = "validation:accuracy is 0.62 but must be at least 0.9"


@pytest.fixture
def project(backend, tmp_path):
    push_fake_image(backend)
    return helpers.aws_project(backend, tmp_path)


def logged(backend, step: str) -> CallLog:
    log = CallLog(step=step)
    log.attach(backend.clients)
    return log


def test_ingest_uploads_the_raw_files_under_a_version_of_their_hashes(project, backend):
    log = logged(backend, "ingest")
    first = ingest.ingest(project)
    log.step = ""  # reading what was uploaded is test set-up

    assert first.location.startswith(f"s3://{BUCKET}/penguins/data/raw/{first.version}")
    keys = sorted(
        o["Key"] for o in backend.clients.s3.list_objects_v2(Bucket=BUCKET)["Contents"]
    )
    assert keys == [
        f"penguins/data/raw/{first.version}/annotations/penguins-species.manifest",
        f"penguins/data/raw/{first.version}/raw/penguins-raw.csv",
        f"penguins/data/raw/{first.version}/settings/preparation.json",
    ]
    raw = project.config.data.raw
    assert first.files["raw"]["sha256"] == ingest.sha256_file(raw)
    assert project.state["ingested"]["version"] == first.version
    settings = json.loads(
        backend.clients.s3.get_object(
            Bucket=BUCKET,
            Key=f"penguins/data/raw/{first.version}/settings/preparation.json",
        )["Body"].read()
    )
    assert settings["raw_file"] == "penguins-raw.csv"
    assert settings["schema"]["target"] == "species"

    log.step = "ingest"
    uploads = log.operations("ingest").count("PutObject")
    again = ingest.ingest(project)  # same data: nothing is uploaded again
    assert again.version == first.version
    assert log.operations("ingest").count("PutObject") == uploads
    assert iam_policies.audit(log.requests) == []


def test_changed_raw_data_gets_a_new_version(project, tmp_path):
    first = ingest.ingest(project)
    changed = tmp_path / "penguins-raw.csv"
    lines = project.config.data.raw.read_text().splitlines()
    changed.write_text("\n".join(lines[:-1]) + "\n")
    project.config = dataclasses.replace(
        project.config, data=dataclasses.replace(project.config.data, raw=changed)
    )
    second = ingest.ingest(project)
    assert second.version != first.version
    assert second.files["raw"]["sha256"] != first.files["raw"]["sha256"]


def test_upsert_creates_then_updates_and_start_passes_parameters(project, backend):
    ingest.ingest(project)
    log = logged(backend, "pipeline")

    arn = pipelines.upsert(project)
    log.step = ""  # what follows reads moto's state: test set-up, not the step's
    described = backend.clients.sagemaker.describe_pipeline(
        PipelineName="penguins-lifecycle"
    )
    definition = json.loads(described["PipelineDefinition"])
    raw = next(p for p in definition["Parameters"] if p["Name"] == "RawDataUri")
    assert raw["DefaultValue"] == project.state["ingested"]["location"].rstrip("/")
    assert described["RoleArn"] == project.config.aws.role_arn
    assert arn == described["PipelineArn"]

    log.step = "pipeline"
    again = pipelines.upsert(project)  # exists: updated, not refused
    assert again == arn
    assert log.operations("pipeline").count("CreatePipeline") == 2
    assert log.operations("pipeline").count("UpdatePipeline") == 1

    execution = pipelines.start(project, {"ApprovalThreshold": "0.95"})
    log.step = ""
    parameters = backend.clients.sagemaker.list_pipeline_parameters_for_execution(
        PipelineExecutionArn=execution
    )["PipelineParameters"]
    assert {"Name": "ApprovalThreshold", "Value": "0.95"} in parameters
    assert iam_policies.audit(log.requests) == []


def test_upsert_before_ingest_says_what_to_run(project):
    with pytest.raises(Exception, match="orchestration ingest --backend aws"):
        pipelines.upsert(project)


def test_status_shows_each_step_and_the_failure(project, backend):
    ingest.ingest(project)
    pipelines.upsert(project)
    arn = pipelines.start(project, {})
    log = logged(backend, "pipeline")
    stub = PartialStubber(
        backend.clients.sagemaker,
        {"DescribePipelineExecution", "ListPipelineExecutionSteps"},
    )
    stub.add_response(
        "describe_pipeline_execution",
        {
            "PipelineExecutionArn": arn,
            "PipelineExecutionStatus": "Failed",
            "FailureReason": "Step failure: One or multiple steps failed.",
        },
    )
    stub.add_response(
        "list_pipeline_execution_steps",
        {
            "PipelineExecutionSteps": [
                {"StepName": "Prepare", "StepStatus": "Succeeded"},
                {"StepName": "Train", "StepStatus": "Succeeded"},
            ],
            "NextToken": "page-2",
        },
    )
    stub.add_response(
        "list_pipeline_execution_steps",
        {
            "PipelineExecutionSteps": [
                {"StepName": "Evaluate", "StepStatus": "Succeeded"},
                {"StepName": "CheckMetric", "StepStatus": "Succeeded"},
                {
                    "StepName": "MetricTooLow",
                    "StepStatus": "Failed",
                    "FailureReason": TOO_LOW,
                },
            ]
        },
        {"PipelineExecutionArn": arn, "SortOrder": "Ascending", "NextToken": "page-2"},
    )
    with stub:
        outcome = pipelines.status(project)
    assert outcome["status"] == "Failed"
    assert [s["name"] for s in outcome["steps"]] == [
        "Prepare",
        "Train",
        "Evaluate",
        "CheckMetric",
        "MetricTooLow",
    ]
    said = "\n".join(project.said)
    assert (
        "MetricTooLow  Failed: validation:accuracy is 0.62 but must be at least 0.9"
        in said
    )
    assert iam_policies.audit(log.requests) == []


def test_pipeline_commands_refuse_the_wrong_backend(tmp_path):
    from orchestration import cli

    code = cli.main(
        ["pipeline", "upsert", "--backend", "local", "--state-dir", str(tmp_path)]
    )
    assert code != 0

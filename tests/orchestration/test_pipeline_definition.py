"""The pipeline definition: its DAG, its condition, and every step's request
checked against the SageMaker service model, as CreatePipeline would send it.

A step's Arguments are the request of the job it starts (CreateProcessingJob,
CreateTrainingJob, CreateModelPackage, CreateModel), with pipeline
expressions in place of some values. The expressions are resolved the way
SageMaker resolves them at run time (parameters to their defaults, step
properties to a value of the right form), then each request goes through
botocore's validator and the service model's patterns and enums.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import botocore.session
import pytest
from botocore.validate import ParamValidator

from orchestration import pipeline_definition as definition_module
from orchestration.aws import pipelines as aws_pipelines
from orchestration.config import load_config
from orchestration.pipeline_definition import (
    build_pipeline,
    definition,
    pipeline_settings,
    quiet_sdk,
)
from tests import service_model

IMAGE = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/sklearn-byoc:latest"
ROLE = "arn:aws:iam::123456789012:role/sklearn-byoc-sagemaker"
BUCKET = "my-bucket"
RAW = f"s3://{BUCKET}/penguins/data/raw/0123456789abcdef"
# A value of the right form for each step property the steps read.
PROPERTY_VALUES = {
    "S3Uri": f"s3://{BUCKET}/penguins/pipelines/prepared",
    "S3ModelArtifacts": f"s3://{BUCKET}/penguins/pipelines/training/job/output/model.tar.gz",
}
OPERATIONS = {
    "Processing": "CreateProcessingJob",
    "Training": "CreateTrainingJob",
    "RegisterModel": "CreateModelPackage",
    "Model": "CreateModel",
}
NAME_KEYS = {
    "CreateProcessingJob": "ProcessingJobName",
    "CreateTrainingJob": "TrainingJobName",
    "CreateModel": "ModelName",
}


def settings(local: bool, **changes: Any):
    config = load_config()
    made = pipeline_settings(
        config,
        name="penguins-lifecycle",
        image=IMAGE,
        role_arn=ROLE,
        artifacts_uri=f"s3://{BUCKET}/penguins/pipelines",
        raw_uri=RAW,
        settings_uri=f"{RAW}/settings/preparation.json",
        metric_names=("validation:accuracy", "test:accuracy"),
        local=local,
    )
    return dataclasses.replace(made, **changes)


def document(local: bool = False, **changes: Any) -> dict[str, Any]:
    import boto3
    from sagemaker.workflow.pipeline_context import (
        LocalPipelineSession,
        PipelineSession,
    )

    boto_session = boto3.Session(
        aws_access_key_id="x", aws_secret_access_key="x", region_name="eu-west-1"
    )
    kind = LocalPipelineSession if local else PipelineSession
    with quiet_sdk():
        session = kind(boto_session=boto_session, default_bucket=BUCKET)
    return definition(build_pipeline(settings(local, **changes), session))


def all_steps(steps: list[dict]) -> list[dict]:
    out = []
    for step in steps:
        out.append(step)
        if step["Type"] == "Condition":
            out += all_steps(step["Arguments"]["IfSteps"])
            out += all_steps(step["Arguments"]["ElseSteps"])
    return out


def resolve(value: Any, parameters: dict[str, Any]) -> Any:
    """A step's arguments with its pipeline expressions evaluated."""
    if isinstance(value, dict):
        if set(value) == {"Get"}:
            path = value["Get"]
            if path.startswith("Parameters."):
                return parameters[path.removeprefix("Parameters.")]
            return PROPERTY_VALUES[path.rsplit(".", 1)[-1]]
        if set(value) == {"Std:Join"}:
            join = value["Std:Join"]
            return join["On"].join(str(resolve(v, parameters)) for v in join["Values"])
        return {k: resolve(v, parameters) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v, parameters) for v in value]
    return value


def assert_valid_request(operation: str, params: dict) -> None:
    model = botocore.session.get_session().get_service_model("sagemaker")
    shape = model.operation_model(operation).input_shape
    report = ParamValidator().validate(params, shape)
    assert not report.has_errors(), f"{operation}: {report.generate_report()}"
    assert service_model.violations_of(shape, params, "") == []


@pytest.fixture(scope="module")
def aws_document() -> dict[str, Any]:
    return document(local=False)


def test_steps_and_their_order(aws_document):
    top = [(s["Name"], s["Type"]) for s in aws_document["Steps"]]
    assert top == [
        ("Prepare", "Processing"),
        ("Train", "Training"),
        ("Evaluate", "Processing"),
        ("CheckMetric", "Condition"),
    ]
    check = aws_document["Steps"][3]["Arguments"]
    assert [s["Name"] for s in check["IfSteps"]] == ["Baseline", "Model-RegisterModel"]
    assert [s["Type"] for s in check["ElseSteps"]] == ["Fail"]


def test_each_step_reads_the_previous_steps_outputs(aws_document):
    text = json.dumps(aws_document)
    train = json.dumps(aws_document["Steps"][1])
    evaluate = json.dumps(aws_document["Steps"][2])
    prepared = "Steps.Prepare.ProcessingOutputConfig.Outputs['prepared'].S3Output.S3Uri"
    assert prepared in train
    assert "Steps.Train.ModelArtifacts.S3ModelArtifacts" in evaluate
    assert prepared in evaluate
    assert (
        "Steps.Train.ModelArtifacts.S3ModelArtifacts"
        in text.split('"Model-RegisterModel"')[1]
    )
    channels = [
        c["ChannelName"]
        for c in aws_document["Steps"][1]["Arguments"]["InputDataConfig"]
    ]
    assert channels == ["train", "validation", "test"]


def test_every_step_runs_the_image_command_it_needs(aws_document):
    entrypoints = {
        s["Name"]: s["Arguments"]["AppSpecification"].get("ContainerEntrypoint")
        for s in all_steps(aws_document["Steps"])
        if s["Type"] == "Processing"
    }
    assert entrypoints == {
        "Prepare": ["prepare"],
        "Evaluate": ["evaluate"],
        "Baseline": ["baseline"],
    }
    train = aws_document["Steps"][1]["Arguments"]
    assert train["AlgorithmSpecification"]["TrainingImage"] == IMAGE
    assert train["HyperParameters"]["target"] == "species"
    assert "DebugHookConfig" not in train  # a BYOC image has no Debugger hook


def test_the_condition_compares_the_evaluation_property_file_with_the_threshold(
    aws_document,
):
    check = aws_document["Steps"][3]["Arguments"]["Conditions"]
    assert len(check) == 1 and check[0]["Type"] == "GreaterThanOrEqualTo"
    left = check[0]["LeftValue"]["Std:JsonGet"]
    assert left["PropertyFile"] == {"Get": "Steps.Evaluate.PropertyFiles.Evaluation"}
    assert left["Path"] == "metrics.validation.accuracy"
    assert check[0]["RightValue"] == {"Get": "Parameters.ApprovalThreshold"}
    evaluate = aws_document["Steps"][2]
    assert evaluate["PropertyFiles"] == [
        {
            "PropertyFileName": "Evaluation",
            "OutputName": "evaluation",
            "FilePath": "evaluation.json",
        }
    ]
    outputs = evaluate["Arguments"]["ProcessingOutputConfig"]["Outputs"]
    assert [o["OutputName"] for o in outputs] == ["evaluation"]


def test_a_metric_to_minimise_flips_the_comparison():
    minimised = document(
        approval_metric="validation:rmse",
        approval_direction="min",
        approval_threshold=3.5,
    )
    check = minimised["Steps"][3]["Arguments"]["Conditions"][0]
    assert check["Type"] == "LessThanOrEqualTo"
    assert check["LeftValue"]["Std:JsonGet"]["Path"] == "metrics.validation.rmse"
    message = json.dumps(minimised["Steps"][3]["Arguments"]["ElseSteps"][0])
    assert "must be at most" in message


def test_parameters_have_the_config_defaults(aws_document):
    parameters = {p["Name"]: p for p in aws_document["Parameters"]}
    config = load_config()
    assert parameters["ApprovalThreshold"] == {
        "Name": "ApprovalThreshold",
        "Type": "Float",
        "DefaultValue": config.registry.auto_approval.threshold,
    }
    assert (
        parameters["TrainingInstanceType"]["DefaultValue"]
        == config.training.instance_type
    )
    assert parameters["RawDataUri"]["DefaultValue"] == RAW
    assert parameters["ModelApprovalStatus"]["DefaultValue"] == "PendingManualApproval"


@pytest.mark.parametrize("local", [False, True], ids=["aws", "local"])
def test_every_step_request_passes_the_service_model(local):
    built = document(local=local)
    parameters = {p["Name"]: p["DefaultValue"] for p in built["Parameters"]}
    # Local mode's "local" instance type is local mode's own; what AWS would
    # refuse in the rest of the request is the same with a real one.
    for name in ("TrainingInstanceType", "ProcessingInstanceType"):
        parameters[name] = "ml.m5.large"
    checked = []
    for step in all_steps(built["Steps"]):
        operation = OPERATIONS.get(step["Type"])
        if operation is None:
            continue
        request = resolve(step["Arguments"], parameters)
        if operation in NAME_KEYS:  # the name is SageMaker's to give at run time
            request[NAME_KEYS[operation]] = f"pipelines-{step['Name'].lower()}-1"
        assert_valid_request(operation, request)
        checked.append(step["Name"])
    expected_model = "Model-CreateModel" if local else "Model-RegisterModel"
    assert checked == ["Prepare", "Train", "Evaluate", "Baseline", expected_model]


def test_the_local_definition_differs_only_where_local_mode_needs_it():
    local = document(local=True)
    parameters = {p["Name"]: p["DefaultValue"] for p in local["Parameters"]}
    assert parameters["TrainingInstanceType"] == "local"
    assert parameters["ProcessingInstanceType"] == "local"
    assert "ModelApprovalStatus" not in parameters  # nothing is registered by it
    names = [s["Name"] for s in all_steps(local["Steps"])]
    assert "Model-CreateModel" in names and "Model-RegisterModel" not in names


def test_the_create_pipeline_request_passes_the_service_model(aws_document):
    request = aws_pipelines.upsert_request("penguins-lifecycle", aws_document, ROLE)
    assert_valid_request("CreatePipeline", {**request, "ClientRequestToken": "0" * 32})
    assert json.loads(request["PipelineDefinition"]) == aws_document


def test_a_bad_pipeline_name_is_refused_before_any_request(aws_document):
    with pytest.raises(Exception, match="pipeline"):
        aws_pipelines.upsert_request("penguins_lifecycle!", aws_document, ROLE)


def test_metric_path_follows_the_approval_metric():
    assert settings(False).metric_path == "metrics.validation.accuracy"
    assert (
        definition_module.PipelineSettings.metric_path.fget(
            settings(False, approval_metric="test:f1_macro")
        )
        == "metrics.test.f1_macro"
    )


def test_building_a_definition_sends_no_telemetry(monkeypatch):
    import requests

    sent = []
    monkeypatch.setattr(requests, "get", lambda url, *a, **k: sent.append(url))
    document(local=False)
    document(local=True)
    assert sent == []

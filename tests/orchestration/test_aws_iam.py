"""The IAM policies under infrastructure/ allow exactly what each step calls.

The whole flow runs against moto; every AWS call is checked against the
policy of the step that made it, so a new call without a policy change fails
here rather than with AccessDenied in someone's account.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.orchestration import aws_conftest_helpers as helpers
from tests.orchestration.aws_conftest_helpers import run_full_flow

moto_url = helpers.moto_url
aws_settings = helpers.aws_settings
backend = helpers.backend

POLICIES = Path(__file__).resolve().parents[2] / "infrastructure" / "policies"
# The CLI steps whose calls fall under other documents.
STEP_POLICY = {
    "prepare": ["upload-data"],
    "train": ["push-image", "train"],
    "approve": ["register"],
    "predict": ["invoke"],
    "schedule": ["monitor", "alarm"],
}
# API operations whose IAM action has another name.
IAM_ACTION = {
    ("s3", "ListObjectsV2"): "s3:ListBucket",
    ("s3", "HeadObject"): "s3:GetObject",
    ("s3", "CreateMultipartUpload"): "s3:PutObject",
    ("s3", "UploadPart"): "s3:PutObject",
    ("s3", "CompleteMultipartUpload"): "s3:PutObject",
}
SERVICE_PREFIX = {"sagemaker-runtime": "sagemaker"}


def load(name: str) -> dict:
    return json.loads((POLICIES / f"{name}.json").read_text())


def load_step(step: str) -> dict:
    names = STEP_POLICY.get(step, [step])
    return {"Statement": [s for n in names for s in load(n)["Statement"]]}


def allowed_actions(policy: dict) -> set[str]:
    actions: set[str] = set()
    for statement in policy["Statement"]:
        if statement["Effect"] == "Allow":
            found = statement["Action"]
            actions.update([found] if isinstance(found, str) else found)
    return actions


def iam_action(service: str, operation: str) -> str:
    return IAM_ACTION.get(
        (service, operation), f"{SERVICE_PREFIX.get(service, service)}:{operation}"
    )


@pytest.mark.parametrize("path", sorted(POLICIES.glob("*.json")), ids=lambda p: p.stem)
def test_policy_is_a_valid_document_without_wildcard_actions(path):
    policy = json.loads(path.read_text())
    assert policy["Version"] == "2012-10-17"
    assert policy["Statement"]
    for statement in policy["Statement"]:
        assert statement["Effect"] == "Allow"
        actions = statement["Action"]
        for action in [actions] if isinstance(actions, str) else actions:
            assert "*" not in action, f"{path.name}: wildcard action {action}"


def test_every_call_of_the_flow_is_allowed_by_its_steps_policy(backend, tmp_path):
    log, _ = run_full_flow(backend, tmp_path)
    missing = set()
    steps = {step for step, _, _ in log.calls if step}
    for step, service, operation in log.calls:
        if not step:  # test set-up, not the backend
            continue
        if iam_action(service, operation) not in allowed_actions(load_step(step)):
            missing.add(f"{step} lacks {iam_action(service, operation)}")
    assert not missing, sorted(missing)
    assert {"train", "deploy", "schedule", "teardown"} <= steps


def test_steps_that_tag_or_pass_the_role_are_allowed_to(backend, tmp_path):
    log, _ = run_full_flow(backend, tmp_path)
    for step, service, operation in log.calls:
        if not step or not operation.startswith("Create"):
            continue
        params = log.params[operation][0]
        policy = load_step(step)
        if params.get("Tags") and operation.startswith("Create") and service != "sns":
            assert "sagemaker:AddTags" in allowed_actions(policy), (step, operation)
        if "RoleArn" in json.dumps(params):
            statements = [
                s for s in policy["Statement"] if s["Action"] == "iam:PassRole"
            ]
            assert statements, f"{step} passes the execution role without iam:PassRole"
            condition = statements[0]["Condition"]["StringEquals"]
            assert condition["iam:PassedToService"] == "sagemaker.amazonaws.com"


def test_execution_role_trusts_only_sagemaker():
    trust = load("sagemaker-execution-role-trust")
    (statement,) = trust["Statement"]
    assert statement["Principal"] == {"Service": "sagemaker.amazonaws.com"}
    assert statement["Action"] == "sts:AssumeRole"
    role = allowed_actions(load("sagemaker-execution-role"))
    # What jobs and endpoints need at run time, and no control-plane actions.
    assert {"s3:GetObject", "s3:PutObject", "ecr:BatchGetImage"} <= role
    assert "cloudwatch:PutMetricData" in role
    assert not any(a.startswith("sagemaker:") or a.startswith("iam:") for a in role)

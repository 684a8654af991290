"""The IAM policies under infrastructure/ allow exactly what each CLI step calls.

Two checks, both through `tests.iam_policies`:

- static: for each CLI step, the actions its documents grant are exactly the
  ones its code can need (`STEP_CALLS`, error paths included), no more and no
  fewer, and each representative call is allowed on its resource;
- recorded: the flow runs against moto with every AWS call tagged with the CLI
  step making it, and each call (action, resource, iam:PassRole, tagging) is
  checked against that step's documents. A new call without a policy change
  fails here rather than with AccessDenied in someone's account.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
from datetime import UTC, datetime
from pathlib import Path

import boto3
import pytest
from botocore import xform_name
from botocore.stub import Stubber

from orchestration.aws.clients import AwsClients
from orchestration.backends.aws import AwsBackend
from orchestration.backends.base import BackendError, TrainingJobSpec
from orchestration.cli import build_parser
from tests import iam_policies as iam
from tests.orchestration import aws_conftest_helpers as helpers
from tests.orchestration.aws_conftest_helpers import (
    ENDPOINT,
    CallLog,
    PartialStubber,
    run_full_flow,
)

moto_url = helpers.moto_url
aws_settings = helpers.aws_settings
backend = helpers.backend

REPO_ROOT = Path(__file__).resolve().parents[2]
ORCHESTRATION = REPO_ROOT / "orchestration"
STEPS = sorted(iam.mapping()["steps"])
# A managed transfer's API calls, for finding them in the code.
TRANSFER_METHOD = {
    "PutObject": "upload_file",
    "CreateMultipartUpload": "upload_file",
    "UploadPart": "upload_file",
    "CompleteMultipartUpload": "upload_file",
    "AbortMultipartUpload": "upload_file",
    "HeadObject": "download_file",
    "GetObject": "download_file",
}
# The IAM managed-policy limit, counted without whitespace.
MAX_POLICY_CHARACTERS = 6144


def documents_in_the_folder() -> list[Path]:
    return sorted(iam.POLICIES.glob("*.json"))


# --- the documents ----------------------------------------------------------------
@pytest.mark.parametrize("path", documents_in_the_folder(), ids=lambda p: p.stem)
def test_policy_is_a_valid_document_without_wildcard_actions(path):
    policy = json.loads(path.read_text())
    assert policy["Version"] == "2012-10-17"
    assert policy["Statement"]
    sids = [s.get("Sid") for s in policy["Statement"] if "Sid" in s]
    assert len(sids) == len(set(sids)), f"{path.name}: repeated Sid"
    for statement in policy["Statement"]:
        assert statement["Effect"] == "Allow"
        assert all(re.fullmatch(r"[A-Za-z0-9]+", sid) for sid in sids)
        actions = statement["Action"]
        for action in [actions] if isinstance(actions, str) else actions:
            assert "*" not in action, f"{path.name}: wildcard action {action}"
        for resource in iam._as_list(statement.get("Resource", [])):
            assert resource == "*" or resource.startswith("arn:aws:"), resource
    assert len(re.sub(r"\s", "", path.read_text())) <= MAX_POLICY_CHARACTERS


@pytest.mark.parametrize("path", documents_in_the_folder(), ids=lambda p: p.stem)
def test_filling_the_placeholders_leaves_none(path):
    text = json.dumps(iam.substitute(json.loads(path.read_text()), iam.TEST_VALUES))
    assert not [p for p in iam.PLACEHOLDERS if p in text]


def test_execution_role_trusts_only_sagemaker():
    role = iam.mapping()["execution_role"]
    trust = iam.load_document(role["trust"])
    (statement,) = trust["Statement"]
    assert statement["Principal"] == {"Service": "sagemaker.amazonaws.com"}
    assert statement["Action"] == "sts:AssumeRole"
    granted = iam.granted_actions(iam.policy_documents(role["permissions"]))
    # What jobs and endpoints need at run time, and no control-plane actions.
    assert {"s3:GetObject", "s3:PutObject", "ecr:BatchGetImage"} <= granted
    assert "cloudwatch:PutMetricData" in granted
    assert not any(a.startswith(("sagemaker:", "iam:")) for a in granted)


@pytest.mark.parametrize(
    ("action", "key"),
    [
        ("s3:GetObject", "jobs/penguins-transform-1/input/test.csv"),  # inputs
        ("s3:PutObject", "transform/penguins-transform-1/test.csv.out"),  # outputs
        ("s3:PutObject", "transform-capture/penguins-transform-1/x.jsonl"),
        ("s3:PutObject", "training/penguins-tune-1-001-0a1b2c3d/output/model.tar.gz"),
    ],
)
def test_execution_role_lets_batch_and_tuning_jobs_use_the_prefix(action, key):
    role = iam.mapping()["execution_role"]
    documents = iam.policy_documents(role["permissions"])
    bucket, prefix = iam.TEST_VALUES["BUCKET"], iam.TEST_VALUES["PREFIX"]
    assert iam.is_allowed(documents, action, f"arn:aws:s3:::{bucket}/{prefix}/{key}")
    assert iam.is_allowed(documents, "s3:ListBucket", f"arn:aws:s3:::{bucket}")


def test_every_cli_step_is_mapped_and_every_document_is_used():
    mapping = iam.mapping()
    (subcommands,) = [
        a.choices
        for a in build_parser()._actions
        if isinstance(a, argparse._SubParsersAction)
    ]
    # Documents may be ready before their subcommand; once it lands, the
    # step leaves steps_without_their_subcommand_yet.
    ahead = set(mapping["steps_without_their_subcommand_yet"]["steps"])
    assert not ahead & set(subcommands), "drop these from ..._subcommand_yet"
    # "STEP --flag": a flag whose calls need a document of their own.
    flagged = {s for s in mapping["steps"] if " " in s}
    assert {s.split()[0] for s in flagged} <= set(subcommands)
    assert set(subcommands) == (set(mapping["steps"]) - ahead - flagged) | set(
        mapping["steps_without_aws_calls"]
    )
    beside = set(mapping["attached_beside_run"]["steps"])
    assert set(mapping["run_is_the_union_of"]) == set(mapping["steps"]) - {
        "run",
        *beside,
    }
    used = {f for files in mapping["steps"].values() for f in files}
    used |= set(mapping["build_and_push_script"])
    used |= set(mapping["with_build_and_push"]["also_attach"])
    role = mapping["execution_role"]
    used |= {role["trust"], *role["permissions"]}
    used |= set(mapping["pipeline_role"]["permissions"])
    assert used == {p.name for p in documents_in_the_folder()}


def test_run_json_is_the_union_of_the_steps_documents():
    (run_file,) = iam.step_files("run")
    assert (iam.POLICIES / run_file).read_text() == iam.run_policy_text(), (
        "regenerate it: python tests/iam_policies.py --write-run"
    )
    # and allows what every step's calls need, on their resources
    every_call = [
        ("run", s, o, p)
        for step in iam.mapping()["run_is_the_union_of"]
        for _, s, o, p in iam.expected_calls(step)
    ]
    assert iam.violations(every_call) == []


def test_steps_attached_beside_run_would_not_fit_in_it():
    """transform and tune stay out of run.json only because of IAM's size limit."""
    mapping = iam.mapping()
    steps = [*mapping["run_is_the_union_of"], *mapping["attached_beside_run"]["steps"]]
    text = json.dumps(iam.union_policy(steps), indent=2)
    assert len(re.sub(r"\s", "", text)) > MAX_POLICY_CHARACTERS
    # With run.json beside them, an identity can run every step.
    beside = [
        ("run", s, o, p)
        for step in mapping["attached_beside_run"]["steps"]
        for _, s, o, p in iam.expected_calls(step)
    ]
    documents = iam.policy_documents(
        [
            "run.json",
            *(
                f
                for s in mapping["attached_beside_run"]["steps"]
                for f in iam.step_files(s)
            ),
        ]
    )
    assert iam.violations(beside, policies={"run": documents}) == []


def test_build_and_push_is_offered_to_the_steps_that_look_the_image_up():
    looking_up = {
        step
        for step, expected in iam.STEP_CALLS.items()
        if any(e.operation == "DescribeImages" for e in expected)
    }
    assert set(iam.mapping()["with_build_and_push"]["steps"]) == looking_up


def test_readme_names_each_steps_document():
    readme = (iam.INFRASTRUCTURE / "README.md").read_text()
    for step, files in iam.mapping()["steps"].items():
        row = next(
            (line for line in readme.splitlines() if line.startswith(f"| `{step}`")),
            "",
        )
        assert all(f"`{f}`" in row for f in files), f"README row for {step}"


# --- static: granted == what the code can call ------------------------------------
@pytest.mark.parametrize("step", STEPS)
def test_policy_grants_exactly_the_actions_the_steps_code_needs(step):
    granted = iam.granted_actions(iam.step_policies(step))
    needed = iam.needed_actions(iam.expected_calls(step))
    assert sorted(granted - needed) == [], f"{step} is granted what it never calls"
    assert sorted(needed - granted) == [], f"{step} lacks what it calls"


@pytest.mark.parametrize("step", STEPS)
def test_each_call_the_step_can_make_is_allowed_on_its_resource(step):
    calls = iam.expected_calls(step)
    assert iam.violations(calls) == []
    assert iam.unchecked(calls) == []


def test_each_expected_call_is_made_somewhere_in_the_code():
    source = "\n".join(p.read_text() for p in ORCHESTRATION.rglob("*.py"))
    missing, landed = set(), set()
    for step, expected in iam.STEP_CALLS.items():
        for e in expected:
            method = TRANSFER_METHOD.get(e.operation) if e.service == "s3" else None
            method = method or xform_name(e.operation)
            found = re.search(rf"\b{method}\b", source) is not None
            if not e.pending and not found:
                missing.add(f"{step}: {e.service} {e.operation} ({method})")
            if e.pending and found:
                landed.add(f"{step}: {e.service} {e.operation} ({method})")
    assert sorted(missing) == [], "drop these from STEP_CALLS, or mark them pending"
    assert sorted(landed) == [], "the code makes these now: drop their pending flag"


def test_test_values_are_the_ones_the_aws_tests_run_with(aws_settings):
    assert iam.placeholder_values(aws_settings, ENDPOINT) == iam.TEST_VALUES
    other = dataclasses.replace(aws_settings, ecr_repository="elsewhere")
    with pytest.raises(ValueError, match="aws.ecr_repository"):
        iam.placeholder_values(other, ENDPOINT)


# --- recorded: what the code calls on moto ----------------------------------------
def assert_allowed_and_expected(log: CallLog) -> None:
    assert iam.audit(log.requests) == [], "change STEP_CALLS and the policies"


def test_every_call_of_the_flow_is_allowed_by_its_steps_policy(backend, tmp_path):
    log, _ = run_full_flow(backend, tmp_path)
    assert_allowed_and_expected(log)
    steps = {step for step, _, _ in log.calls if step}
    assert steps == {
        "prepare",
        "train",
        "register",
        "approve",
        "deploy",
        "predict",
        "baseline",
        "schedule",
        "teardown",
    }
    # The requests that hand over the role or carry tags were seen and checked.
    operations = {op for _, _, op in log.calls}
    assert {
        "CreateTrainingJob",
        "CreateModel",
        "CreateMonitoringSchedule",
    } <= operations


def test_read_only_steps_are_allowed(backend, tmp_path):
    log, _ = run_full_flow(backend, tmp_path)
    stub = PartialStubber(backend.clients.sagemaker, {"ListMonitoringSchedules"})
    stub.add_response("list_monitoring_schedules", {"MonitoringScheduleSummaries": []})
    log.step = "status"
    with stub:
        backend.status()
    backend.registry().list("penguins-species")
    log.step = "models"
    assert [v.version for v in backend.registry().list("penguins-species")] == [1]
    assert_allowed_and_expected(log)
    assert {"status", "models"} <= {step for step, _, _ in log.calls}


def test_a_missing_repository_is_created_under_the_steps_policy(backend):
    log = CallLog()
    log.attach(backend.clients)
    for step in ("train", "deploy", "baseline", "monitor", "schedule"):
        log.step = step
        with pytest.raises(BackendError, match="is not in ECR"):
            backend.ensure_image()
    assert "CreateRepository" in log.operations("train")
    assert log.params["CreateRepository"][0]["tags"]  # so ecr:TagResource too
    assert_allowed_and_expected(log)


def test_ctrl_c_stops_the_training_job_under_trains_policy(aws_settings, tmp_path):
    session = boto3.Session(
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name=helpers.REGION,
    )

    def interrupted(_seconds):
        raise KeyboardInterrupt

    backend = AwsBackend(
        aws_settings, AwsClients(aws_settings, session), sleep=interrupted
    )
    backend.clients.s3.create_bucket(Bucket=helpers.BUCKET)
    log = CallLog()
    log.attach(backend.clients)
    log.step = "train"
    stub = Stubber(backend.clients.sagemaker)
    stub.add_response("create_training_job", {"TrainingJobArn": "arn"})
    stub.add_response(
        "describe_training_job",
        {
            "TrainingJobName": "penguins-train-2",
            "TrainingJobArn": f"{helpers.ARN_PREFIX}:training-job/penguins-train-2",
            "TrainingJobStatus": "InProgress",
            "SecondaryStatus": "Training",
            "AlgorithmSpecification": {"TrainingInputMode": "File"},
            "ModelArtifacts": {"S3ModelArtifacts": ""},
            "ResourceConfig": {
                "InstanceType": "ml.m5.large",
                "InstanceCount": 1,
                "VolumeSizeInGB": 10,
            },
            "StoppingCondition": {"MaxRuntimeInSeconds": 60},
            "CreationTime": datetime.now(UTC),
        },
    )
    stub.add_response("stop_training_job", {})
    with stub, pytest.raises(KeyboardInterrupt):
        backend.run_training_job(
            TrainingJobSpec(
                job_name="penguins-train-2",
                image="img",
                hyperparameters={},
                channels={"train": f"s3://{helpers.BUCKET}/penguins/data/train/"},
            )
        )
    assert log.operations("train")[-1] == "StopTrainingJob"
    assert_allowed_and_expected(log)

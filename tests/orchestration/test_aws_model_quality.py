"""Model quality on the AWS backend: ground-truth records uploaded to S3, the
model-quality baseline as a processing job, and the model-quality schedule
(job definition, schedule, alarm) with its teardown.

S3, SNS, CloudWatch and processing jobs are moto's. moto has no monitoring
schedules nor model-quality job definitions: botocore's Stubber answers those
(`PartialStubber`), and every request, stubbed or not, is checked against
the service model's patterns, enums and limits (tests/service_model.py) and
against the CLI step's IAM policy (`tests.iam_policies.audit`).
"""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from orchestration import lifecycle, quality
from orchestration.alerts import LocalAlerts
from orchestration.backends.base import BackendError
from orchestration.config import load_config
from orchestration.tracking import Tracker
from tests import iam_policies
from tests.orchestration import aws_conftest_helpers as helpers
from tests.orchestration.aws_conftest_helpers import BUCKET, REGION, CallLog

moto_url = helpers.moto_url
aws_settings = helpers.aws_settings
backend = helpers.backend

ROOT = Path(__file__).resolve().parents[2]
COLLECTED = datetime(2026, 1, 1, 12, 30, tzinfo=UTC)


@pytest.fixture
def project(backend, tmp_path):
    config = load_config(ROOT / "config" / "aws-example.yaml")
    config = dataclasses.replace(
        config,
        state_dir=tmp_path / "state",
        aws=dataclasses.replace(
            config.aws, region=REGION, bucket=BUCKET, prefix=backend.settings.prefix
        ),
    )
    said: list[str] = []
    p = lifecycle.Project(
        config,
        backend,
        backend.registry(),
        Tracker(config.state_dir),
        LocalAlerts(config.state_dir, config.alerts, said.append),
        said.append,
    )
    p.load_state()
    return p


def logged(backend, step: str) -> CallLog:
    log = CallLog(step=step)
    log.attach(backend.clients)
    return log


# --- ground truth -------------------------------------------------------------------
def test_ground_truth_is_uploaded_to_the_hour_it_was_collected(project, tmp_path):
    labels = quality.write_labels(tmp_path / "labels.csv", [("r-1", "Adelie")])
    log = logged(project.backend, "ground-truth")
    written = lifecycle.ground_truth(project, labels, "labels-a", COLLECTED)
    key = "penguins/groundtruth/2026/01/01/12/labels-a.jsonl"
    assert written == f"s3://{BUCKET}/{key}"
    assert log.operations("ground-truth") == ["PutObject"]
    assert iam_policies.audit(log.requests) == []
    log.step = ""
    body = project.backend.clients.s3.get_object(Bucket=BUCKET, Key=key)["Body"]
    assert [json.loads(line) for line in body.read().splitlines()] == [
        quality.ground_truth_record("r-1", "Adelie")
    ]


def test_bad_labels_are_refused_before_anything_is_uploaded(project, tmp_path):
    labels = tmp_path / "labels.csv"
    labels.write_text("inference_id,label\nr-1,\n")
    log = logged(project.backend, "ground-truth")
    with pytest.raises(quality.LabelsError) as caught:
        lifecycle.ground_truth(project, labels)
    assert caught.value.message == f"{labels} line 2: no label for inference id 'r-1'"
    assert log.operations() == []


def test_a_refused_upload_is_one_line_naming_the_object(project, tmp_path):
    labels = quality.write_labels(tmp_path / "labels.csv", [("r-1", "Adelie")])
    project.backend.clients.s3.delete_bucket(Bucket=BUCKET)
    with pytest.raises(BackendError) as caught:
        lifecycle.ground_truth(project, labels, "labels-a", COLLECTED)
    message = caught.value.message
    assert "\n" not in message
    assert message.startswith("uploading ")
    assert f"s3://{BUCKET}/penguins/groundtruth/2026/01/01/12/labels-a.jsonl" in message

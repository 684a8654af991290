"""A batch transform job of a model `train` made, run by the AWS backend with
the real image (SageMaker SDK local mode, see emulated_sagemaker.py).

The job goes through `AwsBackend.run_transform_job` unchanged: its model is
created and deleted, the local input folder uploaded to moto's S3, and every
request passes the service-model check. The `.out` object must hold one line
per input record, each a class of the training data. Tuning jobs have no
such run: local mode does not implement them (see test_aws_tuning.py).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import boto3
import pytest

from orchestration.backends.aws import create_backend
from orchestration.backends.base import TransformJobSpec
from orchestration.config import load_config
from tests import iam_policies
from tests.aws_e2e.conftest import BUCKET, CONFIG, REGION
from tests.aws_e2e.test_lifecycle_on_emulators import (
    lifecycle_state,
    s3_keys,
    step,
)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning"),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
]


def features_only(prepared: Path, folder: Path) -> tuple[int, set[str]]:
    """The test split as a transform job's input: headerless feature rows.

    Returns the number of records and the classes of the training split.
    """
    schema = json.loads((prepared / "manifest.json").read_text())["schema"]
    target = schema["target"]
    with (prepared / "test" / "test.csv").open() as source:
        rows = list(csv.DictReader(source))
    with (prepared / "train" / "train.csv").open() as source:
        classes = {row[target] for row in csv.DictReader(source)}
    features = [c for c in rows[0] if c != target]
    folder.mkdir(parents=True)
    with (folder / "test.csv").open("w", newline="") as out:
        writer = csv.writer(out)
        for row in rows:
            writer.writerow([row[c] for c in features])
    return len(rows), classes


def test_a_transform_job_of_the_trained_model(emulator, image_in_ecr, tmp_path, capsys):
    state = tmp_path / "state"
    for name in ("prepare", "train"):
        assert step(emulator, state, name) == 0, capsys.readouterr().err
    (artifact,) = [
        k
        for k in s3_keys("sklearn-byoc/penguins/training/")
        if k.endswith("model.tar.gz")
    ]
    records, classes = features_only(
        Path(lifecycle_state(state)["prepared"]["folder"]), tmp_path / "inputs"
    )
    config = load_config(CONFIG)
    backend = create_backend(config)
    job = "penguins-transform-e2e"
    emulator.step = "transform"
    try:
        result = backend.run_transform_job(
            TransformJobSpec(
                job_name=job,
                model_name=f"{job}-model",
                model_artifact=f"s3://{BUCKET}/{artifact}",
                image=image_in_ecr,
                input_location=str(tmp_path / "inputs"),
                output_location=backend.location("transform", job),
                # Local mode cannot read the container's MULTI_RECORD
                # (emulated_sagemaker.py); SageMaker would take it from there.
                batch_strategy="MultiRecord",
                max_payload_in_mb=1,
            ),
            print,
        )
    finally:
        emulator.step = ""
    assert result.status == "Completed", result.failure_reason
    output = f"{backend.location('transform', job)}/test.csv.out"
    assert result.outputs == (output,)
    s3 = boto3.Session(region_name=REGION).client("s3")
    key = output[len(f"s3://{BUCKET}/") :]
    text = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read().decode()
    # One line per record (AssembleWith=Line ends each request's answer with a
    # newline, so the last one may be followed by an empty line).
    lines = text.rstrip("\n").split("\n")
    assert len(lines) == records, text[:500]
    predicted = {line.strip().strip('"') for line in lines}
    assert predicted <= classes, predicted - classes
    # The job's model is gone, and each call was allowed by transform.json.
    assert emulator.operations("transform")[-1] == "DeleteModel"
    assert (
        not boto3.Session(region_name=REGION)
        .client("sagemaker")
        .list_models()["Models"]
    )
    settings = backend.settings
    values = iam_policies.placeholder_values(settings, config.endpoint.name)
    calls = [(c.step, c.service, c.operation, c.params) for c in emulator.calls]
    assert iam_policies.audit(calls, values=values) == []

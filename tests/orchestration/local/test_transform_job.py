"""Transform jobs: the real image serving one job; refusals and Ctrl-C without it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from orchestration.backends.base import (
    COMPLETED,
    FAILED,
    STOPPED,
    TransformCaptureSpec,
    TransformJobSpec,
)
from orchestration.backends.local import LocalBackend
from orchestration.local.transform import TransformSettingsError
from tests.orchestration.local.fake_docker import FakeDocker, interrupt

CLASSES = {"Adelie", "Chinstrap", "Gentoo"}
ROWS = [
    "Biscoe,49.5,16.2,229,5800,male",
    "Torgersen,39.1,18.7,181,3750,male",
    "Dream,46.5,17.9,192,3500,female",
    "Biscoe,,,,,",
]


def _inputs(folder: Path) -> Path:
    (folder / "batch").mkdir(parents=True)
    (folder / "a.csv").write_text("\n".join(ROWS) + "\n")
    # Blank lines are no records; CRLF ends are dropped, as SageMaker splits.
    (folder / "batch" / "b.csv").write_text("\r\n".join(ROWS[:2]) + "\r\n\n")
    (folder / ".hidden").write_text("not an input\n")
    return folder


def _spec(tmp_path: Path, model: Path, image: str, **changes) -> TransformJobSpec:
    values = dict(
        job_name="tj-test",
        model_name="tj-model",
        model_artifact=str(model),
        image=image,
        input_location=str(tmp_path / "in"),
        output_location=str(tmp_path / "out"),
    )
    values.update(changes)
    return TransformJobSpec(**values)


def test_a_transform_job_writes_one_out_per_input_and_captures_each_record(
    backend, model_tarball, tmp_path, image
):
    _inputs(tmp_path / "in")
    said: list[str] = []
    spec = _spec(
        tmp_path,
        model_tarball,
        image,
        max_concurrent_transforms=2,
        capture=TransformCaptureSpec(str(tmp_path / "capture")),
    )
    result = backend.run_transform_job(spec, said.append)
    assert result.status == COMPLETED, result.failure_reason
    assert result.records == 6
    out = tmp_path / "out"
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*")) == [
        "a.csv.out",
        "batch",
        "batch/b.csv.out",
    ]
    labels = (out / "a.csv.out").read_text().splitlines()
    assert len(labels) == len(ROWS) and set(labels) <= CLASSES
    assert labels[0] == "Gentoo"
    assert (out / "batch" / "b.csv.out").read_text().splitlines() == labels[:2]
    # The container's own /execution-parameters filled what the job left unset.
    assert any("MultiRecord up to 6 MB, 2 request(s) in flight" in s for s in said)

    files = sorted((tmp_path / "capture" / "tj-test" / "AllTraffic").rglob("*.jsonl"))
    assert len(files) == 2  # one per input, none left half-written
    records = [json.loads(line) for f in files for line in f.read_text().splitlines()]
    ids = [r["eventMetadata"]["inferenceId"] for r in records]
    assert ids == [f"a.csv:{n}" for n in (1, 2, 3, 4)] + [
        "batch/b.csv:1",
        "batch/b.csv:2",
    ]
    first = records[0]["captureData"]
    assert first["endpointInput"]["data"] == ROWS[0]
    assert first["endpointOutput"]["data"] == "Gentoo"
    (job,) = backend.status()["jobs"]
    assert (job["kind"], job["status"]) == ("transform-job", COMPLETED)


def test_join_and_filters_and_single_records(backend, model_tarball, tmp_path, image):
    _inputs(tmp_path / "in")
    # An id column the model must not see: InputFilter drops it, the output
    # joins the whole input and OutputFilter keeps the id and the label.
    (tmp_path / "in" / "a.csv").write_text(
        "".join(f"id{n},{row}\n" for n, row in enumerate(ROWS))
    )
    (tmp_path / "in" / "batch" / "b.csv").unlink()
    spec = _spec(
        tmp_path,
        model_tarball,
        image,
        batch_strategy="SingleRecord",
        input_filter="$[1:]",
        join_source="Input",
        output_filter="$[0,-1]",
    )
    result = backend.run_transform_job(spec, lambda line: None)
    assert result.status == COMPLETED, result.failure_reason
    lines = (tmp_path / "out" / "a.csv.out").read_text().splitlines()
    assert [line.split(",")[0] for line in lines] == ["id0", "id1", "id2", "id3"]
    assert (
        lines[0] == "id0,Gentoo" and {line.split(",")[1] for line in lines} <= CLASSES
    )


def test_a_bad_record_fails_the_job_naming_its_file_and_line(
    backend, model_tarball, tmp_path, image
):
    _inputs(tmp_path / "in")
    (tmp_path / "in" / "batch" / "b.csv").write_text(ROWS[0] + "\nnot,enough\n")
    spec = _spec(
        tmp_path,
        model_tarball,
        image,
        batch_strategy="SingleRecord",
        capture=TransformCaptureSpec(str(tmp_path / "capture")),
    )
    result = backend.run_transform_job(spec, lambda line: None)
    assert result.status == FAILED
    assert "batch/b.csv line 2" in result.failure_reason
    assert "400" in result.failure_reason
    # The input that completed keeps its output and capture; the failed one neither.
    assert (tmp_path / "out" / "a.csv.out").is_file()
    assert not list((tmp_path / "out" / "batch").glob("*"))
    captured = list((tmp_path / "capture").rglob("*"))
    assert [p.name for p in captured if p.is_file()] != [] and all(
        not p.name.startswith(".") for p in captured if p.is_file()
    )
    (job,) = backend.status()["jobs"]
    assert job["status"] == FAILED and "b.csv line 2" in job["failure_reason"]


def test_no_inputs_and_an_unreadable_model_fail_without_a_container(tmp_path):
    fake = FakeDocker()
    backend = LocalBackend(tmp_path / "state", "sklearn-byoc:test", client=fake)
    (tmp_path / "in").mkdir()
    spec = _spec(tmp_path, tmp_path / "model.tar.gz", "sklearn-byoc:test")
    result = backend.run_transform_job(spec, lambda line: None)
    assert result.status == FAILED and "no input files under" in result.failure_reason
    (tmp_path / "in" / "a.csv").write_text(ROWS[0] + "\n")
    spec = _spec(tmp_path, tmp_path / "model.tar.gz", "x", job_name="tj-test-2")
    result = backend.run_transform_job(spec, lambda line: None)
    assert result.status == FAILED and "does not exist" in result.failure_reason
    assert fake.created == []


@pytest.mark.parametrize(
    ("changes", "said"),
    [
        ({"split_type": "RecordIO"}, "SplitType=RecordIO is not supported"),
        ({"batch_strategy": "Everything"}, "BatchStrategy must be one of"),
        ({"max_payload_in_mb": 101}, "MaxPayloadInMB must be between 0 and 100"),
        (
            {"max_payload_in_mb": 50, "max_concurrent_transforms": 3},
            "MaxConcurrentTransforms x MaxPayloadInMB must be at most 100",
        ),
        ({"input_filter": "$.features"}, "InputFilter '$.features' is not supported"),
        ({"invocation_timeout_seconds": 0}, "InvocationsTimeoutInSeconds must be"),
    ],
)
def test_what_create_transform_job_refuses_is_refused_before_anything_runs(
    tmp_path, changes, said
):
    fake = FakeDocker()
    backend = LocalBackend(tmp_path / "state", "sklearn-byoc:test", client=fake)
    with pytest.raises(TransformSettingsError, match=said.replace("$", r"\$")):
        backend.run_transform_job(
            _spec(tmp_path, tmp_path / "m.tar.gz", "x", **changes), lambda line: None
        )
    assert fake.created == [] and backend.status()["jobs"] == []


def test_an_interrupted_transform_job_is_stopped_and_its_container_removed(
    tmp_path, model_tarball
):
    fake = FakeDocker()
    fake.on["reload"] = interrupt  # Ctrl-C while waiting for /ping
    backend = LocalBackend(tmp_path / "state", "sklearn-byoc:test", client=fake)
    _inputs(tmp_path / "in")
    spec = _spec(tmp_path, model_tarball, "sklearn-byoc:test")
    with pytest.raises(KeyboardInterrupt):
        backend.run_transform_job(spec, lambda line: None)
    (job,) = backend.status()["jobs"]
    assert (job["status"], job["failure_reason"]) == (STOPPED, "stopped by the user")
    (container,) = fake.created
    assert fake.removed == [container.id] and fake.running() == []
    # SageMaker's batch variables reach the container.
    environment = container.options["environment"]
    assert environment["SAGEMAKER_BATCH"] == "true"
    assert environment["SAGEMAKER_MAX_PAYLOAD_IN_MB"] == "6"
    assert container.command == ["serve"]

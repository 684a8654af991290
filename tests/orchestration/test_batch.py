"""The `transform` step and `monitor --transform-job`, over the in-memory backend."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from orchestration import batch, lifecycle
from orchestration.backends.base import JobFailed
from tests.orchestration.test_lifecycle import calls, reopen
from tests.orchestration.test_lifecycle import project as project  # noqa: F401


def rows(path: Path) -> list[list[str]]:
    with open(path, newline="") as fh:
        return list(csv.reader(fh))


def registered(project):  # noqa: F811 - the fixture of test_lifecycle
    lifecycle.prepare(project)
    lifecycle.train(project)
    lifecycle.register(project)
    return project


def test_transform_scores_the_held_out_features_and_writes_their_labels(  # noqa: F811
    project,
):
    record = batch.transform(registered(project))
    (spec,) = calls(project, "transform")
    sent = (Path(spec.input_location) / batch.HELD_OUT_FILE).read_text().splitlines()
    header, *test = rows(
        Path(project.state["prepared"]["folder"]) / "test" / "test.csv"
    )
    assert len(sent) == len(test) and sent[0].count(",") == 5  # features, no target
    assert (
        spec.model_artifact
        == project.registry.get("penguins-species", 1).model_artifact
    )
    assert spec.capture is not None and spec.capture.destination.endswith("capture")
    # The endpoint's environment (probabilities in every answer) comes along.
    assert spec.environment["SKLEARN_BYOC_RETURN_PROBABILITIES"] == "true"
    labels = rows(Path(record["labels"]))
    assert labels[0] == ["inference_id", "label"]
    assert labels[1] == ["held-out.csv:1", test[0][header.index("species")]]
    assert len(labels) == len(test) + 1
    assert record["records"] == len(test) and record["status"] == "Completed"
    assert reopen(project).state["transforms"][spec.job_name]["version"] == 1
    assert any("predicted: Adelie" in line for line in project.said)


def test_transform_takes_a_users_file_and_refuses_a_missing_one(  # noqa: F811
    project, tmp_path
):
    registered(project)
    mine = tmp_path / "mine.csv"
    mine.write_text("Biscoe,49.5,16.2,229,5800,male\n")
    record = batch.transform(project, input_path=mine)
    assert record["labels"] is None
    (spec,) = calls(project, "transform")
    assert (Path(spec.input_location) / "mine.csv").read_text() == mine.read_text()
    with pytest.raises(lifecycle.LifecycleError, match="does not exist"):
        batch.transform(project, input_path=tmp_path / "nope.csv")


def test_a_failed_transform_job_is_an_error_and_is_recorded(  # noqa: F811
    project,
):
    registered(project)
    project.backend.fail_transform = True
    with pytest.raises(JobFailed, match="a.csv line 2"):
        batch.transform(project)
    (job,) = project.state["transforms"].values()
    assert job["status"] == "Failed" and job["failure_reason"].endswith("line 2")


def test_monitor_checks_a_transform_jobs_capture_over_its_run(  # noqa: F811
    project,
):
    registered(project)
    lifecycle.deploy(project)
    lifecycle.baseline(project)
    record = batch.transform(project)
    lifecycle.monitor(reopen(project), transform_job=record["name"])
    spec = calls(project, "monitor")[-1]
    env = spec.environment
    assert env["sagemaker_endpoint_name"] == record["name"]
    assert (env["start_time"], env["end_time"]) == tuple(record["window"])
    with pytest.raises(lifecycle.LifecycleError, match="no transform job 'nope'"):
        lifecycle.monitor(project, transform_job="nope")

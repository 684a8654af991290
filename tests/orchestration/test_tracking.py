import pytest

from orchestration.tracking import Run, RunNotFound, Tracker, code_revision, compare


def run(run_id, n_estimators, accuracy, data="abc"):
    return Run(
        run_id=run_id,
        project="p",
        job_name=run_id,
        backend="local",
        status="Completed",
        started_at=f"2026-01-01T00:00:0{run_id[-1]}Z",
        duration_seconds=3.5,
        hyperparameters={"n_estimators": n_estimators, "target": "species"},
        metrics={"validation:accuracy": accuracy},
        data_hashes={"train": data},
        image="img",
        image_digest="sha256:1",
        code_revision="deadbeef",
        model_artifact="/m.tar.gz",
    )


def test_runs_are_recorded_with_everything_and_survive_reopening(tmp_path):
    tracker = Tracker(tmp_path)
    tracker.record(run("r1", "10", 0.9))
    tracker.record(run("r2", "100", 0.97))
    tracker.close()
    again = Tracker(tmp_path)
    runs = again.list("p")
    assert [r.run_id for r in runs] == ["r1", "r2"]
    assert runs[1] == run("r2", "100", 0.97)
    assert again.latest("p").run_id == "r2"
    with pytest.raises(RunNotFound, match="runs list"):
        again.get("nope")


def test_compare_shows_what_differs():
    table = compare([run("r1", "10", 0.9), run("r2", "100", 0.97, data="xyz")])
    assert table["differing_hyperparameters"] == ["n_estimators"]
    assert table["metrics"]["validation:accuracy"] == [0.9, 0.97]
    assert table["data_changed"] is True


def test_code_revision_is_a_git_commit():
    revision = code_revision()
    assert revision is not None and len(revision.split("-")[0]) == 40

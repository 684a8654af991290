"""`tune` over an in-memory backend: every trial tracked, the best one is what
`register` takes, and the version's lineage carries the search."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from orchestration import lifecycle, specs, tune
from orchestration.aws.registry import metadata_properties
from orchestration.backends.base import (
    COMPLETED,
    FAILED,
    JobFailed,
    TrialResult,
    TuningJobResult,
)
from orchestration.local.tuning import trial_name
from orchestration.names import is_valid_name
from orchestration.tuning import best, trials
from tests.orchestration.test_lifecycle import MemoryBackend, calls, reopen
from tests.orchestration.test_lifecycle import project as project  # noqa: F401


class TuningBackend(MemoryBackend):
    """Trials "run" at once: accuracy grows with max_depth; depth 2 fails."""

    def run_tuning_job(self, spec, progress):
        self.calls.append(("tune", spec))
        results = []
        for number, searched in enumerate(trials(spec, seed=spec.random_seed), 1):
            name = trial_name(spec.tuning_job_name, number)
            depth = int(searched["max_depth"])
            if depth == 2 or self.fail_all:
                failed = TrialResult(name, FAILED, searched, None, {}, None, "Error")
                results.append(failed)
                continue
            artifact = Path(spec.training.output_location) / name / "model.tar.gz"
            artifact.parent.mkdir(parents=True)
            artifact.write_bytes(b"model")
            accuracy = 0.9 + depth / 100
            metrics = {"validation:accuracy": accuracy, "train:accuracy": 1.0}
            results.append(
                TrialResult(
                    name, COMPLETED, searched, accuracy, metrics, str(artifact), None, 2
                )
            )
        chosen = best(results, spec.objective_type)
        status = COMPLETED if chosen else FAILED
        first = results[0].job_name
        reason = None if chosen else f"every training job failed; the first, {first}"
        return TuningJobResult(
            spec.tuning_job_name,
            status,
            tuple(results),
            chosen.job_name if chosen else None,
            reason,
        )


@pytest.fixture
def tuned(project):  # noqa: F811 - the fixture imported above
    backend = TuningBackend(project.backend.root)
    backend.fail_all = False
    config = dataclasses.replace(
        project.config,
        tuning=dataclasses.replace(project.config.tuning, max_jobs=6, random_seed=3),
    )
    made = lifecycle.open_project(config, say=project.said.append, backend=backend)
    made.said = project.said  # type: ignore[attr-defined]
    lifecycle.prepare(made)
    return made


def test_tuning_job_names_fit_sagemakers_32_characters():
    name = tune.tuning_job_name("a-very-long-project-name-indeed")
    assert len(name) <= 32 and is_valid_name(name)
    assert tune.tuning_job_name("penguins").startswith("penguins-tune-")
    assert len(trial_name(name, 999)) <= 63


def test_every_trial_is_tracked_and_the_best_becomes_the_last_run(tuned):
    result = tune.tune(tuned)
    (spec,) = calls(tuned, "tune")
    assert spec.training.hyperparameters["target"] == "species"
    prepared = tuned.state["prepared"]["channels"]
    assert spec.training.channels == {c: prepared[c] for c in specs.CHANNELS}
    runs = tuned.tracker.trials(result.tuning_job_name)
    assert [r.run_id for r in runs] == [t.job_name for t in result.trials]
    for run, trial in zip(runs, result.trials, strict=True):
        assert run.tuning_job == result.tuning_job_name
        assert run.status == trial.status
        assert run.hyperparameters["max_depth"] == trial.hyperparameters["max_depth"]
        assert run.hyperparameters["target"] == "species"  # the shared ones too
    assert tuned.state["last_run"] == result.best_job_name
    completed = [t.objective_value for t in result.trials if t.status == COMPLETED]
    assert result.best.objective_value == max(completed)


def test_tune_prints_the_trials_and_writes_trials_json_and_a_report(tuned):
    result = tune.tune(tuned)
    said = "\n".join(tuned.said)
    assert "training job" in said and "validation:accuracy" in said
    for trial in result.trials:
        assert trial.job_name in said
    assert f"{result.best_job_name}  " in said and "(best)" in said
    folder = tuned.config.state_dir / "tuning" / result.tuning_job_name
    document = json.loads((folder / "trials.json").read_text())
    assert document["best_job_name"] == result.best_job_name
    assert len(document["trials"]) == len(result.trials)
    objective = {"metric": "validation:accuracy", "type": "Maximize"}
    assert document["objective"] == objective
    page = (folder / "report.html").read_text()
    assert "<svg" in page and result.best_job_name in page
    assert str(folder / "report.html") in said


def test_register_after_tune_puts_the_search_in_the_versions_lineage(tuned):
    result = tune.tune(tuned)
    version = lifecycle.register(reopen(tuned))
    assert version.lineage["run_id"] == result.best_job_name
    assert version.model_artifact == result.best.model_artifact
    lineage = version.lineage["tuning_job"]
    assert lineage["name"] == result.tuning_job_name
    assert lineage["best_training_job"] == result.best_job_name
    assert (lineage["objective_metric"], lineage["objective_type"]) == (
        "validation:accuracy",
        "Maximize",
    )
    assert lineage["trials"] == [
        {
            "training_job": t.job_name,
            "status": t.status,
            "hyperparameters": t.hyperparameters,  # the searched ones
            "objective_value": t.objective_value,
        }
        for t in result.trials
    ]
    # The Model Registry on AWS keeps it within its metadata limits.
    properties = metadata_properties(version.metrics, version.lineage)
    assert properties["lineage:tuning_job.name"] == result.tuning_job_name


def test_a_tuning_job_without_a_good_trial_fails_and_keeps_the_last_run(tuned):
    lifecycle.train(tuned)
    trained = tuned.state["last_run"]
    tuned.backend.fail_all = True
    with pytest.raises(JobFailed, match="every training job failed; the first"):
        tune.tune(tuned)
    assert tuned.state["last_run"] == trained
    runs = [r for r in tuned.tracker.list() if r.tuning_job]
    assert len(runs) == 6 and {r.status for r in runs} == {FAILED}


def test_tune_before_prepare_says_to_prepare(project):  # noqa: F811
    with pytest.raises(lifecycle.LifecycleError, match="orchestration prepare"):
        tune.tune(project)

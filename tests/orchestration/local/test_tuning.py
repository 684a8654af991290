"""Local tuning jobs: trials side by side within the bound, failures, the best
trial and Ctrl-C, over a stand-in for one training job (and the fake engine)."""

from __future__ import annotations

import _thread
import dataclasses
import re
import threading
import time

import pytest

from orchestration.backends.base import (
    COMPLETED,
    FAILED,
    STOPPED,
    BackendError,
    InvalidName,
    ParameterRange,
    TrainingJobResult,
    TrainingJobSpec,
    TuningJobSpec,
)
from orchestration.backends.local import LocalBackend
from orchestration.local import tuning
from orchestration.local.state import LocalState
from orchestration.names import is_valid_name
from tests.orchestration.local.fake_docker import FakeContainer, FakeDocker
from tests.orchestration.local.helpers import HPS, channels

METRIC = "validation:accuracy"
DEPTH = ParameterRange("max_depth", "Integer", "1", "9")


def spec(max_jobs=6, max_parallel_jobs=2, name="tune-1", **more) -> TuningJobSpec:
    training = TrainingJobSpec("unused", "img", dict(HPS), {})
    return TuningJobSpec(
        name,
        training,
        METRIC,
        more.pop("objective_type", "Maximize"),
        (DEPTH,),
        max_jobs=max_jobs,
        max_parallel_jobs=max_parallel_jobs,
        random_seed=more.pop("random_seed", 1),
        **more,
    )


class FakeTrials:
    """Runs a trial by sleeping; its accuracy is max_depth / 10."""

    def __init__(self, seconds: float = 0.05, fail=None):
        self.seconds = seconds
        self.fail = fail or (lambda job: None)  # job -> None | "raise" | result
        self.lock = threading.Lock()
        self.now = 0
        self.most = 0
        self.specs: list[TrainingJobSpec] = []

    def __call__(self, job: TrainingJobSpec, progress) -> TrainingJobResult:
        with self.lock:
            self.now += 1
            self.most = max(self.most, self.now)
            self.specs.append(job)
        try:
            time.sleep(self.seconds)
            progress("fitting")
            failure = self.fail(job)
            if failure == "raise":
                raise BackendError("no Docker engine answers")
            if failure is not None:
                return failure
            depth = int(job.hyperparameters["max_depth"])
            metrics = {METRIC: depth / 10, "train:accuracy": 1.0}
            return TrainingJobResult(
                job.job_name, COMPLETED, f"/m/{job.job_name}", None, metrics, 0.1
            )
        finally:
            with self.lock:
                self.now -= 1


def run(tmp_path, tuning_spec, trials, cpus=8, stop=None, lines=None):
    state = LocalState(tmp_path)
    said = [] if lines is None else lines
    result = tuning.run_trials(
        tuning_spec, said.append, state, trials, stop or (lambda name: None), cpus
    )
    return result, state, said


@pytest.mark.parametrize(("parallel", "cpus", "bound"), [(3, 8, 3), (4, 2, 2)])
def test_at_most_the_bound_of_trials_run_at_once(tmp_path, parallel, cpus, bound):
    trials = FakeTrials(seconds=0.15)
    result, _, said = run(tmp_path, spec(7, parallel), trials, cpus=cpus)
    assert trials.most == bound  # reached, never passed
    assert len(result.trials) == 7 and result.status == COMPLETED
    assert f"at most {bound} at a time (max_parallel_jobs {parallel}" in said[0]


def test_trials_are_training_jobs_named_as_sagemaker_names_them(tmp_path):
    trials = FakeTrials()
    result, state, said = run(tmp_path, spec(4), trials)
    names = [t.job_name for t in result.trials]
    assert [n.split("-")[2] for n in names] == ["001", "002", "003", "004"]
    assert all(re.fullmatch(r"tune-1-\d{3}-[0-9a-f]{8}", n) for n in names)
    assert all(is_valid_name(n) and len(n) <= 63 for n in names)
    for job in trials.specs:  # the shared hyperparameters, the searched one replaced
        assert job.hyperparameters["target"] == "species"
        assert isinstance(job.hyperparameters["max_depth"], str)
        assert job.job_name in names
    assert any(line.startswith(f"{names[0]}: fitting") for line in said)
    (record,) = state.jobs()
    assert (record["kind"], record["status"]) == (tuning.KIND, COMPLETED)
    assert record["spec"]["random_seed_used"] == 1
    assert record["result"]["best_job_name"] == result.best_job_name


def test_the_best_trial_is_the_best_objective_of_the_completed_ones(tmp_path):
    result, _, _ = run(tmp_path, spec(6), FakeTrials())
    values = [t.objective_value for t in result.trials]
    assert result.best.objective_value == max(values)
    low, _, _ = run(tmp_path / "min", spec(6, objective_type="Minimize"), FakeTrials())
    assert low.best.objective_value == min(t.objective_value for t in low.trials)


def test_failed_trials_are_results_and_the_rest_go_on(tmp_path):
    def fail(job):
        number = job.job_name.split("-")[2]
        if number == "001":
            return "raise"
        if number == "002":
            return TrainingJobResult(
                job.job_name, FAILED, None, "AlgorithmError: bad max_depth", {}, 0.1
            )
        if number == "003":  # completed, but printed no objective
            return TrainingJobResult(
                job.job_name, COMPLETED, "/m", None, {"train:accuracy": 1.0}, 0.1
            )
        return None

    result, _, _ = run(tmp_path, spec(5), FakeTrials(fail=fail))
    first, second, third, *rest = result.trials
    assert (first.status, first.failure_reason) == (FAILED, "no Docker engine answers")
    assert (second.status, second.failure_reason) == (
        FAILED,
        "AlgorithmError: bad max_depth",
    )
    assert third.status == FAILED and third.objective_value is None
    assert f"the objective metric {METRIC} was not printed" in third.failure_reason
    assert result.status == COMPLETED
    assert result.best_job_name in {t.job_name for t in rest}


def test_a_tuning_job_whose_every_trial_failed_names_the_first_failure(tmp_path):
    def fail(job):
        return TrainingJobResult(
            job.job_name, FAILED, None, f"AlgorithmError: {job.job_name}", {}, 0.1
        )

    result, state, _ = run(tmp_path, spec(3), FakeTrials(fail=fail))
    first = result.trials[0].job_name
    assert result.status == FAILED and result.best_job_name is None
    assert result.failure_reason == (
        f"every training job failed; the first, {first}: AlgorithmError: {first}"
    )
    assert state.jobs()[0]["status"] == FAILED


def test_what_only_sagemaker_runs_is_refused_before_any_trial(tmp_path):
    trials = FakeTrials()
    with pytest.raises(BackendError, match="use strategy Random or Grid"):
        run(tmp_path, spec(strategy="Bayesian"), trials)
    with pytest.raises(InvalidName, match="longer than SageMaker's 32"):
        run(tmp_path, spec(name="t" * 33), trials)
    assert trials.specs == [] and LocalState(tmp_path).jobs() == []


def test_early_stopping_auto_is_said_to_be_not_emulated(tmp_path):
    result, _, said = run(tmp_path, spec(2, early_stopping="Auto"), FakeTrials())
    assert len(result.trials) == 2
    assert any("early stopping Auto is not emulated" in line for line in said)


class BlockingTrials(FakeTrials):
    """Trials that run until stopped, as containers do until removed."""

    def __init__(self):
        super().__init__()
        self.stopped: list[str] = []
        self.events: dict[str, threading.Event] = {}
        self.started = threading.Semaphore(0)

    def __call__(self, job, progress):
        event = self.events.setdefault(job.job_name, threading.Event())
        self.started.release()
        event.wait(timeout=30)
        return TrainingJobResult(job.job_name, FAILED, None, "Exit Code: 137", {}, 1)

    def stop(self, name):
        self.stopped.append(name)
        self.events.setdefault(name, threading.Event()).set()


def interrupt_once_started(trials: BlockingTrials, count: int) -> None:
    def later():
        for _ in range(count):
            trials.started.acquire(timeout=10)
        _thread.interrupt_main()  # what Ctrl-C does to the CLI

    threading.Thread(target=later, daemon=True).start()


def test_ctrl_c_stops_every_running_trial_and_launches_no_more(tmp_path):
    trials = BlockingTrials()
    interrupt_once_started(trials, 2)
    state = LocalState(tmp_path)
    with pytest.raises(KeyboardInterrupt):
        tuning.run_trials(spec(6, 2), lambda line: None, state, trials, trials.stop, 8)
    assert len(trials.events) == 2  # the four waiting trials never started
    assert sorted(set(trials.stopped)) == sorted(trials.events)
    (record,) = state.jobs()
    assert (record["status"], record["result"]["failure_reason"]) == (
        STOPPED,
        "stopped by the user",
    )


# --- wired into the local backend, over the fake engine ----------------------------
def metric_logs(self, stream=False, follow=False, tail=None):
    return iter([b"fitting\n", f"{METRIC}=0.93\n".encode()])


def local_backend(tmp_path, fake):
    backend = LocalBackend(tmp_path / "state", "sklearn-byoc:test", client=fake)
    data = tmp_path / "data"
    for channel in ("train", "validation", "test"):
        (data / channel).mkdir(parents=True)
    training = TrainingJobSpec(
        "unused",
        "sklearn-byoc:test",
        dict(HPS),
        channels(data),
        output_location=str(tmp_path / "out"),
    )
    return backend, dataclasses.replace(spec(3, 2), training=training)


def test_the_local_backend_runs_trials_as_recorded_training_jobs(tmp_path, monkeypatch):
    monkeypatch.setattr(FakeContainer, "logs", metric_logs)
    fake = FakeDocker()
    backend, tuning_spec = local_backend(tmp_path, fake)
    lines: list[str] = []
    result = backend.run_tuning_job(tuning_spec, lines.append)
    assert result.status == COMPLETED and len(result.trials) == 3
    assert {t.objective_value for t in result.trials} == {0.93}
    assert result.best_job_name == result.trials[0].job_name  # earliest on a tie
    jobs = backend.status()["jobs"]
    assert [j["kind"] for j in jobs] == [tuning.KIND] + ["training-job"] * 3
    assert {j["status"] for j in jobs} == {COMPLETED}
    assert jobs[0]["best_job_name"] == result.best_job_name
    assert fake.running() == [] and len(fake.removed) == 3
    assert any(line.endswith(f"{METRIC}=0.93") for line in lines)


def test_ctrl_c_removes_the_running_trials_containers(tmp_path, monkeypatch):
    fake = FakeDocker()
    started = threading.Semaphore(0)

    def run_until_removed(container):
        started.release()
        while container.id in fake.by_id:
            time.sleep(0.02)

    fake.on["wait"] = run_until_removed

    def later():
        started.acquire(timeout=10)
        started.acquire(timeout=10)
        _thread.interrupt_main()

    threading.Thread(target=later, daemon=True).start()
    backend, tuning_spec = local_backend(tmp_path, fake)
    with pytest.raises(KeyboardInterrupt):
        backend.run_tuning_job(tuning_spec, lambda line: None)
    assert len(fake.created) == 2 and fake.running() == [] and fake.by_id == {}
    jobs = backend.status()["jobs"]
    assert [(j["kind"], j["status"]) for j in jobs] == [
        (tuning.KIND, STOPPED),
        ("training-job", STOPPED),
        ("training-job", STOPPED),
    ]
    assert {j["failure_reason"] for j in jobs} == {"stopped by the user"}

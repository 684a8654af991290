"""Tuning jobs: SageMaker's HyperParameterTuningJob as local training jobs side by side.

Each trial is an ordinary local training job (`training.run_training_job`)
named ``<tuning-job>-<NNN>-<token>`` as SageMaker names them, with the shared
hyperparameters of the spec's training job and its own searched values
(`orchestration.tuning` draws them). At most ``min(max_parallel_jobs, CPUs)``
trials run at a time, each in a thread of this process that waits on its
container; progress lines carry the trial's job name. A trial's objective is
its ``objective_metric`` line; a trial that did not print it counts as
Failed. The best trial is the Completed one with the best objective; a tuning
job none of whose trials gave one ends Failed, naming the first failure.

What is not emulated: early stopping (Auto is accepted and every trial still
runs to its end: SageMaker stops a trial whose intermediate objective falls
behind the median of earlier trials, and `train` prints its objective once,
at the end), warm start, and the Bayesian and Hyperband strategies.

The tuning job is recorded in the state database as a job of its own kind,
beside its trials; Ctrl-C stops every running trial's container, records the
trials and the tuning job Stopped, and is raised again.
"""

from __future__ import annotations

import os
import secrets
import signal
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import asdict, replace
from pathlib import Path

from orchestration import tuning
from orchestration.backends.base import (
    COMPLETED,
    FAILED,
    STOPPED,
    InvalidName,
    Progress,
    TrainingJobResult,
    TrainingJobSpec,
    TrialResult,
    TuningJobResult,
    TuningJobSpec,
    check_name,
)
from orchestration.local import training
from orchestration.local.engine import Engine
from orchestration.local.state import STOPPED_BY_USER, LocalState

KIND = "hyper-parameter-tuning-job"
TUNING_JOB_NAME_MAX_LENGTH = 32  # SageMaker's limit for tuning job names
POLL_SECONDS = 0.2  # how often the waiting thread looks up (and sees Ctrl-C)

RunTrial = Callable[[TrainingJobSpec, Progress], TrainingJobResult]
StopTrial = Callable[[str], None]  # stop the running trial of that job name


def run_tuning_job(
    engine: Engine,
    state: LocalState,
    root: Path,
    spec: TuningJobSpec,
    progress: Progress,
) -> TuningJobResult:
    """Run every trial on the engine; a failed job is a result, not an exception."""
    engine.client  # noqa: B018 - connect once, before trials connect side by side

    def run_trial(trial: TrainingJobSpec, trial_progress: Progress):
        return training.run_training_job(engine, state, root, trial, trial_progress)

    def stop_trial(job_name: str) -> None:
        job = state.job(job_name)
        if job and job["container_id"]:
            engine.remove(job["container_id"])

    return run_trials(spec, progress, state, run_trial, stop_trial)


def run_trials(
    spec: TuningJobSpec,
    progress: Progress,
    state: LocalState,
    run_trial: RunTrial,
    stop_trial: StopTrial,
    cpus: int | None = None,
) -> TuningJobResult:
    """The tuning job over any way of running one trial (`run_trial`)."""
    name = spec.tuning_job_name
    check_name(name, "tuning job")
    if len(name) > TUNING_JOB_NAME_MAX_LENGTH:
        raise InvalidName(
            f"tuning job name {name!r} is longer than SageMaker's {TUNING_JOB_NAME_MAX_LENGTH} characters"
        )
    tuning.check_local(spec)
    seed = (
        spec.random_seed if spec.random_seed is not None else secrets.randbelow(2**31)
    )
    planned = tuning.trials(spec, seed)
    cpus = cpus or os.cpu_count() or 1
    bound = max(1, min(spec.max_parallel_jobs, cpus))
    say = _one_line_at_a_time(progress)
    started = time.monotonic()
    record = {**asdict(spec), "random_seed_used": seed, "parallel_trials": bound}
    with state.recording_job(name, KIND, record):
        say(
            f"{name}: {len(planned)} trial(s), {spec.strategy} search (seed {seed}), "
            f"at most {bound} at a time (max_parallel_jobs {spec.max_parallel_jobs}, "
            f"{cpus} CPUs)"
        )
        if spec.early_stopping == "Auto":
            say(
                f"{name}: early stopping Auto is not emulated: every trial runs to its end"
            )
        trials = _run(spec, planned, bound, say, run_trial, stop_trial, state)
        result = _outcome(spec, trials, time.monotonic() - started)
        state.finish_job(name, result.status, result.to_dict())
    return result


def trial_name(tuning_job_name: str, number: int) -> str:
    """SageMaker's trial name: <tuning-job>-<NNN>-<token>, 45 characters at most."""
    return f"{tuning_job_name}-{number:03d}-{secrets.token_hex(4)}"


def _run(
    spec: TuningJobSpec,
    planned: list[tuning.Trial],
    bound: int,
    say: Progress,
    run_trial: RunTrial,
    stop_trial: StopTrial,
    state: LocalState,
) -> list[TrialResult]:
    names = [trial_name(spec.tuning_job_name, i + 1) for i in range(len(planned))]
    done: dict[int, TrialResult] = {}
    running: dict[Future, int] = {}
    waiting = iter(enumerate(planned))
    with ThreadPoolExecutor(bound, thread_name_prefix="trial") as pool:
        with _ctrl_c() as interrupted:
            try:
                while not interrupted.is_set():
                    while len(running) < bound and (item := next(waiting, None)):
                        i, searched = item
                        future = pool.submit(
                            _trial, spec, names[i], searched, say, run_trial
                        )
                        running[future] = i
                    if not running:
                        break
                    finished, _ = wait(running, POLL_SECONDS, FIRST_COMPLETED)
                    for future in finished:
                        done[running.pop(future)] = future.result()
            except KeyboardInterrupt:
                interrupted.set()
            if interrupted.is_set():
                _stop(running, names, say, stop_trial, state)
                raise KeyboardInterrupt
    return [done[i] for i in sorted(done)]


@contextmanager
def _ctrl_c() -> Iterator[threading.Event]:
    """An event Ctrl-C sets, rather than raising wherever this thread is.

    A KeyboardInterrupt between launching a trial and noting it would leave
    that trial's container running; the loop instead looks at the event
    between steps. A second Ctrl-C while trials are being stopped raises at
    once. Off the main thread (where no signal arrives) nothing changes.
    """
    interrupted = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield interrupted
        return

    def on_ctrl_c(signum: int, frame: object) -> None:
        if interrupted.is_set():
            raise KeyboardInterrupt
        interrupted.set()

    previous = signal.signal(signal.SIGINT, on_ctrl_c)
    try:
        yield interrupted
    finally:
        # None: a handler set outside Python, which cannot be put back.
        signal.signal(
            signal.SIGINT, previous if previous is not None else signal.SIG_DFL
        )


def _trial(
    spec: TuningJobSpec,
    name: str,
    searched: tuning.Trial,
    say: Progress,
    run_trial: RunTrial,
) -> TrialResult:
    """One training job; whatever keeps it from running makes it a Failed trial."""
    job = replace(
        spec.training,
        job_name=name,
        hyperparameters={**spec.training.hyperparameters, **searched},
    )
    say(f"{name}: starting with {_shown(searched)}")
    try:
        ran = run_trial(job, lambda line: say(f"{name}: {line}"))
    except Exception as exc:  # noqa: BLE001 - a trial that cannot run is a failed trial
        reason = getattr(exc, "message", None) or str(exc) or type(exc).__name__
        say(f"{name}: {FAILED}: {reason}")
        return TrialResult(name, FAILED, dict(searched), None, {}, None, reason)
    status, reason, value = ran.status, ran.failure_reason, None
    if status == COMPLETED:
        value, reason = tuning.objective(ran.metrics, spec.objective_metric)
        status = COMPLETED if value is not None else FAILED
    shown = f"{spec.objective_metric}={value:.4g}" if value is not None else reason
    say(f"{name}: {status}: {shown}")
    return TrialResult(
        name,
        status,
        dict(searched),
        value,
        dict(ran.metrics),
        ran.model_artifact,
        reason,
        ran.duration_seconds,
    )


def _stop(
    running: dict[Future, int],
    names: list[str],
    say: Progress,
    stop_trial: StopTrial,
    state: LocalState,
) -> None:
    """Stop the running trials' containers and wait for their threads.

    A trial between creating its container and starting it is caught on a
    later round, so each round stops whatever is still running.
    """
    say(f"interrupted: stopping {len(running)} running trial(s)")
    while running:
        for future, i in running.items():
            if not future.done():
                stop_trial(names[i])
        finished, _ = wait(running, POLL_SECONDS)
        for future in finished:
            i = running.pop(future)
            if future.exception() is not None or future.result().status != COMPLETED:
                state.finish_job(names[i], STOPPED, {"failure_reason": STOPPED_BY_USER})


def _outcome(
    spec: TuningJobSpec, trials: list[TrialResult], duration: float
) -> TuningJobResult:
    best = tuning.best(trials, spec.objective_type)
    if best is not None:
        return TuningJobResult(
            spec.tuning_job_name,
            COMPLETED,
            tuple(trials),
            best.job_name,
            None,
            duration,
        )
    first = next((t for t in trials if t.status != COMPLETED), None)
    reason = (
        f"every training job failed; the first, {first.job_name}: {first.failure_reason}"
        if first
        else "no training job ran"
    )
    return TuningJobResult(
        spec.tuning_job_name, FAILED, tuple(trials), None, reason, duration
    )


def _shown(searched: tuning.Trial) -> str:
    return ", ".join(f"{k}={v}" for k, v in searched.items())


def _one_line_at_a_time(progress: Progress) -> Progress:
    """`progress` called from several threads, one whole line at a time."""
    lock = threading.Lock()

    def say(line: str) -> None:
        with lock:
            progress(line)

    return say

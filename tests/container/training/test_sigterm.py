"""SIGTERM (StopTrainingJob, MaxRuntimeInSeconds) stops `train` cleanly.

Both tests run the job in a subprocess, as the image does, and signal it while
it is busy: once in an ordinary fit, once with the main thread stuck where no
Python code runs, which the watcher thread must handle on its own.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd

from container.contract.bundle import MANIFEST_FILE, MODEL_FILE
from container.contract.paths import ROOT_ENV_VAR, OptMl

REPO_ROOT = Path(__file__).resolve().parents[3]
STOPPED_EXIT = 128 + signal.SIGTERM


def _environment(opt_ml: OptMl) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SM_")}
    env[ROOT_ENV_VAR] = str(opt_ml.root)
    env["PYTHONPATH"] = str(REPO_ROOT)
    return env


def _wait_for_line(process: subprocess.Popen, marker: str, timeout: float) -> list[str]:
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        if not line:
            break
        seen.append(line)
        if marker in line:
            return seen
    raise AssertionError(f"{marker!r} never appeared on stderr: {''.join(seen)}")


def _assert_stopped_cleanly(
    opt_ml: OptMl, process: subprocess.Popen, started: float
) -> None:
    code = process.wait(timeout=100)
    elapsed = time.monotonic() - started
    assert code == STOPPED_EXIT
    assert elapsed < 100  # SageMaker kills the container 120 s after SIGTERM
    reason = opt_ml.failure_file.read_text()
    assert reason.startswith("Training stopped: SIGTERM received")
    assert "Traceback" not in reason
    assert not (opt_ml.model_dir / MANIFEST_FILE).exists()
    assert not (opt_ml.model_dir / MODEL_FILE).exists()
    assert not list(opt_ml.model_dir.glob(".model.*"))


def test_sigterm_during_fit_stops_without_a_bundle(opt_ml: OptMl):
    rng = np.random.default_rng(0)
    features = rng.normal(size=(60_000, 8))
    frame = pd.DataFrame(features, columns=[f"x{i}" for i in range(8)])
    frame.insert(0, "label", (features[:, 0] + rng.normal(size=60_000) > 0).astype(int))
    train_dir = opt_ml.channel_dir("train")
    train_dir.mkdir(parents=True)
    frame.to_csv(train_dir / "big.csv", index=False)
    # Thousands of deep trees: minutes of fitting, far longer than the test waits.
    opt_ml.hyperparameters_file.write_text(
        json.dumps({"target": "label", "n_estimators": "5000"})
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "container.training"],
        env=_environment(opt_ml),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _wait_for_line(process, "[train] fitting", timeout=60)
        time.sleep(1.0)
        assert process.poll() is None, "the fit finished before it could be stopped"
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        _assert_stopped_cleanly(opt_ml, process, started)
    finally:
        if process.poll() is None:
            process.kill()
        process.stderr.close()


STUCK_JOB = textwrap.dedent(
    """
    import sys, threading
    from container import jobs
    from container.training import job

    jobs.STOP_DEADLINE_SECONDS = 1.0

    def stuck(opt_ml, env, guard, model_dir):
        # A partial bundle, then a wait no Python signal handler can interrupt,
        # as in a long C-level fit.
        model_dir.mkdir(parents=True, exist_ok=True)
        (model_dir / "model.joblib").write_bytes(b"partial")
        print("[train] fitting", file=sys.stderr, flush=True)
        lock = threading.Lock()
        lock.acquire()
        lock.acquire()

    job.run = stuck
    sys.exit(job.main())
    """
)


def test_sigterm_while_main_thread_is_stuck_still_exits_in_time(opt_ml: OptMl):
    process = subprocess.Popen(
        [sys.executable, "-c", STUCK_JOB],
        env=_environment(opt_ml),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _wait_for_line(process, "[train] fitting", timeout=30)
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        _assert_stopped_cleanly(opt_ml, process, started)
        assert time.monotonic() - started < 30
    finally:
        if process.poll() is None:
            process.kill()
        process.stderr.close()

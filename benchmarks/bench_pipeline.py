"""What the local backend's SageMaker emulation costs, as ratios measured in one run.

    .venv/bin/python benchmarks/bench_pipeline.py [--repeats 3] [--requests 200]

Needs the Docker engine and the image (`make image`). For each kind of work it
times the local backend doing it (a container with /opt/ml laid out, logs
streamed, outputs published) against a reference doing the same work in this
machine's Python without Docker, alternating the two, and reports the best of
each and their ratio:

- training job   vs ``python -m container.training`` on a copy of the same /opt/ml
- baseline job   vs ``python -m container.monitoring.baseline`` on the same inputs
- monitor job    vs ``python -m container.monitoring.monitor`` on the same inputs
- invoke_endpoint (state lookup + HTTP + capture) vs a bare ``requests.post`` to
  the same container, per request, median over ``--requests`` requests

It also runs the whole demo (`lifecycle.run`) once and reports each step's
seconds. Results go to benchmarks/results/pipeline.json.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from orchestration import lifecycle  # noqa: E402
from orchestration.backends.base import (  # noqa: E402
    CaptureSpec,
    EndpointSpec,
    ProcessingJobSpec,
    TrainingJobSpec,
)
from orchestration.backends.local import LocalBackend  # noqa: E402
from orchestration.config import REPO_ROOT, load_config  # noqa: E402
from orchestration.dataprep import prepare  # noqa: E402

HPS = {"target": "species", "algorithm": "random_forest", "n_estimators": "100"}
RESULTS = REPO_ROOT / "benchmarks" / "results" / "pipeline.json"


def timed(fn) -> tuple[float, object]:
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


def bare_job(module: str, opt_ml: Path, environment: dict[str, str]) -> None:
    """The same command in this machine's Python, with /opt/ml moved to opt_ml."""
    env = {k: v.replace("/opt/ml", str(opt_ml)) for k, v in environment.items()}
    env = {**os.environ, **env, "SKLEARN_BYOC_OPT_ML": str(opt_ml)}
    done = subprocess.run(
        [sys.executable, "-m", module],
        env=env,
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
    )
    if done.returncode != 0:
        raise SystemExit(f"reference {module} failed: {done.stderr[-1000:]}")


def fresh_copy(job_opt_ml: Path, work: Path, keep: tuple[str, ...]) -> Path:
    """A copy of a finished job's inputs, with empty output folders."""
    root = work / f"ref-{time.monotonic_ns()}"
    for sub in keep:
        if (job_opt_ml / sub).exists():
            shutil.copytree(job_opt_ml / sub, root / sub)
    for sub in ("model", "output/data", "processing/output"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    return root


def bench_training(backend, channels, work, repeats):
    local, bare = [], []
    for i in range(repeats):
        spec = TrainingJobSpec(
            f"bench-train-{i}",
            backend.image,
            HPS,
            channels,
            output_location=str(work / "out"),
        )
        seconds, result = timed(
            lambda s=spec: backend.run_training_job(s, lambda _: None)
        )
        assert result.status == "Completed", result.failure_reason
        local.append(seconds)
        copy = fresh_copy(
            backend.root / "jobs" / spec.job_name / "opt_ml", work, ("input",)
        )
        env = {"TRAINING_JOB_NAME": spec.job_name}
        bare.append(
            timed(lambda c=copy, e=env: bare_job("container.training", c, e))[0]
        )
    return local, bare, Path(result.model_artifact)


def bench_processing(backend, spec_for, module, work, repeats):
    local, bare = [], []
    for i in range(repeats):
        spec = spec_for(i)
        seconds, result = timed(
            lambda s=spec: backend.run_processing_job(s, lambda _: None)
        )
        assert result.status == "Completed", result.failure_reason
        local.append(seconds)
        copy = fresh_copy(
            backend.root / "jobs" / spec.job_name / "opt_ml",
            work,
            ("processing/input", "processing/baseline"),
        )
        bare.append(timed(lambda c=copy, s=spec: bare_job(module, c, s.environment))[0])
    return local, bare


def bench_invocations(backend, name, url, rows, count):
    import requests

    through_backend, bare = [], []
    headers = {"Content-Type": "text/csv", "Accept": "text/csv"}
    for i in range(count):
        body = rows[i % len(rows)]
        through_backend.append(
            timed(
                lambda b=body: backend.invoke_endpoint(name, b, "text/csv", "text/csv")
            )[0]
        )
        bare.append(
            timed(
                lambda b=body: requests.post(
                    f"{url}/invocations", data=b, headers=headers, timeout=60
                )
            )[0]
        )
    return through_backend, bare


def row(name, local, bare, unit="s", stat=min):
    a, b = stat(local), stat(bare)
    return {
        "work": name,
        "local_backend": round(a, 4),
        "reference": round(b, 4),
        "ratio": round(a / b, 2),
        "unit": unit,
        "samples": len(local),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--image", default="sklearn-byoc:latest")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-pipeline-"))
    backend = LocalBackend(work / "state", args.image, project="bench")
    backend.ensure_image()
    results = []
    try:
        processed = work / "processed"
        prepare(dataclasses.replace(load_config().data, processed=processed))
        channels = {c: str(processed / c) for c in ("train", "validation", "test")}

        local, bare, tarball = bench_training(backend, channels, work, args.repeats)
        results.append(row("training job (s)", local, bare))

        def baseline_spec(i):
            return ProcessingJobSpec(
                f"bench-baseline-{i}",
                backend.image,
                "baseline",
                {lifecycle.BASELINE_DATA: str(processed / "baseline")},
                str(work / "baseline" / str(i)),
                {
                    "dataset_format": json.dumps(lifecycle.BASELINE_FORMAT),
                    "dataset_source": f"/opt/ml/processing/{lifecycle.BASELINE_DATA}",
                    "output_path": "/opt/ml/processing/output",
                },
            )

        local, bare = bench_processing(
            backend, baseline_spec, "container.monitoring.baseline", work, args.repeats
        )
        results.append(row("baseline job (s)", local, bare))

        capture = work / "capture"
        started = time.perf_counter()
        info = backend.create_endpoint(
            EndpointSpec(
                "bench-ep",
                "m",
                str(tarball),
                backend.image,
                capture=CaptureSpec(destination=str(capture)),
            )
        )
        startup = time.perf_counter() - started
        test_rows = (processed / "test" / "test.csv").read_text().splitlines()[1:]
        bodies = [(",".join(r.split(",")[1:]) + "\n").encode() for r in test_rows]
        window_start = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 1))
        local, bare = bench_invocations(
            backend, "bench-ep", info.url, bodies, args.requests
        )
        results.append(
            row(
                "invoke_endpoint (ms, median)",
                [s * 1000 for s in local],
                [s * 1000 for s in bare],
                "ms",
                statistics.median,
            )
        )
        window_end = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 2))
        baseline_out = work / "baseline" / "0"

        base = lifecycle.BASELINE_FILES

        def monitor_spec(i):
            return ProcessingJobSpec(
                f"bench-monitor-{i}",
                backend.image,
                "monitor",
                {
                    lifecycle.ENDPOINT_DATA: str(capture),
                    "baseline/stats": str(baseline_out / "statistics.json"),
                    "baseline/constraints": str(baseline_out / "constraints.json"),
                },
                str(work / "monitor" / str(i)),
                {
                    "dataset_format": json.dumps(lifecycle.CAPTURE_FORMAT),
                    "dataset_source": f"/opt/ml/processing/{lifecycle.ENDPOINT_DATA}",
                    "output_path": "/opt/ml/processing/output",
                    "start_time": window_start,
                    "end_time": window_end,
                    "baseline_statistics": f"{base}/stats/statistics.json",
                    "baseline_constraints": f"{base}/constraints/constraints.json",
                },
            )

        local, bare = bench_processing(
            backend, monitor_spec, "container.monitoring.monitor", work, args.repeats
        )
        results.append(row("monitor job (s)", local, bare))
        backend.delete_endpoint("bench-ep")

        config = dataclasses.replace(
            load_config(), state_dir=work / "demo-state", image=args.image
        )
        config = dataclasses.replace(
            config,
            data=dataclasses.replace(config.data, processed=work / "demo-processed"),
        )
        project = lifecycle.open_project(config, say=lambda _: None)
        demo = lifecycle.run(project)
    finally:
        backend.cleanup()
        shutil.rmtree(work, ignore_errors=True)

    print(f"{'work':<30} {'local backend':>14} {'reference':>10} {'ratio':>6}")
    for r in results:
        print(
            f"{r['work']:<30} {r['local_backend']:>14.3f} {r['reference']:>10.3f} "
            f"{r['ratio']:>6.2f}"
        )
    print(f"endpoint start-up to InService: {startup:.2f} s")
    print(
        f"whole demo: {demo['total_seconds']:.1f} s; steps: {demo['timings_seconds']}"
    )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "results": results,
                "endpoint_startup_seconds": round(startup, 2),
                "demo": {
                    "total_seconds": demo["total_seconds"],
                    "timings_seconds": demo["timings_seconds"],
                },
                "repeats": args.repeats,
                "requests": args.requests,
            },
            indent=2,
        )
    )
    print(f"written to {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

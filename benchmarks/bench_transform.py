"""A local batch transform job against the model's own `predict`, in one run.

    .venv/bin/python benchmarks/bench_transform.py [--rows 100000] [--repeats 3]

Needs the Docker engine and the image (`make image`). It trains the bundle
`train` writes by default (the config's 100-tree forest pipeline), writes
`--rows` rows of the test split's features (repeated) as two headerless CSV
files, and alternates:

- the transform job: the local backend's transform job over both files with
  SageMaker's defaults (MultiRecord up to 6 MB, the container's
  MaxConcurrentTransforms), from the job's start to its last `.out`, and its
  records per second after start-up (the first request to the last answer);
- the reference: `pipeline.predict` of the same rows in this Python, on the
  DataFrame of each file (what scoring the files in a notebook costs);
- the server's own code: `invocations()` on each file's body in this Python,
  without HTTP or a container (how much of the gap is the job's, how much the
  request decoding and encoding's).

It reports the best of `--repeats` of each and the ratio of their rows per
second, with the load average. Results go to benchmarks/results/transform.json.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pandas as pd  # noqa: E402

from orchestration.backends.base import (  # noqa: E402
    COMPLETED,
    TrainingJobSpec,
    TransformJobSpec,
)
from orchestration.backends.local import LocalBackend  # noqa: E402
from orchestration.config import REPO_ROOT, load_config  # noqa: E402
from orchestration.dataprep import prepare  # noqa: E402
from orchestration.local import artifacts  # noqa: E402

RESULTS = REPO_ROOT / "benchmarks" / "results" / "transform.json"
IMAGE = os.environ.get("SKLEARN_BYOC_IMAGE", "sklearn-byoc:latest")


def train_bundle(backend: LocalBackend, processed: Path, work: Path) -> Path:
    config = load_config()
    result = backend.run_training_job(
        TrainingJobSpec(
            "bench-transform-train",
            IMAGE,
            dict(config.training.hyperparameters),
            {c: str(processed / c) for c in ("train", "validation", "test")},
            output_location=str(work / "models"),
        ),
        lambda line: None,
    )
    if result.status != COMPLETED:
        raise SystemExit(f"training failed: {result.failure_reason}")
    return Path(result.model_artifact)


def write_inputs(processed: Path, target: str, rows: int, folder: Path) -> list[Path]:
    test = pd.read_csv(processed / "test" / "test.csv").drop(columns=[target])
    repeated = pd.concat([test] * (rows // len(test) + 1)).head(rows)
    folder.mkdir(parents=True)
    paths = []
    for index, part in enumerate((repeated[: rows // 2], repeated[rows // 2 :])):
        path = folder / f"part-{index}.csv"
        part.to_csv(path, header=False, index=False, lineterminator="\n")
        paths.append(path)
    return paths


def run_job(backend: LocalBackend, tarball: Path, inputs: Path, out: Path, n: int):
    said: list[tuple[float, str]] = []
    started = time.perf_counter()
    result = backend.run_transform_job(
        TransformJobSpec(
            job_name=f"bench-transform-{n}",
            model_name="bench-model",
            model_artifact=str(tarball),
            image=IMAGE,
            input_location=str(inputs),
            output_location=str(out),
        ),
        lambda line: said.append((time.perf_counter(), line)),
    )
    total = time.perf_counter() - started
    if result.status != COMPLETED:
        raise SystemExit(f"transform failed: {result.failure_reason}")
    # The job says "N input file(s), ..." once the container answers /ping.
    serving_from = next(t for t, line in said if "input file(s)" in line)
    finished = next(t for t, line in said if " Completed: " in line)
    return total, finished - serving_from, result.records, said


def _bundle(tarball: Path, work: Path):
    from container.contract.bundle import load_bundle

    model_dir = work / "reference-model"
    if not model_dir.exists():
        artifacts.extract_tarball(tarball, model_dir)
    return load_bundle(model_dir)


def reference(tarball: Path, files: list[Path], work: Path) -> float:
    """Seconds for `pipeline.predict` over every file, read as the job reads them."""
    bundle = _bundle(tarball, work)
    names = bundle.schema.feature_names
    started = time.perf_counter()
    for path in files:
        frame = pd.read_csv(path, header=None, names=names)
        bundle.pipeline.predict(frame)
    return time.perf_counter() - started


def server_code(tarball: Path, files: list[Path], work: Path) -> float:
    """Seconds for the server's own invocations() on each file's body, in this
    Python with no HTTP: decode, predict, encode, as one request per file."""
    from container.serving.inference import InvocationOptions, invocations

    bundle = _bundle(tarball, work)
    options = InvocationOptions(max_payload_bytes=100 * 1024 * 1024)
    bodies = [path.read_bytes() for path in files]
    started = time.perf_counter()
    for body in bodies:
        response = invocations(body, "text/csv", "text/csv", bundle, options)
        assert response.status == 200, response.body[:200]
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="20k rows, 1 repeat")
    args = parser.parse_args(argv)
    if args.quick:
        args.rows, args.repeats = 20_000, 1
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        processed = work / "processed"
        config = load_config()
        prepare(dataclasses.replace(config.data, processed=processed))
        backend = LocalBackend(work / "state", IMAGE, project="bench")
        try:
            tarball = train_bundle(backend, processed, work)
            files = write_inputs(processed, config.target, args.rows, work / "in")
            jobs, serving, refs, codes = [], [], [], []
            for n in range(args.repeats):
                total, answering, records, said = run_job(
                    backend, tarball, work / "in", work / f"out-{n}", n
                )
                assert records == args.rows, (records, args.rows)
                jobs.append(total)
                serving.append(answering)
                refs.append(reference(tarball, files, work))
                codes.append(server_code(tarball, files, work))
        finally:
            backend.cleanup()
    settings_line = next(line for _, line in said if "input file(s)" in line)
    results = {
        "rows": args.rows,
        "repeats": args.repeats,
        "job_seconds": min(jobs),
        "job_answering_seconds": min(serving),
        "reference_seconds": min(refs),
        "job_rows_per_s": args.rows / min(jobs),
        "job_answering_rows_per_s": args.rows / min(serving),
        "reference_rows_per_s": args.rows / min(refs),
        "ratio_whole_job": min(refs) / min(jobs),
        "ratio_after_start_up": min(refs) / min(serving),
        "server_code_in_process_seconds": min(codes),
        "ratio_after_start_up_to_server_code": min(codes) / min(serving),
        "settings": settings_line.split(": ", 1)[-1],
        "load_average_before": load_before,
        "load_average_after": os.getloadavg()[0],
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

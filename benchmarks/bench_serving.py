"""Serving benchmark: the HTTP server against a hand-built reference, in one run.

    .venv/bin/python benchmarks/bench_serving.py            # full run, ~8 minutes
    .venv/bin/python benchmarks/bench_serving.py --quick    # under ~4 minutes

Trains the default bundle with the project's own `train` (a 100-tree random
forest pipeline on the bundled penguins data), builds an iris tree, and
serves both two ways on 127.0.0.1 (never another interface):

- ours: `python -m container.serving` from this checkout;
- the reference: nginx + gunicorn (sync, one worker per CPU) + Flask +
  pandas, built the way AWS's scikit_bring_your_own example is
  (benchmarks/reference_server.py), serving the same fitted pipelines.

Both are driven by `wrk` (apt-get install -y wrk) with the same settings,
alternating, so a busy machine moves both sides. Every figure with a goal is
a ratio against a reference measured in the same run, or a latency/memory
figure taken beside one. The 1-minute load average is recorded before and
after each section. Writes serving.json and serving.html (inline SVG, no
dependencies) to --out.

What it measures (the numbering follows benchmarks/serving.md):
1. one-row CSV at concurrency 1 and 16: ours ÷ reference req/s, p50 at c=1;
2. 1000-row CSV batches: rows/s ÷ (workers that fit on the cores ×
   in-process rows/s);
3. a worker's peak memory answering a ~6 MB single-line CSV ÷ its idle RSS;
4. /ping p99 while 64 slow clients each send a request one byte a second;
5. cold start: spawn → first 200 on /ping (and → first accepted connection);
6. memory: PSS of the whole process tree with 1 and 2 workers;
7. capture on ÷ off at concurrency 16;
8. a soak at concurrency 32: errors.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from benchmarks import serving_probes as probes  # noqa: E402
from benchmarks.reference_server import ReferenceServer, nginx_available  # noqa: E402
from benchmarks.serving_models import (  # noqa: E402
    build_iris_bundle,
    build_penguins_bundle,
    default_bundle_rows,
    train_default_bundle,
)
from benchmarks.serving_report import write_html  # noqa: E402

IRIS_ROW = b"5.1,3.5,1.4,0.2\n"
LIGHT_PENGUIN_ROW = b"39.1,18.7,181,3750,Torgersen,male\n"
SIX_MB = 6 * 1024 * 1024
# "penguins" is the default bundle `train` writes; "penguins_light" the
# single-tree pipeline earlier results were taken on (a secondary row).
MODELS = ("penguins", "iris")
GOALS = {
    "penguins_c16_vs_reference": (">=", 20.0),
    "penguins_c1_p50_ms": ("<=", 1.0),
    "iris_c1_p50_ms": ("<=", 1.0),
    "penguins_batch_ratio": (">=", 0.8),
    "iris_batch_ratio": (">=", 0.8),
    "six_mb_memory_ratio": ("<=", 2.0),
    "ping_p99_slow_clients_s": ("<=", 2.0),
    "cold_start_s": ("<=", 1.0),
    "pss_2_workers_mb": ("<=", 200.0),
    "penguins_capture_ratio": (">=", 0.9),
    "iris_capture_ratio": (">=", 0.9),
    "soak_errors": ("<=", 0.0),
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def cores() -> int:
    return len(os.sched_getaffinity(0))


def ping(port: int) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        conn.request("GET", "/ping")
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def post(port: int, body: bytes, content_type: str = "text/csv") -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        conn.request(
            "POST", "/invocations", body=body, headers={"Content-Type": content_type}
        )
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


# --- the server under test -----
@dataclass
class Server:
    """`python -m container.serving` from this checkout, on 127.0.0.1."""

    opt_ml: Path
    logs: Path
    workers: int | None = None  # None: the server's default
    env: dict[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None
    stderr_path: Path | None = None

    def _spawn(self) -> None:
        environ = {
            **os.environ,
            "PYTHONPATH": str(REPO_ROOT),
            "SKLEARN_BYOC_OPT_ML": str(self.opt_ml),
            "SAGEMAKER_BIND_TO_PORT": str(self.port),
            **self.env,
        }
        if self.workers is not None:
            environ["SAGEMAKER_MODEL_SERVER_WORKERS"] = str(self.workers)
        self.stderr_path = self.logs / f"ours-{self.port}.err"
        with (
            open(self.logs / f"ours-{self.port}.out", "ab") as out,
            open(self.stderr_path, "ab") as err,
        ):
            self.process = subprocess.Popen(
                [sys.executable, "-m", "container.serving"],
                env=environ,
                stdout=out,
                stderr=err,
                stdin=subprocess.DEVNULL,
                cwd=REPO_ROOT,
            )

    def start(self) -> float:
        """Start; returns seconds until the first 200 on /ping."""
        started = time.perf_counter()
        self._spawn()
        while time.perf_counter() - started < 60:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited early; see {self.stderr_path}")
            try:
                if ping(self.port) == 200:
                    return time.perf_counter() - started
            except OSError:
                pass
            time.sleep(0.005)
        self.stop()
        raise RuntimeError("server did not answer /ping within 60 s")

    def first_accept(self) -> float:
        """Start; returns seconds until the port accepts a TCP connection."""
        started = time.perf_counter()
        self._spawn()
        while time.perf_counter() - started < 60:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return time.perf_counter() - started
            except OSError:
                time.sleep(0.002)
        raise RuntimeError("server did not accept a connection within 60 s")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def root_pids(self) -> list[int]:
        return [self.process.pid]

    def startup_lines(self) -> list[str]:
        """What the server said on stderr while starting (front proxy, predictor)."""
        if self.stderr_path is None or not self.stderr_path.exists():
            return []
        lines = [
            line
            for line in self.stderr_path.read_text(errors="replace").splitlines()
            if line.strip()
        ]
        # The server's own lines first: nginx logs one line per request that
        # arrives before the workers are up, which would crowd them out.
        own = [line for line in lines if line.startswith("serve:")]
        return (own + [line for line in lines if not line.startswith("serve:")])[:20]

    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/invocations"


def start_reference(model_dir: Path, work: Path, log: Path, **kwargs) -> Any:
    port = free_port()
    server = ReferenceServer(model_dir, work / f"reference-{port}", port, **kwargs)
    server.start(log, ping)
    return server


# --- wrk -----
@dataclass
class Load:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int


def _ms(out: str, label: str) -> float:
    match = re.search(label + r"\s+([\d.]+)(us|ms|s)\b", out)
    if match is None:
        return float("nan")
    value, unit = match.groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def wrk(
    url: str, body_file: Path, connections: int, seconds: float, work: Path
) -> Load:
    script = work / f"post-{body_file.name}.lua"
    script.write_text(
        f'local f = io.open("{body_file}", "rb")\nwrk.body = f:read("*a")\nf:close()\n'
        'wrk.method = "POST"\nwrk.headers["Content-Type"] = "text/csv"\n'
    )
    threads = 1 if connections == 1 else 2
    out = subprocess.run(
        [
            "wrk",
            f"-t{threads}",
            f"-c{connections}",
            f"-d{max(1, round(seconds))}s",
            "--latency",
            "-s",
            str(script),
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p50, p99 = _ms(out, "50%"), _ms(out, "99%")
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    errors = 0
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if non_2xx:
        errors += int(non_2xx.group(1))
    sockets = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out
    )
    if sockets:
        errors += sum(int(g) for g in sockets.groups())
    return Load(rps, p50, p99, requests, errors)


def median_load(loads: list[Load]) -> dict[str, float]:
    """Each field's median over the rounds."""
    return {
        name: statistics.median(getattr(load, name) for load in loads)
        for name in ("rps", "p50_ms", "p99_ms", "requests", "errors")
    } | {"errors": sum(load.errors for load in loads)}


# --- in-process references -----
def per_call_seconds(fn, min_time: float) -> float:
    fn()
    calls, started = 0, time.perf_counter()
    while time.perf_counter() - started < min_time or calls < 3:
        fn()
        calls += 1
    return (time.perf_counter() - started) / calls


def in_process(model_dir: Path, body: bytes, min_time: float) -> float:
    """Seconds for one in-process invocations() (decode + predict + encode)."""
    from container.contract.bundle import load_bundle
    from container.serving.inference import InvocationOptions, invocations

    bundle = load_bundle(model_dir)
    options = InvocationOptions(max_payload_bytes=10 * SIX_MB)

    def call():
        response = invocations(body, "text/csv", "text/csv", bundle, options)
        assert response.status == 200, response.body[:200]

    return per_call_seconds(call, min_time)


def predict_floor(model_dir: Path, row: bytes, min_time: float) -> float:
    """Seconds for the pipeline's own predict on one row, as a DataFrame."""
    import io

    import pandas as pd

    from container.contract.bundle import load_bundle

    bundle = load_bundle(model_dir)
    frame = pd.read_csv(io.BytesIO(row), header=None)
    frame.columns = bundle.schema.feature_names
    return per_call_seconds(lambda: bundle.pipeline.predict(frame), min_time)


# --- the run -----
class Run:
    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.work = Path(tempfile.mkdtemp(prefix="bench-serving-"))
        # nginx's workers (an unprivileged user when started as root) must
        # reach the reference's socket under this folder.
        self.work.chmod(0o755)
        self.log = self.work / "bench.log"
        self.results: dict[str, Any] = {
            "cores": cores(),
            "duration_s": args.duration,
            "quick": args.quick,
            "load_average_before": os.getloadavg(),
            "load": {},
            "startup_lines": {},
        }
        self.models: dict[str, Path] = {}  # name -> /opt/ml root
        self.bodies: dict[str, Path] = {}

    @contextlib.contextmanager
    def section(self, key: str, title: str):
        before = os.getloadavg()[0]
        print(f"{title} (load average {before:.2f})", flush=True)
        try:
            yield
        finally:
            after = os.getloadavg()[0]
            self.results["load"][key] = [before, after]
            print(f"   load average {before:.2f} -> {after:.2f}", flush=True)

    def body(self, name: str, data: bytes) -> None:
        self.bodies[name] = self.work / f"{name}.csv"
        self.bodies[name].write_bytes(data)

    def model_dir(self, name: str) -> Path:
        return self.models[name] / "model"

    def ours(self, model: str, **kwargs) -> Server:
        server = Server(self.models[model], self.work, **kwargs)
        server.start()
        if model not in self.results["startup_lines"]:
            self.results["startup_lines"][model] = server.startup_lines()
            self.results.setdefault("front_proxy", {})[model] = (
                "nginx" if probes.nginx_in(server.root_pids()) else "none"
            )
        return server

    def reference(self, model: str, **kwargs) -> ReferenceServer:
        return start_reference(self.model_dir(model), self.work, self.log, **kwargs)

    def point(self, server, body: str, connections: int) -> Load:
        return wrk(
            server.url(), self.bodies[body], connections, self.args.duration, self.work
        )

    # 0. bundles and bodies
    def build(self) -> None:
        with self.section("build", "0. bundles: train's default bundle, iris, light"):
            started = time.perf_counter()
            root = self.work / "penguins"
            train_default_bundle(root, self.work / "train.log")
            self.models["penguins"] = root
            self.results["train_s"] = time.perf_counter() - started
            for name, build in (
                ("iris", build_iris_bundle),
                ("penguins_light", build_penguins_bundle),
            ):
                root = self.work / name
                build(root / "model")
                self.models[name] = root
            manifest = json.loads(
                (self.model_dir("penguins") / "model.json").read_text()
            )
            self.results["default_bundle"] = {
                "algorithm": manifest.get("algorithm"),
                "hyperparameters": manifest.get("hyperparameters"),
                "files": sorted(p.name for p in self.model_dir("penguins").iterdir()),
                "features": [f["name"] for f in manifest["schema"]["features"]],
            }
            print(
                f"   default bundle: {manifest.get('algorithm')}, "
                f"{self.results['train_s']:.1f} s to train; files "
                f"{', '.join(self.results['default_bundle']['files'])}",
                flush=True,
            )
            penguin_row = default_bundle_rows(self.model_dir("penguins"), 1)
            self.body("penguins_row", penguin_row)
            self.body(
                "penguins_1000", default_bundle_rows(self.model_dir("penguins"), 1000)
            )
            self.body("iris_row", IRIS_ROW)
            self.body("iris_1000", IRIS_ROW * 1000)
            self.body("penguins_light_row", LIGHT_PENGUIN_ROW)
            fields = (SIX_MB - 1024) // 2
            self.body("wide_6mb", b"1," * fields + b"1\n")

    # 1 and 2. one-row and 1000-row CSV, ours and the reference alternating
    def throughput(self, model: str, batches: bool = True) -> None:
        args, results = self.args, self.results
        title = "one-row and 1000-row CSV" if batches else "one-row CSV"
        with self.section(model, f"1-2. {model}: {title}"):
            row = self.bodies[f"{model}_row"].read_bytes()
            floor_time = args.in_process_time
            results[f"{model}_predict_floor_us"] = (
                predict_floor(self.model_dir(model), row, floor_time) * 1e6
            )
            results[f"{model}_in_process_us"] = (
                in_process(self.model_dir(model), row, floor_time) * 1e6
            )
            batch = self.bodies[f"{model}_1000"].read_bytes() if batches else b""
            before = (
                in_process(self.model_dir(model), batch, floor_time) if batches else 0
            )
            ours = self.ours(model)
            reference = self.reference(model)
            points = [("row", 1), ("row", 16)] + (
                [("1000", cores())] if batches else []
            )
            loads: dict[str, dict[str, list[Load]]] = {"ours": {}, "reference": {}}
            try:
                for server in (ours, reference):
                    wrk(server.url(), self.bodies[f"{model}_row"], 16, 1, self.work)
                for _ in range(args.rounds):
                    for body, connections in points:
                        key = f"{body}_c{connections}"
                        for side, server in (("ours", ours), ("reference", reference)):
                            load = self.point(server, f"{model}_{body}", connections)
                            loads[side].setdefault(key, []).append(load)
                workers = {
                    "ours": len(probes.worker_pids(ours.root_pids())),
                    "reference": len(probes.worker_pids(reference.root_pids())),
                }
                results[f"{model}_reference_pss_mb"] = probes.tree_pss_mb(
                    reference.root_pids()
                )
            finally:
                ours.stop()
                reference.stop()
            after = (
                in_process(self.model_dir(model), batch, floor_time) if batches else 0
            )
            summary = {
                side: {key: median_load(v) for key, v in by_key.items()}
                for side, by_key in loads.items()
            }
            results[f"{model}_loads"] = summary
            results[f"{model}_workers"] = workers
            for key in summary["ours"]:
                o, r = summary["ours"][key], summary["reference"][key]
                print(
                    f"   {key}: ours {o['rps']:.0f} req/s p50 {o['p50_ms']:.2f} ms "
                    f"p99 {o['p99_ms']:.2f} ms err {o['errors']:.0f} | reference "
                    f"{r['rps']:.0f} req/s p50 {r['p50_ms']:.2f} ms p99 "
                    f"{r['p99_ms']:.2f} ms err {r['errors']:.0f}",
                    flush=True,
                )
            results[f"{model}_c16_vs_reference"] = (
                summary["ours"]["row_c16"]["rps"]
                / summary["reference"]["row_c16"]["rps"]
            )
            results[f"{model}_c1_p50_ms"] = summary["ours"]["row_c1"]["p50_ms"]
            results[f"{model}_reference_c1_p50_ms"] = summary["reference"]["row_c1"][
                "p50_ms"
            ]
            if batches:
                # Taken before and after the HTTP runs and averaged, so a
                # change in the machine's load mid-way hits both sides.
                per_process = 1000 / ((before + after) / 2)
                key = f"1000_c{cores()}"
                results[f"{model}_batch_in_process_rows_per_s"] = per_process
                # For reading the ratio: the pipeline's own predict on the
                # same 1000 rows, already parsed (no decode, no encode).
                results[f"{model}_batch_predict_rows_per_s"] = 1000 / predict_floor(
                    self.model_dir(model), batch, floor_time
                )
                for side in ("ours", "reference"):
                    fit = min(workers[side], cores()) or 1
                    rows = summary[side][key]["rps"] * 1000
                    prefix = model if side == "ours" else f"{model}_reference"
                    results[f"{prefix}_batch_rows_per_s"] = rows
                    results[f"{prefix}_batch_ratio"] = rows / (fit * per_process)
                print(
                    f"   batches: ours {results[f'{model}_batch_ratio']:.2f}, "
                    "reference "
                    f"{results[f'{model}_reference_batch_ratio']:.2f} of (workers that "
                    f"fit on the cores × {per_process:.0f} rows/s in process)",
                    flush=True,
                )

    # 3. memory for a 6 MB single-line CSV
    def six_mb_memory(self) -> None:
        with self.section("six_mb", "3. worker memory for a ~6 MB single-line CSV"):
            body = self.bodies["wide_6mb"].read_bytes()
            server = self.ours("penguins")
            try:
                wrk(server.url(), self.bodies["penguins_row"], 4, 1, self.work)
                workers = probes.worker_pids(server.root_pids())
                timed: dict[str, float] = {}

                def send() -> int:
                    started = time.perf_counter()
                    status, _ = post(server.port, body)
                    timed["s"] = time.perf_counter() - started
                    return status

                found = probes.peak_during(workers, send)
            finally:
                server.stop()
            self.results["six_mb"] = {
                "status": found["outcome"],
                "seconds": timed.get("s"),
                "method": found["method"],
                "workers": len(workers),
                "worst_idle_mb": found["worst_idle_mb"],
                "worst_peak_mb": found["worst_peak_mb"],
            }
            self.results["six_mb_memory_ratio"] = found["ratio"]
            print(
                f"   status {found['outcome']} in {timed.get('s', 0) * 1000:.0f} ms; "
                f"peak {found['worst_peak_mb']:.0f} MB ÷ idle "
                f"{found['worst_idle_mb']:.0f} MB = {found['ratio']:.2f} "
                f"({found['method']})",
                flush=True,
            )

    # 4. /ping under slow clients
    def slow_clients(self) -> None:
        args = self.args
        row = self.bodies["penguins_row"].read_bytes()
        request = (
            b"POST /invocations HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: text/csv\r\nContent-Length: "
            + str(len(row)).encode()
            + b"\r\n\r\n"
            + row
        )
        with self.section("slow_clients", "4. /ping while 64 slow clients send"):
            for side in ("ours", "reference"):
                server = (
                    self.ours("penguins")
                    if side == "ours"
                    else self.reference("penguins")
                )
                try:
                    found = probes.ping_under_slow_clients(
                        server.port, request, clients=64, window=args.slow_window
                    )
                finally:
                    server.stop()
                self.results[f"slow_clients_{side}"] = found
                print(
                    f"   {side}: /ping p50 {found['p50_s'] * 1000:.0f} ms, p99 "
                    f"{found['p99_s'] * 1000:.0f} ms, {found['failed_or_timed_out']} "
                    f"of {found['polls']} failed or over {found['timeout_s']:.0f} s",
                    flush=True,
                )
        self.results["ping_p99_slow_clients_s"] = self.results["slow_clients_ours"][
            "p99_s"
        ]

    # 5. cold start
    def cold_start(self) -> None:
        args, results = self.args, self.results
        with self.section("cold_start", "5. cold start on the default bundle"):
            starts = []
            for _ in range(args.repeats):
                server = Server(self.models["penguins"], self.work)
                starts.append(server.start())
                server.stop()
            accepts = []
            for _ in range(max(1, args.repeats // 2)):
                server = Server(self.models["penguins"], self.work)
                try:
                    accepts.append(server.first_accept())
                finally:
                    server.stop()
            reference = []
            for _ in range(args.reference_repeats):
                port = free_port()
                server = ReferenceServer(
                    self.model_dir("penguins"), self.work / f"reference-{port}", port
                )
                reference.append(server.start(self.log, ping))
                server.stop()
        results["cold_start_runs_s"] = starts
        results["cold_start_s"] = statistics.median(starts)
        results["first_accept_runs_s"] = accepts
        results["first_accept_s"] = statistics.median(accepts)
        results["reference_cold_start_runs_s"] = reference
        results["reference_cold_start_s"] = statistics.median(reference)
        print(
            f"   ours: first 200 on /ping {results['cold_start_s']:.2f} s (median of "
            f"{len(starts)}), first accepted connection "
            f"{results['first_accept_s'] * 1000:.0f} ms; reference "
            f"{results['reference_cold_start_s']:.2f} s",
            flush=True,
        )

    # 6. memory of the whole tree
    def pss(self) -> None:
        results = self.results
        results["pss_mb"] = {}
        with self.section("pss", "6. PSS of the process tree (default bundle)"):
            for workers in (1, 2):
                server = self.ours("penguins", workers=workers)
                try:
                    wrk(server.url(), self.bodies["penguins_row"], 8, 1, self.work)
                    results["pss_mb"][workers] = probes.tree_pss_mb(server.root_pids())
                finally:
                    server.stop()
                print(f"   {workers} worker(s): {results['pss_mb'][workers]:.0f} MB")
        results["pss_2_workers_mb"] = results["pss_mb"][2]

    # 7. capture on and off
    def capture(self, model: str) -> None:
        args, results = self.args, self.results
        capture_dir = self.work / f"capture-{model}"
        with self.section(f"capture_{model}", f"7. capture on vs off ({model}, c=16)"):
            # Both run side by side and wrk alternates between them, so drift
            # in the machine's load hits both sides alike; the ratio is of medians.
            off = self.ours(model)
            on = self.ours(
                model, env={"SKLEARN_BYOC_CAPTURE_DESTINATION": str(capture_dir)}
            )
            rates: dict[str, list[float]] = {"off": [], "on": []}
            try:
                for server in (off, on):
                    wrk(server.url(), self.bodies[f"{model}_row"], 16, 1, self.work)
                for _ in range(args.capture_rounds):
                    for name, server in (("off", off), ("on", on)):
                        rates[name].append(self.point(server, f"{model}_row", 16).rps)
            finally:
                off.stop()
                on.stop()
        results[f"{model}_capture_rps"] = rates
        results[f"{model}_capture_ratio"] = statistics.median(
            rates["on"]
        ) / statistics.median(rates["off"])
        results[f"{model}_capture_records"] = sum(
            len(p.read_bytes().splitlines()) for p in capture_dir.rglob("*.jsonl")
        )
        print(
            f"   on {statistics.median(rates['on']):.0f} req/s, off "
            f"{statistics.median(rates['off']):.0f} req/s (medians of "
            f"{args.capture_rounds}); {results[f'{model}_capture_records']} records",
            flush=True,
        )

    # 8. soak
    def soak(self) -> None:
        with self.section("soak", f"8. soak at c=32 for {self.args.soak:.0f} s"):
            server = self.ours("penguins")
            try:
                soak = wrk(
                    server.url(),
                    self.bodies["penguins_row"],
                    32,
                    self.args.soak,
                    self.work,
                )
            finally:
                server.stop()
        self.results["soak"] = soak.__dict__
        self.results["soak_errors"] = soak.errors
        print(f"   {soak.requests} requests, {soak.errors} errors", flush=True)

    def predictors(self) -> None:
        """Which front proxy and predictor ours used, as far as it said so."""
        used = {}
        for model, lines in self.results["startup_lines"].items():
            text = "\n".join(lines).lower()
            files = [p.name for p in self.model_dir(model).iterdir()]
            said = "onnx" in text
            has_file = any(name.endswith(".onnx") for name in files)
            if said:
                predictor = "compiled (ONNX Runtime), as its start-up lines say"
            elif has_file:
                predictor = "unknown: the bundle has a compiled model, the server did "
                predictor += "not say whether it used it"
            else:
                predictor = "scikit-learn pipeline (no compiled model in the bundle)"
            used[model] = {
                "front_proxy": self.results.get("front_proxy", {}).get(model, "none"),
                "predictor": predictor,
            }
        self.results["ours_used"] = used


def run(args: argparse.Namespace) -> dict[str, Any]:
    if shutil.which("wrk") is None:
        sys.exit("bench_serving: wrk is not installed (apt-get install -y wrk)")
    if not nginx_available():
        sys.exit(
            "bench_serving: nginx is not installed; the reference server needs it "
            "(apt-get install -y nginx-light)"
        )
    bench = Run(args)
    try:
        bench.build()
        for model in MODELS:
            bench.throughput(model)
        bench.throughput("penguins_light", batches=False)
        bench.six_mb_memory()
        bench.slow_clients()
        bench.cold_start()
        bench.pss()
        for model in MODELS:
            bench.capture(model)
        bench.soak()
        bench.predictors()
    finally:
        bench.results["load_average_after"] = os.getloadavg()
        if not args.keep:
            shutil.rmtree(bench.work, ignore_errors=True)
        else:
            print(f"kept {bench.work}")
    return bench.results


def table(results: dict[str, Any]) -> str:
    def loads(model: str, side: str, key: str) -> dict[str, float]:
        return results[f"{model}_loads"][side][key]

    load = results["load"]
    batch = f"1000_c{results['cores']}"
    rows = [
        (
            "1. default bundle one-row c=16 ÷ ref",
            f"{results['penguins_c16_vs_reference']:.1f}x",
            "penguins_c16_vs_reference",
            "penguins",
            f"{loads('penguins', 'ours', 'row_c16')['rps']:.0f} vs "
            f"{loads('penguins', 'reference', 'row_c16')['rps']:.0f} req/s",
        ),
        (
            "1. default bundle one-row c=1 p50",
            f"{results['penguins_c1_p50_ms']:.2f} ms",
            "penguins_c1_p50_ms",
            "penguins",
            f"ref {results['penguins_reference_c1_p50_ms']:.2f} ms; floor "
            f"{results['penguins_predict_floor_us'] / 1000:.2f} ms predict",
        ),
        (
            "1. iris one-row c=16 ÷ ref",
            f"{results['iris_c16_vs_reference']:.1f}x",
            None,
            "iris",
            f"{loads('iris', 'ours', 'row_c16')['rps']:.0f} vs "
            f"{loads('iris', 'reference', 'row_c16')['rps']:.0f} req/s",
        ),
        (
            "1. iris one-row c=1 p50",
            f"{results['iris_c1_p50_ms']:.2f} ms",
            "iris_c1_p50_ms",
            "iris",
            f"ref {results['iris_reference_c1_p50_ms']:.2f} ms; floor "
            f"{results['iris_predict_floor_us'] / 1000:.2f} ms predict",
        ),
        (
            "1. light penguins c=16 ÷ ref; c=1 p50",
            f"{results['penguins_light_c16_vs_reference']:.1f}x",
            None,
            "penguins_light",
            f"p50 {results['penguins_light_c1_p50_ms']:.2f} ms (ref "
            f"{results['penguins_light_reference_c1_p50_ms']:.2f} ms)",
        ),
    ]
    for model, name in (("penguins", "default"), ("iris", "iris")):
        rows.append(
            (
                f"2. {name} 1000 rows ÷ fit × in-process",
                f"{results[f'{model}_batch_ratio']:.2f}",
                f"{model}_batch_ratio",
                model,
                f"{results[f'{model}_batch_rows_per_s']:.0f} rows/s; in-process "
                f"{results[f'{model}_batch_in_process_rows_per_s']:.0f} rows/s "
                f"(predict alone "
                f"{results[f'{model}_batch_predict_rows_per_s']:.0f}); ref "
                f"{results[f'{model}_reference_batch_ratio']:.2f} "
                f"({loads(model, 'reference', batch)['rps'] * 1000:.0f} rows/s)",
            )
        )
    six = results["six_mb"]
    ours_slow, ref_slow = (
        results["slow_clients_ours"],
        results["slow_clients_reference"],
    )
    rows += [
        (
            "3. 6 MB one-line CSV: peak ÷ idle RSS",
            f"{results['six_mb_memory_ratio']:.2f}",
            "six_mb_memory_ratio",
            "six_mb",
            f"{six['worst_peak_mb']:.0f} ÷ {six['worst_idle_mb']:.0f} MB, "
            f"status {six['status']}",
        ),
        (
            "4. /ping p99, 64 slow clients",
            f"{results['ping_p99_slow_clients_s']:.2f} s",
            "ping_p99_slow_clients_s",
            "slow_clients",
            f"{ours_slow['failed_or_timed_out']}/{ours_slow['polls']} failed; ref "
            f"p99 {ref_slow['p99_s'] * 1000:.0f} ms",
        ),
        (
            "5. cold start to first 200 /ping",
            f"{results['cold_start_s']:.2f} s",
            "cold_start_s",
            "cold_start",
            f"accepts after {results['first_accept_s'] * 1000:.0f} ms; ref "
            f"{results['reference_cold_start_s']:.2f} s",
        ),
        (
            "6. PSS, 2 workers (default bundle)",
            f"{results['pss_2_workers_mb']:.0f} MB",
            "pss_2_workers_mb",
            "pss",
            f"1 worker {results['pss_mb'][1]:.0f} MB; ref "
            f"{results['penguins_reference_pss_mb']:.0f} MB "
            f"({results['penguins_workers']['reference']} workers)",
        ),
        (
            "7. capture on ÷ off c=16, default",
            f"{results['penguins_capture_ratio']:.2f}",
            "penguins_capture_ratio",
            "capture_penguins",
            f"{results['penguins_capture_records']} records",
        ),
        (
            "7. capture on ÷ off c=16, iris",
            f"{results['iris_capture_ratio']:.2f}",
            "iris_capture_ratio",
            "capture_iris",
            f"{results['iris_capture_records']} records",
        ),
        (
            "8. soak c=32 errors",
            f"{results['soak_errors']}",
            "soak_errors",
            "soak",
            f"{results['soak']['requests']} requests",
        ),
    ]
    header = f"{'measure':40} {'value':>9}  {'goal':>7}  {'met':3}  {'load':>11}  note"
    lines = [header, "-" * 110]
    verdicts = {}
    for label, value, key, section, note in rows:
        goal, met = "", ""
        if key:
            op, target = GOALS[key]
            actual = float(results[key])
            ok = actual >= target if op == ">=" else actual <= target
            goal, met = f"{op} {target:g}", "yes" if ok else "NO"
            verdicts[key] = ok
        before, after = load.get(section, [float("nan")] * 2)
        lines.append(
            f"{label:40} {value:>9}  {goal:>7}  {met:3}  "
            f"{before:5.2f}→{after:<5.2f}  {note}"
        )
    lines.append("")
    lines.append(
        f"{results['cores']} cores; load average (1 min) "
        f"{results['load_average_before'][0]:.2f} "
        f"at the start, {results['load_average_after'][0]:.2f} at the end; "
        f"workers: ours {results['penguins_workers']['ours']}, reference "
        f"{results['penguins_workers']['reference']}"
    )
    lines.append(
        f"default bundle: {results['default_bundle']['algorithm']} "
        f"({', '.join(results['default_bundle']['files'])})"
    )
    for model, used in results.get("ours_used", {}).items():
        lines.append(
            f"ours on {model}: front proxy {used['front_proxy']}, predictor "
            f"{used['predictor']}"
        )
    lines.append("ours said on stderr at start-up (default bundle):")
    for line in results["startup_lines"].get("penguins", []) or ["(nothing)"]:
        lines.append(f"  {line[:200]}")
    results["verdicts"] = verdicts
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="short runs (< ~4 minutes)"
    )
    parser.add_argument(
        "--duration",
        type=float,
        default=None,
        help="seconds per throughput point (default 5; 2 with --quick)",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=None,
        help="alternations of ours and the reference per point "
        "(default 3; 1 with --quick)",
    )
    parser.add_argument(
        "--soak",
        type=float,
        default=None,
        help="soak seconds (default 60; 10 with --quick)",
    )
    parser.add_argument(
        "--slow-window",
        type=float,
        default=None,
        help="seconds of /ping polling under slow clients (default 10; 6 with --quick)",
    )
    parser.add_argument("--repeats", type=int, default=5, help="cold starts to time")
    parser.add_argument(
        "--reference-repeats",
        type=int,
        default=None,
        help="cold starts of the reference (default 5; 3 with --quick)",
    )
    parser.add_argument(
        "--capture-rounds",
        type=int,
        default=None,
        help="alternations of capture off/on (default 5; 3 with --quick)",
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the temporary folder (logs, bundles)"
    )
    parser.add_argument(
        "--out", type=Path, default=REPO_ROOT / "benchmarks" / "results"
    )
    args = parser.parse_args()
    quick = args.quick
    args.duration = args.duration or (2.0 if quick else 5.0)
    args.rounds = args.rounds or (1 if quick else 3)
    args.soak = args.soak or (10.0 if quick else 60.0)
    args.slow_window = args.slow_window or (6.0 if quick else 10.0)
    args.reference_repeats = args.reference_repeats or (3 if quick else 5)
    args.capture_rounds = args.capture_rounds or (3 if quick else 5)
    args.in_process_time = 0.5 if quick else 1.0
    results = run(args)
    text = table(results)
    print()
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "serving.json").write_text(json.dumps(results, indent=2, default=str))
    write_html(args.out / "serving.html", results, text, GOALS)
    print(f"\nwrote {args.out / 'serving.json'} and {args.out / 'serving.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

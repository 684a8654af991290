"""The image with nginx in front of gunicorn against gunicorn alone, same run.

    .venv/bin/python benchmarks/bench_front_proxy.py --image sklearn-byoc:latest

Needs Docker, the image and wrk. For each mode (SKLEARN_BYOC_FRONT_PROXY=on,
then off) it measures: seconds from `docker run` to the first 200 /ping; /ping
latency while 32 and 64 clients send a request one byte a second (sequential
pings with a 2 s timeout, SageMaker's, for a few seconds); one-row CSV at c=16
(req/s) and c=1 (p50) on the iris tree and the penguins pipeline. Requests
go to the container's own address, not through `docker -p`. Prints one JSON
object per mode and the load average before and after (docs/serving.md).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.serving_models import (  # noqa: E402
    build_iris_bundle,
    build_penguins_bundle,
)

ROWS = {"iris": "5.1,3.5,1.4,0.2", "penguins": "39.1,18.7,181,3750,Torgersen,male"}
SLOW_REQUEST = (
    b"POST /invocations HTTP/1.1\r\nHost: slow\r\nContent-Type: text/csv\r\n"
    b"Content-Length: 100\r\n\r\n"
)


def run(*args: str) -> str:
    return subprocess.run(args, capture_output=True, text=True).stdout.strip()


def start(image: str, model_dir: Path, proxy: str) -> tuple[str, str, float]:
    """(container id, url, seconds to the first 200 /ping)."""
    started = time.monotonic()
    cid = run(
        "docker", "run", "-d", "--rm",
        "-v", f"{model_dir}:/opt/ml/model:ro",
        "-e", f"SKLEARN_BYOC_FRONT_PROXY={proxy}",
        image, "serve",
    )  # fmt: skip
    ip = run("docker", "inspect", "-f", "{{.NetworkSettings.IPAddress}}", cid)
    url = f"http://{ip}:8080"
    while time.monotonic() - started < 60:
        with contextlib.suppress(requests.RequestException):
            if requests.get(f"{url}/ping", timeout=2).status_code == 200:
                return cid, url, time.monotonic() - started
        time.sleep(0.01)
    raise SystemExit(f"no 200 from /ping; see `docker logs {cid}`")


def wrk(url: str, connections: int, script: Path, duration: str) -> dict:
    threads = "1" if connections == 1 else "2"
    out = run(
        "wrk", "-t", threads, "-c", str(connections), "-d", duration,
        "--latency", "--timeout", "2s", "-s", str(script), f"{url}/invocations",
    )  # fmt: skip
    latency = dict(re.findall(r"^\s+(50|99)%\s+(\S+)", out, re.M))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "req_s": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "p50": latency.get("50"),
        "p99": latency.get("99"),
        "non_2xx": int(errors.group(1)) if errors else 0,
    }


def ping_with_slow_clients(url: str, clients: int, seconds: float) -> dict:
    host, port = url.removeprefix("http://").split(":")
    socks = [socket.create_connection((host, int(port)), 5) for _ in range(clients)]
    stop = threading.Event()

    def trickle() -> None:
        for i in range(10_000):
            for sock in socks:
                with contextlib.suppress(OSError):
                    sock.sendall(SLOW_REQUEST[i : i + 1] or b"1")
            if stop.wait(1.0):
                return

    sender = threading.Thread(target=trickle, daemon=True)
    sender.start()
    time.sleep(1.5)
    latencies: list[float] = []
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        t0 = time.monotonic()
        try:
            ok = requests.get(f"{url}/ping", timeout=2).status_code == 200
        except requests.RequestException:
            ok = False
        latencies.append(time.monotonic() - t0 if ok else float("inf"))
    stop.set()
    sender.join(timeout=5)
    for sock in socks:
        sock.close()
    latencies.sort()
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    return {
        "pings": len(latencies),
        "unanswered": sum(x == float("inf") for x in latencies),
        "p99_ms": round(p99 * 1000, 2) if p99 != float("inf") else None,
    }


def measure(image: str, models: dict[str, Path], proxy: str, args) -> dict:
    result: dict = {"cold_start_s": []}
    for _ in range(args.starts):
        cid, _, seconds = start(image, models["iris"], proxy)
        run("docker", "rm", "-f", cid)
        result["cold_start_s"].append(round(seconds, 2))
    for name, model_dir in models.items():
        cid, url, _ = start(image, model_dir, proxy)
        try:
            script = model_dir.parent / f"{name}.lua"
            script.write_text(
                'wrk.method = "POST"\nwrk.headers["Content-Type"] = "text/csv"\n'
                f'wrk.body = "{ROWS[name]}\\n"\n'
            )
            wrk(url, 4, script, "1s")  # warm-up
            result[f"{name}_c16"] = wrk(url, 16, script, args.duration)
            result[f"{name}_c1"] = wrk(url, 1, script, args.duration)
            if name == "iris":
                for clients in (32, 64):
                    result[f"ping_{clients}_slow_clients"] = ping_with_slow_clients(
                        url, clients, args.ping_seconds
                    )
        finally:
            run("docker", "rm", "-f", cid)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--image", default="sklearn-byoc:latest")
    parser.add_argument("--duration", default="4s", help="per wrk point")
    parser.add_argument("--ping-seconds", type=float, default=5)
    parser.add_argument("--starts", type=int, default=2, help="cold starts")
    parser.add_argument("--modes", nargs="+", default=["on", "off"])
    args = parser.parse_args(argv)
    print(json.dumps({"load_before": run("uptime")}))
    with tempfile.TemporaryDirectory() as tmp:
        models = {
            "iris": build_iris_bundle(Path(tmp) / "iris"),
            "penguins": build_penguins_bundle(Path(tmp) / "penguins"),
        }
        Path(tmp).chmod(0o755)
        for mode in args.modes:
            print(json.dumps({mode: measure(args.image, models, mode, args)}))
    print(json.dumps({"load_after": run("uptime")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())

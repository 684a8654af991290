"""`python -m container.serving` as a real process: start-up, failure, SIGTERM."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from container.contract.settings import ServingSettings
from container.serving import server as serving_server
from container.serving import workers

REPO_ROOT = Path(__file__).resolve().parents[3]
ROW = b"39.1,18.7,181,3750,Torgersen,male\n"

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """A serving process on a free port, stopped (by its pid) when the test ends."""

    def __init__(self, opt_ml: Path, tmp_path: Path, **env: str):
        self.port = free_port()
        self.stdout = tmp_path / "stdout.log"
        self.stderr = tmp_path / "stderr.log"
        environ = {
            **os.environ,
            "SKLEARN_BYOC_OPT_ML": str(opt_ml),
            "SAGEMAKER_BIND_TO_PORT": str(self.port),
            "SAGEMAKER_MODEL_SERVER_WORKERS": "2",
            # gunicorn on the port itself, whether or not nginx is installed
            # here (tests/image covers the front proxy).
            "SKLEARN_BYOC_FRONT_PROXY": "off",
            "PYTHONPATH": str(REPO_ROOT),
            **env,
        }
        with open(self.stdout, "wb") as out, open(self.stderr, "wb") as err:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "container.serving"],
                env=environ,
                stdout=out,
                stderr=err,
                stdin=subprocess.DEVNULL,
                cwd=REPO_ROOT,
            )

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict | None = None,
    ) -> tuple[int, bytes, dict]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            response = conn.getresponse()
            return response.status, response.read(), dict(response.getheaders())
        finally:
            conn.close()

    def wait_for_ping(self, timeout: float = 30) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"server exited: {self.stderr.read_text()}")
            try:
                return self.request("GET", "/ping")[0]
            except OSError:
                time.sleep(0.05)
        raise AssertionError(f"no answer on /ping: {self.stderr.read_text()}")

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=30)

    def children(self) -> list[int]:
        path = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return [int(p) for p in path.read_text().split()]


@pytest.fixture
def served(opt_ml, penguins_model_dir, tmp_path):
    for name in ("model.joblib", "model.json"):
        (opt_ml.model_dir / name).write_bytes((penguins_model_dir / name).read_bytes())
    servers: list[Server] = []

    def start(**env: str) -> Server:
        server = Server(opt_ml.root, tmp_path, **env)
        servers.append(server)
        return server

    yield start
    for server in servers:
        if server.process.poll() is None:
            server.process.kill()
            server.process.wait(timeout=10)


def test_serves_predictions_with_the_configured_workers(served):
    server = served()
    assert server.wait_for_ping() == 200
    status, body, _ = server.request(
        "POST", "/invocations", ROW * 2, {"Content-Type": "text/csv"}
    )
    assert (status, body) == (200, b"Adelie\nAdelie")
    # gunicorn staggers worker starts by up to 0.1 s each.
    deadline = time.monotonic() + 10
    while len(server.children()) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(server.children()) == 2
    # A client that sends a whole oversized body before reading still sees the 413.
    status, body, _ = server.request(
        "POST",
        "/invocations",
        ROW * (6 * 1024 * 1024 // len(ROW) + 10),
        {"Content-Type": "text/csv"},
    )
    assert status == 413 and json.loads(body)["error"]["code"] == "payload_too_large"
    assert server.stop() == 0
    lines = [json.loads(x) for x in server.stdout.read_text().splitlines()]
    statuses = [(line["path"], line["status"], line["records"]) for line in lines]
    assert ("/invocations", 200, 2) in statuses
    assert ("/invocations", 413, 0) in statuses


def test_a_model_that_cannot_load_is_visible_on_ping(served, opt_ml):
    (opt_ml.model_dir / "model.json").unlink()
    server = served()
    assert server.wait_for_ping() == 503
    status, body, _ = server.request("GET", "/ping")
    assert "model.json is missing" in json.loads(body)["error"]["message"]
    status, body, _ = server.request(
        "POST", "/invocations", ROW, {"Content-Type": "text/csv"}
    )
    assert status == 503
    assert server.stop() == 0


@pytest.mark.parametrize(
    "name, value",
    [
        ("SAGEMAKER_MODEL_SERVER_WORKERS", "many"),
        ("SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT", "text/html"),
    ],
)
def test_invalid_settings_end_with_a_one_line_message(served, name, value):
    server = served(**{name: value})
    assert server.process.wait(timeout=30) == 2
    message = server.stderr.read_text().strip()
    assert message.count("\n") == 0 and name in message


def test_sigterm_under_load_answers_in_flight_requests_and_loses_no_capture(
    served, tmp_path
):
    capture_root = tmp_path / "capture"
    server = served(
        SKLEARN_BYOC_CAPTURE_DESTINATION=str(capture_root),
        SKLEARN_BYOC_ENDPOINT_NAME="ep",
    )
    assert server.wait_for_ping() == 200
    answered: list[str] = []
    failures: list[str] = []
    stop = threading.Event()

    def client(n: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        for i in range(100_000):
            if stop.is_set():
                return
            inference_id = f"{n}-{i}"
            try:
                conn.request(
                    "POST",
                    "/invocations",
                    body=ROW * 5,
                    headers={
                        "Content-Type": "text/csv",
                        "X-Amzn-SageMaker-Inference-Id": inference_id,
                    },
                )
                response = conn.getresponse()
                body = response.read()
            except (OSError, http.client.HTTPException):
                return  # the server closed the connection: shutdown has begun
            if response.status == 200 and body.count(b"\n") == 4:
                answered.append(inference_id)
            else:
                failures.append(f"{response.status} {body[:200]!r}")

    threads = [threading.Thread(target=client, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    # Under way, however loaded the machine: enough answered before the signal.
    deadline = time.monotonic() + 60
    while len(answered) <= 50 and time.monotonic() < deadline and not failures:
        time.sleep(0.05)
    started = time.monotonic()
    server.process.send_signal(signal.SIGTERM)
    assert server.process.wait(timeout=30) == 0
    elapsed = time.monotonic() - started
    stop.set()
    for thread in threads:
        thread.join(timeout=30)
    assert not failures
    assert len(answered) > 50
    records = [
        json.loads(line)
        for path in capture_root.rglob("*.jsonl")
        for line in path.read_text().splitlines()
    ]
    captured = [r["eventMetadata"]["inferenceId"] for r in records]
    assert sorted(captured) == sorted(answered)
    files = list(capture_root.rglob("*.jsonl"))
    assert all(
        p.relative_to(capture_root).parts[:2] == ("ep", "AllTraffic") for p in files
    )
    assert elapsed < 30


def test_gunicorn_options_follow_the_settings():
    settings = ServingSettings.from_env(
        {"SAGEMAKER_MODEL_SERVER_WORKERS": "3", "SAGEMAKER_MODEL_SERVER_TIMEOUT": "120"}
    )
    options = serving_server.gunicorn_options(settings, 7)
    assert options["workers"] == 3 and options["timeout"] == 120
    assert options["bind"] == ["fd://7"] and options["preload_app"] is True
    assert options["graceful_timeout"] < 30
    defaults = serving_server.gunicorn_options(ServingSettings(), 7)
    assert defaults["workers"] == workers.default_workers() >= 1
    # sync only stays sync with one thread (gunicorn switches to gthread otherwise)
    assert defaults["worker_class"] != "sync" or defaults["threads"] == 1


def test_nothing_heavy_is_imported_before_the_port_is_bound():
    # SageMaker wants connections accepted within 250 ms of start; pandas and
    # scikit-learn take about a second to import, so they must come after bind.
    code = (
        "import sys, container.serving.server\n"
        "import container.contract.settings, container.contract.errors\n"
        "heavy = [m for m in ('pandas', 'sklearn', 'flask', 'numpy') "
        "if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
    ).stdout.strip()
    assert out == ""


# --- supervising nginx and gunicorn (stand-ins: small processes) -----------------
GRACEFUL_CHILD = (
    "import signal, sys, time\n"
    "signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))\n"
    "signal.signal(signal.SIGQUIT, lambda *a: sys.exit(0))\n"
    "print('ready', flush=True)\n"
    "time.sleep(60)\n"
)


@pytest.fixture
def children():
    """Start stand-in children; restore this process's signal handlers after."""
    handlers = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    started: list[subprocess.Popen] = []

    def start(code: str = GRACEFUL_CHILD) -> subprocess.Popen:
        process = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE)
        started.append(process)
        if code == GRACEFUL_CHILD:
            # A signal sent before the handlers are installed would kill the
            # child with the default action, and the test would race it.
            assert process.stdout.readline() == b"ready\n"
        return process

    yield start
    for signum, handler in handlers.items():
        signal.signal(signum, handler)
    for process in started:
        process.stdout.close()
        if process.returncode is None:
            # Only a child not yet reaped (by supervise) is still ours to kill.
            if _alive(process.pid):
                os.kill(process.pid, signal.SIGKILL)
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(process.pid, 0)
            process.returncode = -signal.SIGKILL


def _alive(pid: int) -> bool:
    try:
        return os.waitpid(pid, os.WNOHANG) == (0, 0)
    except ChildProcessError:
        return False


def test_sigterm_stops_nginx_first_then_gunicorn(children):
    front, app = children(), children()
    threading.Timer(0.2, os.kill, (os.getpid(), signal.SIGTERM)).start()
    assert serving_server.supervise(front, app.pid) == 0
    assert front.returncode == 0 and not _alive(app.pid)


def test_nginx_dying_stops_gunicorn_and_fails(children):
    front, app = children(), children()
    front.kill()
    assert serving_server.supervise(front, app.pid) == 1
    assert not _alive(app.pid)


def test_gunicorn_exiting_stops_nginx_and_fails(children):
    front, app = children(), children("import sys; sys.exit(3)")
    assert serving_server.supervise(front, app.pid) == 3
    assert front.returncode == 0

"""The production-variant front, against stand-in variant servers."""

from __future__ import annotations

import http.client
import json
import subprocess
import sys
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from orchestration.config import REPO_ROOT
from orchestration.local import front
from orchestration.local.front import Route, choose, mirrored, write_routes


class Variant:
    """A stand-in container: answers its own name, after `delay` seconds."""

    def __init__(self, name: str, delay: float = 0.0, status: int = 200):
        self.name, self.delay, self.status = name, delay, status
        self.bodies: list[bytes] = []
        variant = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                variant.bodies.append(body)
                time.sleep(variant.delay)
                answer = variant.name.encode()
                self.send_response(variant.status)
                self.send_header("Content-Type", "text/csv")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def variants():
    made: dict[str, Variant] = {}

    def make(name, **kw):
        made[name] = Variant(name, **kw)
        return made[name]

    yield make
    for v in made.values():
        v.close()


@pytest.fixture
def running(tmp_path):
    servers = []

    def start(routes):
        path = tmp_path / "routes.json"
        write_routes(path, routes)
        server = front.serve(path, 0)
        servers.append(server)
        return server, path

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def post(server, body=b"1,2\n", headers=None, method="POST", path="/invocations"):
    connection = http.client.HTTPConnection(
        "127.0.0.1", server.server_address[1], timeout=10
    )
    try:
        sent = {"Content-Type": "text/csv", **(headers or {})}
        connection.request(
            method, path, body=body if method == "POST" else None, headers=sent
        )
        response = connection.getresponse()
        return (
            response.status,
            response.read(),
            response.getheader(front.INVOKED_VARIANT_HEADER),
        )
    finally:
        connection.close()


def test_choose_draws_by_weight_and_honours_the_target():
    routes = [Route("a", "u", 3), Route("b", "u", 1), Route("s", "u", 1, shadow=True)]
    assert [choose(routes, None, d).name for d in (0.0, 0.74, 0.75, 0.99)] == [
        "a",
        "a",
        "b",
        "b",
    ]
    assert choose(routes, "b", 0.0).name == "b"
    assert choose(routes, "s", 0.0) is None  # a shadow is never a target
    assert choose([Route("a", "u", 0)], None, 0.5) is None
    # The shadow copies the share its weight has of the production total (4).
    assert [r.name for r in mirrored(routes, 0.2)] == ["s"]
    assert mirrored(routes, 0.3) == []


def test_requests_split_by_weight_and_targets_reach_their_variant(variants, running):
    a, b = variants("a"), variants("b")
    server, _ = running([Route("a", a.url, 3), Route("b", b.url, 1)])
    seen = Counter(post(server)[2] for _ in range(400))
    assert set(seen) == {"a", "b"} and 0.65 < seen["a"] / 400 < 0.85
    status, body, invoked = post(server, headers={front.TARGET_VARIANT_HEADER: "b"})
    assert (status, body, invoked) == (200, b"b", "b")
    status, body, _ = post(server, headers={front.TARGET_VARIANT_HEADER: "c"})
    assert (
        status == 400 and b"'c' is not a production variant" in body and b"a, b" in body
    )


def test_a_slow_shadow_gets_copies_without_delaying_clients(
    variants, running, tmp_path
):
    live, shadow = variants("live"), variants("shadow", delay=0.5)
    server, path = running(
        [Route("live", live.url, 1), Route("shadow", shadow.url, 1, shadow=True)]
    )
    started = time.perf_counter()
    answers = {post(server, body=f"{n}\n".encode())[1] for n in range(10)}
    assert answers == {b"live"}  # no client sees the shadow's answer
    assert time.perf_counter() - started < 4.0  # ten shadow copies take 5 s
    deadline = time.monotonic() + 15
    counted = server.front.stats.summary
    while time.monotonic() < deadline and (
        counted().get("shadow", {}).get("requests", 0) < 10
    ):
        time.sleep(0.1)  # each copy is counted once the shadow has answered it
    assert sorted(shadow.bodies) == sorted(live.bodies)  # the same requests
    server.front.write_stats()
    stats = json.loads(front.stats_path(path).read_text())
    assert stats["live"]["requests"] == 10 and stats["shadow"]["requests"] == 10
    assert stats["shadow"]["latency_p50_ms"] >= 500 > stats["live"]["latency_p50_ms"]


def test_weights_move_without_a_restart(variants, running):
    a, b = variants("a"), variants("b")
    server, path = running([Route("a", a.url, 1), Route("b", b.url, 0)])
    assert {post(server)[2] for _ in range(20)} == {"a"}
    write_routes(path, [Route("a", a.url, 0), Route("b", b.url, 1)])
    assert {post(server)[2] for _ in range(20)} == {"b"}


def test_errors_and_bad_requests_are_answered_and_counted(variants, running, tmp_path):
    broken = variants("broken", status=500)
    server, path = running([Route("broken", broken.url, 1)])
    assert post(server)[0] == 500
    # Refused by its declared length, before a byte of the body is read.
    too_big = {"Content-Length": str(front.MAX_BODY_BYTES + 1)}
    assert post(server, body=b"x", headers=too_big)[0] == 413
    assert post(server, path="/elsewhere")[0] == 404
    broken.close()
    status, body, invoked = post(server)
    assert (
        status == 502
        and b"variant broken did not answer" in body
        and invoked == "broken"
    )
    assert post(server, method="GET", path="/ping")[0] == 503
    server.front.write_stats()
    stats = json.loads(front.stats_path(path).read_text())["broken"]
    assert (stats["requests"], stats["errors_5xx"], stats["error_rate"]) == (2, 2, 1.0)


def test_a_front_whose_routes_are_gone_exits_by_itself(tmp_path):
    routes = tmp_path / "routes.json"
    write_routes(routes, [Route("a", "http://127.0.0.1:9", 1)])
    process = subprocess.Popen(
        [sys.executable, "-m", "orchestration.local.front", str(routes), "0"],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        port = int(process.stdout.readline().rsplit(":", 1)[1])  # "front on ...:PORT"
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        connection.request("GET", "/ping")
        assert connection.getresponse().status == 503  # serving: its variant is down
        connection.close()
        time.sleep(front.STATS_EVERY_SECONDS * 2)
        assert process.poll() is None  # it stays while its routes exist
        routes.unlink()
        assert process.wait(timeout=front.ORPHAN_SECONDS + 10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stdout.close()

"""A local endpoint's front: SageMaker's routing among production variants.

SageMaker puts its own router before an endpoint's variants: each request
goes to one production variant, drawn by the variants' weights, or to the one
named by ``TargetVariant`` (the ``X-Amzn-SageMaker-Target-Variant`` header);
a shadow variant gets a copy of live traffic whose answers no client sees;
the response says which variant answered
(``X-Amzn-Invoked-Production-Variant``). This module is that router for the
local backend, run as its own process on the endpoint's port::

    python -m orchestration.local.front ROUTES.json PORT   # 0: any free port

``ROUTES.json`` lists the variants (name, URL of its container, weight,
shadow); it is re-read when it changes, so weights move without a restart.
Each variant's requests, errors and latencies are kept and written to
``<ROUTES>.stats.json`` once a second (atomically), where `status` compares
them. A front whose routes file has been gone for ``ORPHAN_SECONDS`` (its
endpoint deleted by a command that crashed, or its state folder removed)
exits by itself. Bodies are bounded (``MAX_BODY_BYTES``), a slow client times out
(``CLIENT_TIMEOUT_SECONDS``), and the shadow copies wait in a bounded queue:
when it is full a copy is dropped and counted, never delaying a client.
"""

from __future__ import annotations

import http.client
import json
import os
import queue
import random
import signal
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

TARGET_VARIANT_HEADER = "X-Amzn-SageMaker-Target-Variant"
INVOKED_VARIANT_HEADER = "X-Amzn-Invoked-Production-Variant"
FORWARDED_HEADERS = (
    "Content-Type",
    "Accept",
    "X-Amzn-SageMaker-Inference-Id",
    "X-Amzn-SageMaker-Custom-Attributes",
)
MAX_BODY_BYTES = 6 * 1024 * 1024  # InvokeEndpoint's payload limit
CLIENT_TIMEOUT_SECONDS = 30
UPSTREAM_TIMEOUT_SECONDS = 60  # InvokeEndpoint's model timeout
SHADOW_QUEUE = 64
LATENCIES_KEPT = 10_000  # per variant: the most recent, for p50 / p99
STATS_EVERY_SECONDS = 1.0
ORPHAN_SECONDS = 10  # a front whose routes file is gone this long exits


@dataclass(frozen=True)
class Route:
    name: str
    url: str  # http://127.0.0.1:PORT of the variant's container
    weight: float
    shadow: bool = False


def read_routes(path: Path) -> list[Route]:
    data = json.loads(Path(path).read_text())
    return [
        Route(v["name"], v["url"], float(v["weight"]), bool(v.get("shadow")))
        for v in data["variants"]
    ]


def write_routes(path: Path, routes: list[Route]) -> None:
    """Routes for the front, replaced whole so it never reads half of them."""
    path = Path(path)
    temporary = path.with_name(f".{path.name}.{os.getpid()}")
    temporary.write_text(
        json.dumps({"variants": [r.__dict__ for r in routes]}, indent=2)
    )
    os.replace(temporary, path)


def stats_path(routes_path: Path) -> Path:
    return Path(routes_path).with_suffix(".stats.json")


def choose(routes: list[Route], target: str | None, draw: float) -> Route | None:
    """The variant a request goes to: the target, else one drawn by weight
    (`draw` uniform in [0, 1)) among the production variants."""
    live = [r for r in routes if not r.shadow]
    if target is not None:
        return next((r for r in live if r.name == target), None)
    total = sum(r.weight for r in live)
    if total <= 0:
        return None
    point = draw * total
    for route in live:
        point -= route.weight
        if point < 0:
            return route
    return live[-1]


def mirrored(routes: list[Route], draw: float) -> list[Route]:
    """The shadow variants that get a copy: each with the share its weight
    has of the production variants' total weight (at most every request)."""
    total = sum(r.weight for r in routes if not r.shadow) or 1.0
    return [r for r in routes if r.shadow and draw < r.weight / total]


class VariantStats:
    """Requests, 4xx / 5xx answers and recent latencies of each variant."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._data: dict[str, dict[str, Any]] = {}

    def _entry(self, variant: str) -> dict[str, Any]:
        return self._data.setdefault(
            variant,
            {
                "requests": 0,
                "4xx": 0,
                "5xx": 0,
                "latencies": deque(maxlen=LATENCIES_KEPT),
            },
        )

    def record(self, variant: str, status: int, seconds: float) -> None:
        with self._lock:
            entry = self._entry(variant)
            entry["requests"] += 1
            if 400 <= status < 500:
                entry["4xx"] += 1
            elif status >= 500 or status == 0:
                entry["5xx"] += 1
            entry["latencies"].append(seconds)

    def dropped(self, variant: str) -> None:
        with self._lock:
            entry = self._entry(variant)
            entry["shadow_copies_dropped"] = entry.get("shadow_copies_dropped", 0) + 1

    def summary(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            return {name: _summary(entry) for name, entry in self._data.items()}


def _summary(entry: dict[str, Any]) -> dict[str, Any]:
    latencies = sorted(entry["latencies"])
    requests = entry["requests"]

    def quantile(q: float) -> float | None:
        if not latencies:
            return None
        return round(
            latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000, 3
        )

    return {
        "requests": requests,
        "errors_4xx": entry["4xx"],
        "errors_5xx": entry["5xx"],
        "error_rate": round((entry["4xx"] + entry["5xx"]) / requests, 4)
        if requests
        else 0.0,
        "latency_p50_ms": quantile(0.50),
        "latency_p99_ms": quantile(0.99),
        "shadow_copies_dropped": entry.get("shadow_copies_dropped", 0),
    }


def forward(
    route: Route, body: bytes, headers: dict[str, str]
) -> tuple[int, bytes, str]:
    """POST /invocations to a variant: (status, body, content type); 0 if no answer."""
    parts = urlsplit(route.url)
    connection = http.client.HTTPConnection(
        parts.hostname, parts.port, timeout=UPSTREAM_TIMEOUT_SECONDS
    )
    try:
        connection.request("POST", "/invocations", body=body, headers=headers)
        response = connection.getresponse()
        return response.status, response.read(), response.getheader("Content-Type", "")
    except (OSError, http.client.HTTPException) as exc:
        message = json.dumps(
            {
                "error": "variant_unreachable",
                "message": f"variant {route.name} did not answer: {exc}",
            }
        )
        return 0, message.encode(), "application/json"
    finally:
        connection.close()


class Front:
    """The router's state: the routes (re-read on change), stats, shadow queue."""

    def __init__(self, routes_path: Path, rng: random.Random | None = None):
        self.routes_path = Path(routes_path)
        self.rng = rng or random.Random()
        self.stats = VariantStats()
        self._routes: list[Route] = []
        self._seen: tuple[int, int, int] | None = None  # inode, mtime, size
        self._lock = threading.Lock()
        self.stopped = threading.Event()
        self.shadow_queue: queue.Queue[tuple[Route, bytes, dict[str, str]]] = (
            queue.Queue(SHADOW_QUEUE)
        )

    def routes(self) -> list[Route]:
        try:
            found = self.routes_path.stat()
        except OSError:
            return self._routes
        # Routes are replaced whole (a new inode each time), so two changes
        # within one clock tick of the modification time are still told apart.
        seen = (found.st_ino, found.st_mtime_ns, found.st_size)
        with self._lock:
            if seen != self._seen:
                try:
                    self._routes, self._seen = read_routes(self.routes_path), seen
                except (OSError, ValueError, KeyError):
                    pass  # a routes file being replaced: keep the last good one
            return self._routes

    def invoke(
        self, body: bytes, headers: dict[str, str], target: str | None
    ) -> tuple[int, bytes, str, str | None]:
        routes = self.routes()
        route = choose(routes, target, self.rng.random())
        if route is None:
            names = ", ".join(r.name for r in routes if not r.shadow)
            what = (
                f"variant {target!r} is not a production variant of this endpoint ({names})"
                if target
                else "no production variant has a weight above 0"
            )
            return (
                400,
                json.dumps({"error": "ValidationError", "message": what}).encode(),
                "application/json",
                None,
            )
        if target is None:
            for shadow in mirrored(routes, self.rng.random()):
                try:
                    self.shadow_queue.put_nowait((shadow, body, headers))
                except queue.Full:
                    self.stats.dropped(shadow.name)
        started = time.perf_counter()
        status, answer, content_type = forward(route, body, headers)
        self.stats.record(route.name, status, time.perf_counter() - started)
        if status == 0:
            return 502, answer, content_type, route.name
        return status, answer, content_type, route.name

    def run_shadows(self) -> None:
        while not self.stopped.is_set():
            try:
                route, body, headers = self.shadow_queue.get(timeout=0.5)
            except queue.Empty:
                continue
            started = time.perf_counter()
            status, _, _ = forward(route, body, headers)
            self.stats.record(route.name, status, time.perf_counter() - started)

    def ping(self) -> bool:
        """Healthy when every production variant answers /ping (one with
        weight 0 too: it is still in service, and may get weight any time)."""
        for route in self.routes():
            if route.shadow:
                continue
            parts = urlsplit(route.url)
            connection = http.client.HTTPConnection(
                parts.hostname, parts.port, timeout=2
            )
            try:
                connection.request("GET", "/ping")
                if connection.getresponse().status != 200:
                    return False
            except (OSError, http.client.HTTPException):
                return False
            finally:
                connection.close()
        return bool(self.routes())

    def write_stats(self) -> None:
        target = stats_path(self.routes_path)
        temporary = target.with_name(f".{target.name}.tmp")
        temporary.write_text(json.dumps(self.stats.summary(), indent=2))
        os.replace(temporary, target)


def handler_for(front: Front) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        timeout = CLIENT_TIMEOUT_SECONDS  # a slow client's socket times out
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:  # noqa: N802 - http.server's API
            if self.path == "/ping":
                healthy = front.ping()
                self._answer(
                    200 if healthy else 503,
                    b"" if healthy else b"a variant is not healthy",
                    "text/plain",
                )
            else:
                self._answer(404, b'{"error": "not_found"}', "application/json")

        def do_POST(self) -> None:  # noqa: N802
            if self.path != "/invocations":
                self._answer(404, b'{"error": "not_found"}', "application/json")
                return
            length = self.headers.get("Content-Length")
            if length is None or not length.isdigit():
                self._answer(411, b'{"error": "length_required"}', "application/json")
                return
            if int(length) > MAX_BODY_BYTES:
                self._answer(
                    413,
                    json.dumps(
                        {
                            "error": "payload_too_large",
                            "message": f"the body is {length} bytes; InvokeEndpoint takes at most {MAX_BODY_BYTES}",
                        }
                    ).encode(),
                    "application/json",
                )
                self.close_connection = True
                return
            body = self.rfile.read(int(length))
            headers = {
                k: self.headers[k] for k in FORWARDED_HEADERS if self.headers.get(k)
            }
            target = self.headers.get(TARGET_VARIANT_HEADER)
            status, answer, content_type, variant = front.invoke(body, headers, target)
            self._answer(
                status, answer, content_type or "application/octet-stream", variant
            )

        def _answer(
            self,
            status: int,
            body: bytes,
            content_type: str,
            variant: str | None = None,
        ) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            if variant:
                self.send_header(INVOKED_VARIANT_HEADER, variant)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # the variants' own servers log every request

    return Handler


def serve(routes_path: Path, port: int, on_orphan: Any = None) -> ThreadingHTTPServer:
    """Start the front on 127.0.0.1:`port` (0: any free port) in threads.

    `on_orphan` is called once the routes file has been gone for
    ``ORPHAN_SECONDS`` (the front's own process exits then). The server's
    `shutdown` also stops the front's threads.
    """
    front = Front(routes_path)
    server = ThreadingHTTPServer(("127.0.0.1", port), handler_for(front))
    server.daemon_threads = True
    server.front = front  # type: ignore[attr-defined]
    threading.Thread(target=front.run_shadows, daemon=True).start()

    def keep_stats() -> None:
        missing_since = None
        while not front.stopped.wait(STATS_EVERY_SECONDS):
            if front.routes_path.exists():
                missing_since = None
                try:
                    front.write_stats()
                except OSError:
                    pass  # the endpoint's folder is being removed
                continue
            # Its endpoint is gone (deleted, or its state folder removed by
            # hand): a front serves nothing without routes, so it ends.
            missing_since = missing_since or time.monotonic()
            if time.monotonic() - missing_since > ORPHAN_SECONDS:
                if on_orphan is not None:
                    on_orphan()
                return

    threading.Thread(target=keep_stats, daemon=True).start()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    shutdown = server.shutdown

    def shutdown_all() -> None:
        front.stopped.set()
        shutdown()

    server.shutdown = shutdown_all  # type: ignore[method-assign]
    return server


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print(
            "usage: python -m orchestration.local.front ROUTES.json PORT",
            file=sys.stderr,
        )
        return 2
    # SageMaker-style stop: SIGTERM ends the front as Ctrl-C does, stats kept.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    server = serve(Path(args[0]), int(args[1]), on_orphan=lambda: os._exit(0))
    print(f"front on 127.0.0.1:{server.server_address[1]}", flush=True)
    try:
        threading.Event().wait()
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        server.front.write_stats()  # type: ignore[attr-defined]
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

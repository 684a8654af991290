"""`serve`: load the model once, check it, then run gunicorn with settings in Python.

Run as ``python -m container.serving`` (the image's `serve` command), which
calls `main` here.

Order of start-up, and why:

1. Bind the port first (before the heavy imports), so the container accepts
   connections within SageMaker's 250 ms; connections wait in the listen
   backlog until the workers are up.
2. Read the settings; invalid ones end the process with a one-line message.
3. Load the bundle and prove it with a canary prediction, in the master
   process, so forked workers share the model's memory (copy-on-write). If
   either fails the server still starts: /ping answers 503 with the reason
   and /invocations 503, so the failure shows instead of a crash loop.
4. Run gunicorn on the already-bound socket.

SIGTERM: gunicorn stops accepting, lets in-flight requests finish (up to
GRACEFUL_TIMEOUT_SECONDS, inside SageMaker's 30 s before SIGKILL) and exits.
"""

from __future__ import annotations

import gc
import socket
import sys
from typing import Any

from container.serving import workers

GRACEFUL_TIMEOUT_SECONDS = 20
KEEPALIVE_SECONDS = 75  # used by gthread only: sync closes after each response
LISTEN_BACKLOG = 2048


def bind_socket(port: int, host: str = "0.0.0.0") -> socket.socket:
    """A listening socket that gunicorn's workers inherit (``fd://``)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Accepted connections inherit this: small responses go out at once rather
    # than waiting ~40 ms on the client's delayed ACK (Nagle's algorithm).
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host, port))
    sock.listen(LISTEN_BACKLOG)
    sock.set_inheritable(True)
    return sock


def load_model(model_dir: Any) -> tuple[Any, str | None]:
    """(bundle, None) when the model loads and predicts, else (None, reason)."""
    from container.contract.bundle import load_bundle
    from container.contract.errors import ByocError
    from container.serving.inference import check_bundle

    try:
        bundle = load_bundle(model_dir)
    except ByocError as exc:
        return None, exc.message
    except Exception as exc:  # noqa: BLE001 - any load failure must show on /ping
        return (
            None,
            f"cannot load the model from {model_dir}: {type(exc).__name__}: {exc}",
        )
    problem = check_bundle(bundle)
    if problem is not None:
        return None, problem
    return bundle, None


def gunicorn_options(settings: Any, fd: int) -> dict[str, Any]:
    """gunicorn's settings, from ours."""
    return {
        "bind": [f"fd://{fd}"],
        "workers": workers.worker_count(settings),
        "worker_class": workers.WORKER_CLASS,
        "threads": workers.THREADS_PER_WORKER,
        "timeout": settings.timeout_seconds,
        "graceful_timeout": GRACEFUL_TIMEOUT_SECONDS,
        "keepalive": KEEPALIVE_SECONDS,
        "preload_app": True,
        "accesslog": None,  # our own JSON line per request replaces it
        "errorlog": "-",
        "loglevel": "warning",
        "proc_name": "sklearn-byoc-serve",
        # Request lines and headers from SageMaker are small; the body is ours
        # to limit (413), so gunicorn's own limits stay at their defaults.
    }


def _make_application(app: Any, options: dict[str, Any], capture: Any) -> Any:
    from gunicorn.app.base import BaseApplication

    class ServingApplication(BaseApplication):
        """gunicorn driven from Python: no config file, no command line."""

        def load_config(self) -> None:
            for key, value in options.items():
                self.cfg.set(key, value)
            if capture is not None:
                self.cfg.set("worker_exit", lambda server, worker: capture.close())

        def load(self) -> Any:
            return app

    return ServingApplication()


def _unsupported_default_accept(default_accept: str | None) -> str | None:
    from container.contract import codecs
    from container.contract.settings import DEFAULT_INVOCATIONS_ACCEPT

    if default_accept and codecs.media_type(default_accept) not in codecs.SUPPORTED:
        return (
            f"{DEFAULT_INVOCATIONS_ACCEPT}={default_accept!r} is not a response type this server writes: "  # noqa: E501
            f"use one of {', '.join(codecs.SUPPORTED)}"
        )
    return None


def main(argv: list[str] | None = None) -> int:
    """Start the model server; returns the process exit code."""
    from container.contract.errors import SettingsError
    from container.contract.settings import CaptureSettings, ServingSettings

    try:
        settings = ServingSettings.from_env()
        capture_settings = CaptureSettings.from_env()
    except SettingsError as exc:
        print(f"serve: {exc.message}", file=sys.stderr, flush=True)
        return 2
    try:
        sock = bind_socket(settings.port)
    except OSError as exc:
        print(
            f"serve: cannot listen on port {settings.port}: {exc.strerror}",
            file=sys.stderr,
            flush=True,
        )
        return 2

    # Checked after binding: it imports the codecs, and with them pandas.
    problem = _unsupported_default_accept(settings.default_accept)
    if problem:
        print(f"serve: {problem}", file=sys.stderr, flush=True)
        return 2

    from container.contract.paths import OptMl
    from container.serving.app import create_app
    from container.serving.capture import CaptureWriter

    model_dir = OptMl.from_env().model_dir
    bundle, load_error = load_model(model_dir)
    if load_error is not None:
        print(
            f"serve: the model is not ready, /ping will answer 503: {load_error}",
            file=sys.stderr,
            flush=True,
        )
    capture = CaptureWriter(capture_settings) if capture_settings.enabled else None
    app = create_app(bundle, settings, capture, load_error)
    # gunicorn takes over the descriptor (and closes its number): detach it so
    # this socket object never closes a number that may have been reused.
    options = gunicorn_options(settings, sock.detach())
    # Objects loaded so far (libraries, the model) live as long as the process:
    # moving them out of the collector's reach means workers do not copy the
    # pages they sit on when a collection walks them (copy-on-write stays shared).
    gc.collect()
    gc.freeze()
    try:
        _make_application(app, options, capture).run()
    except SystemExit as exc:
        code = exc.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    return 0

"""`serve`: load the model once, check it, then run gunicorn with settings in Python.

Run as ``python -m container.serving`` (the image's `serve` command), which
calls `main` here.

With nginx installed (the image) the serving port belongs to nginx, the front
proxy (`container.serving.proxy`), and gunicorn listens on a unix socket
behind it: sync workers only ever receive whole requests, so slow clients
cannot hold them and /ping keeps answering. This process then only
supervises the two. Without nginx (or with SKLEARN_BYOC_FRONT_PROXY=off)
gunicorn binds the port itself, in this process.

Order of start-up, and why:

1. Bind the port first (before the heavy imports), so the container accepts
   connections within SageMaker's 250 ms: either nginx starts and binds it,
   or this process binds it for gunicorn. Behind nginx, requests that arrive
   before the workers are up get a JSON 503 (the socket is not there yet);
   without it, connections wait in the listen backlog.
2. Read the settings; invalid ones end the process with a one-line message.
3. Load the bundle and prove it with a canary prediction, in the gunicorn
   master, so forked workers share the model's memory (copy-on-write). If
   either fails the server still starts: /ping answers 503 with the reason
   and /invocations 503, so the failure shows instead of a crash loop.
4. Run gunicorn on the already-bound socket (or the unix socket).

SIGTERM: behind nginx, nginx is told to quit gracefully (SIGQUIT: it stops
accepting and finishes the requests it holds, which gunicorn is still there
to answer), then gunicorn is stopped. Without nginx, gunicorn stops
accepting, lets in-flight requests finish (up to GRACEFUL_TIMEOUT_SECONDS,
inside SageMaker's 30 s before SIGKILL) and exits. If either nginx or
gunicorn ends on its own, the other is stopped and `serve` exits non-zero.
"""

from __future__ import annotations

import gc
import os
import shutil
import signal
import socket
import sys
import tempfile
import traceback
from typing import Any

from container.serving import proxy, workers

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
        # The pipeline is unpickled only if the compiled model cannot answer.
        bundle = load_bundle(model_dir, defer_pipeline=True)
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


def gunicorn_options(settings: Any, bind: int | str) -> dict[str, Any]:
    """gunicorn's settings, from ours; `bind` is a socket's fd or an address."""
    return {
        "bind": [f"fd://{bind}" if isinstance(bind, int) else bind],
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


def _say(message: str) -> None:
    print(f"serve: {message}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    """Start the model server; returns the process exit code."""
    from container.contract.errors import SettingsError
    from container.contract.settings import (
        FRONT_PROXY,
        CaptureSettings,
        ServingSettings,
    )

    try:
        settings = ServingSettings.from_env()
        capture_settings = CaptureSettings.from_env()
    except SettingsError as exc:
        _say(exc.message)
        return 2
    nginx = proxy.find_nginx() if settings.front_proxy is not False else None
    if settings.front_proxy and nginx is None:
        _say(f"{FRONT_PROXY}=on but nginx is not installed (not on PATH)")
        return 2
    if nginx is None:
        return serve_directly(settings, capture_settings)
    return serve_behind_proxy(settings, capture_settings, nginx)


def serve_directly(settings: Any, capture_settings: Any) -> int:
    """gunicorn on the serving port, in this process."""
    try:
        sock = bind_socket(settings.port)
    except OSError as exc:
        _say(f"cannot listen on port {settings.port}: {exc.strerror}")
        return 2
    # gunicorn takes over the descriptor (and closes its number): detach it so
    # this socket object never closes a number that may have been reused.
    return run_gunicorn(settings, capture_settings, sock.detach())


def serve_behind_proxy(settings: Any, capture_settings: Any, nginx: str) -> int:
    """nginx on the serving port, gunicorn on a unix socket, both supervised here."""
    try:
        # Only to report a taken port in one line, like the direct server.
        bind_socket(settings.port).close()
    except OSError as exc:
        _say(f"cannot listen on port {settings.port}: {exc.strerror}")
        return 2
    run_dir = tempfile.mkdtemp(prefix="sklearn-byoc-serve-")
    try:
        config = proxy.ProxyConfig(
            port=settings.port,
            run_dir=run_dir,
            max_body_bytes=settings.max_payload_bytes,
            model_timeout_seconds=settings.timeout_seconds,
            shutdown_timeout_seconds=GRACEFUL_TIMEOUT_SECONDS,
            worker_processes=proxy.WORKER_PROCESSES,
            # As root nginx would switch its workers to "nobody", who could
            # not reach this process's private folder and socket.
            user="root" if os.geteuid() == 0 else None,
        )
        proxy.write_config(config)
        front = proxy.start(nginx, config)
        sys.stdout.flush()
        sys.stderr.flush()
        app_pid = os.fork()
        if app_pid == 0:  # the gunicorn master
            code = 1
            try:
                proxy.die_with_parent()
                code = run_gunicorn(
                    settings, capture_settings, f"unix:{config.socket_path}"
                )
            except BaseException:
                traceback.print_exc()
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        return supervise(front, app_pid)
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)


def supervise(front: Any, app_pid: int) -> int:
    """Wait for nginx and gunicorn; stop both in order on SIGTERM or a death."""
    stopping = False
    alive = {front.pid: "nginx", app_pid: "gunicorn"}
    code = 0

    def stop(signum: int, frame: Any) -> None:
        nonlocal stopping
        if stopping:
            return
        stopping = True
        # nginx first: it stops accepting and finishes what it holds, while
        # gunicorn is still there to answer; gunicorn stops once nginx is gone.
        _signal(front.pid, signal.SIGQUIT)

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, stop)
    while alive:
        try:
            pid, status = os.waitpid(-1, 0)
        except ChildProcessError:
            break
        name = alive.pop(pid, None)
        if name is None:
            continue  # a reparented orphan, reaped (this may be PID 1)
        exit_code = os.waitstatus_to_exitcode(status)
        if exit_code < 0:  # killed by a signal: the shell's 128 + N
            exit_code = 128 - exit_code
        if name == "nginx":
            front.returncode = exit_code
            if not stopping:
                _say(f"nginx exited unexpectedly ({exit_code}); stopping gunicorn")
                stopping, code = True, 1
            if app_pid in alive:
                _signal(app_pid, signal.SIGTERM)
        else:
            if not stopping:
                if exit_code != 2:  # 2: a setting, already explained in one line
                    _say(f"gunicorn exited ({exit_code}); stopping nginx")
                stopping, code = True, exit_code or 1
            elif code == 0:
                code = exit_code
            if front.pid in alive:
                _signal(front.pid, signal.SIGTERM)
    return code


def _signal(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass


def run_gunicorn(settings: Any, capture_settings: Any, bind: int | str) -> int:
    """Load the model, then run gunicorn on `bind` until it stops."""
    # Checked after binding: it imports the codecs, and with them pandas.
    problem = _unsupported_default_accept(settings.default_accept)
    if problem:
        _say(problem)
        return 2

    from container.contract.paths import OptMl
    from container.serving.app import create_app
    from container.serving.capture import CaptureWriter

    model_dir = OptMl.from_env().model_dir
    bundle, load_error = load_model(model_dir)
    if load_error is not None:
        _say(f"the model is not ready, /ping will answer 503: {load_error}")
    capture = CaptureWriter(capture_settings) if capture_settings.enabled else None
    app = create_app(bundle, settings, capture, load_error)
    options = gunicorn_options(settings, bind)
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

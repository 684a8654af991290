"""The front proxy: nginx between clients and gunicorn's sync workers.

A sync worker serves one connection from its first byte to its last, so a
client that sends its request slowly holds a whole worker; a few such
clients stop /ping from answering, and SageMaker takes the instance out of
service. nginx reads each request completely (headers and body, kept in
memory up to the payload limit) before it hands it to a worker over a unix
socket, and closes connections that stall. Workers then only ever see whole
requests.

nginx's configuration is written at start from `render` into a private
temporary folder, with its pid file and temporary paths, so it runs with a
read-only root filesystem and as any user. The errors nginx answers itself
(413, 502/504 while workers start or restart, malformed requests) use the
server's JSON error shape, never an HTML page.

This module imports only the standard library: it runs before the port is
bound (see `container.serving.server`).
"""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import signal
import subprocess
from dataclasses import dataclass

# Where Debian installs it; PATH inside the image has it too.
NGINX_FALLBACK_DIRS = "/usr/sbin:/usr/local/sbin:/usr/local/nginx/sbin"
CONFIG_NAME = "nginx.conf"
SOCKET_NAME = "model-server.sock"
# A unix socket path longer than this cannot be bound (sun_path).
MAX_SOCKET_PATH = 107

# A client must send its whole header within this time (nginx's timer for
# the header is not reset by each byte), and may not pause longer than the
# body timeout between two reads of the body or writes of the response.
HEADER_TIMEOUT_SECONDS = 10
BODY_TIMEOUT_SECONDS = 20
SEND_TIMEOUT_SECONDS = 20
# Above the 60 s SageMaker's front end keeps idle connections to a model.
KEEPALIVE_SECONDS = 75
# Past the worker timeout, so gunicorn (which restarts the worker) decides.
READ_TIMEOUT_MARGIN_SECONDS = 5
CONNECT_TIMEOUT_SECONDS = 5
UPSTREAM_KEEPALIVE = 16
# One process handles thousands of connections; see docs/serving.md.
WORKER_PROCESSES = "1"
WORKER_CONNECTIONS = 4096
LISTEN_BACKLOG = 2048

STARTING_MESSAGE = (
    "the model server is not answering yet (starting, or restarting a worker); "
    "retry shortly"
)


@dataclass(frozen=True)
class ProxyConfig:
    port: int
    run_dir: str
    max_body_bytes: int
    model_timeout_seconds: int
    shutdown_timeout_seconds: int
    worker_processes: str = WORKER_PROCESSES
    header_timeout_seconds: int = HEADER_TIMEOUT_SECONDS
    body_timeout_seconds: int = BODY_TIMEOUT_SECONDS
    send_timeout_seconds: int = SEND_TIMEOUT_SECONDS
    keepalive_seconds: int = KEEPALIVE_SECONDS
    # nginx's workers run as this user when nginx starts as root (only then
    # may it switch); None keeps nginx's compiled-in default.
    user: str | None = None

    @property
    def socket_path(self) -> str:
        return os.path.join(self.run_dir, SOCKET_NAME)

    @property
    def config_path(self) -> str:
        return os.path.join(self.run_dir, CONFIG_NAME)


def find_nginx() -> str | None:
    """The nginx binary on PATH (or where Debian puts it), else None."""
    return shutil.which("nginx") or shutil.which("nginx", path=NGINX_FALLBACK_DIRS)


def json_error(code: str, message: str) -> str:
    """An nginx single-quoted string holding our JSON error body."""
    body = json.dumps({"error": {"code": code, "message": message}})
    # nginx would expand "$name" as a variable inside `return` text.
    if "$" in body:
        raise ValueError(f"no '$' allowed in an nginx error body: {body}")
    return "'" + body.replace("\\", "\\\\").replace("'", "\\'") + "'"


def too_large_message(limit: int) -> str:
    # The app's 413 says the same (container.serving.inference.too_large).
    megabytes = limit / (1024 * 1024)
    return (
        f"the body is over the limit of {limit} bytes ({megabytes:g} MB); "
        "split the records over several requests"
    )


def render(config: ProxyConfig) -> str:
    """nginx.conf for one serving process."""
    run = config.run_dir
    limit = config.max_body_bytes
    read_timeout = config.model_timeout_seconds + READ_TIMEOUT_MARGIN_SECONDS
    user = f"user {config.user};\n" if config.user else ""
    starting = json_error("model_not_ready", STARTING_MESSAGE)
    too_large = json_error("payload_too_large", too_large_message(limit))
    timed_out = json_error(
        "timeout",
        f"the model server did not answer within {read_timeout} s",
    )
    bad_request = json_error(
        "bad_request",
        "the request line or headers are malformed or too large",
    )
    request_timeout = json_error(
        "request_timeout", "the request was not received in time"
    )
    return f"""\
# Written by container/serving/proxy.py when `serve` starts.
daemon off;
master_process on;
worker_processes {config.worker_processes};
{user}pid {run}/nginx.pid;
error_log stderr error;
worker_shutdown_timeout {config.shutdown_timeout_seconds}s;

events {{
    worker_connections {WORKER_CONNECTIONS};
}}

http {{
    # The model server writes one JSON line per request.
    access_log off;
    server_tokens off;
    default_type application/json;

    client_body_temp_path {run}/client_body;
    proxy_temp_path {run}/proxy;
    fastcgi_temp_path {run}/fastcgi;
    uwsgi_temp_path {run}/uwsgi;
    scgi_temp_path {run}/scgi;

    client_header_timeout {config.header_timeout_seconds}s;
    client_body_timeout {config.body_timeout_seconds}s;
    send_timeout {config.send_timeout_seconds}s;
    keepalive_timeout {config.keepalive_seconds}s;
    keepalive_requests 100000;
    reset_timedout_connection on;
    tcp_nodelay on;

    # Whole requests, in memory up to the payload limit, before a worker
    # sees them.
    client_max_body_size {limit};
    client_body_buffer_size {limit};

    upstream model_server {{
        server unix:{config.socket_path};
        keepalive {UPSTREAM_KEEPALIVE};
    }}

    server {{
        listen {config.port} default_server backlog={LISTEN_BACKLOG};

        location / {{
            proxy_pass http://model_server;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_request_buffering on;
            proxy_buffering on;
            proxy_buffers 32 64k;
            proxy_connect_timeout {CONNECT_TIMEOUT_SECONDS}s;
            proxy_send_timeout {read_timeout}s;
            proxy_read_timeout {read_timeout}s;
            # Never send a request twice: a worker may have started on it.
            proxy_next_upstream off;
        }}

        error_page 502 = @starting;
        error_page 504 = @timed_out;
        error_page 413 = @too_large;
        error_page 408 = @request_timeout;
        error_page 400 414 494 = @bad_request;

        location @starting {{
            add_header Retry-After 1 always;
            return 503 {starting};
        }}
        location @timed_out {{
            return 504 {timed_out};
        }}
        location @too_large {{
            return 413 {too_large};
        }}
        location @request_timeout {{
            return 408 {request_timeout};
        }}
        location @bad_request {{
            return 400 {bad_request};
        }}
    }}
}}
"""


def write_config(config: ProxyConfig) -> str:
    """Write nginx.conf into the run folder; returns its path."""
    if len(config.socket_path) > MAX_SOCKET_PATH:
        raise ValueError(
            f"the socket path {config.socket_path} is longer than "
            f"{MAX_SOCKET_PATH} bytes: set TMPDIR to a shorter folder"
        )
    with open(config.config_path, "w", encoding="utf-8") as handle:
        handle.write(render(config))
    return config.config_path


def die_with_parent() -> None:
    """Ask for SIGTERM when the parent process dies (Linux; a no-op elsewhere)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def start(nginx: str, config: ProxyConfig) -> subprocess.Popen:
    """Start nginx in the foreground, in its own process group.

    Its own group keeps a terminal's Ctrl-C from reaching it directly: the
    launcher decides the order of shutdown.
    """
    return subprocess.Popen(
        [nginx, "-e", "stderr", "-p", config.run_dir, "-c", config.config_path],
        stdin=subprocess.DEVNULL,
        start_new_session=True,
        preexec_fn=die_with_parent,  # safe: no other thread runs yet
    )

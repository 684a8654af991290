"""The Flask app: /ping, /invocations, /execution-parameters, and nothing else.

`create_app` is a factory: it builds the app's state (`Serving`) and wires
the route functions below it. The routes are thin: the work happens in
`container.serving.inference.invocations`. Every response, errors included,
is JSON or the requested format, never an HTML error page, and every request
leaves one JSON log line on stdout::

    {"time": "...Z", "method": "POST", "path": "/invocations", "status": 200,
     "latency_ms": 0.91, "records": 1, "content_type": "text/csv",
     "accept": null, "error": null}
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from flask import Flask, Response, current_app, g, request
from werkzeug.exceptions import HTTPException

from container.contract import headers
from container.contract.errors import ByocError, ModelNotReady
from container.contract.settings import ServingSettings
from container.serving import inference
from container.serving.capture import CaptureWriter
from container.serving.workers import execution_parameters as batch_parameters

JSON_TYPE = "application/json"
# An oversized body up to this much past the limit is read and dropped so the
# client sees the 413 (see _too_large).
DRAIN_LIMIT_BYTES = 64 * 1024 * 1024
DRAIN_CHUNK_BYTES = 256 * 1024
ROUTES = "Routes: GET /ping, POST /invocations, GET /execution-parameters."
STATE_KEY = "sklearn_byoc"


@dataclass(frozen=True)
class Serving:
    """What the routes serve: one loaded bundle (or why none), and the settings."""

    bundle: Any
    settings: ServingSettings
    options: inference.InvocationOptions
    capture: CaptureWriter | None
    load_error: str | None

    @property
    def ready(self) -> bool:
        return self.bundle is not None and self.load_error is None


def create_app(
    bundle: Any = None,
    settings: ServingSettings | None = None,
    capture: CaptureWriter | None = None,
    load_error: str | None = None,
) -> Flask:
    """A serving app for one loaded bundle (None, with `load_error`, if it failed)."""
    settings = settings or ServingSettings()
    if bundle is None and load_error is None:
        load_error = "no model is loaded"
    state = Serving(
        bundle,
        settings,
        inference.InvocationOptions.from_settings(settings),
        capture,
        load_error,
    )
    app = Flask(__name__)
    # We check the size ourselves, to answer 413 in our JSON format.
    app.config["MAX_CONTENT_LENGTH"] = None
    app.extensions[STATE_KEY] = state
    app.before_request(start_clock)
    app.after_request(log_request)
    app.add_url_rule("/ping", view_func=ping, methods=["GET"])
    app.add_url_rule("/invocations", view_func=invocations, methods=["POST"])
    app.add_url_rule(
        "/execution-parameters", view_func=execution_parameters, methods=["GET"]
    )
    app.register_error_handler(HTTPException, http_error)
    app.register_error_handler(Exception, unexpected_error)
    return app


def serving() -> Serving:
    return current_app.extensions[STATE_KEY]


# --- routes --------------------------------------------------------------------------
def ping() -> Response:
    state = serving()
    if state.ready:
        return Response(b"", 200)
    return _json_error(ModelNotReady(f"the model cannot predict: {state.load_error}"))


def invocations() -> Response:
    state = serving()
    body = _read_body(state.options.max_payload_bytes)
    if isinstance(body, Response):
        return body
    content_type = request.headers.get("Content-Type")
    result = inference.invocations(
        body,
        content_type,
        request.headers.get("Accept"),
        state.bundle if state.ready else None,
        state.options,
        custom_attributes=request.headers.get(headers.CUSTOM_ATTRIBUTES),
    )
    g.records, g.error_code = result.records, result.error_code
    if state.capture is not None and result.status == 200:
        state.capture.record(
            body,
            content_type,
            result.body,
            result.content_type,
            inference_id=request.headers.get(headers.INFERENCE_ID),
        )
    return Response(
        result.body,
        result.status,
        headers=dict(result.headers),
        content_type=result.content_type,
    )


def execution_parameters() -> Response:
    parameters = batch_parameters(serving().settings)
    return Response(json.dumps(parameters), 200, content_type=JSON_TYPE)


# --- hooks and error handlers --------------------------------------------------------
def start_clock() -> None:
    g.start = time.perf_counter()
    g.records = 0
    g.error_code = None


def log_request(response: Response) -> Response:
    started = g.get("start", time.perf_counter())
    write_log_line(
        {
            "time": datetime.now(UTC).isoformat(timespec="milliseconds")[:-6] + "Z",
            "method": request.method,
            "path": request.path,
            "status": response.status_code,
            "latency_ms": round((time.perf_counter() - started) * 1000, 3),
            "records": g.get("records", 0),
            "content_type": request.headers.get("Content-Type"),
            "accept": request.headers.get("Accept"),
            "error": g.get("error_code"),
        }
    )
    return response


def http_error(exc: HTTPException) -> Response:
    """404, 405 and malformed requests: JSON like every other answer."""
    code = (exc.name or "http_error").lower().replace(" ", "_")
    g.error_code = code
    response = Response(
        inference.error_body(code, f"{exc.description} {ROUTES}"),
        exc.code or 500,
        content_type=JSON_TYPE,
    )
    if exc.code == 405:
        response.headers["Allow"] = ", ".join(exc.valid_methods or [])  # type: ignore[attr-defined]
    return response


def unexpected_error(exc: Exception) -> Response:
    result = inference.internal_error_response()
    g.error_code = result.error_code
    return Response(result.body, 500, content_type=result.content_type)


# --- helpers -------------------------------------------------------------------------
def _read_body(limit: int) -> bytes | Response:
    """The request body, or a 413 response without keeping more than the limit."""
    length = request.content_length
    if length is not None and length > limit:
        return _too_large(length, limit)
    body = request.stream.read(limit + 1)
    if len(body) > limit:
        return _too_large(None, limit)
    return body


def _too_large(length: int | None, limit: int) -> Response:
    response = _json_error(inference.too_large(length, limit))
    # Most clients read the answer only once they have sent the whole body, so
    # read and drop a moderately oversized body rather than reset the
    # connection under them; beyond that, close it unread.
    if length is not None and length <= limit + DRAIN_LIMIT_BYTES:
        while request.stream.read(DRAIN_CHUNK_BYTES):
            pass
    else:
        response.headers["Connection"] = "close"
    return response


def _json_error(exc: ByocError) -> Response:
    g.error_code = exc.code
    return Response(
        inference.error_body(exc.code, exc.message),
        exc.status_code,
        content_type=JSON_TYPE,
    )


def write_log_line(fields: dict[str, Any]) -> None:
    """One JSON line on stdout: a single write, so lines from threads never mix."""
    sys.stdout.write(json.dumps(fields, separators=(",", ":")) + "\n")
    sys.stdout.flush()

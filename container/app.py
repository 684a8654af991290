"""The Flask app: /ping, /invocations, /execution-parameters, and nothing else.

The routes are thin: the work happens in `container.inference.invocations`.
Every response, errors included, is JSON or the requested format, never an
HTML error page, and every request leaves one JSON log line on stdout::

    {"time": "...Z", "method": "POST", "path": "/invocations", "status": 200,
     "latency_ms": 0.91, "records": 1, "content_type": "text/csv",
     "accept": null, "error": null}
"""

from __future__ import annotations

import json
import sys
import time
from datetime import UTC, datetime
from typing import Any

from flask import Flask, Response, g, request
from werkzeug.exceptions import HTTPException

from container import inference
from container.capture import CaptureWriter
from container.contract.errors import ModelNotReady, PayloadTooLarge
from container.contract.settings import BATCH_DEFAULT_MAX_PAYLOAD_MB, ServingSettings

INFERENCE_ID_HEADER = "X-Amzn-SageMaker-Inference-Id"
CUSTOM_ATTRIBUTES_HEADER = "X-Amzn-SageMaker-Custom-Attributes"
JSON_TYPE = "application/json"
# An oversized body up to this much past the limit is read and dropped so the
# client sees the 413 (see _too_large).
DRAIN_LIMIT_BYTES = 64 * 1024 * 1024
DRAIN_CHUNK_BYTES = 256 * 1024
# SageMaker requires MaxConcurrentTransforms × MaxPayloadInMB ≤ 100.
BATCH_PAYLOAD_BUDGET_MB = 100


def create_app(
    bundle: Any = None,
    settings: ServingSettings | None = None,
    capture: CaptureWriter | None = None,
    load_error: str | None = None,
) -> Flask:
    """A serving app for one loaded bundle (None, with `load_error`, if it failed)."""
    settings = settings or ServingSettings()
    options = inference.InvocationOptions.from_settings(settings)
    if bundle is None and load_error is None:
        load_error = "no model is loaded"
    ready = bundle is not None and load_error is None
    app = Flask(__name__)
    # We check the size ourselves, to answer 413 in our JSON format.
    app.config["MAX_CONTENT_LENGTH"] = None

    @app.before_request
    def start_clock() -> None:
        g.start = time.perf_counter()
        g.records = 0
        g.error_code = None

    @app.get("/ping")
    def ping() -> Response:
        if ready:
            return Response(b"", 200)
        return _json_error(ModelNotReady(f"the model cannot predict: {load_error}"))

    @app.post("/invocations")
    def invocations() -> Response:
        body = _read_body(options.max_payload_bytes)
        if isinstance(body, Response):
            return body
        result = inference.invocations(
            body,
            request.headers.get("Content-Type"),
            request.headers.get("Accept"),
            bundle if ready else None,
            options,
            custom_attributes=request.headers.get(CUSTOM_ATTRIBUTES_HEADER),
        )
        g.records, g.error_code = result.records, result.error_code
        if capture is not None and result.status == 200:
            capture.record(
                body,
                request.headers.get("Content-Type"),
                result.body,
                result.content_type,
                inference_id=request.headers.get(INFERENCE_ID_HEADER),
            )
        return Response(
            result.body,
            result.status,
            headers=dict(result.headers),
            content_type=result.content_type,
        )

    @app.get("/execution-parameters")
    def execution_parameters() -> Response:
        payload_mb = (
            BATCH_DEFAULT_MAX_PAYLOAD_MB
            if settings.max_payload_mb is None
            else settings.max_payload_mb
        )
        parameters = {
            "MaxConcurrentTransforms": settings.max_concurrent_transforms
            or _concurrent_transforms(settings, payload_mb),
            "BatchStrategy": settings.batch_strategy or "MULTI_RECORD",
            "MaxPayloadInMB": payload_mb,
        }
        return Response(json.dumps(parameters), 200, content_type=JSON_TYPE)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response:
        # 404, 405 and malformed requests: JSON like every other answer.
        code = (exc.name or "http_error").lower().replace(" ", "_")
        message = (
            f"{exc.description} Routes: GET /ping, POST /invocations, "
            "GET /execution-parameters."
        )
        g.error_code = code
        response = Response(
            inference.error_body(code, message), exc.code or 500, content_type=JSON_TYPE
        )
        if exc.code == 405:
            response.headers["Allow"] = ", ".join(exc.valid_methods or [])  # type: ignore[attr-defined]
        return response

    @app.errorhandler(Exception)
    def unexpected_error(exc: Exception) -> Response:
        result = inference.internal_error_response()
        g.error_code = result.error_code
        return Response(result.body, 500, content_type=result.content_type)

    @app.after_request
    def log_request(response: Response) -> Response:
        write_log_line(
            {
                "time": datetime.now(UTC).isoformat(timespec="milliseconds")[:-6] + "Z",
                "method": request.method,
                "path": request.path,
                "status": response.status_code,
                "latency_ms": round(
                    (time.perf_counter() - g.get("start", time.perf_counter())) * 1000,
                    3,
                ),
                "records": g.get("records", 0),
                "content_type": request.headers.get("Content-Type"),
                "accept": request.headers.get("Accept"),
                "error": g.get("error_code"),
            }
        )
        return response

    return app


def _concurrent_transforms(settings: ServingSettings, payload_mb: int) -> int:
    """One request per worker, within SageMaker's concurrency × payload ≤ 100 MB."""
    from container.serving import default_workers

    workers = settings.workers or default_workers()
    return max(1, min(workers, BATCH_PAYLOAD_BUDGET_MB // max(payload_mb, 1)))


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
    size = f"{length} bytes, " if length is not None else ""
    error = PayloadTooLarge(
        f"the body is {size}over the limit of {limit} bytes; split the records "
        f"over several requests"
    )
    response = _json_error(error)
    # Most clients read the answer only once they have sent the whole body, so
    # read and drop a moderately oversized body rather than reset the
    # connection under them; beyond that, close it unread.
    if length is not None and length <= limit + DRAIN_LIMIT_BYTES:
        while request.stream.read(DRAIN_CHUNK_BYTES):
            pass
    else:
        response.headers["Connection"] = "close"
    return response


def _json_error(exc: Any) -> Response:
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

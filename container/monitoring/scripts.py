"""User scripts of the Model Monitor contract: record preprocessor, post-analytics.

`record_preprocessor_script` names a Python file defining
``preprocess_handler(inference_record)`` (or ``preprocess_handler(inference_record,
logger)``). `monitor` calls it once per captured record in the window, in
place of decoding the payload: it returns a flat dict (one record, its keys
are the column names), a list of such dicts (several records), or None (the
record is left out). The record has the capture's fields in Python style:
``endpoint_input`` and ``endpoint_output`` (each with ``observed_content_type``,
``mode``, ``data``, ``encoding``, or None when not captured) and
``event_metadata`` (``event_id``, ``inference_id``, ``inference_time``).

`post_analytics_processor_script` names a Python file defining
``postprocess_handler()``, called with no arguments once the job's outputs are
written (the job's environment variables tell it where they are).

Both are file paths inside the container (a processing input mounts them);
an S3 URI is refused, as the image has no S3 client. An exception in a script
fails the job with the script's name and the error: data that a broken
preprocessor dropped would otherwise pass for a quiet window.
"""

from __future__ import annotations

import importlib.util
import inspect
import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pandas as pd

from container.contract.settings import (
    POST_ANALYTICS_PROCESSOR_SCRIPT,
    RECORD_PREPROCESSOR_SCRIPT,
)
from container.monitoring.capture_reader import CaptureRecord, CaptureScan, Payload
from container.monitoring.errors import MonitoringInputError

PREPROCESS_HANDLER = "preprocess_handler"
POSTPROCESS_HANDLER = "postprocess_handler"
CHUNK_RECORDS = 20_000


@dataclass(frozen=True)
class EndpointData:
    observed_content_type: str
    mode: str
    data: str
    encoding: str


@dataclass(frozen=True)
class EventMetadata:
    event_id: str | None
    inference_id: str | None
    inference_time: str | None


@dataclass(frozen=True)
class InferenceRecord:
    """One captured invocation, as a record preprocessor receives it."""

    endpoint_input: EndpointData | None
    endpoint_output: EndpointData | None
    event_metadata: EventMetadata
    event_version: str = "0"


def load_script(path_text: str, setting: str, handler: str) -> Callable[..., Any]:
    """The `handler` function of the script `setting` names."""
    if "://" in path_text:
        raise MonitoringInputError(
            f"{setting}={path_text!r} is a URI; give a file path inside the container (mount the script as a processing input)"  # noqa: E501
        )
    path = Path(path_text)
    if not path.is_file():
        raise MonitoringInputError(f"{setting} file {path} does not exist")
    module = _import(path, setting)
    function = getattr(module, handler, None)
    if not callable(function):
        raise MonitoringInputError(
            f"{setting} {path} defines no function {handler}(); "
            "see docs/monitoring.md for the expected shape"
        )
    return function


def _import(path: Path, setting: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"user_{setting}", path)
    if spec is None or spec.loader is None:
        raise MonitoringInputError(f"{setting} {path} is not a Python file")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # noqa: BLE001 - the user's code: report, do not crash
        raise MonitoringInputError(
            f"{setting} {path} failed to load: {type(exc).__name__}: {exc}"
        ) from None
    return module


# --- record preprocessor -------------------------------------------------------------
class RecordPreprocessor:
    """Turns capture records into rows through the user's preprocess_handler."""

    def __init__(self, path_text: str):
        self.path = path_text
        self.handler = load_script(
            path_text, RECORD_PREPROCESSOR_SCRIPT, PREPROCESS_HANDLER
        )
        self.logger = logging.getLogger("record_preprocessor")
        self.with_logger = _takes_two_arguments(self.handler)

    def rows(self, record: CaptureRecord, raw: dict[str, Any]) -> list[dict]:
        inference = inference_record(record, raw)
        try:
            result = (
                self.handler(inference, self.logger)
                if self.with_logger
                else self.handler(inference)
            )
        except Exception as exc:  # noqa: BLE001 - the user's code: report it
            event = inference.event_metadata.event_id or "without an eventId"
            raise MonitoringInputError(
                f"{RECORD_PREPROCESSOR_SCRIPT} {self.path} raised {type(exc).__name__}: {exc} (record {event})"  # noqa: E501
            ) from None
        return self._as_rows(result)

    def _as_rows(self, result: Any) -> list[dict]:
        if result is None:
            return []
        rows = result if isinstance(result, list) else [result]
        if not all(isinstance(r, dict) for r in rows):
            raise MonitoringInputError(
                f"{RECORD_PREPROCESSOR_SCRIPT} {self.path}: {PREPROCESS_HANDLER} returned {type(result).__name__}; "  # noqa: E501
                "return a dict of column → value, a list of such dicts, or None"
            )
        return rows

    def frames(
        self, records: Iterable[tuple[CaptureRecord, dict]], scan: CaptureScan
    ) -> Iterator[pd.DataFrame]:
        """DataFrames of the rows the handler made, about CHUNK_RECORDS at a time."""
        rows: list[dict] = []
        for record, raw in records:
            made = self.rows(record, raw)
            if not made:
                scan.filtered += 1
            rows.extend(made)
            if len(rows) >= CHUNK_RECORDS:
                yield pd.DataFrame.from_records(rows)
                rows = []
        if rows:
            yield pd.DataFrame.from_records(rows)


def inference_record(record: CaptureRecord, raw: dict[str, Any]) -> InferenceRecord:
    meta = (
        raw.get("eventMetadata") if isinstance(raw.get("eventMetadata"), dict) else {}
    )
    return InferenceRecord(
        endpoint_input=_endpoint_data(record.input, "INPUT"),
        endpoint_output=_endpoint_data(record.output, "OUTPUT"),
        event_metadata=EventMetadata(
            event_id=meta.get("eventId"),
            inference_id=meta.get("inferenceId"),
            inference_time=meta.get("inferenceTime"),
        ),
        event_version=str(raw.get("eventVersion", "0")),
    )


def _endpoint_data(payload: Payload | None, mode: str) -> EndpointData | None:
    if payload is None:
        return None
    return EndpointData(payload.content_type, mode, payload.data, payload.encoding)


def _takes_two_arguments(function: Callable[..., Any]) -> bool:
    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):
        return False
    positional = [
        p
        for p in parameters
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL)
    ]
    return len(positional) >= 2 or any(p.kind == p.VAR_POSITIONAL for p in positional)


# --- post-analytics ------------------------------------------------------------------
def post_analytics(path_text: str) -> Callable[[], None]:
    """The script's postprocess_handler(), loaded now, to call once outputs exist."""
    handler = load_script(
        path_text, POST_ANALYTICS_PROCESSOR_SCRIPT, POSTPROCESS_HANDLER
    )

    def run() -> None:
        try:
            handler()
        except Exception as exc:  # noqa: BLE001 - the user's code: report it
            raise MonitoringInputError(
                f"{POST_ANALYTICS_PROCESSOR_SCRIPT} {path_text} raised {type(exc).__name__}: {exc}"  # noqa: E501
            ) from None

    return run

"""The invocation core: request bytes in, response bytes out, no HTTP involved.

`invocations()` decodes the body, matches its columns to the bundle's schema,
predicts, and encodes the answer the caller asked for. Every problem the
caller can fix comes back as a JSON error with a status code and a message
that says what to send instead; anything else is a bug, answered with a 500
that carries an error id (the traceback goes to the log, never to the caller).
"""

from __future__ import annotations

import copy
import json
import math
import sys
import traceback
import uuid
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from container.contract import codecs, headers
from container.contract.columns import category_strings, column_difference
from container.contract.errors import (
    ByocError,
    InvalidInput,
    ModelNotReady,
    PayloadTooLarge,
    UnsupportedAccept,
)
from container.contract.settings import (
    REALTIME_MAX_PAYLOAD_BYTES,
    ServingSettings,
    parse_flag,
)
from container.serving import compiled

JSON_ERROR_TYPE = "application/json"
PROBABILITIES_PARAMETER = "probabilities"
# Unknown columns are listed in the response header up to this many characters.
_HEADER_LIMIT = 1024
_EXAMPLES_SHOWN = 3
_FAST_CSV_BYTES = 64 * 1024


class Response(NamedTuple):
    """What the HTTP layer sends back, plus what it logs."""

    body: bytes
    status: int
    content_type: str
    headers: Mapping[str, str]
    records: int = 0
    error_code: str | None = None
    error_id: str | None = None


@dataclass(frozen=True)
class InvocationOptions:
    """Server-wide choices that shape every invocation."""

    default_accept: str | None = None
    return_probabilities: bool = False
    max_payload_bytes: int = REALTIME_MAX_PAYLOAD_BYTES

    @classmethod
    def from_settings(cls, settings: ServingSettings) -> InvocationOptions:
        return cls(
            default_accept=settings.default_accept,
            return_probabilities=settings.return_probabilities,
            max_payload_bytes=settings.max_payload_bytes,
        )


# --- the core ------------------------------------------------------------------------
def invocations(
    body: bytes,
    content_type: str | None,
    accept: str | None,
    bundle: Any,
    options: InvocationOptions,
    *,
    custom_attributes: str | None = None,
) -> Response:
    """Answer one /invocations request: exactly one output record per input record."""
    try:
        return _invoke(body, content_type, accept, bundle, options, custom_attributes)
    except ByocError as exc:
        return error_response(exc)
    except Exception:  # noqa: BLE001 - a bug: answer 500 with an id, log the traceback
        return internal_error_response()


def _invoke(
    body: bytes,
    content_type: str | None,
    accept: str | None,
    bundle: Any,
    options: InvocationOptions,
    custom_attributes: str | None,
) -> Response:
    if bundle is None:
        raise ModelNotReady("the model is not loaded; see GET /ping for the reason")
    if len(body) > options.max_payload_bytes:
        raise too_large(len(body), options.max_payload_bytes)
    request_type = codecs.request_type(content_type)
    response_type, accept_params = negotiate(
        accept, request_type, options.default_accept
    )
    schema = bundle.schema
    with_probabilities = wants_probabilities(
        accept_params, custom_attributes, options.return_probabilities, bundle
    )
    prepared = prepare(bundle)
    features: Any = None
    if prepared.array_model is not None and request_type == codecs.CSV:
        features = numeric_csv_rows(body, len(schema.feature_names))
    elif request_type == codecs.CSV:
        features = plain_csv_columns(body, schema)
    ignored: list[str] = []
    if features is None:
        frame = codecs.decode(
            body,
            request_type,
            schema.feature_names,
            max_fields=codecs.field_limit(len(schema.feature_names)),
        )
        features, ignored = align(frame, schema)
    predictions, probabilities, classes = predict(bundle, features, with_probabilities)
    out = codecs.encode(predictions, response_type, probabilities, classes)
    answer_headers = {}
    if ignored:
        answer_headers[headers.IGNORED_COLUMNS] = _header_list(ignored)
    if probabilities is not None and response_type == codecs.NPY:
        answer_headers[headers.CLASSES] = _header_list([str(c) for c in classes])
    return Response(out, 200, response_type, answer_headers, records=len(predictions))


def too_large(length: int | None, limit: int) -> PayloadTooLarge:
    size = f"{length} bytes, " if length is not None else ""
    return PayloadTooLarge(
        f"the body is {size}over the limit of {limit} bytes; "
        "split the records over several requests"
    )


# --- content negotiation -------------------------------------------------------------
def negotiate(
    accept: str | None, request_type: str, default_accept: str | None = None
) -> tuple[str, dict[str, str]]:
    """The response type (and the chosen entry's parameters) for an Accept header.

    ``*/*`` or no Accept: the server default if set, else CSV for CSV requests
    and JSON otherwise. Entries are tried by decreasing q-value.
    """
    fallback = _default_type(request_type, default_accept)
    if not accept or not accept.strip():
        return fallback, {}
    entries = []
    for position, entry in enumerate(accept.split(",")):
        if not entry.strip():
            continue
        params = codecs.media_params(entry)
        quality = _quality(params.pop("q", "1"))
        entries.append((-quality, position, codecs.media_type(entry), params))
    for negative_quality, _, media, params in sorted(entries):
        if negative_quality == 0:
            continue
        if media in codecs.SUPPORTED:
            return media, params
        if media in ("*/*", "*"):
            return fallback, params
        if media == "text/*":
            return codecs.CSV, params
        if media == "application/*":
            return fallback if fallback != codecs.CSV else codecs.JSON, params
    raise UnsupportedAccept(
        f"Accept {accept!r} asks for nothing this server writes: "
        f"ask for one of {', '.join(codecs.SUPPORTED)} (or */*)"
    )


def _default_type(request_type: str, default_accept: str | None) -> str:
    if default_accept:
        configured = codecs.media_type(default_accept)
        if configured in codecs.SUPPORTED:
            return configured
    return codecs.CSV if request_type == codecs.CSV else codecs.JSON


def _quality(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        return 1.0
    return min(max(value, 0.0), 1.0)


def _flag(raw: str, where: str) -> bool:
    value = parse_flag(raw)
    if value is not None:
        return value
    raise InvalidInput(
        f"{where} has probabilities={raw!r}: "
        "use probabilities=true or probabilities=false"
    )


def custom_attribute(custom_attributes: str | None, key: str) -> str | None:
    """A key=value pair from the custom attributes header (, or ; between)."""
    if not custom_attributes:
        return None
    for part in custom_attributes.replace(";", ",").split(","):
        name, sep, value = part.partition("=")
        if sep and name.strip().lower() == key:
            return value
    return None


def wants_probabilities(
    accept_params: Mapping[str, str],
    custom_attributes: str | None,
    server_default: bool,
    bundle: Any,
) -> bool:
    """Probabilities asked by Accept parameter, then custom attributes, then default."""
    asked = None
    if PROBABILITIES_PARAMETER in accept_params:
        asked = _flag(accept_params[PROBABILITIES_PARAMETER], "Accept")
    else:
        raw = custom_attribute(custom_attributes, PROBABILITIES_PARAMETER)
        if raw is not None:
            asked = _flag(raw, headers.CUSTOM_ATTRIBUTES)
    can = _is_classifier(bundle)
    if asked is None:
        # The server-wide default only applies where it makes sense.
        return server_default and can
    if asked and not can:
        raise InvalidInput(
            "probabilities were requested but this model is a regressor, "
            "which predicts values, not classes; drop probabilities=true"
        )
    return asked


def _is_classifier(bundle: Any) -> bool:
    if bundle.schema.problem_type != "classification":
        return False
    predictor = prepare(bundle).compiled
    if predictor is not None:
        return predictor.classes is not None
    return hasattr(bundle.pipeline, "predict_proba")


# --- columns --------------------------------------------------------------------------
def align(frame: pd.DataFrame, schema: Any) -> tuple[pd.DataFrame, list[str]]:
    """The schema's features, in order and typed; plus the ignored extra columns."""
    names = schema.feature_names
    if not all(isinstance(c, str) for c in frame.columns):
        raise InvalidInput(
            f"each record has {frame.shape[1]} values but the model needs {len(names)}, "  # noqa: E501
            f"in this order: {', '.join(names)}. "
            f"Send exactly {len(names)} values per record, "
            "or name the columns (a CSV header line, or JSON objects)"
        )
    missing, ignored = column_difference(names, list(frame.columns))
    if missing:
        raise InvalidInput(
            f"the records lack the column(s) {missing}; "
            f"the model needs {', '.join(names)}. "
            "Send them (a missing value may be empty or null)"
        )
    kinds = {f.name: f.kind for f in schema.features}
    columns = {name: _typed(frame[name], name, kinds[name]) for name in names}
    return pd.DataFrame(columns), [str(c) for c in ignored]


def _typed(series: pd.Series, name: str, kind: str) -> np.ndarray:
    """One column as the pipeline expects it: floats, or category strings."""
    if kind == "categorical":
        values = series.to_numpy()
        # Fast path for the common case: text already (one pass, no copies).
        if (
            values.dtype == object
            and pd.api.types.infer_dtype(values, skipna=False) == "string"
        ):  # noqa: E501
            return values
        return category_strings(series).to_numpy()
    dtype_kind = series.dtype.kind
    if dtype_kind == "f":
        numbers = series.to_numpy()
    elif dtype_kind in "iub":
        numbers = series.to_numpy(dtype=np.float64)
    else:
        numbers = _numbers_from_text(series, name)
    if np.isinf(numbers).any():
        raise InvalidInput(
            f"column {name!r} holds an infinite value; "
            "send a finite number or leave the value empty for missing"
        )
    return numbers


def _numbers_from_text(series: pd.Series, name: str) -> np.ndarray:
    text = series.astype(object)
    present = text.notna()
    if present.any():
        text = text.where(~present, text.astype(str).str.strip())
        present &= ~text.isin(codecs.MISSING_TOKENS)
    values = pd.to_numeric(text.where(present, np.nan), errors="coerce")
    invalid = present & values.isna()
    if invalid.any():
        rows = np.flatnonzero(invalid.to_numpy())[:_EXAMPLES_SHOWN]
        examples = ", ".join(f"record {r + 1}: {series.iloc[r]!r}" for r in rows)
        raise InvalidInput(
            f"column {name!r} needs numbers but got {int(invalid.sum())} value(s) that are not ({examples}); "  # noqa: E501
            "send a number, or an empty value for missing"
        )
    return values.to_numpy(dtype=np.float64)


# --- fast path for all-numeric models ------------------------------------------------
@dataclass(frozen=True)
class PreparedModel:
    """What `invocations` derives once per bundle."""

    # A copy of the pipeline that takes float arrays with the columns in schema
    # order, when that is provably the same as giving it the DataFrame: about
    # 8 times cheaper per call (no per-column DataFrame checks). None otherwise.
    array_model: Any | None
    # The bundle's model.onnx run by ONNX Runtime, when it may answer for the
    # pipeline (container/serving/compiled.py); it takes both forms of input.
    # None: the pipeline predicts.
    compiled: Any | None = None


_PREPARED: dict[int, PreparedModel] = {}


def prepare(bundle: Any) -> PreparedModel:
    """The bundle's PreparedModel, computed on first use and kept while it lives."""
    key = id(bundle)
    prepared = _PREPARED.get(key)
    if prepared is None:
        predictor = compiled.predictor_for(bundle)
        # With a compiled model the pipeline is only the fallback: leave it
        # unloaded (a deferred bundle then never imports scikit-learn).
        array_model = _array_model(bundle) if predictor is None else None
        prepared = PreparedModel(array_model=array_model, compiled=predictor)
        try:
            # Forget it when the bundle goes, so a new object at the same id
            # is never mistaken for it.
            weakref.finalize(bundle, _PREPARED.pop, key, None)
        except TypeError:  # an object without weak references: do not cache
            return prepared
        _PREPARED[key] = prepared
    return prepared


# Transformers that may look at column names or Python objects; models holding
# any of them always get DataFrames.
_NAME_AWARE = ("ColumnTransformer", "FunctionTransformer", "TransformedTargetRegressor")


def _array_model(bundle: Any) -> Any | None:
    """A names-free shallow copy of a pure scikit-learn, all-numeric model, or None."""
    schema = bundle.schema
    if schema.categorical_features or not schema.features:
        return None
    pipeline = bundle.pipeline
    steps = [step for _, step in pipeline.steps] if hasattr(pipeline, "steps") else []
    parts = [pipeline, *steps]
    for part in parts:
        if part in (None, "passthrough"):
            continue
        module = type(part).__module__
        if not module.startswith("sklearn.") or type(part).__name__ in _NAME_AWARE:
            return None
        if hasattr(part, "steps") and part is not pipeline:
            return None  # nested pipelines: keep it simple and safe
    names = getattr(pipeline, "feature_names_in_", None)
    if names is not None and list(names) != schema.feature_names:
        return None
    # Shallow copies share the fitted arrays (no memory cost); without
    # feature_names_in_ scikit-learn takes arrays without a warning.
    clone = copy.copy(pipeline)
    if hasattr(clone, "steps"):
        clone.steps = [(name, copy.copy(step)) for name, step in clone.steps]
        parts = [step for _, step in clone.steps]
    else:
        parts = [clone]
    for part in parts:
        if part not in (None, "passthrough") and "feature_names_in_" in vars(part):
            del part.feature_names_in_
    probe = np.zeros((1, len(schema.features)))
    frame = pd.DataFrame(probe, columns=schema.feature_names)
    try:
        same = np.array_equal(
            np.asarray(clone.predict(probe)), np.asarray(pipeline.predict(frame))
        )
    except Exception:  # noqa: BLE001 - any doubt means the DataFrame path
        return None
    return clone if same else None


def numeric_csv_rows(body: bytes, width: int) -> np.ndarray | None:
    """Plain numeric CSV rows as a float array, or None to take the general path.

    Only for small, unquoted, headerless bodies whose every field is a finite
    number; anything else (missing values, text, ragged rows) returns None
    and the general decoder gives the answer or the precise error.
    """
    if len(body) > _FAST_CSV_BYTES or b'"' in body or b"_" in body:
        return None
    try:
        lines = [line.split(",") for line in body.decode("utf-8").splitlines() if line]
        rows = np.array(lines, dtype=np.float64)
    except (UnicodeDecodeError, ValueError):
        return None
    if rows.ndim != 2 or rows.shape[1] != width or not np.isfinite(rows).all():
        return None
    return rows


def plain_csv_columns(body: bytes, schema: Any) -> dict[str, np.ndarray] | None:
    """Small plain CSV rows as the typed columns `align` would give, or None.

    The common real-time request (a few headerless, unquoted records of
    exactly the model's width) skips building two DataFrames, which cost
    more than a compiled model's prediction. Anything this does not decide
    with certainty (a header, quotes, numbers in a categorical column, text
    or infinity in a numeric one, ragged rows) returns None and the general
    decoder gives the answer or the precise error.
    """
    if len(body) > _FAST_CSV_BYTES or b'"' in body or b"_" in body or b"\0" in body:
        return None
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None
    width = len(schema.features)
    rows = [line.split(",") for line in text.splitlines() if line]
    if not rows or any(len(row) != width for row in rows):
        return None
    names = set(schema.feature_names)
    if any(field.strip() in names for field in rows[0]):
        return None  # a header line: the general decoder maps its names
    columns = {}
    for feature, raw in zip(schema.features, zip(*rows, strict=True), strict=True):
        tokens = [token.strip() for token in raw]
        missing = [token in codecs.MISSING_TOKENS for token in tokens]
        if feature.kind == "categorical":
            present = [t for t, m in zip(tokens, missing, strict=True) if not m]
            # Numbers as categories are canonicalised ("3.0" is "3") there.
            if any(_is_number(token) for token in present):
                return None
            if present:
                values = np.array(tokens, dtype=object)
                values[np.array(missing)] = np.nan
            else:  # as the general decoder types a column with no value at all
                values = np.full(len(tokens), np.nan)
        else:
            try:
                values = np.array(
                    [
                        math.nan if m else float(t)
                        for t, m in zip(tokens, missing, strict=True)
                    ]  # noqa: E501
                )
            except ValueError:
                return None
            if np.isinf(values).any():
                return None
        columns[feature.name] = values
    return columns


def _is_number(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True


# --- prediction -----------------------------------------------------------------------
def predict(
    bundle: Any,
    features: pd.DataFrame | np.ndarray | Mapping[str, np.ndarray],
    with_probabilities: bool,
) -> tuple[np.ndarray, np.ndarray | None, list[Any] | None]:
    """Predictions (and class probabilities with their classes, when asked).

    `features` is a DataFrame from `align`, the same columns as a mapping
    (from `plain_csv_columns`), or a float array whose columns are the
    schema's features in order (only for models `prepare` found safe to
    call with arrays).
    """
    prepared = prepare(bundle)
    try:
        # None when there is no compiled model or it failed: the pipeline
        # answers. A value the compiled model cannot take is a ValueError,
        # as it is from the pipeline.
        answer = (
            prepared.compiled.predict(features, with_probabilities)
            if prepared.compiled is not None
            else None
        )
        if answer is not None:
            predictions, probabilities = answer
            classes = prepared.compiled.classes
            if not with_probabilities:
                return predictions, None, None
        else:
            pipeline = prepared.array_model or bundle.pipeline
            if isinstance(features, Mapping):
                features = pd.DataFrame(features)
            if prepared.array_model is not None and isinstance(features, pd.DataFrame):
                features = features.to_numpy(dtype=np.float64)
            classes = getattr(pipeline, "classes_", bundle.schema.classes)
            # Trees compare in float32: a finite value beyond its range
            # overflows in the cast, which scikit-learn then refuses with a
            # ValueError (a 400 below); the cast's warning itself is noise.
            with np.errstate(over="ignore"):
                predictions = np.asarray(pipeline.predict(features))
                if not with_probabilities:
                    return predictions, None, None
                probabilities = np.asarray(
                    pipeline.predict_proba(features), dtype=np.float64
                )
    except (ValueError, TypeError) as exc:
        # Records that pass the schema can still be refused by the estimator
        # (e.g. NaN for a model that cannot take missing values).
        raise InvalidInput(
            f"the model could not score these records: {exc}. "
            "Check the values against the model's features: "
            f"{', '.join(bundle.schema.feature_names)}"
        ) from None
    records = _record_count(features)
    if len(predictions) != records:
        raise RuntimeError(
            f"the model returned {len(predictions)} predictions for {records} records"
        )
    return predictions, probabilities, list(classes)


def _record_count(features: Any) -> int:
    if isinstance(features, Mapping):
        return len(next(iter(features.values())))
    return len(features)


# --- errors ---------------------------------------------------------------------------
def error_body(code: str, message: str, error_id: str | None = None) -> bytes:
    error: dict[str, str] = {"code": code, "message": message}
    if error_id:
        error["error_id"] = error_id
    return json.dumps({"error": error}).encode()


def error_response(exc: ByocError) -> Response:
    return Response(
        error_body(exc.code, exc.message),
        exc.status_code,
        JSON_ERROR_TYPE,
        {},
        error_code=exc.code,
    )


def internal_error_response() -> Response:
    """500 for a bug: the traceback goes to stderr under an id the caller can quote."""
    error_id = uuid.uuid4().hex
    sys.stderr.write(f"internal error {error_id}:\n{traceback.format_exc()}")
    sys.stderr.flush()
    message = (
        "an internal error occurred while predicting; "
        f"it was logged under error id {error_id}"
    )
    return Response(
        error_body("internal_error", message, error_id),
        500,
        JSON_ERROR_TYPE,
        {},
        error_code="internal_error",
        error_id=error_id,
    )


def _header_list(values: list[str]) -> str:
    text = ",".join(
        v.replace(",", " ").encode("ascii", "replace").decode() for v in values
    )
    # Header values must be printable ASCII on one line.
    text = "".join(c if 32 <= ord(c) < 127 else "?" for c in text)
    return text if len(text) <= _HEADER_LIMIT else text[: _HEADER_LIMIT - 3] + "..."


# --- start-up check -------------------------------------------------------------------
def canary_body(schema: Any) -> bytes:
    """One plausible record for the schema, as JSON: proof that the model predicts."""
    record: dict[str, Any] = {}
    for feature in schema.features:
        if feature.kind == "categorical":
            record[feature.name] = feature.categories[0] if feature.categories else "x"
        else:
            record[feature.name] = 0.0
    return json.dumps({"instances": [record]}).encode()


def check_bundle(bundle: Any) -> str | None:
    """None if the bundle answers a canary prediction, else the reason it cannot."""
    response = invocations(
        canary_body(bundle.schema),
        codecs.JSON,
        codecs.JSON,
        bundle,
        InvocationOptions(),
    )
    if response.status == 200:
        return None
    try:
        message = json.loads(response.body)["error"]["message"]
    except (ValueError, KeyError, TypeError):
        message = response.body.decode("utf-8", "replace")
    return f"the model failed its canary prediction: {message}"

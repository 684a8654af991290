"""Which predictor `serve` uses: the bundle's model.onnx, or scikit-learn.

The compiled model (container/contract/compiled.py) is used when the
bundle has model.onnx, its manifest says `train` found it matching the
pipeline, ONNX Runtime here is the release that parity was measured with
(same major.minor), it loads, and it gives the pipeline's answer on a probe
record. Otherwise the pipeline predicts, as it always did. Either way the
choice is said once per loaded bundle, on stderr::

    serve: predicting with the compiled model (onnxruntime 1.32.0, model.onnx)
    serve: predicting with scikit-learn: <reason>

``SKLEARN_BYOC_COMPILED_PREDICTOR=false`` keeps scikit-learn.
"""

from __future__ import annotations

import hashlib
import os
import sys
from typing import Any

import numpy as np
import pandas as pd

from container.contract.bundle import COMPILED_FILE
from container.contract.compiled import (
    COMPILED,
    RUNTIME,
    CompiledModel,
    OutOfRange,
    compiled_model,
    runtime_version,
)
from container.contract.errors import SettingsError
from container.contract.settings import COMPILED_PREDICTOR, parse_bool


class CompiledPredictor:
    """The compiled model as `inference.predict` calls it.

    `predict` returns None if ONNX Runtime fails on a request (said once per
    process), and the pipeline answers that request instead: a compiled
    model is a speed-up, never a new way to fail.
    """

    def __init__(self, model: CompiledModel) -> None:
        self.model = model
        self._failed_in: int | None = None

    @property
    def classes(self) -> np.ndarray | None:
        """The pipeline's ``classes_`` (None for a regressor)."""
        return self.model.classes

    def predict(
        self, features: Any, with_probabilities: bool
    ) -> tuple[np.ndarray, np.ndarray | None] | None:
        try:
            return self.model.predict(features, with_probabilities)
        except OutOfRange:
            raise  # the caller's mistake: a 400, as scikit-learn would answer
        except Exception as exc:  # noqa: BLE001 - the pipeline answers instead
            if self._failed_in != os.getpid():
                self._failed_in = os.getpid()
                say(
                    f"the compiled model failed ({type(exc).__name__}: {exc}); "
                    "scikit-learn answers the requests it fails on"
                )
            return None


def predictor_for(bundle: Any) -> CompiledPredictor | None:
    """The bundle's compiled predictor if it may answer for the pipeline, else None."""
    model, reason = choose(bundle)
    if model is None:
        say(f"predicting with scikit-learn: {reason}")
        return None
    version = runtime_version()
    say(f"predicting with the compiled model ({RUNTIME} {version}, {COMPILED_FILE})")
    return CompiledPredictor(model)


def say(message: str) -> None:
    print(f"serve: {message}", file=sys.stderr, flush=True)


def choose(bundle: Any) -> tuple[CompiledModel | None, str | None]:
    """(compiled model, None), or (None, why the pipeline predicts)."""
    try:
        enabled = parse_bool(os.environ, COMPILED_PREDICTOR, True)
    except SettingsError as exc:
        return None, exc.message
    if not enabled:
        return None, f"{COMPILED_PREDICTOR}=false"
    manifest = getattr(bundle, "manifest", None) or {}
    record = manifest.get("compiled")
    if not isinstance(record, dict):
        return None, "the bundle has no compiled model (trained before compilation)"
    if record.get("status") != COMPILED:
        return None, f"the bundle's model was not compiled: {record.get('reason')}"
    if not (record.get("parity") or {}).get("held"):
        return None, "the compiled model did not pass its parity check"
    model_bytes = getattr(bundle, "compiled", None)
    if model_bytes is None:
        return None, f"{COMPILED_FILE} is missing although model.json describes it"
    here, then = runtime_version(), record.get("runtime_version")
    if here is None:
        return None, f"{RUNTIME} is not installed"
    if str(then).split(".")[:2] != here.split(".")[:2]:
        return None, (
            f"parity was checked with {RUNTIME} {then}, this image has {here}; "
            "retrain to compile for it"
        )
    recorded_hash = record.get("sha256")
    if recorded_hash is not None:
        # Parity was proved for exactly these bytes: no need to ask the
        # pipeline (and so to import scikit-learn) whether they belong to it.
        if hashlib.sha256(model_bytes).hexdigest() != recorded_hash:
            digest = "its SHA-256 differs"
            return (
                None,
                f"{COMPILED_FILE} is not the file model.json describes ({digest})",
            )
        classes = recorded_classes(record)
    else:
        classes = getattr(bundle.pipeline, "classes_", None)
    if bundle.schema.problem_type != "classification":
        classes = None
    try:
        model = compiled_model(model_bytes, record, classes)
        model.session()
    except Exception as exc:  # noqa: BLE001 - a bad model.onnx means the pipeline
        return None, f"{COMPILED_FILE} does not load: {type(exc).__name__}: {exc}"
    if recorded_hash is not None:
        return model, None
    try:
        agrees = _agrees_on_probe(model, bundle.pipeline, bundle.schema)
    except Exception as exc:  # noqa: BLE001 - any doubt means the pipeline
        return (
            None,
            f"{COMPILED_FILE} fails on a probe record: {type(exc).__name__}: {exc}",
        )  # noqa: E501
    if not agrees:
        return None, f"{COMPILED_FILE} disagrees with model.joblib on a probe record"
    return model, None


def recorded_classes(record: dict[str, Any]) -> np.ndarray | None:
    """The pipeline's ``classes_`` as `train` recorded them, dtype included."""
    if "classes" not in record:
        return None
    dtype = np.dtype(record.get("classes_dtype") or object)
    return np.asarray(record["classes"], dtype=object if dtype.kind == "O" else dtype)


def _agrees_on_probe(model: CompiledModel, pipeline: Any, schema: Any) -> bool:
    """The compiled model's prediction of a plausible record is the pipeline's."""
    record = {
        f.name: [(f.categories[0] if f.categories else "x")]
        if f.kind == "categorical"
        else [0.0]
        for f in schema.features
    }
    frame = pd.DataFrame(record, columns=schema.feature_names)
    for feature in schema.features:
        if feature.kind == "categorical":
            frame[feature.name] = frame[feature.name].astype(object)
    predictions, _ = model.predict(frame)
    expected = np.asarray(pipeline.predict(frame))
    if model.classes is not None:
        return predictions.tolist() == expected.tolist()
    return bool(np.allclose(predictions, expected, rtol=1e-6, atol=0.0))

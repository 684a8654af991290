"""The compiled predictor of a bundle: model.onnx, and how to feed and read it.

`train` converts the fitted pipeline to ONNX (container/training/compiled.py)
and `serve` runs it with ONNX Runtime (container/serving/compiled.py); both
go through `CompiledModel` here, so the parity `train` measures is the parity
of the exact code `serve` runs.

The graph takes one input per feature, named after it, shaped (rows, 1):
numerics as float32 or float64 (the ``type`` of the input), categoricals as
strings. Missing values are filled before the graph, with the values the
pipeline's own imputers learnt (recorded in model.json's ``compiled.inputs``):
ONNX Runtime's Imputer handles neither doubles nor NaN among strings. The rest
of the preprocessing (scaling, one-hot encoding) and the estimator are in
the graph.

ONNX Runtime sessions must not cross a fork: a session is created lazily in
each process that predicts (gunicorn's workers fork from the master, which
ran the start-up canary), single-threaded since gunicorn already runs
several workers per CPU.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

RUNTIME = "onnxruntime"
COMPILED = "compiled"
NOT_COMPILED = "not compiled"
INPUT_TYPES = ("float32", "float64", "string")


class OutOfRange(ValueError):
    """A finite value the graph's float32 input cannot hold.

    scikit-learn refuses such a value too (its trees cast to float32): the
    server answers 400, as it does for the pipeline's ValueError.
    """


# Up to this many rows, labels are mapped to classes one by one.
_SMALL_BATCH = 32


@dataclass(frozen=True)
class Input:
    """One graph input: a feature, its tensor type and the value for missing."""

    name: str
    type: str  # one of INPUT_TYPES
    fill: float | str

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type, "fill": self.fill}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Input:
        kind = str(data["type"])
        if kind not in INPUT_TYPES:
            raise ValueError(f"input type {kind!r} is not one of {INPUT_TYPES}")
        fill = data["fill"]
        fill = str(fill) if kind == "string" else float(fill)
        return cls(name=str(data["name"]), type=kind, fill=fill)


def runtime_version() -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(RUNTIME)
    except PackageNotFoundError:
        return None


class CompiledModel:
    """An ONNX model answering like the pipeline it was converted from.

    `classes` are the pipeline's ``classes_`` array (None for a regressor):
    labels are taken from it, so they have the dtype and the values of the
    pipeline's own predictions and encode exactly alike.
    """

    def __init__(
        self,
        model: bytes,
        inputs: Sequence[Input],
        classes: np.ndarray | Sequence[Any] | None,
    ) -> None:
        self.model = model
        self.inputs = tuple(inputs)
        if classes is not None and not isinstance(classes, np.ndarray):
            classes = np.asarray(classes, dtype=object)
        self.classes = classes
        # Each class's position, looked up by the label ONNX gives for it.
        self._label_index: pd.Index | None = None
        self._label_positions: dict[Any, int] = {}
        if self.classes is not None:
            keys = [_label_key(c) for c in self.classes.tolist()]
            self._label_index = pd.Index(keys, dtype=object)
            self._label_positions = {key: i for i, key in enumerate(keys)}
        self._session: Any = None
        self._outputs: list[str] = []
        self._pid: int | None = None
        self._lock = threading.Lock()

    # --- the session, one per process ---------------------------------------------
    def session(self) -> Any:
        pid = os.getpid()
        if self._session is None or self._pid != pid:
            with self._lock:
                if self._session is None or self._pid != pid:
                    session = _new_session(self.model)
                    self._outputs = [o.name for o in session.get_outputs()]
                    self._session, self._pid = session, pid
        return self._session

    # --- feeding and reading --------------------------------------------------------
    def feeds(
        self, features: pd.DataFrame | np.ndarray | Mapping[str, np.ndarray]
    ) -> dict[str, np.ndarray]:
        """Graph inputs from features by name (a DataFrame, or a mapping of
        columns), or from a float array with the columns in schema order."""
        out = {}
        for position, spec in enumerate(self.inputs):
            if isinstance(features, Mapping):
                values = np.asarray(features[spec.name])
            elif isinstance(features, pd.DataFrame):
                values = features[spec.name].to_numpy()
            else:
                values = np.asarray(features)[:, position]
            if spec.type == "string":
                values = values.astype(object, copy=True)
                values[pd.isna(values)] = spec.fill
            else:
                values = np.asarray(values, dtype=np.float64)
                values = np.where(np.isnan(values), spec.fill, values)
                with np.errstate(over="ignore"):
                    cast = values.astype(spec.type, copy=False)
                if (
                    cast is not values
                    and np.isinf(cast).any()
                    and np.isfinite(values).all()
                ):  # noqa: E501
                    raise OutOfRange(
                        f"column {spec.name!r} holds a value too large for dtype('float32')"  # noqa: E501
                    )
                values = cast
            out[spec.name] = values.reshape(-1, 1)
        return out

    def predict(
        self,
        features: pd.DataFrame | np.ndarray | Mapping[str, np.ndarray],
        with_probabilities: bool = False,
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """(predictions, probabilities or None), typed as the pipeline's own."""
        session = self.session()
        names = self._outputs
        both = with_probabilities and self.classes is not None
        wanted = names[:2] if both else names[:1]
        results = session.run(wanted, self.feeds(features))
        raw = np.asarray(results[0]).reshape(-1)
        if self.classes is None:
            return raw.astype(np.float64), None
        positions = self._positions(raw)
        predictions = self.classes.take(positions)
        if not with_probabilities:
            return predictions, None
        return predictions, np.asarray(results[1], dtype=np.float64)

    def _positions(self, labels: np.ndarray) -> np.ndarray:
        """Each ONNX label's position in `classes` (KeyError for a stranger)."""
        if len(labels) <= _SMALL_BATCH:
            # A dict lookup per label beats building a pandas indexer for a
            # few rows (the real-time case): ~5 µs against ~130 µs.
            try:
                return np.array(
                    [self._label_positions[_label_key(v)] for v in labels.tolist()],
                    dtype=np.intp,
                )
            except KeyError:
                pass  # the general path below names the stranger
        index = self._label_index
        assert index is not None
        keys = labels if labels.dtype == object else labels.astype(object)
        positions = index.get_indexer(keys)
        if (positions < 0).any():
            # Labels ONNX spells otherwise (bytes, numpy scalars): one by one.
            keys = np.array([_label_key(v) for v in labels.tolist()], dtype=object)
            positions = index.get_indexer(keys)
        if (positions < 0).any():
            stranger = labels[np.flatnonzero(positions < 0)[0]]
            raise KeyError(f"the model predicted {stranger!r}, not one of its classes")
        return positions


def _label_key(value: Any) -> Any:
    # ONNX gives int64 labels for integer classes and str otherwise.
    if isinstance(value, bytes):
        value = value.decode("utf-8")
    if isinstance(value, bool | np.bool_):
        return str(bool(value))
    if isinstance(value, int | np.integer):
        return int(value)
    return str(value)


def _new_session(model: bytes) -> Any:
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    return onnxruntime.InferenceSession(
        model, options, providers=["CPUExecutionProvider"]
    )


def compiled_model(
    model: bytes,
    record: Mapping[str, Any],
    classes: np.ndarray | Sequence[Any] | None,
) -> CompiledModel:
    """The CompiledModel a manifest's ``compiled`` section describes (ValueError)."""
    inputs = [Input.from_dict(item) for item in record["inputs"]]
    return CompiledModel(model, inputs, classes)

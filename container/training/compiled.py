"""Compile the fitted pipeline to ONNX, and prove it answers like the pipeline.

`compile_pipeline` converts with skl2onnx and runs the result through the
same `CompiledModel` that `serve` uses, on the validation split (or the
training rows when there is none). The compiled model is kept only when its
answers match the pipeline's (`PARITY`): identical labels, probabilities
within 1e-6 absolute, regression values within 1e-6 relative. Whatever
happens, the outcome is a `model.json` ``compiled`` section and never an
error: a model that cannot be compiled is served by scikit-learn.

What is converted: the pipeline `features.build_preprocessor` builds, minus
the steps that only shape values (`to_float_frame`, `to_category_frame`) and
the imputers, whose learnt fill values are applied before the graph instead
(see container/contract/compiled.py). Tree models get float32 inputs, as
scikit-learn casts their features to float32 itself; ONNX Runtime's tree
operators compute in float32 too, so their probabilities and values agree
to float32 precision, which the parity rule allows. The other models get
float64 throughout.
"""

from __future__ import annotations

import copy
import hashlib
import warnings
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import numpy as np
import pandas as pd

from container.contract.columns import to_category_frame, to_float_frame
from container.contract.compiled import (
    COMPILED,
    NOT_COMPILED,
    RUNTIME,
    CompiledModel,
    Input,
    runtime_version,
)
from container.contract.schema import Schema

CONVERTER = "skl2onnx"
TARGET_OPSET = {"": 18, "ai.onnx.ml": 3}
PROBABILITY_TOLERANCE = 1e-6  # absolute
VALUE_TOLERANCE = 1e-6  # relative
# Rows compared at most: enough to catch a systematic difference, bounded in time.
MAX_PARITY_ROWS = 100_000
# Estimators whose features scikit-learn casts to float32 (its tree code).
FLOAT32_MODULES = ("sklearn.tree", "sklearn.ensemble")
SHAPING_FUNCTIONS = (to_float_frame, to_category_frame)


class NotCompilable(Exception):
    """The pipeline holds something the conversion does not handle."""


@dataclass(frozen=True)
class Outcome:
    """model.onnx's bytes (None unless parity held) and the manifest section."""

    model: bytes | None
    record: dict[str, Any]

    @property
    def compiled(self) -> bool:
        return self.model is not None


def not_compiled(reason: str, **extra: Any) -> Outcome:
    return Outcome(None, {"status": NOT_COMPILED, "reason": reason, **extra})


def disabled() -> Outcome:
    return not_compiled("disabled by the hyperparameter compile_predictor=false")


def compile_pipeline(
    pipeline: Any,
    schema: Schema,
    problem_type: str,
    features: pd.DataFrame,
    split: str,
) -> Outcome:
    """Convert, check parity on `features` (rows of split `split`), report."""
    try:
        return _compile(pipeline, schema, problem_type, features, split)
    except NotCompilable as exc:
        return not_compiled(str(exc))
    except Exception as exc:  # noqa: BLE001 - conversion must never fail the job
        return not_compiled(f"conversion failed: {type(exc).__name__}: {exc}")


def _compile(
    pipeline: Any,
    schema: Schema,
    problem_type: str,
    features: pd.DataFrame,
    split: str,
) -> Outcome:
    runtime = runtime_version()
    if runtime is None:
        raise NotCompilable(f"{RUNTIME} is not installed")
    graph_pipeline, fills = conversion_view(pipeline)
    estimator = pipeline[-1]
    numeric_type = (
        "float32"
        if type(estimator).__module__.startswith(FLOAT32_MODULES)
        else "float64"
    )
    inputs = [
        Input(
            name=f.name,
            type="string" if f.kind == "categorical" else numeric_type,
            fill=fills[f.name],
        )
        for f in schema.features
    ]
    model = convert(graph_pipeline, inputs, problem_type == "classification")
    classes = pipeline.classes_ if problem_type == "classification" else None
    compiled = CompiledModel(model, inputs, classes)
    rows = features.iloc[:MAX_PARITY_ROWS]
    parity = check_parity(pipeline, compiled, rows, problem_type)
    parity["split"] = split
    record = {
        "status": COMPILED if parity["held"] else NOT_COMPILED,
        "runtime": RUNTIME,
        "runtime_version": runtime,
        "converter": CONVERTER,
        "converter_version": _version(CONVERTER),
        "opset": dict(TARGET_OPSET),
        "inputs": [i.to_dict() for i in inputs],
        "parity": parity,
        # What `serve` needs to answer without unpickling the pipeline: the
        # file's identity (parity was proved for exactly these bytes) and the
        # classes with their dtype, so labels keep scikit-learn's types.
        "sha256": hashlib.sha256(model).hexdigest(),
    }
    if classes is not None:
        record["classes"] = np.asarray(classes).tolist()
        record["classes_dtype"] = np.asarray(classes).dtype.str
    if not parity["held"]:
        record["reason"] = f"parity failed on the {split} rows: {parity['failure']}"
        return Outcome(None, record)
    return Outcome(model, record)


def _version(name: str) -> str | None:
    try:
        return version(name)
    except PackageNotFoundError:
        return None


# --- what the graph holds -----------------------------------------------------------
def conversion_view(pipeline: Any) -> tuple[Any, dict[str, float | str]]:
    """A copy of the pipeline without shaping steps and imputers; the fill values.

    Raises NotCompilable for anything but preprocess (a ColumnTransformer of
    Pipelines) + estimator.
    """
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer

    if not isinstance(pipeline, Pipeline) or len(pipeline.steps) != 2:
        raise NotCompilable(
            f"only a preprocess + estimator Pipeline is compiled, not {type(pipeline).__name__}"  # noqa: E501
        )
    view = copy.deepcopy(pipeline)
    preprocess = view.steps[0][1]
    if not isinstance(preprocess, ColumnTransformer):
        raise NotCompilable(
            f"the preprocessing is a {type(preprocess).__name__}, not a ColumnTransformer"  # noqa: E501
        )
    fills: dict[str, float | str] = {}
    transformers = []
    for name, transformer, columns in preprocess.transformers_:
        if transformer == "drop":
            transformers.append((name, transformer, columns))
            continue
        if not isinstance(transformer, Pipeline):
            raise NotCompilable(f"transformer {name!r} is not a Pipeline")
        kept = []
        for step_name, step in transformer.steps:
            if isinstance(step, FunctionTransformer):
                if step.func not in SHAPING_FUNCTIONS:
                    raise NotCompilable(
                        f"step {name}/{step_name} calls {step.func!r}, which has no ONNX form"  # noqa: E501
                    )
                continue
            if isinstance(step, SimpleImputer):
                if len(step.statistics_) != len(columns):
                    raise NotCompilable(f"imputer {name}/{step_name} drops columns")
                for column, value in zip(columns, step.statistics_, strict=True):
                    fills[column] = value if isinstance(value, str) else float(value)
                continue
            kept.append((step_name, step))
        if kept:
            transformer.steps = kept
            transformers.append((name, transformer, columns))
        else:
            transformers.append((name, "passthrough", columns))
    preprocess.transformers_ = transformers
    for column in preprocess.feature_names_in_:
        if column not in fills:
            raise NotCompilable(f"feature {column!r} has no imputer in the pipeline")
    return view, fills


def convert(pipeline: Any, inputs: list[Input], classifier: bool) -> bytes:
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import (
        DoubleTensorType,
        FloatTensorType,
        StringTensorType,
    )

    tensor = {
        "float32": FloatTensorType,
        "float64": DoubleTensorType,
        "string": StringTensorType,
    }
    initial_types = [(i.name, tensor[i.type]([None, 1])) for i in inputs]
    options = {id(pipeline[-1]): {"zipmap": False}} if classifier else None
    with warnings.catch_warnings():
        # skl2onnx hands protobuf booleans for integer attributes (gradient
        # boosting trees); protobuf warns and still takes them.
        warnings.filterwarnings(
            "ignore", "Field onnx.AttributeProto", DeprecationWarning
        )
        onx = convert_sklearn(
            pipeline,
            initial_types=initial_types,
            target_opset=dict(TARGET_OPSET),
            options=options,
        )
    return onx.SerializeToString()


# --- parity ---------------------------------------------------------------------------
def check_parity(
    pipeline: Any, compiled: CompiledModel, features: pd.DataFrame, problem_type: str
) -> dict[str, Any]:
    """The parity figures on `features`; ``held`` says whether the rule holds."""
    rows = len(features)
    if rows == 0:
        return {"held": False, "rows": 0, "failure": "no rows to compare"}
    if problem_type == "classification":
        with_probabilities = hasattr(pipeline, "predict_proba")
        labels, probabilities = compiled.predict(features, with_probabilities)
        expected = pipeline.predict(features)
        mismatches = int(
            sum(a != b for a, b in zip(labels.tolist(), expected.tolist(), strict=True))
        )
        figures: dict[str, Any] = {
            "rows": rows,
            "label_mismatches": mismatches,
            "max_probability_difference": None,
            "probability_tolerance": PROBABILITY_TOLERANCE,
        }
        failures = []
        if labels.dtype != expected.dtype:
            failures.append(f"labels are {labels.dtype}, not {expected.dtype}")
        if mismatches:
            failures.append(f"{mismatches} of {rows} labels differ")
        if with_probabilities:
            reference = np.asarray(pipeline.predict_proba(features), dtype=np.float64)
            difference = float(np.max(np.abs(probabilities - reference)))
            figures["max_probability_difference"] = difference
            if not difference <= PROBABILITY_TOLERANCE:
                failures.append(
                    f"probabilities differ by up to {difference:.3g} "
                    f"(tolerance {PROBABILITY_TOLERANCE:g})"
                )
    else:
        values, _ = compiled.predict(features)
        expected = np.asarray(pipeline.predict(features), dtype=np.float64)
        scale = np.maximum(np.abs(expected), np.finfo(np.float64).tiny)
        relative = float(np.max(np.abs(values - expected) / scale))
        figures = {
            "rows": rows,
            "max_relative_difference": relative,
            "value_tolerance": VALUE_TOLERANCE,
        }
        failures = []
        if not relative <= VALUE_TOLERANCE:
            failures.append(
                f"values differ by up to {relative:.3g} relative "
                f"(tolerance {VALUE_TOLERANCE:g})"
            )
    figures["held"] = not failures
    if failures:
        figures["failure"] = "; ".join(failures)
    return figures


def describe(outcome: Outcome) -> str:
    """One log line on the outcome."""
    record = outcome.record
    parity = record.get("parity") or {}
    if outcome.compiled:
        if "label_mismatches" in parity:
            figures = (
                f"{parity['label_mismatches']} label mismatches, "
                f"max probability difference {parity['max_probability_difference']}"
            )
        else:
            figures = f"max relative difference {parity['max_relative_difference']}"
        return (
            f"compiled to ONNX ({record['runtime']} {record['runtime_version']}): "
            f"parity held on {parity['rows']} {parity['split']} rows ({figures})"
        )
    return f"not compiled: {record['reason']}; serving uses scikit-learn"

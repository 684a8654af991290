"""Model-quality metrics as SageMaker Model Monitor writes them in statistics.json.

One block per problem type (`regression_metrics`,
`binary_classification_metrics`, `multiclass_classification_metrics`) with
AWS's key names, each metric `{"value": v, "standard_deviation": s}`. Values
are scikit-learn's on the same data. The standard deviation is Model
Monitor's: with at least 200 rows, the sample standard deviation of the metric
over five random 80 % samples (a fixed seed, so a rerun gives the same file);
with fewer, "NaN". Undefined values (a recall without positives, an AUC with
one class) are "NaN" too, as JSON has no NaN.

Labels are compared as text after one normalisation (`label_text`): numbers
by value (1, 1.0 and "1" are one label), booleans as "true"/"false".
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn import metrics as skm

from container.monitoring.errors import MonitoringInputError
from container.monitoring.quality_settings import BINARY, MULTICLASS, REGRESSION

MIN_ROWS_FOR_DEVIATION = 200
SAMPLES = 5
SAMPLE_SHARE = 0.8
SEED = 0
MAX_CURVE_POINTS = 200
NAN = "NaN"
POSITIVE_LABELS = ("1", "true", "yes", "positive")
NEGATIVE_FOR = {"1": "0", "true": "false", "yes": "no", "positive": "negative"}

BLOCK_KEYS = {
    REGRESSION: "regression_metrics",
    BINARY: "binary_classification_metrics",
    MULTICLASS: "multiclass_classification_metrics",
}
CONSTRAINT_KEYS = {
    REGRESSION: "regression_constraints",
    BINARY: "binary_classification_constraints",
    MULTICLASS: "multiclass_classification_constraints",
}
MISSING_TEXT = frozenset({"", "na", "n/a", "nan", "null", "none"})


def label_text(value: Any) -> str | None:
    """A label as comparable text, or None when it is missing."""
    if value is None or value is pd.NA:
        return None
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        number = float(value)
        if math.isnan(number):
            return None
        return str(int(number)) if number.is_integer() else repr(number)
    text = str(value).strip()
    if text.lower() in MISSING_TEXT:
        return None
    if text.lower() in ("true", "false"):
        return text.lower()
    try:
        number = float(text)
    except ValueError:
        return text
    if math.isinf(number):
        return text
    return str(int(number)) if number.is_integer() else repr(number)


def number_value(value: Any) -> float | None:
    """A regression target or prediction as a float, or None when missing."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number


def positive_label(labels: Sequence[str]) -> str:
    """The positive class of a binary problem: 1 (or true, yes, positive) when
    it or its negative (0, false, no, negative) is present, else the greater of
    the two labels in sort order."""
    seen = set(labels)
    for candidate in POSITIVE_LABELS:
        if candidate in seen or NEGATIVE_FOR[candidate] in seen:
            return candidate
    return sorted(seen)[-1] if seen else "1"


def compute_metrics(
    problem: str,
    truth: Sequence[Any],
    predicted: Sequence[Any],
    scores: Sequence[float] | None = None,
) -> dict[str, Any]:
    """The metrics block of `problem` for paired labels (and binary scores).

    `truth` and `predicted` are label texts for classification, floats for
    regression; `scores` the positive class's probability, or None.
    """
    if problem == REGRESSION:
        t = np.asarray(truth, dtype=float)
        p = np.asarray(predicted, dtype=float)
        return _with_deviation(_regression, (t, p), len(t))
    truth = [_label(x) for x in truth]
    predicted = [_label(x) for x in predicted]
    labels = sorted(set(truth) | set(predicted))
    if problem == BINARY:
        if len(labels) > 2:
            raise MonitoringInputError(
                f"problem_type {BINARY} needs two labels but the data holds "
                f"{len(labels)}: {', '.join(labels[:10])}; use {MULTICLASS}, or "
                "check ground_truth_attribute and inference_attribute"
            )
        positive = positive_label(labels)
        t = np.asarray([x == positive for x in truth], dtype=int)
        p = np.asarray([x == positive for x in predicted], dtype=int)
        s = np.asarray(scores, dtype=float) if scores is not None else None
        if len(labels) < 2:
            labels = sorted({*labels, NEGATIVE_FOR.get(positive, "not " + positive)})
        block = _with_deviation(_binary, (t, p, s), len(t))
        ordered = {"confusion_matrix": _confusion(truth, predicted, labels)}
        ordered.update(block)
        if s is not None:
            _add_curves(ordered, t, s)
        return _binary_order(ordered)
    # Integer codes of the sorted labels: the same metrics, far faster than
    # scikit-learn's handling of text labels.
    code = {label: i for i, label in enumerate(labels)}
    t = np.fromiter((code[x] for x in truth), dtype=np.int64, count=len(truth))
    p = np.fromiter((code[x] for x in predicted), dtype=np.int64, count=len(predicted))
    block = _with_deviation(_multiclass, (t, p), len(t))
    return {"confusion_matrix": _confusion(truth, predicted, labels), **block}


def _label(value: Any) -> str:
    text = label_text(value)
    if text is None:
        raise ValueError("a missing label reached the metrics")  # Pairs drops them
    return text


def _with_deviation(
    metric_fn: Callable[..., dict[str, float]], arrays: tuple, rows: int
) -> dict[str, dict[str, Any]]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        full = metric_fn(*arrays)
        deviations: dict[str, Any] = {name: NAN for name in full}
        if rows >= MIN_ROWS_FOR_DEVIATION:
            rng = np.random.default_rng(SEED)
            size = int(rows * SAMPLE_SHARE)
            runs = []
            for _ in range(SAMPLES):
                index = rng.choice(rows, size=size, replace=False)
                runs.append(
                    metric_fn(*(a[index] if a is not None else None for a in arrays))
                )
            for name in full:
                values = [r[name] for r in runs]
                if all(math.isfinite(v) for v in values):
                    deviations[name] = float(np.std(values, ddof=1))
    return {
        name: {"value": _json_number(value), "standard_deviation": deviations[name]}
        for name, value in full.items()
    }


def _json_number(value: float) -> float | str:
    return float(value) if math.isfinite(value) else NAN


def _regression(t: np.ndarray, p: np.ndarray) -> dict[str, float]:
    mse = float(skm.mean_squared_error(t, p))
    return {
        "mae": float(skm.mean_absolute_error(t, p)),
        "mse": mse,
        "rmse": math.sqrt(mse),
        "r2": float(skm.r2_score(t, p)) if len(t) >= 2 else math.nan,
    }


def _rate(numerator: int, denominator: int) -> float:
    return numerator / denominator if denominator else math.nan


def _binary(t: np.ndarray, p: np.ndarray, s: np.ndarray | None) -> dict[str, float]:
    tp = int(np.sum((t == 1) & (p == 1)))
    tn = int(np.sum((t == 0) & (p == 0)))
    fp = int(np.sum((t == 0) & (p == 1)))
    fn = int(np.sum((t == 1) & (p == 0)))
    constant = np.ones_like(t)
    both = len(np.unique(t)) == 2
    out = {
        "recall": float(skm.recall_score(t, p, zero_division=0)),
        "precision": float(skm.precision_score(t, p, zero_division=0)),
        "accuracy": float(skm.accuracy_score(t, p)),
        "recall_best_constant_classifier": float(
            skm.recall_score(t, constant, zero_division=0)
        ),
        "precision_best_constant_classifier": float(
            skm.precision_score(t, constant, zero_division=0)
        ),
        "accuracy_best_constant_classifier": float(skm.accuracy_score(t, constant)),
        "true_positive_rate": _rate(tp, tp + fn),
        "true_negative_rate": _rate(tn, tn + fp),
        "false_positive_rate": _rate(fp, fp + tn),
        "false_negative_rate": _rate(fn, fn + tp),
        "auc": float(skm.roc_auc_score(t, s if s is not None else p))
        if both
        else math.nan,
    }
    for beta, name in ((0.5, "f0_5"), (1.0, "f1"), (2.0, "f2")):
        out[name] = float(skm.fbeta_score(t, p, beta=beta, zero_division=0))
    for beta, name in ((0.5, "f0_5"), (1.0, "f1"), (2.0, "f2")):
        out[f"{name}_best_constant_classifier"] = float(
            skm.fbeta_score(t, constant, beta=beta, zero_division=0)
        )
    return out


def _multiclass(t: np.ndarray, p: np.ndarray) -> dict[str, float]:
    # The most frequent label (the first in sort order on a tie).
    majority = int(np.argmax(np.bincount(t)))
    constant = np.full_like(t, majority)
    out: dict[str, float] = {}
    for suffix, guess in (("", p), ("_best_constant_classifier", constant)):
        out[f"accuracy{suffix}"] = float(skm.accuracy_score(t, guess))
        out[f"weighted_recall{suffix}"] = float(
            skm.recall_score(t, guess, average="weighted", zero_division=0)
        )
        out[f"weighted_precision{suffix}"] = float(
            skm.precision_score(t, guess, average="weighted", zero_division=0)
        )
        for beta, name in ((0.5, "f0_5"), (1.0, "f1"), (2.0, "f2")):
            out[f"weighted_{name}{suffix}"] = float(
                skm.fbeta_score(
                    t, guess, beta=beta, average="weighted", zero_division=0
                )  # noqa: E501
            )
    return out


def _confusion(
    truth: Sequence[str], predicted: Sequence[str], labels: list[str]
) -> dict[str, dict[str, int]]:
    """{actual: {predicted: count}}, AWS's layout, every label on both sides."""
    matrix = {a: dict.fromkeys(labels, 0) for a in labels}
    for actual, guess in zip(truth, predicted, strict=True):
        matrix[actual][guess] += 1
    return matrix


def _add_curves(block: dict[str, Any], t: np.ndarray, s: np.ndarray) -> None:
    if len(np.unique(t)) < 2:
        return
    fpr, tpr, _ = skm.roc_curve(t, s)
    precision, recall, _ = skm.precision_recall_curve(t, s)
    block["receiver_operating_characteristic_curve"] = {
        "false_positive_rates": _thin(fpr),
        "true_positive_rates": _thin(tpr),
    }
    block["precision_recall_curve"] = {
        "precisions": _thin(precision),
        "recalls": _thin(recall),
    }


def _thin(values: np.ndarray) -> list[float]:
    if len(values) > MAX_CURVE_POINTS:
        index = np.linspace(0, len(values) - 1, MAX_CURVE_POINTS).round().astype(int)
        values = values[index]
    return [float(v) for v in values]


_BINARY_ORDER = (
    "confusion_matrix",
    "recall",
    "precision",
    "accuracy",
    "recall_best_constant_classifier",
    "precision_best_constant_classifier",
    "accuracy_best_constant_classifier",
    "true_positive_rate",
    "true_negative_rate",
    "false_positive_rate",
    "false_negative_rate",
    "receiver_operating_characteristic_curve",
    "precision_recall_curve",
    "auc",
    "f0_5",
    "f1",
    "f2",
    "f0_5_best_constant_classifier",
    "f1_best_constant_classifier",
    "f2_best_constant_classifier",
)


def _binary_order(block: dict[str, Any]) -> dict[str, Any]:
    return {key: block[key] for key in _BINARY_ORDER if key in block}


def scalar_metrics(block: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The block's `{"value", "standard_deviation"}` metrics (no matrix, no curves)."""
    return {
        name: metric
        for name, metric in block.items()
        if isinstance(metric, dict) and "value" in metric
    }


def statistics_document(
    problem: str, block: dict[str, Any], item_count: int, evaluated_at: str
) -> dict[str, Any]:
    return {
        "version": 0.0,
        "dataset": {"item_count": item_count, "evaluation_time": evaluated_at},
        BLOCK_KEYS[problem]: block,
    }

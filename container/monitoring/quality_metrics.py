"""Model-quality metrics as SageMaker Model Monitor writes them in statistics.json.

One block per problem type (`regression_metrics`,
`binary_classification_metrics`, `multiclass_classification_metrics`) with
AWS's key names, each metric `{"value": v, "standard_deviation": s}`. Values
are scikit-learn's on the same data (computed here in numpy, from confusion
counts and ranks). The standard deviation is Model Monitor's: with at least
200 rows, the sample standard deviation of the metric over five random 80 %
samples (a fixed seed, so a rerun gives the same file); with fewer, "NaN".
Undefined values (a recall without positives, an AUC with one class) are
"NaN" too, as JSON has no NaN.

Labels are compared as text after one normalisation (`label_text`): numbers
by value (1, 1.0 and "1" are one label), booleans as "true"/"false".
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import numpy as np
import pandas as pd

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

    `truth` and `predicted` are labels for classification (compared as
    `label_text` gives them), floats for regression; `scores` the positive
    class's probability, or None.
    """
    if problem == REGRESSION:
        t = np.asarray(truth, dtype=float)
        p = np.asarray(predicted, dtype=float)
        return _with_deviation(_regression, (t, p), len(t))
    truth_codes, predicted_codes, labels = _label_codes(truth, predicted)
    if problem == BINARY:
        if len(labels) > 2:
            raise MonitoringInputError(
                f"problem_type {BINARY} needs two labels but the data holds "
                f"{len(labels)}: {', '.join(labels[:10])}; use {MULTICLASS}, or "
                "check ground_truth_attribute and inference_attribute"
            )
        positive = positive_label(labels)
        if len(labels) < 2:
            extended = sorted({*labels, NEGATIVE_FOR.get(positive, "not " + positive)})
            remap = np.array(
                [extended.index(label) for label in labels], dtype=np.int64
            )
            truth_codes, predicted_codes = remap[truth_codes], remap[predicted_codes]
            labels = extended
        positive_code = labels.index(positive) if positive in labels else -1
        t = (truth_codes == positive_code).astype(np.int64)
        p = (predicted_codes == positive_code).astype(np.int64)
        s = np.asarray(scores, dtype=float) if scores is not None else None
        block = _with_deviation(_binary, (t, p, s), len(t))
        ordered = {"confusion_matrix": _confusion(truth_codes, predicted_codes, labels)}
        ordered.update(block)
        if s is not None:
            _add_curves(ordered, t, s)
        return _binary_order(ordered)
    block = _with_deviation(
        partial(_multiclass, classes=len(labels)),
        (truth_codes, predicted_codes),
        len(truth_codes),
    )
    return {
        "confusion_matrix": _confusion(truth_codes, predicted_codes, labels),
        **block,
    }


def _label_codes(
    truth: Sequence[Any], predicted: Sequence[Any]
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Each label's index in the sorted label texts, and those texts.

    Only the distinct values are normalised: a window repeats a few labels
    a hundred thousand times.
    """
    if all(type(x) is str for x in truth) and all(type(x) is str for x in predicted):
        text_of = {raw: _label(raw) for raw in {*truth, *predicted}}
    else:  # 1 and True are equal keys but different labels: normalise each
        truth = [_label(x) for x in truth]
        predicted = [_label(x) for x in predicted]
        text_of = {text: text for text in {*truth, *predicted}}
    labels = sorted(set(text_of.values()))
    index = {label: i for i, label in enumerate(labels)}
    code_of = {raw: index[text] for raw, text in text_of.items()}
    truth_codes = np.fromiter(map(code_of.__getitem__, truth), np.int64, len(truth))
    predicted_codes = np.fromiter(
        map(code_of.__getitem__, predicted), np.int64, len(predicted)
    )
    return truth_codes, predicted_codes, labels


def _label(value: Any) -> str:
    text = label_text(value)
    if text is None:
        raise ValueError("a missing label reached the metrics")  # Pairs drops them
    return text


def _with_deviation(
    metric_fn: Callable[..., dict[str, float]], arrays: tuple, rows: int
) -> dict[str, dict[str, Any]]:
    with np.errstate(all="ignore"):
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


# The metrics below are written in numpy from confusion counts, with
# scikit-learn's definitions and its zero_division=0 (the tests compare them
# with scikit-learn's to 1e-12): importing scikit-learn alone took longer
# than scoring a hundred thousand labelled records.
def _regression(t: np.ndarray, p: np.ndarray) -> dict[str, float]:
    error = t - p
    mse = float(np.mean(error**2))
    return {
        "mae": float(np.mean(np.abs(error))),
        "mse": mse,
        "rmse": math.sqrt(mse),
        "r2": _r2(t, error) if len(t) >= 2 else math.nan,
    }


def _r2(t: np.ndarray, error: np.ndarray) -> float:
    residual = float(np.sum(error**2))
    total = float(np.sum((t - np.mean(t)) ** 2))
    if total == 0.0:  # scikit-learn's force_finite: a constant target
        return 1.0 if residual == 0.0 else 0.0
    return 1.0 - residual / total


def _rate(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator else math.nan


def _share(numerator: float, denominator: float) -> float:
    """A ratio that is 0 when undefined (scikit-learn's zero_division=0)."""
    return numerator / denominator if denominator else 0.0


def _fbeta(beta: float, tp: float, actual: float, predicted: float) -> float:
    """F-beta from true positives and the actual and predicted positive counts."""
    weight = beta * beta
    return _share((1 + weight) * tp, weight * actual + predicted)


F_BETAS = ((0.5, "f0_5"), (1.0, "f1"), (2.0, "f2"))


def _binary(t: np.ndarray, p: np.ndarray, s: np.ndarray | None) -> dict[str, float]:
    tn, fp, fn, tp = (int(c) for c in np.bincount(t * 2 + p, minlength=4))
    rows = tn + fp + fn + tp
    positives, predicted_positives = tp + fn, tp + fp
    both = 0 < positives < rows
    # The best constant classifier of a binary problem predicts the positive class.
    out = {
        "recall": _share(tp, positives),
        "precision": _share(tp, predicted_positives),
        "accuracy": (tp + tn) / rows,
        "recall_best_constant_classifier": _share(positives, positives),
        "precision_best_constant_classifier": positives / rows,
        "accuracy_best_constant_classifier": positives / rows,
        "true_positive_rate": _rate(tp, tp + fn),
        "true_negative_rate": _rate(tn, tn + fp),
        "false_positive_rate": _rate(fp, fp + tn),
        "false_negative_rate": _rate(fn, fn + tp),
        "auc": _auc(t, s if s is not None else p) if both else math.nan,
    }
    for beta, name in F_BETAS:
        out[name] = _fbeta(beta, tp, positives, predicted_positives)
    for beta, name in F_BETAS:
        out[f"{name}_best_constant_classifier"] = _fbeta(
            beta, positives, positives, rows
        )
    return out


def _auc(t: np.ndarray, s: np.ndarray) -> float:
    """ROC AUC as the Mann-Whitney statistic (ties count a half), which equals
    the area under scikit-learn's trapezoidal ROC curve."""
    ranks = _average_ranks(s)
    positives = int(t.sum())
    negatives = len(t) - positives
    positive_ranks = float(ranks[t == 1].sum())
    return (positive_ranks - positives * (positives + 1) / 2) / (positives * negatives)


def _average_ranks(values: np.ndarray) -> np.ndarray:
    order = np.argsort(values, kind="mergesort")
    ordered = values[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    ends = np.r_[starts[1:], len(values)]
    ranks = np.empty(len(values))
    ranks[order] = np.repeat((starts + ends + 1) / 2, ends - starts)
    return ranks


def _multiclass(t: np.ndarray, p: np.ndarray, classes: int) -> dict[str, float]:
    matrix = np.bincount(t * classes + p, minlength=classes * classes)
    matrix = matrix.reshape(classes, classes).astype(float)
    support = matrix.sum(axis=1)
    rows = support.sum()
    correct = np.diag(matrix)
    predicted = matrix.sum(axis=0)
    # The most frequent label (the first in sort order on a tie), always predicted.
    majority = int(np.argmax(support))
    constant_correct = np.zeros(classes)
    constant_correct[majority] = support[majority]
    constant_predicted = np.zeros(classes)
    constant_predicted[majority] = rows
    out: dict[str, float] = {}
    for suffix, hits, guesses in (
        ("", correct, predicted),
        ("_best_constant_classifier", constant_correct, constant_predicted),
    ):
        out[f"accuracy{suffix}"] = float(hits.sum() / rows)
        out[f"weighted_recall{suffix}"] = _weighted(_shares(hits, support), support)
        out[f"weighted_precision{suffix}"] = _weighted(_shares(hits, guesses), support)
        for beta, name in F_BETAS:
            weight = beta * beta
            per_class = _shares((1 + weight) * hits, weight * support + guesses)
            out[f"weighted_{name}{suffix}"] = _weighted(per_class, support)
    return out


def _shares(numerators: np.ndarray, denominators: np.ndarray) -> np.ndarray:
    """Element-wise ratios, 0 where the denominator is 0 (zero_division=0)."""
    out = np.zeros(len(numerators))
    defined = denominators > 0
    out[defined] = numerators[defined] / denominators[defined]
    return out


def _weighted(per_class: np.ndarray, support: np.ndarray) -> float:
    return float(np.sum(per_class * support) / np.sum(support))


def _confusion(
    truth_codes: np.ndarray, predicted_codes: np.ndarray, labels: list[str]
) -> dict[str, dict[str, int]]:
    """{actual: {predicted: count}}, AWS's layout, every label on both sides."""
    k = len(labels)
    counts = np.bincount(truth_codes * k + predicted_codes, minlength=k * k)
    counts = counts.reshape(k, k)
    return {
        actual: {guess: int(counts[i, j]) for j, guess in enumerate(labels)}
        for i, actual in enumerate(labels)
    }


def _add_curves(block: dict[str, Any], t: np.ndarray, s: np.ndarray) -> None:
    positives = int(t.sum())
    if positives in (0, len(t)):
        return
    # One point per distinct score, from the highest threshold down (as
    # scikit-learn's curves, without dropping collinear ROC points: the
    # curves are thinned to MAX_CURVE_POINTS anyway).
    order = np.argsort(-s, kind="mergesort")
    ordered = s[order]
    last_of_each = np.r_[np.flatnonzero(ordered[1:] != ordered[:-1]), len(s) - 1]
    true_positives = np.cumsum(t[order])[last_of_each].astype(float)
    false_positives = 1.0 + last_of_each - true_positives
    negatives = len(t) - positives
    block["receiver_operating_characteristic_curve"] = {
        "false_positive_rates": _thin(np.r_[0.0, false_positives / negatives]),
        "true_positive_rates": _thin(np.r_[0.0, true_positives / positives]),
    }
    precision = true_positives / (true_positives + false_positives)
    recall = true_positives / positives
    block["precision_recall_curve"] = {
        "precisions": _thin(np.r_[precision[::-1], 1.0]),
        "recalls": _thin(np.r_[recall[::-1], 0.0]),
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

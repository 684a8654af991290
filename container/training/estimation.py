"""Calibrate a classifier's probabilities, for estimating its performance before labels.

The model-quality monitor can estimate a window's accuracy (and a binary
model's ROC AUC) from the captured probabilities alone, before the labels
arrive (docs/monitoring.md, "Estimated performance before labels"). For that
it needs to know how often the model is right at a given confidence, which is
learnt here on the validation split:

- ``confidence``: isotonic regression of "the prediction was right" against
  the highest predicted probability of each validation row;
- ``positive`` (binary only): isotonic regression of "the row is of the
  positive class" (``classes[1]``, the last probability column) against that
  class's probability.

Each calibration is kept as plain numbers, the isotonic fit's thresholds and
values: a probability is mapped by linear interpolation between them, clipped
at both ends (what scikit-learn's IsotonicRegression.predict does). The
expected calibration error (ECE, 10 equal-width bins of confidence) is
recorded before and after calibration; the calibrated one is measured on the
rows it was fitted on, so it is optimistic.

Whatever happens, the outcome is a ``performance_estimation`` section of
model.json and never an error: a regressor, a model without predict_proba or
too few validation rows is recorded with the reason it is not calibrated.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from container.training.features import json_label

CALIBRATED = "calibrated"
NOT_CALIBRATED = "not_calibrated"
METHOD = "isotonic"
MIN_ROWS = 50
ECE_BINS = 10
DIGITS = 6


def not_calibrated(reason: str, **extra: Any) -> dict[str, Any]:
    return {"status": NOT_CALIBRATED, "reason": reason, **extra}


def calibrate(
    pipeline: Any,
    splits: dict[str, Any],
    problem_type: str,
    split: str = "validation",
) -> dict[str, Any]:
    """The ``performance_estimation`` section for `pipeline`, from `splits[split]`."""
    try:
        return _calibrate(pipeline, splits, problem_type, split)
    except Exception as exc:  # noqa: BLE001 - calibration must never fail the job
        return not_calibrated(f"calibration failed: {type(exc).__name__}: {exc}")


def _calibrate(
    pipeline: Any, splits: dict[str, Any], problem_type: str, split: str
) -> dict[str, Any]:
    if problem_type != "classification":
        return not_calibrated(f"a {problem_type} model has no class probabilities")
    model = pipeline[-1]
    if not hasattr(model, "predict_proba"):
        return not_calibrated(
            f"the estimator {type(model).__name__} has no predict_proba"
        )
    if split not in splits:
        return not_calibrated(
            f"no {split} rows: give a validation channel or set validation_fraction"
        )
    rows = splits[split]
    count = len(rows.target)
    if count < MIN_ROWS:
        return not_calibrated(
            f"{count} {split} rows, fewer than the {MIN_ROWS} needed to calibrate",
            rows=int(count),
        )
    classes = list(model.classes_)
    transformed = pipeline[:-1].transform(rows.features)
    proba = np.asarray(model.predict_proba(transformed), dtype=float)
    truth = np.asarray(rows.target)
    predicted = np.asarray(classes, dtype=object)[proba.argmax(axis=1)]
    correct = (predicted == truth).astype(float)
    confidence = proba.max(axis=1)
    confidence_fit = isotonic(confidence, correct)
    calibrated = apply(confidence_fit, confidence)
    record: dict[str, Any] = {
        "status": CALIBRATED,
        "method": METHOD,
        "split": split,
        "rows": int(count),
        "classes": [json_label(c) for c in classes],
        "accuracy": round(float(correct.mean()), DIGITS),
        "mean_confidence": round(float(confidence.mean()), DIGITS),
        "ece": {
            "bins": ECE_BINS,
            "uncalibrated": round(ece(confidence, correct), DIGITS),
            "calibrated": round(ece(calibrated, correct), DIGITS),
        },
        "confidence": confidence_fit,
    }
    if len(classes) == 2:
        record["positive_class"] = json_label(classes[1])
        record["positive"] = isotonic(proba[:, 1], (truth == classes[1]).astype(float))
    return record


def isotonic(scores: np.ndarray, outcomes: np.ndarray) -> dict[str, list[float]]:
    """A non-decreasing map of scores to outcome rates, as thresholds and values."""
    from sklearn.isotonic import IsotonicRegression

    fit = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip")
    fit.fit(scores, outcomes)
    return {
        "thresholds": [round(float(x), DIGITS) for x in fit.X_thresholds_],
        "values": [round(float(y), DIGITS) for y in fit.y_thresholds_],
    }


def apply(calibration: dict[str, list[float]], scores: np.ndarray) -> np.ndarray:
    """Calibrated probabilities: linear interpolation, clipped at both ends."""
    return np.interp(
        np.asarray(scores, dtype=float),
        np.asarray(calibration["thresholds"], dtype=float),
        np.asarray(calibration["values"], dtype=float),
    )


def ece(confidence: np.ndarray, correct: np.ndarray, bins: int = ECE_BINS) -> float:
    """Expected calibration error: the row-weighted mean |accuracy − confidence| of
    equal-width confidence bins."""
    confidence = np.asarray(confidence, dtype=float)
    correct = np.asarray(correct, dtype=float)
    if not len(confidence):
        return 0.0
    index = np.clip((confidence * bins).astype(int), 0, bins - 1)
    total = 0.0
    for b in range(bins):
        member = index == b
        if member.any():
            gap = abs(correct[member].mean() - confidence[member].mean())
            total += member.sum() * gap
    return float(total / len(confidence))

"""A window's estimated accuracy (and binary ROC AUC) from its captured probabilities.

Confidence-based performance estimation: `train` calibrates the classifier's
probabilities on its validation split and records the calibration in
model.json (``performance_estimation``, container/training/estimation.py).
Given that bundle (--model-dir, else the processing input
/opt/ml/processing/input/model) and a window whose captured outputs hold the
class probabilities, the model-quality monitor estimates, with or without
labels:

- accuracy: the mean calibrated confidence c_i = P(prediction i is right |
  its highest probability), with the standard deviation sqrt(sum c(1-c))/n of
  the number of right predictions, as if each were an independent coin;
- ROC AUC (binary): with q_i the calibrated probability that record i is of
  the positive class, the expected number of (positive, negative) pairs the
  captured score orders correctly over the expected number of such pairs:
  sum over i != j with s_i > s_j of q_i (1 - q_j) (ties count half), over
  sum over i != j of q_i (1 - q_j). Its standard deviation is that of the
  AUC of `SIMULATIONS` label sets drawn from the q_i.

The estimate holds under covariate shift (the inputs move, P(label | input)
does not); it does not see concept drift. It is reported apart from
SageMaker's metrics: ``estimated_metrics`` in statistics.json and
summary.json, its own table in report.html.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from container.contract.bundle import MANIFEST_FILE, read_manifest
from container.contract.errors import BundleError
from container.monitoring.quality_metrics import label_text, number_value
from container.monitoring.quality_settings import BINARY, REGRESSION

ESTIMATED = "estimated"
NOT_ESTIMATED = "not_estimated"
CALIBRATED = "calibrated"  # container.training.estimation.CALIBRATED
SIMULATIONS = 200
# Simulated labels held in memory at once (draws × records), about 40 MB.
MAX_SIMULATED_VALUES = 5_000_000
SEED = 0
METHOD = (
    "confidence-based: the captured probabilities mapped through the calibration "
    "learnt on the training job's validation split"
)


@dataclass
class Calibration:
    """The ``performance_estimation`` section of a bundle's model.json."""

    record: dict[str, Any]

    @property
    def positive_class(self) -> str | None:
        return label_text(self.record.get("positive_class"))

    def confidence(self, top: np.ndarray) -> np.ndarray:
        return _apply(self.record["confidence"], top)

    def positive(self, scores: np.ndarray) -> np.ndarray | None:
        fit = self.record.get("positive")
        return _apply(fit, scores) if isinstance(fit, dict) else None


@dataclass
class WindowProbabilities:
    """The highest (and the positive class's) probability of each captured record."""

    top: list[float] = field(default_factory=list)
    positive: list[float | None] = field(default_factory=list)
    without: int = 0  # records whose output held no usable probabilities


def load_calibration(
    model_dir: Path | None, problem: str
) -> tuple[Calibration | None, str | None]:  # noqa: E501
    """(the calibration, None) or (None, why there is none)."""
    if problem == REGRESSION:
        return None, "a regression model has no class probabilities"
    if model_dir is None:
        return None, (
            "no model bundle: mount model.tar.gz's contents at "
            "/opt/ml/processing/input/model or give --model-dir"
        )
    try:
        manifest = read_manifest(Path(model_dir))
    except BundleError as exc:
        return None, str(exc)
    record = manifest.get("performance_estimation")
    if not isinstance(record, dict):
        return None, (
            f"{Path(model_dir) / MANIFEST_FILE} has no performance_estimation "
            "(trained by an image without calibration)"
        )
    if record.get("status") != CALIBRATED:
        reason = record.get("reason", "no reason recorded")
        return None, f"the model was not calibrated: {reason}"
    if not _valid_fit(record.get("confidence")):
        return None, "the bundle's calibration holds no thresholds and values"
    if problem == BINARY and not _valid_fit(record.get("positive")):
        return None, "the bundle's calibration has no positive-class calibration"
    return Calibration(record), None


def _valid_fit(fit: Any) -> bool:
    return (
        isinstance(fit, dict)
        and isinstance(fit.get("thresholds"), list)
        and isinstance(fit.get("values"), list)
        and len(fit["thresholds"]) == len(fit["values"]) > 0
    )


def _apply(fit: dict[str, list[float]], scores: np.ndarray) -> np.ndarray:
    return np.interp(
        np.asarray(scores, dtype=float),
        np.asarray(fit["thresholds"], dtype=float),
        np.asarray(fit["values"], dtype=float),
    )


def add_output(
    window: WindowProbabilities,
    raw: Any,
    calibration: Calibration,
    problem: str,
) -> None:
    """Add one prediction's captured probabilities (as parse_raw gives them)."""
    top, positive = _probabilities(raw, calibration, problem)
    if top is None:
        window.without += 1
        return
    window.top.append(top)
    window.positive.append(positive)


def _probabilities(
    raw: Any, calibration: Calibration, problem: str
) -> tuple[float | None, float | None]:
    if isinstance(raw, dict):
        named = {label_text(k): number_value(v) for k, v in raw.items()}
        values = list(named.values())
        if len(values) < 2 or not all(_probability(v) for v in values):
            return None, None
        wanted = calibration.positive_class
        positive = named.get(wanted) if wanted in named else values[-1]
        return max(values), positive
    if isinstance(raw, list | tuple):
        values = [number_value(v) for v in raw]
        if len(values) < 2 or not all(_probability(v) for v in values):
            return None, None
        return max(values), values[-1]
    value = number_value(raw)
    if problem != BINARY or not _probability(value):
        return None, None  # one number is only a binary model's positive probability
    return max(value, 1 - value), value


def _probability(value: float | None) -> bool:
    return value is not None and 0.0 <= value <= 1.0


def estimate(
    window: WindowProbabilities, calibration: Calibration, problem: str
) -> dict[str, Any]:
    """The ``estimated_metrics`` block of a window."""
    n = len(window.top)
    if n == 0:
        return not_estimated(
            f"none of the window's predictions came with class probabilities ({window.without} without); "  # noqa: E501
            "ask the endpoint for them (see docs/serving.md) or capture its outputs",
            records_without_probabilities=window.without,
        )
    correct = calibration.confidence(np.asarray(window.top))
    accuracy = float(correct.mean())
    block: dict[str, Any] = {
        "status": ESTIMATED,
        "method": METHOD,
        "records": n,
        "records_without_probabilities": window.without,
        "calibration": {
            key: calibration.record.get(key)
            for key in ("method", "split", "rows", "ece")
        },
        "accuracy": {
            "value": accuracy,
            "standard_deviation": float(math.sqrt(np.sum(correct * (1 - correct))) / n),
        },
    }
    if problem == BINARY:
        scores = np.asarray([p for p in window.positive], dtype=float)
        q = calibration.positive(scores)
        if q is not None:
            value = expected_auc(scores, q)
            if value is not None:
                block["auc"] = {
                    "value": value,
                    "standard_deviation": simulated_auc_deviation(scores, q),
                }
    return block


def not_estimated(reason: str, **extra: Any) -> dict[str, Any]:
    return {"status": NOT_ESTIMATED, "reason": reason, **extra}


def expected_auc(scores: np.ndarray, q: np.ndarray) -> float | None:
    """Expected correctly ordered (positive, negative) pairs over expected pairs,
    when record i is positive with probability q_i independently."""
    scores = np.asarray(scores, dtype=float)
    q = np.asarray(q, dtype=float)
    negative = 1 - q
    pairs = q.sum() * negative.sum() - float(np.sum(q * negative))
    if pairs <= 0:
        return None
    order = np.argsort(scores, kind="mergesort")
    s, qs, ns = scores[order], q[order], negative[order]
    _, start = np.unique(s, return_index=True)
    group_q = np.add.reduceat(qs, start)
    group_n = np.add.reduceat(ns, start)
    group_self = np.add.reduceat(qs * ns, start)
    below = np.concatenate(([0.0], np.cumsum(group_n)[:-1]))
    ordered = np.sum(group_q * below) + 0.5 * np.sum(group_q * group_n - group_self)
    return float(ordered / pairs)


def simulated_auc_deviation(
    scores: np.ndarray, q: np.ndarray, draws: int = SIMULATIONS
) -> float | str:
    """Standard deviation of the AUC over label sets drawn from q ("NaN" if none)."""
    from scipy.stats import rankdata

    ranks = rankdata(scores)
    q = np.asarray(q, dtype=float)
    rng = np.random.default_rng(SEED)
    batch = max(1, MAX_SIMULATED_VALUES // max(len(q), 1))
    aucs = []
    for first in range(0, draws, batch):
        labels = rng.uniform(size=(min(batch, draws - first), len(q))) < q
        positives = labels.sum(axis=1)
        negatives = len(q) - positives
        usable = (positives > 0) & (negatives > 0)
        rank_sums = labels[usable].astype(float) @ ranks
        p, m = positives[usable], negatives[usable]
        aucs.extend((rank_sums - p * (p + 1) / 2) / (p * m))
    if len(aucs) < 2:
        return "NaN"
    return float(np.std(aucs, ddof=1))


def estimate_line(block: dict[str, Any]) -> str:
    """One sentence of the estimate, for the job's message."""
    parts = [
        f"estimated {name} {block[name]['value']:.4f}"
        + (
            f" (± {block[name]['standard_deviation']:.4f})"
            if isinstance(block[name]["standard_deviation"], float)
            else ""
        )
        for name in ("accuracy", "auc")
        if name in block
    ]
    return f"{' and '.join(parts)} from {block['records']} predictions"

"""How good a trained pipeline is: metrics, confusion matrix, per-class report, HTML.

Metrics are plain floats keyed by name, computed per data split (train,
validation, test). The HTML report is self-contained (inline SVG, no scripts,
no external files) so it opens anywhere, including from an S3 download.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

CLASSIFICATION_METRICS = (
    "accuracy",
    "balanced_accuracy",
    "f1_macro",
    "roc_auc_ovr",
    "log_loss",
)
REGRESSION_METRICS = ("rmse", "mae", "r2")
# Beyond these many classes a confusion matrix grows with classes² and stops
# being readable (3,000 classes made a 1.4 GB report): evaluation.json keeps the
# matrix of the JSON_MATRIX_CLASSES most frequent classes, the report draws the
# REPORT_MATRIX_CLASSES most frequent and lists REPORT_TABLE_CLASSES in its
# per-class table. Per-class scores of every class stay in evaluation.json.
JSON_MATRIX_CLASSES = 100
REPORT_MATRIX_CLASSES = 20
REPORT_TABLE_CLASSES = 50


def class_codes(values: Any, classes: Sequence[Any]) -> np.ndarray:
    """Each value's position in `classes` (-1 if absent), by a vectorised lookup."""
    return pd.Index(list(classes)).get_indexer(pd.Series(values).to_numpy())


def confusion(
    true_codes: np.ndarray, predicted_codes: np.ndarray, size: int
) -> np.ndarray:
    """Rows: true class, columns: predicted class, counted with one bincount."""
    known = (true_codes >= 0) & (predicted_codes >= 0)
    flat = true_codes[known] * size + predicted_codes[known]
    return np.bincount(flat, minlength=size * size).reshape(size, size)


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    # scikit-learn's zero_division=0: a score with nothing to divide by is 0.
    out = np.zeros_like(numerator, dtype=float)
    np.divide(numerator, denominator, out=out, where=denominator > 0)
    return out


def per_class_scores(matrix: np.ndarray) -> dict[str, np.ndarray]:
    true_positives = np.diag(matrix).astype(float)
    support = matrix.sum(axis=1)
    precision = _ratio(true_positives, matrix.sum(axis=0))
    recall = _ratio(true_positives, support)
    f1 = _ratio(2 * precision * recall, precision + recall)
    return {"precision": precision, "recall": recall, "f1": f1, "support": support}


def classification_metrics(
    y_true: pd.Series,
    y_pred: np.ndarray,
    proba: np.ndarray | None,
    classes: Sequence[Any],
) -> dict[str, float]:
    """Accuracy, balanced accuracy and macro F1 from one confusion matrix; log loss and
    one-vs-rest ROC AUC from the probabilities.

    Computed from integer class codes rather than through scikit-learn's metric
    functions, which each re-derive the label set from a million-row array; the
    results are the same (tests compare them).
    """
    from sklearn.metrics import roc_auc_score

    size = len(classes)
    true_codes = class_codes(y_true, classes)
    matrix = confusion(true_codes, class_codes(y_pred, classes), size)
    scores = per_class_scores(matrix)
    present = scores["support"] > 0
    metrics = {
        "accuracy": float(np.trace(matrix) / max(matrix.sum(), 1)),
        "balanced_accuracy": float(scores["recall"][present].mean()),
        "f1_macro": float(scores["f1"].mean()),
    }
    if proba is not None:
        eps = np.finfo(proba.dtype).eps
        rows = np.arange(len(true_codes))
        chosen = np.clip(proba[rows, true_codes] / proba.sum(axis=1), eps, 1 - eps)
        metrics["log_loss"] = float(-np.mean(np.log(chosen)))
        # ROC AUC is undefined unless every class appears in the evaluated rows.
        if present.all():
            if size == 2:
                auc = roc_auc_score(true_codes == 1, proba[:, 1])
            else:
                auc = roc_auc_score(
                    true_codes, proba, multi_class="ovr", labels=list(range(size))
                )
            metrics["roc_auc_ovr"] = float(auc)
    return metrics


def regression_metrics(y_true: pd.Series, y_pred: np.ndarray) -> dict[str, float]:
    from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

    metrics = {
        "rmse": float(math.sqrt(mean_squared_error(y_true, y_pred))),
        "mae": float(mean_absolute_error(y_true, y_pred)),
    }
    if len(y_true) >= 2:  # R² is undefined for a single row
        metrics["r2"] = float(r2_score(y_true, y_pred))
    return metrics


def classification_details(
    y_true: pd.Series, y_pred: np.ndarray, classes: Sequence[Any]
) -> dict[str, Any]:
    """Confusion matrix (rows: true class, columns: predicted) and per-class scores."""
    labels = list(classes)
    matrix = confusion(
        class_codes(y_true, labels), class_codes(y_pred, labels), len(labels)
    )
    scores = per_class_scores(matrix)
    shown = most_frequent(scores["support"], JSON_MATRIX_CLASSES)
    matrix_part: dict[str, Any] = {
        "confusion_matrix": matrix[np.ix_(shown, shown)].astype(int).tolist()
    }
    if len(shown) < len(labels):
        matrix_part["confusion_matrix_labels"] = [labels[i] for i in shown]
        matrix_part["confusion_matrix_note"] = (
            f"the {len(shown)} most frequent of {len(labels)} classes; "
            "per_class has every class"
        )
    return {
        "labels": labels,
        **matrix_part,
        "per_class": {
            str(label): {
                "precision": float(scores["precision"][i]),
                "recall": float(scores["recall"][i]),
                "f1": float(scores["f1"][i]),
                "support": int(scores["support"][i]),
            }
            for i, label in enumerate(labels)
        },
    }


def most_frequent(support: np.ndarray, limit: int) -> list[int]:
    """Positions of the `limit` classes with the most rows, in their first order.

    All positions when there are no more than `limit`, so a small matrix keeps
    the classes' own order.
    """
    if len(support) <= limit:
        return list(range(len(support)))
    top = np.argsort(-np.asarray(support), kind="stable")[:limit]
    return sorted(int(i) for i in top)


def evaluate(
    pipeline: Any,
    features: pd.DataFrame,
    target: pd.Series,
    problem_type: str,
    transformed: Any = None,
) -> tuple[dict[str, float], dict[str, Any] | None]:
    """Metrics for one split, plus the classification details (None for regression).

    `transformed`, when given, is `features` already preprocessed by the
    pipeline (the training rows right after fitting), so it is not redone.
    """
    # Transform once, then ask the estimator: predict and predict_proba through the
    # pipeline would run the preprocessing twice.
    model = pipeline[-1]
    if transformed is None:
        transformed = pipeline[:-1].transform(features)
    predicted = model.predict(transformed)
    if problem_type == "regression":
        return regression_metrics(target, predicted), None
    classes = list(model.classes_)
    proba = (
        model.predict_proba(transformed) if hasattr(model, "predict_proba") else None
    )
    metrics = classification_metrics(target, predicted, proba, classes)
    return metrics, classification_details(target, predicted, classes)


def metric_lines(metrics: Mapping[str, Mapping[str, float]]) -> list[str]:
    """One stable ``split:metric=value`` line per metric, for MetricDefinitions."""
    return [
        f"{split}:{name}={value:.6g}"
        for split, values in metrics.items()
        for name, value in values.items()
    ]


# --- the HTML report ------------------------------------------------------------------
CELL = 46
LABEL_WIDTH = 120


def _report_matrix(details: Mapping[str, Any]) -> tuple[list[str], np.ndarray, str]:
    """(labels, matrix, note) of what the report draws: the most frequent classes."""
    labels = [
        str(label)
        for label in details.get("confusion_matrix_labels", details["labels"])
    ]
    matrix = np.asarray(details["confusion_matrix"])
    support = [details["per_class"][label]["support"] for label in labels]
    shown = most_frequent(np.array(support), REPORT_MATRIX_CLASSES)
    total = len(details["labels"])
    note = ""
    if len(shown) < total:
        note = (
            f"Showing the {len(shown)} most frequent of {total} classes; "
            "evaluation.json has the scores of every class."
        )
    return [labels[i] for i in shown], matrix[np.ix_(shown, shown)], note


def _confusion_svg(labels: Sequence[str], matrix: np.ndarray) -> str:
    size = len(labels)
    width = LABEL_WIDTH + CELL * size + 10
    height = LABEL_WIDTH + CELL * size + 10
    row_totals = matrix.sum(axis=1, keepdims=True).clip(min=1)
    shares = matrix / row_totals
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'role="img" aria-label="confusion matrix" font-family="sans-serif" '
        'font-size="12">'
    ]
    for j, label in enumerate(labels):
        x = LABEL_WIDTH + CELL * j + CELL / 2
        y = LABEL_WIDTH - 6
        parts.append(
            f'<text x="{x}" y="{y}" transform="rotate(-45 {x} {y})">'
            f"{html.escape(label)}</text>"
        )
    for i, label in enumerate(labels):
        y = LABEL_WIDTH + CELL * i
        parts.append(
            f'<text x="{LABEL_WIDTH - 6}" y="{y + CELL / 2 + 4}" text-anchor="end">'
            f"{html.escape(label)}</text>"
        )
        for j in range(size):
            share = float(shares[i, j])
            # Correct predictions in blue, errors in red, darker for a larger share.
            hue = 210 if i == j else 0
            light = 96 - 50 * share
            text_colour = "#fff" if share > 0.6 else "#000"
            x = LABEL_WIDTH + CELL * j
            parts.append(
                f'<rect x="{x}" y="{y}" width="{CELL}" height="{CELL}" '
                f'fill="hsl({hue},70%,{light:.0f}%)" stroke="#fff"/>'
                f'<text x="{x + CELL / 2}" y="{y + CELL / 2 + 4}" text-anchor="middle" '
                f'fill="{text_colour}">{int(matrix[i, j])}</text>'
            )
    parts.append("</svg>")
    return "".join(parts)


def _metrics_table(metrics: Mapping[str, Mapping[str, float]]) -> str:
    names = list(dict.fromkeys(n for values in metrics.values() for n in values))
    head = "".join(f"<th>{html.escape(split)}</th>" for split in metrics)
    rows = []
    for name in names:
        cells = "".join(
            f"<td>{values[name]:.4f}</td>" if name in values else "<td>–</td>"
            for values in metrics.values()
        )
        rows.append(f"<tr><th>{html.escape(name)}</th>{cells}</tr>")
    return f"<table><tr><th>metric</th>{head}</tr>{''.join(rows)}</table>"


def _per_class_table(details: Mapping[str, Any]) -> str:
    per_class = list(details["per_class"].items())
    shown = most_frequent(
        np.array([s["support"] for _, s in per_class]), REPORT_TABLE_CLASSES
    )
    rows = "".join(
        f"<tr><th>{html.escape(label)}</th><td>{s['precision']:.3f}</td>"
        f"<td>{s['recall']:.3f}</td><td>{s['f1']:.3f}</td><td>{s['support']}</td></tr>"
        for label, s in (per_class[i] for i in shown)
    )
    note = (
        f"<p>The {len(shown)} most frequent of {len(per_class)} classes; "
        "evaluation.json has every class.</p>"
        if len(shown) < len(per_class)
        else ""
    )
    return (
        f"{note}<table><tr><th>class</th><th>precision</th><th>recall</th><th>F1</th>"
        f"<th>support</th></tr>{rows}</table>"
    )


def render_report(
    title: str,
    metrics: Mapping[str, Mapping[str, float]],
    details: Mapping[str, Mapping[str, Any]],
    facts: Mapping[str, Any],
) -> str:
    """A self-contained HTML page: facts, metrics per split, confusion matrices."""
    fact_rows = "".join(
        f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>"
        for k, v in facts.items()
    )
    sections = []
    for split, split_details in details.items():
        labels, matrix, note = _report_matrix(split_details)
        note_html = f"<p>{html.escape(note)}</p>" if note else ""
        sections.append(
            f"<section><h2>{html.escape(split)}: confusion matrix</h2>"
            "<p>Rows: true class; columns: predicted class; colour: share of the "
            f"row.</p>{note_html}"
            f"{_confusion_svg(labels, matrix)}{_per_class_table(split_details)}"
            "</section>"
        )
    style = (
        "body{font-family:sans-serif;margin:2em;color:#222}"
        "table{border-collapse:collapse;margin:1em 0}"
        "th,td{border:1px solid #ccc;padding:4px 10px;text-align:right}"
        "th:first-child{text-align:left}"
    )
    return (
        f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>{style}</style></head><body>"
        f"<h1>{html.escape(title)}</h1><table>{fact_rows}</table>"
        f"<h2>Metrics</h2>{_metrics_table(metrics)}{''.join(sections)}</body></html>"
    )

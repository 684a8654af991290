"""Training metrics agree with scikit-learn's own; the report is self-contained."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm

from container.training.evaluation import (
    classification_details,
    classification_metrics,
    metric_lines,
    regression_metrics,
    render_report,
)

CLASSES = ["Adelie", "Chinstrap", "Gentoo"]


def _random_case(seed: int, classes: list, rows: int = 500, drop_class: bool = False):
    rng = np.random.default_rng(seed)
    pool = classes[:-1] if drop_class else classes
    y_true = pd.Series(rng.choice(np.array(pool, dtype=object), size=rows))
    y_pred = np.where(
        rng.random(rows) < 0.7,
        y_true,
        rng.choice(np.array(classes, dtype=object), size=rows),
    )
    proba = rng.dirichlet(np.ones(len(classes)), size=rows)
    return y_true, y_pred, proba


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_multiclass_metrics_match_scikit_learn(seed):
    y_true, y_pred, proba = _random_case(seed, CLASSES)
    ours = classification_metrics(y_true, y_pred, proba, CLASSES)
    assert ours["accuracy"] == pytest.approx(skm.accuracy_score(y_true, y_pred))
    assert ours["balanced_accuracy"] == pytest.approx(
        skm.balanced_accuracy_score(y_true, y_pred)
    )
    assert ours["f1_macro"] == pytest.approx(
        skm.f1_score(y_true, y_pred, average="macro", labels=CLASSES, zero_division=0)
    )
    assert ours["log_loss"] == pytest.approx(
        skm.log_loss(y_true, proba, labels=CLASSES)
    )
    assert ours["roc_auc_ovr"] == pytest.approx(
        skm.roc_auc_score(y_true, proba, multi_class="ovr", labels=CLASSES)
    )


def test_binary_integer_labels_match_scikit_learn():
    y_true, y_pred, proba = _random_case(3, [0, 1])
    y_true = y_true.astype(int)
    y_pred = y_pred.astype(int)
    ours = classification_metrics(y_true, y_pred, proba, [0, 1])
    assert ours["roc_auc_ovr"] == pytest.approx(skm.roc_auc_score(y_true, proba[:, 1]))
    assert ours["f1_macro"] == pytest.approx(
        skm.f1_score(y_true, y_pred, average="macro")
    )


def test_a_class_missing_from_the_rows_drops_auc_only():
    y_true, y_pred, proba = _random_case(4, CLASSES, drop_class=True)
    ours = classification_metrics(y_true, y_pred, proba, CLASSES)
    assert "roc_auc_ovr" not in ours
    with pytest.warns(UserWarning):  # scikit-learn warns about the absent class
        expected = skm.balanced_accuracy_score(y_true, y_pred)
    assert ours["balanced_accuracy"] == pytest.approx(expected)
    assert ours["f1_macro"] == pytest.approx(
        skm.f1_score(y_true, y_pred, average="macro", labels=CLASSES, zero_division=0)
    )


def test_details_match_scikit_learn_confusion_matrix():
    y_true, y_pred, _ = _random_case(5, CLASSES)
    details = classification_details(y_true, y_pred, CLASSES)
    assert (
        details["confusion_matrix"]
        == skm.confusion_matrix(y_true, y_pred, labels=CLASSES).tolist()
    )
    precision, recall, _, support = skm.precision_recall_fscore_support(
        y_true, y_pred, labels=CLASSES, zero_division=0
    )
    assert details["per_class"]["Gentoo"]["precision"] == pytest.approx(precision[2])
    assert details["per_class"]["Adelie"]["recall"] == pytest.approx(recall[0])
    assert details["per_class"]["Chinstrap"]["support"] == support[1]


def test_regression_metrics():
    y_true = pd.Series([1.0, 2.0, 3.0, 4.0])
    y_pred = np.array([1.5, 2.0, 2.0, 4.0])
    ours = regression_metrics(y_true, y_pred)
    assert ours["rmse"] == pytest.approx(
        np.sqrt(skm.mean_squared_error(y_true, y_pred))
    )
    assert ours["mae"] == pytest.approx(0.375)
    assert ours["r2"] == pytest.approx(skm.r2_score(y_true, y_pred))


def test_metric_lines_are_stable_name_value_pairs():
    lines = metric_lines({"validation": {"accuracy": 0.97123456, "rmse": 12345678.9}})
    assert lines == ["validation:accuracy=0.971235", "validation:rmse=1.23457e+07"]


def test_report_is_self_contained_and_escapes_labels():
    y_true, y_pred, _ = _random_case(6, ["<b>", "x"])
    details = classification_details(y_true, y_pred, ["<b>", "x"])
    page = render_report(
        "t", {"train": {"accuracy": 0.5}}, {"train": details}, {"job": "j"}
    )
    assert page.startswith("<!DOCTYPE html>")
    assert "<svg" in page and "&lt;b&gt;" in page and "<b>" not in page
    assert "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "<script" not in page

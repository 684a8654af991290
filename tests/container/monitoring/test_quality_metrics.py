"""Model-quality metrics equal scikit-learn's, in Model Monitor's layout, and
constraints fire exactly when a metric crosses its threshold."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from container.monitoring.errors import MonitoringInputError
from container.monitoring.quality_checks import (
    OPERATORS,
    MetricConstraint,
    check_metrics,
    parse_constraints,
    suggest_constraints,
)
from container.monitoring.quality_metrics import (
    compute_metrics,
    label_text,
    scalar_metrics,
)


def binary_data(rows: int, seed: int = 3):
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 2, rows)
    scores = np.clip(truth * 0.35 + rng.uniform(0, 0.65, rows), 0, 1)
    predicted = (scores >= 0.5).astype(int)
    return truth, predicted, scores


def texts(values) -> list[str]:
    return [label_text(v) for v in values]


def test_binary_metrics_equal_scikit_learn():
    truth, predicted, scores = binary_data(500)
    block = compute_metrics(
        "BinaryClassification", texts(truth), texts(predicted), list(scores)
    )
    tn, fp, fn, tp = skm.confusion_matrix(truth, predicted).ravel()
    expected = {
        "recall": skm.recall_score(truth, predicted),
        "precision": skm.precision_score(truth, predicted),
        "accuracy": skm.accuracy_score(truth, predicted),
        "f0_5": skm.fbeta_score(truth, predicted, beta=0.5),
        "f1": skm.f1_score(truth, predicted),
        "f2": skm.fbeta_score(truth, predicted, beta=2),
        "auc": skm.roc_auc_score(truth, scores),
        "true_positive_rate": tp / (tp + fn),
        "true_negative_rate": tn / (tn + fp),
        "false_positive_rate": fp / (fp + tn),
        "false_negative_rate": fn / (fn + tp),
        "recall_best_constant_classifier": 1.0,
        "precision_best_constant_classifier": truth.mean(),
        "accuracy_best_constant_classifier": truth.mean(),
        "f1_best_constant_classifier": skm.f1_score(truth, np.ones_like(truth)),
        "f2_best_constant_classifier": skm.fbeta_score(
            truth, np.ones_like(truth), beta=2
        ),
        "f0_5_best_constant_classifier": skm.fbeta_score(
            truth, np.ones_like(truth), beta=0.5
        ),
    }
    for name, value in expected.items():
        assert block[name]["value"] == pytest.approx(value, abs=1e-12), name
    assert block["confusion_matrix"] == {
        "0": {"0": int(tn), "1": int(fp)},
        "1": {"0": int(fn), "1": int(tp)},
    }
    fpr, tpr, _ = skm.roc_curve(truth, scores)
    curve = block["receiver_operating_characteristic_curve"]
    assert curve["false_positive_rates"][0] == fpr[0]
    assert curve["true_positive_rates"][-1] == tpr[-1]
    assert set(block["precision_recall_curve"]) == {"precisions", "recalls"}


def test_binary_example_of_the_aws_guide_is_reproduced():
    # The guide's example: four rows, one positive, predicted 1, 1, 1 and 0.
    block = compute_metrics(
        "BinaryClassification", ["0", "0", "0", "1"], ["0", "1", "1", "1"]
    )
    assert block["confusion_matrix"] == {"0": {"0": 1, "1": 2}, "1": {"0": 0, "1": 1}}
    values = {k: v["value"] for k, v in scalar_metrics(block).items()}
    assert values["recall"] == 1.0
    assert values["precision"] == pytest.approx(1 / 3)
    assert values["accuracy"] == 0.5
    assert values["recall_best_constant_classifier"] == 1.0
    assert values["precision_best_constant_classifier"] == 0.25
    assert values["accuracy_best_constant_classifier"] == 0.25
    assert values["true_negative_rate"] == pytest.approx(1 / 3)
    assert values["false_positive_rate"] == pytest.approx(2 / 3)
    assert values["false_negative_rate"] == 0.0
    assert all(v["standard_deviation"] == "NaN" for v in scalar_metrics(block).values())


def test_multiclass_metrics_equal_scikit_learn():
    rng = np.random.default_rng(5)
    truth = rng.choice(["Adelie", "Chinstrap", "Gentoo"], 400, p=[0.5, 0.2, 0.3])
    predicted = np.where(rng.uniform(size=400) < 0.7, truth, rng.permutation(truth))
    block = compute_metrics("MulticlassClassification", list(truth), list(predicted))
    majority = np.full_like(truth, "Adelie")
    for guess, suffix in ((predicted, ""), (majority, "_best_constant_classifier")):
        expected = {
            "accuracy": skm.accuracy_score(truth, guess),
            "weighted_recall": skm.recall_score(
                truth, guess, average="weighted", zero_division=0
            ),
            "weighted_precision": skm.precision_score(
                truth, guess, average="weighted", zero_division=0
            ),
            "weighted_f0_5": skm.fbeta_score(
                truth, guess, beta=0.5, average="weighted", zero_division=0
            ),
            "weighted_f1": skm.f1_score(
                truth, guess, average="weighted", zero_division=0
            ),
            "weighted_f2": skm.fbeta_score(
                truth, guess, beta=2, average="weighted", zero_division=0
            ),
        }
        for name, value in expected.items():
            assert block[name + suffix]["value"] == pytest.approx(value, abs=1e-12)
    labels = ["Adelie", "Chinstrap", "Gentoo"]
    matrix = skm.confusion_matrix(truth, predicted, labels=labels)
    assert block["confusion_matrix"] == {
        a: {p: int(matrix[i, j]) for j, p in enumerate(labels)}
        for i, a in enumerate(labels)
    }


def test_regression_metrics_equal_scikit_learn():
    rng = np.random.default_rng(9)
    truth = rng.normal(50, 10, 300)
    predicted = truth + rng.normal(0, 3, 300)
    block = compute_metrics("Regression", list(truth), list(predicted))
    assert list(block) == ["mae", "mse", "rmse", "r2"]
    assert block["mae"]["value"] == pytest.approx(
        skm.mean_absolute_error(truth, predicted)
    )
    assert block["mse"]["value"] == pytest.approx(
        skm.mean_squared_error(truth, predicted)
    )
    assert block["rmse"]["value"] == pytest.approx(
        np.sqrt(skm.mean_squared_error(truth, predicted))
    )
    assert block["r2"]["value"] == pytest.approx(skm.r2_score(truth, predicted))


@pytest.mark.parametrize(
    ("rows", "has_deviation"), [(199, False), (200, True), (1000, True)]
)
def test_standard_deviation_needs_200_rows(rows, has_deviation):
    truth, predicted, scores = binary_data(rows)
    block = compute_metrics(
        "BinaryClassification", texts(truth), texts(predicted), list(scores)
    )
    deviations = [m["standard_deviation"] for m in scalar_metrics(block).values()]
    if has_deviation:
        assert all(isinstance(d, float) for d in deviations)
        assert block["accuracy"]["standard_deviation"] > 0
    else:
        assert deviations and all(d == "NaN" for d in deviations)


def test_standard_deviation_is_that_of_five_80_percent_samples():
    rng = np.random.default_rng(0)  # the module's seed: the same five samples
    truth = np.random.default_rng(1).normal(size=250)
    predicted = truth + np.random.default_rng(2).normal(size=250)
    runs = []
    for _ in range(5):
        index = rng.choice(250, size=200, replace=False)
        runs.append(skm.mean_absolute_error(truth[index], predicted[index]))
    block = compute_metrics("Regression", list(truth), list(predicted))
    assert block["mae"]["standard_deviation"] == pytest.approx(np.std(runs, ddof=1))


def test_labels_compare_by_value():
    assert label_text(1) == label_text("1") == label_text(1.0) == label_text("1.0")
    assert label_text(True) == label_text("TRUE") == "true"
    assert label_text("") is None and label_text(float("nan")) is None
    block = compute_metrics("BinaryClassification", [1, "0", 1.0], ["1", 0, "1"])
    assert block["accuracy"]["value"] == 1.0


def test_binary_with_three_labels_is_refused_clearly():
    with pytest.raises(MonitoringInputError, match="MulticlassClassification"):
        compute_metrics("BinaryClassification", ["a", "b", "c"], ["a", "b", "b"])


def test_undefined_metrics_are_nan_not_errors():
    block = compute_metrics("BinaryClassification", ["0", "0"], ["0", "0"])
    assert block["auc"]["value"] == "NaN"
    assert block["true_positive_rate"]["value"] == "NaN"
    assert "receiver_operating_characteristic_curve" not in block


def test_suggested_constraints_use_the_baseline_values():
    truth, predicted, scores = binary_data(300)
    block = compute_metrics(
        "BinaryClassification", texts(truth), texts(predicted), list(scores)
    )
    suggested = suggest_constraints("BinaryClassification", block)
    section = suggested["binary_classification_constraints"]
    assert suggested["version"] == 0.0
    assert section["f1"] == {
        "threshold": block["f1"]["value"],
        "comparison_operator": "LessThanThreshold",
    }
    assert section["false_positive_rate"]["comparison_operator"] == (
        "GreaterThanThreshold"
    )
    assert "accuracy_best_constant_classifier" not in section
    regression = suggest_constraints(
        "Regression", compute_metrics("Regression", [1.0, 2.0, 4.0], [1.5, 2.0, 3.0])
    )["regression_constraints"]
    assert {k: v["comparison_operator"] for k, v in regression.items()} == {
        "mae": "GreaterThanThreshold",
        "mse": "GreaterThanThreshold",
        "rmse": "GreaterThanThreshold",
        "r2": "LessThanThreshold",
    }


@pytest.mark.parametrize("op", sorted(OPERATORS))
@pytest.mark.parametrize("offset", [-0.01, 0.0, 0.01])
def test_a_violation_fires_exactly_when_the_metric_crosses(op, offset):
    threshold = 0.75
    value = threshold + offset
    block = {"accuracy": {"value": value, "standard_deviation": "NaN"}}
    checks, violations = check_metrics(
        block, [MetricConstraint("accuracy", threshold, op)]
    )
    expected = {
        "LessThanThreshold": value < threshold,
        "LessThanOrEqualToThreshold": value <= threshold,
        "GreaterThanThreshold": value > threshold,
        "GreaterThanOrEqualToThreshold": value >= threshold,
    }[op]
    assert checks[0].breached is expected
    assert len(violations) == int(expected)
    if expected:
        v = violations[0]
        assert v["feature_name"] == v["metric_name"] == "accuracy"
        assert v["constraint_check_type"] == op
        assert v["description"] == (
            f"Metric accuracy with {value} was {op} {threshold}"
        )


def test_a_nan_metric_breaches_nothing():
    block = {"auc": {"value": "NaN", "standard_deviation": "NaN"}}
    _, violations = check_metrics(
        block, [MetricConstraint("auc", 0.9, "LessThanThreshold")]
    )
    assert violations == []


def test_deviation_is_shown_in_the_description():
    block = {"recall": {"value": 0.5, "standard_deviation": 0.01}}
    _, [v] = check_metrics(
        block, [MetricConstraint("recall", 0.6, "LessThanThreshold")]
    )
    assert (
        v["description"] == "Metric recall with 0.5 +/- 0.01 was LessThanThreshold 0.6"
    )


@pytest.mark.parametrize(
    ("document", "match"),
    [
        ({"regression_constraints": {}}, "is problem_type right"),
        ({"features": []}, "model-quality constraints file"),
        (
            {"binary_classification_constraints": {"f1": {"threshold": 0.5}}},
            "comparison_operator",
        ),
        (
            {
                "binary_classification_constraints": {
                    "f1": {
                        "threshold": "high",
                        "comparison_operator": "LessThanThreshold",
                    }
                }
            },
            "expected a number",
        ),
    ],
)
def test_bad_constraints_are_refused_clearly(document, match):
    with pytest.raises(MonitoringInputError, match=match):
        parse_constraints(document, "BinaryClassification", "c.json")


def test_the_confusion_matrix_is_a_well_formed_svg():
    import xml.etree.ElementTree as ET

    from container.monitoring.quality_report import confusion_svg

    block = compute_metrics(
        "MulticlassClassification", ["<a&b>", "c", "c"], ["c", "c", "<a&b>"]
    )
    svg = ET.fromstring(confusion_svg(block["confusion_matrix"]))
    texts_drawn = [t.text for t in svg.iter("{http://www.w3.org/2000/svg}text")]
    assert "<a&b>" in texts_drawn and "predicted" in texts_drawn


@pytest.mark.parametrize("seed", range(6))
def test_numpy_metrics_equal_scikit_learn_on_ties_and_rare_classes(seed):
    # Scores rounded to one decimal tie often; few rows make classes that are
    # never predicted (precision's zero_division) and lopsided labels.
    rng = np.random.default_rng(seed)
    rows = int(rng.integers(5, 60))
    truth = (rng.uniform(size=rows) < rng.uniform(0.1, 0.9)).astype(int)
    if truth.min() == truth.max():
        truth[0] = 1 - truth[0]
    scores = np.clip(truth * 0.3 + rng.uniform(0, 0.7, rows), 0, 1).round(1)
    predicted = (scores >= 0.6).astype(int)
    block = compute_metrics(
        "BinaryClassification", texts(truth), texts(predicted), list(scores)
    )
    assert block["auc"]["value"] == pytest.approx(
        skm.roc_auc_score(truth, scores), abs=1e-12
    )
    for beta, name in ((0.5, "f0_5"), (1.0, "f1"), (2.0, "f2")):
        expected = skm.fbeta_score(truth, predicted, beta=beta, zero_division=0)
        assert block[name]["value"] == pytest.approx(expected, abs=1e-12), name
    precision, recall, _ = skm.precision_recall_curve(truth, scores)
    curve = block["precision_recall_curve"]
    assert curve["precisions"] == pytest.approx(list(precision), abs=1e-12)
    assert curve["recalls"] == pytest.approx(list(recall), abs=1e-12)
    roc = block["receiver_operating_characteristic_curve"]
    area = np.trapezoid(roc["true_positive_rates"], roc["false_positive_rates"])
    assert area == pytest.approx(skm.roc_auc_score(truth, scores), abs=1e-12)

    classes = rng.choice(["a", "b", "c", "d"], rows, p=[0.6, 0.2, 0.15, 0.05])
    guesses = np.where(rng.uniform(size=rows) < 0.6, classes, "a")
    block = compute_metrics("MulticlassClassification", list(classes), list(guesses))
    for name, fn in (
        ("weighted_precision", skm.precision_score),
        ("weighted_recall", skm.recall_score),
        ("weighted_f1", skm.f1_score),
    ):
        expected = fn(classes, guesses, average="weighted", zero_division=0)
        assert block[name]["value"] == pytest.approx(expected, abs=1e-12), name


def test_r2_of_a_constant_target_is_scikit_learns():
    for predicted in ([3.0, 3.0, 3.0], [3.0, 2.0, 4.0]):
        block = compute_metrics("Regression", [3.0, 3.0, 3.0], predicted)
        assert block["r2"]["value"] == skm.r2_score([3.0, 3.0, 3.0], predicted)

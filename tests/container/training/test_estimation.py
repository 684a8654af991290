"""The calibration `train` records for estimating performance before labels."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from container.contract.paths import OptMl
from container.training import estimation
from container.training.splits import Split
from tests.container.training.test_job import (
    diabetes,
    failure_text,
    run_job,
    write_frame,
    write_hyperparameters,
)


def manifest(opt_ml: OptMl) -> dict:
    return json.loads((opt_ml.model_dir / "model.json").read_text())


def test_train_records_the_calibration_of_a_classifier(
    opt_ml: OptMl, penguins: pd.DataFrame, capsys
):
    write_frame(opt_ml.channel_dir("train") / "p.csv", penguins)
    write_hyperparameters(opt_ml, {"target": "species", "validation_fraction": "0.3"})
    code, _ = run_job(opt_ml, capsys)
    assert code == 0, failure_text(opt_ml)
    record = manifest(opt_ml)["performance_estimation"]
    assert record["status"] == "calibrated" and record["method"] == "isotonic"
    assert record["split"] == "validation"
    assert record["rows"] == manifest(opt_ml)["data"]["validation"]["rows_used"]
    assert record["classes"] == ["Adelie", "Chinstrap", "Gentoo"]
    fit = record["confidence"]
    assert len(fit["thresholds"]) == len(fit["values"]) >= 1
    assert fit["thresholds"] == sorted(fit["thresholds"])
    assert fit["values"] == sorted(fit["values"])
    assert all(0 <= v <= 1 for v in fit["values"])
    assert 0 <= record["ece"]["calibrated"] <= record["ece"]["uncalibrated"] + 1e-9
    assert "positive" not in record  # three classes: no ROC AUC estimate
    assert "calibrate" in manifest(opt_ml)["timings_seconds"]


def test_without_validation_rows_the_reason_is_recorded(
    opt_ml: OptMl, penguins: pd.DataFrame, capsys
):
    write_frame(opt_ml.channel_dir("train") / "p.csv", penguins)
    write_hyperparameters(opt_ml, {"target": "species"})
    code, _ = run_job(opt_ml, capsys)
    assert code == 0, failure_text(opt_ml)
    record = manifest(opt_ml)["performance_estimation"]
    assert record == {
        "status": "not_calibrated",
        "reason": "no validation rows: give a validation channel or set validation_fraction",  # noqa: E501
    }


def test_a_regressor_is_not_calibrated(opt_ml: OptMl, capsys):
    write_frame(opt_ml.channel_dir("train") / "d.csv", diabetes())
    write_hyperparameters(
        opt_ml,
        {"target": "target", "algorithm": "ridge", "validation_fraction": "0.2"},
    )
    code, _ = run_job(opt_ml, capsys)
    assert code == 0, failure_text(opt_ml)
    record = manifest(opt_ml)["performance_estimation"]
    assert record["status"] == "not_calibrated"
    assert "regression" in record["reason"]


def binary_data(rows: int, seed: int) -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, 2))
    y = (rng.uniform(size=rows) < 1 / (1 + np.exp(-2 * x[:, 0]))).astype(int)
    return pd.DataFrame(x, columns=["a", "b"]), pd.Series(y)


def fitted(model) -> object:
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    features, target = binary_data(400, 0)
    return Pipeline([("scale", StandardScaler()), ("model", model)]).fit(
        features, target
    )


def test_binary_calibration_maps_probabilities_to_observed_rates():
    from sklearn.linear_model import LogisticRegression

    pipeline = fitted(LogisticRegression())
    features, target = binary_data(2000, 1)
    record = estimation.calibrate(
        pipeline,
        {"validation": Split("validation", features, target)},
        "classification",
    )
    assert record["status"] == "calibrated" and record["positive_class"] == 1
    proba = pipeline.predict_proba(features)
    positive = estimation.apply(record["positive"], proba[:, 1])
    # Calibrated on these rows: the mean calibrated probability is the base rate.
    assert positive.mean() == pytest.approx(target.mean(), abs=1e-6)
    confidence = estimation.apply(record["confidence"], proba.max(axis=1))
    assert confidence.mean() == pytest.approx(record["accuracy"], abs=1e-6)


def test_a_model_without_predict_proba_is_not_calibrated():
    from sklearn.svm import LinearSVC

    features, target = binary_data(200, 1)
    record = estimation.calibrate(
        fitted(LinearSVC()),
        {"validation": Split("validation", features, target)},
        "classification",
    )
    assert record == {
        "status": "not_calibrated",
        "reason": "the estimator LinearSVC has no predict_proba",
    }


def test_too_few_validation_rows_are_not_calibrated():
    from sklearn.linear_model import LogisticRegression

    features, target = binary_data(20, 1)
    record = estimation.calibrate(
        fitted(LogisticRegression()),
        {"validation": Split("validation", features, target)},
        "classification",
    )
    assert record["status"] == "not_calibrated" and record["rows"] == 20
    assert "fewer than the 50" in record["reason"]


def test_calibration_failure_is_a_reason_not_an_error():
    record = estimation.calibrate(object(), {}, "classification")
    assert record["status"] == "not_calibrated"
    assert record["reason"].startswith("calibration failed: TypeError")


def test_ece_of_a_calibrated_and_an_overconfident_model():
    confidence = np.full(1000, 0.9)
    correct = np.r_[np.ones(900), np.zeros(100)]
    assert estimation.ece(confidence, correct) == pytest.approx(0.0)
    assert estimation.ece(np.full(1000, 0.99), correct) == pytest.approx(0.09)

import pandas as pd
import pytest

from orchestration import traffic
from orchestration.config import DriftConfig

ROWS = pd.DataFrame(
    {"island": ["Dream", "Biscoe"], "body_mass_g": ["3250", ""], "sex": ["female", ""]}
)


def test_drift_shifts_and_overrides_without_touching_the_input():
    out = traffic.drift(
        ROWS, DriftConfig({"body_mass_g": 1500.0}, {"island": "Torgersen"})
    )
    assert out["body_mass_g"].iloc[0] == 4750 and pd.isna(out["body_mass_g"].iloc[1])
    assert out["island"].tolist() == ["Torgersen", "Torgersen"]
    assert ROWS["body_mass_g"].tolist() == ["3250", ""]


def test_drift_names_an_unknown_column():
    with pytest.raises(traffic.TrafficError, match="unknown column 'mass'"):
        traffic.drift(ROWS, DriftConfig({"mass": 1.0}))


def test_one_headerless_csv_record_per_row():
    assert traffic.csv_line(ROWS.iloc[0]) == b"Dream,3250,female\n"
    assert traffic.csv_line(ROWS.iloc[1]) == b"Biscoe,,\n"


def test_prediction_and_accuracy():
    assert traffic.first_prediction(b"Adelie\n") == "Adelie"
    assert traffic.first_prediction(b'"Gentoo",0.9\n') == "Gentoo"
    result = traffic.TrafficResult(sent=3, predictions=["A", "B", ""])
    assert result.accuracy(["A", "C", "A"]) == 0.5


def test_regression_traffic_is_scored_by_its_errors_not_by_equality():
    # The failed request (no prediction) is left out, not counted as wrong.
    result = traffic.TrafficResult(predictions=["10.5", "", "19.0"])
    labels = ["10", "7", "21"]
    errors = result.regression_errors(labels)
    assert errors == {"mae": 1.25, "rmse": pytest.approx((2.125) ** 0.5)}
    assert result.quality_text(labels, "regression") == ", mae 1.25, rmse 1.458"
    assert result.quality_text(labels, "classification") == ", accuracy 0.000"

"""baseline → monitor on captured traffic: the right violation each time, and
nothing else."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.container.monitoring.helpers import csv_lines, json_lines, write_capture


def test_same_data_gives_no_violations(fitted, frame, tmp_path):
    write_capture(tmp_path / "cap", csv_lines(frame))
    run = fitted.run_monitor(tmp_path / "cap", tmp_path / "out")
    assert run.code == 0
    assert run.violations == []
    assert run.message.startswith(
        "Completed: Job completed successfully with no violations"
    )
    stats = json.loads((run.output / "statistics.json").read_text())
    assert stats["dataset"]["item_count"] == len(frame)


def test_same_data_as_json_objects_gives_no_violations(fitted, frame, tmp_path):
    write_capture(tmp_path / "cap", json_lines(frame))
    run = fitted.run_monitor(tmp_path / "cap", tmp_path / "out")
    assert (run.code, run.violations) == (0, [])


def test_shifted_numeric_is_drift_only(fitted, frame, tmp_path):
    shifted = frame.assign(age=frame["age"] + 15)
    write_capture(tmp_path / "cap", csv_lines(shifted))
    run = fitted.run_monitor(tmp_path / "cap", tmp_path / "out")
    assert run.checks() == {("age", "baseline_drift_check")}
    description = run.violations[0]["description"]
    assert description.startswith("Numerical distance: ")
    distance = float(description.split("distance: ")[1].split(" exceeds")[0])
    assert 0.1 < distance <= 1.0
    assert description.endswith("exceeds numerical threshold: 0.1")
    assert run.message.strip() == (
        "CompletedWithViolations: Job completed successfully with 1 violations."
    )


def test_changed_category_mix_is_drift_only(fitted, frame, tmp_path):
    mixed = frame.assign(colour=frame["colour"].replace({"green": "red"}))
    write_capture(tmp_path / "cap", csv_lines(mixed))
    run = fitted.run_monitor(tmp_path / "cap", tmp_path / "out")
    assert run.checks() == {("colour", "baseline_drift_check")}
    assert run.violations[0]["description"].startswith("Categorical distance: ")


def test_nulls_are_completeness_only(fitted, frame, tmp_path):
    holed = frame.copy()
    holed.loc[holed.index % 5 == 0, "income"] = np.nan
    write_capture(tmp_path / "cap", csv_lines(holed))
    run = fitted.run_monitor(tmp_path / "cap", tmp_path / "out")
    assert run.checks() == {("income", "completeness_check")}
    assert "Only 80.0% of data is complete" in run.violations[0]["description"]


def test_new_column_is_extra_column_only(fitted, frame, tmp_path):
    write_capture(tmp_path / "cap", json_lines(frame.assign(channel="web")))
    run = fitted.run_monitor(tmp_path / "cap", tmp_path / "out")
    assert run.checks() == {("channel", "extra_column_check")}
    assert "Number of columns in current dataset: 6" in run.violations[0]["description"]


def test_new_positional_column_is_extra_column_only(fitted, frame, tmp_path):
    write_capture(tmp_path / "cap", csv_lines(frame.assign(extra=1)))
    run = fitted.run_monitor(tmp_path / "cap", tmp_path / "out")
    assert run.checks() == {("_c5", "extra_column_check")}


def test_missing_column_is_missing_column_only(fitted, frame, tmp_path):
    write_capture(tmp_path / "cap", json_lines(frame.drop(columns=["score"])))
    run = fitted.run_monitor(tmp_path / "cap", tmp_path / "out")
    assert run.checks() == {("score", "missing_column_check")}
    assert run.violations[0]["description"].startswith(
        "There are missing columns in current dataset."
    )


def test_type_change_is_data_type_only(fitted, frame, tmp_path):
    typed = frame.astype({"age": object})
    typed.loc[typed.index % 10 == 0, "age"] = "unknown"
    write_capture(tmp_path / "cap", csv_lines(typed))
    run = fitted.run_monitor(tmp_path / "cap", tmp_path / "out")
    assert run.checks() == {("age", "data_type_check")}
    assert run.violations[0]["description"] == (
        "Data type match requirement is not met. Expected data type: Integral, "
        "Expected match: 100.0%. Observed: Only 90.0% of data is Integral."
    )


def test_fractional_values_in_an_integral_column_break_its_type(
    fitted, frame, tmp_path
):
    typed = frame.assign(visits=frame["visits"].astype(float))
    typed.loc[typed.index % 50 == 0, "visits"] += 0.5
    write_capture(tmp_path / "cap", csv_lines(typed))
    run = fitted.run_monitor(tmp_path / "cap", tmp_path / "out")
    assert run.checks() == {("visits", "data_type_check")}
    assert "Only 98.0% of data is Integral" in run.violations[0]["description"]


def test_new_category_values_are_categorical_values_only(fitted, frame, tmp_path):
    novel = frame.copy()
    novel.loc[novel.index % 20 == 0, "colour"] = "purple"
    write_capture(tmp_path / "cap", csv_lines(novel))
    run = fitted.run_monitor(tmp_path / "cap", tmp_path / "out")
    assert run.checks() == {("colour", "categorical_values_check")}
    assert "'purple' (150)" in run.violations[0]["description"]


def test_several_problems_are_all_reported(fitted, frame, tmp_path):
    bad = frame.assign(
        age=frame["age"] + 15, colour=frame["colour"].replace({"green": "red"})
    ).drop(columns=["score"])
    write_capture(tmp_path / "cap", json_lines(bad))
    run = fitted.run_monitor(tmp_path / "cap", tmp_path / "out")
    assert run.checks() == {
        ("age", "baseline_drift_check"),
        ("colour", "baseline_drift_check"),
        ("score", "missing_column_check"),
    }
    assert "with 3 violations" in run.message


@pytest.mark.parametrize("method", ["Simple", "Robust"])
def test_small_shift_is_caught_by_simple_but_discounted_by_robust(
    frame, tmp_path, opt_ml, method
):
    from tests.container.monitoring.helpers import run_baseline

    fitted = run_baseline(frame, tmp_path / "base")
    constraints = json.loads(fitted.constraints.read_text())
    constraints["monitoring_config"]["distribution_constraints"][
        "comparison_method"
    ] = method
    fitted.constraints.write_text(json.dumps(constraints))
    # A 300-record sample shifted by ~0.3 sd: KS ≈ 0.12, Robust discount ≈ 0.11.
    sample = frame.head(300).assign(score=frame["score"].head(300) + 0.3)
    write_capture(tmp_path / "cap", csv_lines(sample))
    run = fitted.run_monitor(tmp_path / "cap", tmp_path / "out")
    found = ("score", "baseline_drift_check") in run.checks()
    assert found is (method == "Simple")

"""Captured rows carry no column names: with the model bundle's schema they are
named by its features, even when the baseline also holds the output column."""

from __future__ import annotations

import json

import pytest

from tests.container.monitoring.helpers import capture_line, run_baseline, write_capture

FEATURES = [
    "bill_length_mm",
    "bill_depth_mm",
    "flipper_length_mm",
    "body_mass_g",
    "island",
    "sex",
]


@pytest.mark.parametrize("position", ["START", "END"])
@pytest.mark.parametrize("with_output", [False, True])
def test_headerless_captures_are_named_by_the_schema(
    opt_ml, penguins, penguins_model_dir, tmp_path, position, with_output
):
    data = penguins.dropna()
    columns = ["species", *FEATURES] if position == "START" else [*FEATURES, "species"]
    fmt = json.dumps({"csv": {"header": True, "output_columns_position": position}})
    fitted = run_baseline(data[columns], tmp_path / "base", "--dataset-format", fmt)
    lines = [
        capture_line(
            ",".join(str(v) for v in row[FEATURES]),
            output=row["species"] if with_output else None,
        )
        for _, row in data.iterrows()
    ]
    write_capture(tmp_path / "cap", lines)
    indexes = ["endpointInput", "endpointOutput"] if with_output else ["endpointInput"]
    run = fitted.run_monitor(
        tmp_path / "cap",
        tmp_path / "out",
        "--model-dir",
        str(penguins_model_dir),
        "--dataset-format",
        json.dumps({"sagemakerCaptureJson": {"captureIndexNames": indexes}}),
    )
    expected = set() if with_output else {("species", "missing_column_check")}
    assert run.checks() == expected, run.violations

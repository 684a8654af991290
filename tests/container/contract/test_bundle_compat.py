"""Bundles written by an earlier release still load and predict the same."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from container.contract.bundle import library_versions, load_bundle
from container.contract.errors import BundleError

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "bundle-v1"
PENGUINS_CSV = Path(__file__).resolve().parents[3] / "data" / "raw" / "penguins.csv"
ROWS = [0, 1, 3, 160, 300, 340]
# What the bundle answered for ROWS when it was written.
EXPECTED_LABELS = ["Adelie", "Adelie", "Adelie", "Gentoo", "Chinstrap", "Chinstrap"]
EXPECTED_PROBABILITIES = [
    [0.907832, 0.086973, 0.005195],
    [0.907832, 0.086973, 0.005195],
    [0.907832, 0.086973, 0.005195],
    [0.037662, 0.0, 0.962338],
    [0.158969, 0.841031, 0.0],
    [0.36269, 0.63731, 0.0],
]


def _trained_with() -> str:
    return json.loads((FIXTURE / "model.json").read_text())["libraries"]["scikit-learn"]


def test_a_bundle_of_the_first_release_loads_and_predicts_as_it_did():
    if _trained_with() != library_versions().get("scikit-learn"):
        # A pickle is only trusted by the scikit-learn release that wrote it; the
        # refusal must say so rather than predict wrongly.
        with pytest.raises(BundleError, match="Retrain|InconsistentVersion"):
            load_bundle(FIXTURE)
        return
    bundle = load_bundle(FIXTURE)
    rows = pd.read_csv(PENGUINS_CSV).iloc[ROWS][bundle.schema.feature_names]
    assert list(bundle.pipeline.predict(rows)) == EXPECTED_LABELS
    probabilities = bundle.pipeline.predict_proba(rows).round(6).tolist()
    assert probabilities == EXPECTED_PROBABILITIES

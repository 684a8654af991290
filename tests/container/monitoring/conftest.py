"""Fixtures for the monitoring tests (helpers live in helpers.py)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from tests.container.monitoring.helpers import Baseline, make_frame, run_baseline


@pytest.fixture(scope="session")
def frame() -> pd.DataFrame:
    return make_frame()


@pytest.fixture
def fitted(frame: pd.DataFrame, tmp_path: Path, opt_ml) -> Baseline:
    """A baseline of the synthetic frame, with /opt/ml under tmp_path."""
    return run_baseline(frame, tmp_path / "base")

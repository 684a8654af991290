"""Classification or regression: which one the target column is.

`prepare` needs it before any model exists, to choose how to split (classes
kept in proportion, or rows shuffled). It applies the rule `train` applies
when its `problem_type` hyperparameter is auto (container.training.features),
so the split and the model agree; an explicit problem type wins over both.
"""

from __future__ import annotations

import pandas as pd

PROBLEM_TYPES = ("auto", "classification", "regression")
# A whole-number target with at most this many distinct values is taken for
# classes, as `train` takes it (its MAX_AUTO_CLASSES; a test keeps them equal).
MAX_AUTO_CLASSES = 20


def problem_type(target: pd.Series, requested: str = "auto") -> str:
    """`requested` unless auto; else classification for text or few whole numbers."""
    if requested != "auto":
        return requested
    present = target.dropna()
    numbers = pd.to_numeric(present, errors="coerce")
    if numbers.isna().any():
        return "classification"
    integral = bool((numbers % 1 == 0).all())
    few = numbers.nunique() <= MAX_AUTO_CLASSES
    return "classification" if integral and few else "regression"

"""How many classes a training job takes on, checked before anything is fitted.

A classifier's memory grows with the class count: a random forest keeps a
value per class in every node of every tree, predict_proba holds rows ×
classes numbers, and a confusion matrix classes². A target with thousands of
classes (often an identifier picked as the target by mistake) would be killed
for memory long after the data was read, with no failure file; refusing it
right after reading the target says what is wrong and how to go on.
"""

from __future__ import annotations

import pandas as pd

from container.training.errors import DataError

# Classes named in the failure message, the most frequent first.
NAMED_IN_MESSAGE = 5


def check_class_count(target: pd.Series, max_classes: int) -> None:
    """Refuse a classification target with more than `max_classes` classes."""
    counts = target.value_counts()
    if len(counts) <= max_classes:
        return
    examples = ", ".join(repr(str(c)) for c in counts.index[:NAMED_IN_MESSAGE])
    median_rows = int(counts.median())
    raise DataError(
        f"target column {target.name!r} has {len(counts)} classes, more than "
        f"max_classes={max_classes} (most frequent: {examples}; median "
        f"{median_rows} row(s) per class). Check that this column is the label "
        f"and not an identifier; to train anyway, set the hyperparameter "
        f"max_classes to at least {len(counts)} on an instance with enough "
        "memory, or set problem_type=regression if the values are quantities."
    )

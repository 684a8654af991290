"""Labelled rows for model quality: a label, a prediction, maybe a probability.

A baseline dataset (or a pre-merged monitoring dataset) names them with
`ground_truth_attribute`, `inference_attribute` and `probability_attribute`:
a column name, or a 0-based column index (so `_c1` and `1` are the same
column of a headerless CSV). The dataset is read as the data-quality
baseline reads it (`dataset_format`: CSV with or without header, JSON Lines,
Parquet).

Predictions: the inference attribute's value when given. Without it, a binary
problem's prediction is 1 when the probability is at least
`probability_threshold_attribute` (default 0.5), else 0. A row whose label or
prediction is missing is left out and counted.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from container.monitoring.datasets import DatasetFormat, dataset_files, read_file
from container.monitoring.errors import MonitoringInputError, NoDataError
from container.monitoring.quality_metrics import label_text, number_value
from container.monitoring.quality_settings import (
    BINARY,
    REGRESSION,
    QualitySettings,
)


@dataclass
class Pairs:
    """Labels and predictions of the rows that have both."""

    truth: list[Any] = field(default_factory=list)
    predicted: list[Any] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)
    without_label: int = 0
    without_prediction: int = 0

    def extend(
        self,
        problem: str,
        labels: Iterable[Any],
        predictions: Iterable[Any],
        probabilities: Iterable[Any],
        threshold: float,
    ) -> int:
        """Add rows; those missing a label or a prediction are counted, not added.

        Returns how many rows were added. Runs once per row of a window, so
        label texts are normalised once per distinct value.
        """
        before = len(self.truth)
        to_value = number_value if problem == REGRESSION else _cached_label_text()
        binary = problem == BINARY
        truth, predicted, scores = self.truth, self.predicted, self.scores
        for label, prediction, probability in zip(
            labels, predictions, probabilities, strict=True
        ):
            score = (
                probability
                if type(probability) is float and probability == probability
                else number_value(probability)
            )
            actual, guess = to_value(label), to_value(prediction)
            if guess is None and binary and score is not None:
                guess = "1" if score >= threshold else "0"
            if actual is None:
                self.without_label += 1
            elif guess is None:
                self.without_prediction += 1
            else:
                truth.append(actual)
                predicted.append(guess)
                if score is not None:
                    scores.append(score)
        return len(self.truth) - before

    def binary_scores(self, problem: str) -> list[float] | None:
        """The probabilities, when a binary problem has one for every row."""
        if problem != BINARY or not self.truth or len(self.scores) != len(self.truth):
            return None
        return self.scores


def resolve_column(attribute: str, columns: Sequence[str], what: str) -> str:
    """A column named by `attribute`, or at its 0-based index."""
    if attribute in columns:
        return attribute
    text = attribute.strip()
    if text.isdigit() and int(text) < len(columns):
        return columns[int(text)]
    shown = ", ".join(columns[:20]) + (" ..." if len(columns) > 20 else "")
    raise MonitoringInputError(
        f"{what}={attribute!r} names no column of the dataset: give a column name "
        f"or a 0-based index; its columns are {shown}"
    )


def read_frame(source: Path, fmt: DatasetFormat) -> pd.DataFrame:
    frames = []
    for path in dataset_files(source):
        try:
            tables = list(read_file(path, fmt))
        except pa.ArrowInvalid:
            try:
                tables = list(read_file(path, fmt, as_text=True))
            except pa.ArrowInvalid as exc:
                raise MonitoringInputError(
                    f"{path} is not readable as {fmt.kind}: {exc}"
                ) from None
        frames.extend(t.to_pandas() for t in tables)
    frames = [f for f in frames if len(f)]
    if not frames:
        raise NoDataError(f"dataset {source} holds no records")
    return pd.concat(frames, ignore_index=True, sort=False)


def labelled_pairs(
    source: Path, fmt: DatasetFormat, settings: QualitySettings
) -> tuple[Pairs, int]:
    """The dataset's (label, prediction) pairs and its row count."""
    frame = read_frame(source, fmt)
    columns = [str(c) for c in frame.columns]
    frame.columns = columns
    if settings.ground_truth_attribute is None:
        raise MonitoringInputError(
            "ground_truth_attribute is not set: name the dataset's label column "
            "(a name, or a 0-based index)"
        )
    if settings.inference_attribute is None and (
        settings.probability_attribute is None or settings.problem_type != BINARY
    ):
        need = (
            "inference_attribute (or probability_attribute)"
            if settings.problem_type == BINARY
            else "inference_attribute"
        )
        raise MonitoringInputError(
            f"{need} is not set: name the dataset's prediction column "
            "(a name, or a 0-based index)"
        )
    label = resolve_column(
        settings.ground_truth_attribute, columns, "ground_truth_attribute"
    )
    predicted = (
        resolve_column(settings.inference_attribute, columns, "inference_attribute")
        if settings.inference_attribute is not None
        else None
    )
    probability = (
        resolve_column(settings.probability_attribute, columns, "probability_attribute")
        if settings.probability_attribute is not None
        else None
    )
    n = len(frame)
    labels = frame[label].tolist()
    guesses = frame[predicted].tolist() if predicted else [None] * n
    scores = frame[probability].tolist() if probability else [None] * n
    pairs = Pairs()
    pairs.extend(
        settings.problem_type, labels, guesses, scores, settings.probability_threshold
    )
    return pairs, n


def _cached_label_text() -> Callable[[Any], str | None]:
    """`label_text`, remembering the texts of the strings it has seen."""
    seen: dict[str, str | None] = {}

    def text(value: Any) -> str | None:
        if type(value) is not str:
            return label_text(value)
        try:
            return seen[value]
        except KeyError:
            seen[value] = found = label_text(value)
            return found

    return text

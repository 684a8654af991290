"""The model's output (endpointOutput) as one column of the data-quality profile.

A shift of what the model predicts (the mix of a classifier's labels, the
values of a regressor) is drift like any feature's, so the monitor profiles
the predicted label of each captured record as a column and checks it with
the same checks as the features (categorical or numeric, as the baseline
column's type says).

The predicted label is read from the shapes this project's server writes
(`container.contract.codecs.encode`): CSV `prediction[,p_class1,...]` per
line, JSON `{"predictions": [...], "probabilities": [...]}`, JSON Lines
`{"prediction": ...}` per line; and SageMaker's plain outputs (CSV `1`, JSON
objects with `predicted_label`). Probabilities are not profiled.

The column's name: the model bundle schema's target when a bundle is given;
else the baseline's column at `output_columns_position` when positional
inputs leave exactly one baseline column over; else `prediction`. A name that
an input column already has gets a `_1`, `_2`, ... suffix, so a feature is
never overwritten by the predictions.

A classifier's labels are categories even when they are integers (0/1,
0..k): with a classifier's bundle, `baseline` profiles the target (and a
`prediction` column) as String, and `monitor` profiles the captured
predictions as the baseline's column is typed, String when the baseline has
no typed column and the bundle is a classifier's. A regressor's values stay
numeric.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from container.contract.schema import Schema
from container.monitoring.capture_reader import Payload
from container.monitoring.profile import FRACTIONAL, INTEGRAL, STRING

DEFAULT_OUTPUT_NAME = "prediction"
OUTPUT_DESCRIPTION = "the model's predictions (endpointOutput)"


@dataclass
class OutputColumn:
    """Which column holds the model's predictions, once the capture was read."""

    name: str | None = None
    rows: int = 0  # captured predictions profiled
    undecodable: int = 0  # outputs that gave no prediction
    unaligned: int = 0  # records whose prediction count differs from their rows

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "predictions": self.rows,
            "undecodable_outputs": self.undecodable,
            "unaligned_outputs": self.unaligned,
        }


def predicted_labels(payload: Payload) -> list[Any]:
    """The predicted label of each record of one captured output.

    Raises ValueError (or a JSON/Unicode error) when the output does not decode.
    """
    if payload.encoding == "CSV" and "json" not in payload.content_type.lower():
        text = payload.data.strip()
        if text and not any(c in text for c in '\n\r"'):
            # One unquoted CSV line, the usual case: its first field.
            return [_plain(text.split(",", 1)[0])]
    from container.monitoring.quality_merge import parse_output

    return [_plain(guess) for guess, _ in parse_output(payload, _label_settings())]


@cache
def _label_settings():
    """Model-quality's output reading with no attributes set: the label only."""
    from container.monitoring.quality_settings import QualitySettings

    return QualitySettings(
        problem_type="Regression",  # no positive-class probability wanted
        inference_attribute=None,
        probability_attribute=None,
        probability_threshold=0.5,
        ground_truth_attribute=None,
        ground_truth_source=None,
    )


def baseline_output_column(columns: Collection[str], target: str | None) -> str | None:
    """The column of a baseline dataset the monitor compares captured outputs
    with: the schema's target, else `prediction`, when the dataset has it."""
    for name in (target, DEFAULT_OUTPUT_NAME):
        if name is not None and name in columns:
            return name
    return None


def is_classifier(schema: Schema | None) -> bool:
    return schema is not None and schema.problem_type == "classification"


def label_columns(schema: Schema | None) -> list[str]:
    """Columns of a baseline dataset that hold a classifier's class labels, to
    profile as String: the schema's target, and `prediction` unless it is a
    feature. None for a regressor, or without a bundle."""
    if not is_classifier(schema):
        return []
    names = dict.fromkeys((schema.target, DEFAULT_OUTPUT_NAME))
    return [n for n in names if n not in schema.feature_names]


def output_is_categorical(schema: Schema | None, baseline_type: str | None) -> bool:
    """Whether the column of the model's predictions is profiled as String.

    As the baseline's column of that name is typed, so the two compare: String
    (a classifier's labels), or numeric (a regressor's values, or integer
    classes a baseline taken without the bundle profiled as numbers). When the
    baseline has no such column, or it holds no values (Unknown): String for a
    classifier's bundle, else as the values look.
    """
    if baseline_type == STRING:
        return True
    if baseline_type in (INTEGRAL, FRACTIONAL):
        return False
    return is_classifier(schema)


def _plain(value: Any) -> Any:
    if isinstance(value, str):
        value = value.strip()
        return value if value else None
    if isinstance(value, dict | list):
        return None  # not a label: nothing to profile
    return value


def unique_name(wanted: str, taken: Collection[str]) -> str:
    """`wanted`, or `wanted_1`, `wanted_2`, ... if an input column has it."""
    taken = {str(t) for t in taken}
    if wanted not in taken:
        return wanted
    n = 1
    while f"{wanted}_{n}" in taken:
        n += 1
    return f"{wanted}_{n}"


def split_baseline_names(
    names: Sequence[str], input_width: int, position: str
) -> tuple[list[str], str] | None:
    """(input names, output name) when the baseline has one column more than
    positional inputs: `prediction` if it has that column, else the column at
    `output_columns_position` (START or END). None when the counts differ."""
    if len(names) != input_width + 1:
        return None
    if DEFAULT_OUTPUT_NAME in names:
        output = DEFAULT_OUTPUT_NAME
    else:
        output = names[0] if position == "START" else names[-1]
    return [n for n in names if n != output], output

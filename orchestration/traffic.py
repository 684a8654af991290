"""Requests for an endpoint: held-out rows as they are, or deliberately drifted.

The demo sends the test split to show a healthy endpoint, then the same rows
shifted as `monitoring.drift` says (penguins: heavier birds, one island;
diabetes: higher BMI and blood pressure) so that the monitor has real drift
to find. Held-out traffic is scored against its labels as the problem type
asks: accuracy for classes, MAE and RMSE for a regression. Each row is one headerless CSV request, the
way SageMaker clients send single records, so each becomes one capture record.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field

import pandas as pd

from container.contract.errors import ByocError
from orchestration.config import DriftConfig


class TrafficError(ByocError):
    code = "invalid_traffic"


@dataclass
class TrafficResult:
    sent: int = 0
    errors: int = 0
    predictions: list[str] = field(default_factory=list)
    error_messages: list[str] = field(default_factory=list)
    inference_ids: list[str] = field(default_factory=list)  # one per request sent

    def accuracy(self, labels: list[str]) -> float | None:
        pairs = [(p, y) for p, y in zip(self.predictions, labels, strict=False) if p]
        if not pairs:
            return None
        return sum(p == str(y) for p, y in pairs) / len(pairs)

    def regression_errors(self, labels: list[str]) -> dict[str, float] | None:
        """MAE and RMSE of the numeric predictions against numeric labels."""
        pairs = [
            (float(p), float(y))
            for p, y in zip(self.predictions, labels, strict=False)
            if _is_number(p) and _is_number(y)
        ]
        if not pairs:
            return None
        errors = [p - y for p, y in pairs]
        return {
            "mae": sum(abs(e) for e in errors) / len(errors),
            "rmse": (sum(e * e for e in errors) / len(errors)) ** 0.5,
        }

    def quality_text(self, labels: list[str], problem: str) -> str:
        """', accuracy 0.95' or ', mae 42.1, rmse 55.0' ('' without a measure)."""
        if problem == "regression":
            errors = self.regression_errors(labels)
            if errors is None:
                return ""
            return "".join(f", {k} {v:.4g}" for k, v in errors.items())
        accuracy = self.accuracy(labels)
        return f", accuracy {accuracy:.3f}" if accuracy is not None else ""


def _is_number(text: object) -> bool:
    try:
        float(str(text))
    except ValueError:
        return False
    return str(text).strip() != ""


def drift(rows: pd.DataFrame, config: DriftConfig) -> pd.DataFrame:
    """A copy of `rows` with numeric columns shifted and categorical ones overridden."""
    out = rows.copy()
    for column, shift in config.numeric_shift.items():
        if column not in out.columns:
            raise TrafficError(
                f"monitoring.drift.numeric_shift names unknown column {column!r}; columns are {list(out.columns)}"
            )
        out[column] = pd.to_numeric(out[column], errors="coerce") + shift
    for column, value in config.categorical_override.items():
        if column not in out.columns:
            raise TrafficError(
                f"monitoring.drift.categorical_override names unknown column {column!r}; columns are {list(out.columns)}"
            )
        out[column] = value
    return out


def csv_line(row: pd.Series) -> bytes:
    """One headerless CSV record; missing values stay empty, as clients send them."""
    buffer = io.StringIO()
    row.to_frame().T.to_csv(buffer, header=False, index=False, lineterminator="\n")
    return buffer.getvalue().encode()


def first_prediction(body: bytes) -> str:
    """The predicted label from a CSV (or single-value) response."""
    text = body.decode(errors="replace").strip()
    return text.splitlines()[0].split(",")[0].strip().strip('"') if text else ""

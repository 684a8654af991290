"""Merge a window's captured predictions with their ground-truth labels.

A capture record is matched on `eventMetadata.inferenceId` (the id the caller
passed to InvokeEndpoint), else its `eventId`, as SageMaker matches them.

The prediction (and for a binary problem the probability of the positive
class) is read from `endpointOutput`:

- `inference_attribute` / `probability_attribute`, when set: a 0-based field
  index (or `_cN`) of a CSV output; a key, or a dotted path such as
  `predictions.0.score`, of a JSON object (looked up in each element of a
  `predictions` list when the top level does not hold it).
- without them, the shapes this project's server writes: CSV
  `prediction[,p_class1,p_class2,...]` per line, JSON `{"predictions": [...],
  "probabilities": [{class: p}, ...]}`, JSON Lines `{"prediction": p,
  "probabilities": {...}}`; and SageMaker's plain outputs: CSV `1`, JSON
  objects with `predicted_label` (and `score`). Per-class probabilities give
  the positive class's (named, or the last column, as scikit-learn orders
  classes).
- with only `probability_attribute`, a binary prediction is 1 when the
  probability reaches `probability_threshold_attribute`, else 0.

A request of n records has n predictions and is matched with a label record
holding n labels. Records are counted, never fatal: outputs that do not
decode, captures without a label, labels of other windows.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from container.monitoring.capture_decoding import payload_bytes
from container.monitoring.capture_reader import Payload
from container.monitoring.quality_data import Pairs
from container.monitoring.quality_metrics import label_text, positive_label
from container.monitoring.quality_settings import BINARY, QualitySettings

PREDICTION_KEYS = ("prediction", "predicted_label", "label", "predictions")
PROBABILITY_KEYS = ("probabilities", "probability", "score")
MAX_EXAMPLES = 20

Prediction = tuple[Any, Any]  # (prediction or None, positive probability or None)


@dataclass
class MergeCounts:
    captured: int = 0  # capture records in the window
    merged_records: int = 0  # capture records with a label
    merged_rows: int = 0  # predictions paired with a label (a request may hold many)
    captured_without_label: int = 0
    labels_without_capture: int = 0
    without_output: int = 0
    undecodable_outputs: int = 0
    count_mismatches: int = 0
    rows_without_label_value: int = 0
    rows_without_prediction: int = 0
    examples: list[str] = field(default_factory=list)

    def problem(self, kind: str, reason: str) -> None:
        setattr(self, kind, getattr(self, kind) + 1)
        if len(self.examples) < MAX_EXAMPLES:
            self.examples.append(reason)

    def to_dict(self) -> dict[str, Any]:
        return {
            "captured_records": self.captured,
            "merged_records": self.merged_records,
            "merged_rows": self.merged_rows,
            "captured_without_label": self.captured_without_label,
            "labels_without_capture_in_window": self.labels_without_capture,
            "captured_without_output": self.without_output,
            "undecodable_outputs": self.undecodable_outputs,
            "label_count_mismatches": self.count_mismatches,
            "rows_without_label_value": self.rows_without_label_value,
            "rows_without_prediction": self.rows_without_prediction,
            "examples": self.examples,
        }


def merge(
    captures: Iterable[tuple[str | None, Payload | None]],
    labels: Mapping[str, Sequence[Any]],
    settings: QualitySettings,
    on_probabilities: Callable[[Any], None] | None = None,
) -> tuple[Pairs, MergeCounts]:
    """Pair each captured prediction with its label.

    `captures` are (id, endpointOutput) of the window's records, the id as
    `capture_reader.record_id` gives it, None for an output not captured.

    `on_probabilities`, when given, is called with the captured probabilities
    (as `parse_raw` gives them, None when absent) of every prediction of the
    window, labelled or not; an output that does not decode gives one None.
    """
    pairs, counts = Pairs(), MergeCounts()
    read = OutputReader(settings)
    used: set[str] = set()
    # Collected for one bulk Pairs.extend: per-row calls cost more than the merge.
    truths: list[Any] = []
    guesses: list[Any] = []
    scores: list[Any] = []
    for key, output in captures:
        counts.captured += 1
        if key is None or key not in labels:
            counts.captured_without_label += 1
            if on_probabilities is not None:
                _report_probabilities(output, read, on_probabilities)
            continue
        used.add(key)
        if output is None:
            counts.problem("without_output", f"{key}: no endpointOutput captured")
            if on_probabilities is not None:
                on_probabilities(None)
            continue
        try:
            raw = read(output)
        except (ValueError, UnicodeDecodeError) as exc:
            counts.problem("undecodable_outputs", f"{key}: {exc}")
            if on_probabilities is not None:
                on_probabilities(None)
            continue
        if on_probabilities is not None:
            for _, probabilities in raw:
                on_probabilities(probabilities)
        values = labels[key]
        if len(values) != len(raw):
            counts.problem(
                "count_mismatches",
                f"{key}: {len(raw)} predictions but {len(values)} labels",
            )
            continue
        counts.merged_records += 1
        truths.extend(values)
        for guess, probabilities in raw:
            guesses.append(guess)
            scores.append(_positive_score(probabilities, settings))
    counts.merged_rows = pairs.extend(
        settings.problem_type, truths, guesses, scores, settings.probability_threshold
    )
    counts.labels_without_capture = len(set(labels) - used)
    counts.rows_without_label_value = pairs.without_label
    counts.rows_without_prediction = pairs.without_prediction
    return pairs, counts


def _report_probabilities(
    output: Payload | None,
    read: OutputReader,
    on_probabilities: Callable[[Any], None],
) -> None:
    if output is None:
        on_probabilities(None)
        return
    try:
        raw = read(output)
    except (ValueError, UnicodeDecodeError):
        on_probabilities(None)
        return
    for _, probabilities in raw:
        on_probabilities(probabilities)


def parse_output(payload: Payload, settings: QualitySettings) -> list[Prediction]:
    """(prediction, positive-class probability) per record of a captured output."""
    return _positive_scores(parse_raw(payload, settings), settings)


def _positive_scores(
    raw: list[Prediction], settings: QualitySettings
) -> list[Prediction]:
    return [(guess, _positive_score(score, settings)) for guess, score in raw]


def parse_raw(payload: Payload, settings: QualitySettings) -> list[Prediction]:
    """(prediction, probabilities as captured) per record of a captured output: a
    {class: p} mapping, a list of per-class probabilities, one number, or None."""
    return OutputReader(settings)(payload)


class OutputReader:
    """`parse_raw` for many outputs of one job: what the settings and each
    content type decide is worked out once, not once per record."""

    MAX_CONTENT_TYPES = 64

    def __init__(self, settings: QualitySettings):
        self.settings = settings
        self.kinds: dict[str, str] = {}
        try:
            self.guess_at = _index(settings.inference_attribute, "inference_attribute")
            self.score_at = _index(
                settings.probability_attribute, "probability_attribute"
            )
            self.csv_problem = None
        except ValueError as exc:  # only CSV outputs are read by field index
            self.csv_problem = exc
        if self.csv_problem is None and self.guess_at is None and self.score_at is None:
            self.guess_at = 0

    def __call__(self, payload: Payload) -> list[Prediction]:
        text = (
            payload_bytes(payload).decode("utf-8")
            if payload.encoding == "BASE64"
            else payload.data
        )
        stripped = text.strip()
        if not stripped:
            raise ValueError("empty endpointOutput")
        kind = self._kind(payload.content_type)
        if kind == "csv" and payload.encoding == "JSON" and stripped[0] in "{[":
            kind = "json"
        if kind == "jsonlines":
            rows = []
            for line in stripped.splitlines():
                if line.strip():
                    rows.extend(_from_json(json.loads(line), self.settings))
            return rows
        if kind == "json":
            try:
                return _from_json(json.loads(stripped), self.settings)
            except json.JSONDecodeError as exc:
                raise ValueError(f"endpointOutput is not JSON ({exc.msg})") from None
        return self._from_csv_text(stripped)

    def _kind(self, content_type: str) -> str:
        kind = self.kinds.get(content_type)
        if kind is None:
            base = content_type.split(";")[0].strip().lower()
            if "jsonlines" in base or "x-ndjson" in base:
                kind = "jsonlines"
            else:
                kind = "json" if "json" in base else "csv"
            if len(self.kinds) < self.MAX_CONTENT_TYPES:
                self.kinds[content_type] = kind
        return kind

    def _from_csv_text(self, stripped: str) -> list[Prediction]:
        if self.csv_problem is not None:
            raise self.csv_problem
        guess_at, score_at = self.guess_at, self.score_at
        if '"' not in stripped and "\r" not in stripped:
            # Without quotes or carriage returns, splitting is what csv.reader
            # does, and far cheaper.
            lines = (line.split(",") for line in stripped.split("\n") if line)
            return [_from_csv(fields, guess_at, score_at) for fields in lines]
        try:
            return [
                _from_csv(fields, guess_at, score_at)
                for fields in csv.reader(io.StringIO(stripped))
                if fields
            ]
        except csv.Error as exc:
            raise ValueError(f"CSV endpointOutput does not parse ({exc})") from None


def _index(attribute: str | None, what: str) -> int | None:
    if attribute is None:
        return None
    text = attribute.strip()
    if text.startswith("_c"):
        text = text[2:]
    if not text.isdigit():
        raise ValueError(
            f"{what}={attribute!r} is not a field index of the CSV endpointOutput"
        )
    return int(text)


def _from_csv(
    fields: list[str], guess_at: int | None, score_at: int | None
) -> Prediction:
    guess = _field(fields, guess_at)
    if score_at is not None:
        return guess, _field(fields, score_at)
    rest = fields[1:] if guess_at == 0 else []
    return guess, [_float(x) for x in rest] if rest else None


def _field(fields: list[str], index: int | None) -> Any:
    if index is None:
        return None
    if index >= len(fields):
        raise ValueError(
            f"CSV endpointOutput has {len(fields)} fields, no field {index}"
        )  # noqa: E501
    return fields[index]


def _float(text: Any) -> float | None:
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def _from_json(doc: Any, settings: QualitySettings) -> list[Prediction]:
    if isinstance(doc, dict):
        explicit = [
            a
            for a in (settings.inference_attribute, settings.probability_attribute)
            if a is not None
        ]
        top_level = explicit and all(_lookup(doc, a) is not _MISSING for a in explicit)
        predictions = doc.get("predictions")
        if isinstance(predictions, list) and not top_level:
            probabilities = doc.get("probabilities")
            if not isinstance(probabilities, list) or len(probabilities) != len(
                predictions
            ):
                probabilities = [None] * len(predictions)
            return [
                _from_element(p, extra, settings)
                for p, extra in zip(predictions, probabilities, strict=True)
            ]
        return [_from_element(doc, None, settings)]
    if isinstance(doc, list):
        return [_from_element(item, None, settings) for item in doc]
    return [_from_element(doc, None, settings)]


def _from_element(item: Any, extra: Any, settings: QualitySettings) -> Prediction:
    if not isinstance(item, dict):
        if settings.inference_attribute is None and settings.probability_attribute:
            return None, item  # a bare score
        return item, extra
    if settings.inference_attribute is not None:
        guess = _lookup(item, settings.inference_attribute)
        if guess is _MISSING:
            raise ValueError(
                f"inference_attribute {settings.inference_attribute!r} is not in the endpointOutput"  # noqa: E501
            )
    elif settings.probability_attribute is not None:
        guess = None
    else:
        guess = next((item[k] for k in PREDICTION_KEYS if k in item), None)
    if settings.probability_attribute is not None:
        score = _lookup(item, settings.probability_attribute)
        if score is _MISSING:
            raise ValueError(
                f"probability_attribute {settings.probability_attribute!r} is not in the endpointOutput"  # noqa: E501
            )
    else:
        score = next((item[k] for k in PROBABILITY_KEYS if k in item), extra)
    return guess, score


_MISSING = object()


def _lookup(doc: Any, path: str) -> Any:
    """A key, or a dotted path (numbers index lists), of a JSON document."""
    if isinstance(doc, dict) and path in doc:
        return doc[path]
    current = doc
    for part in path.replace("[", ".").replace("]", "").split("."):
        if part == "":
            continue
        if isinstance(current, dict) and part in current:
            current = current[part]
        elif isinstance(current, list) and part.isdigit() and int(part) < len(current):
            current = current[int(part)]
        else:
            return _MISSING
    return current


def _positive_score(value: Any, settings: QualitySettings) -> Any:
    """The positive class's probability of a binary problem, else None."""
    if settings.problem_type != BINARY or value is None:
        return None
    if isinstance(value, dict):
        named = {label_text(k): v for k, v in value.items()}
        positive = positive_label([k for k in named if k is not None])
        return named.get(positive)
    if isinstance(value, list):
        return value[-1] if value else None
    return value

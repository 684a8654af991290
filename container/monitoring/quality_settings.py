"""The model-quality part of the processing-job environment, checked.

SageMaker's ModelQualityMonitor sets `analysis_type=MODEL_QUALITY`,
`problem_type` and the attribute variables that say where the label, the
prediction and the probability are; `monitor` also reads `ground_truth_source`
(the folder the labels are mounted in). Flags of the same meaning override
them, so the commands also run by hand.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from container.contract.settings import (
    ANALYSIS_TYPE,
    GROUND_TRUTH_ATTRIBUTE,
    GROUND_TRUTH_SOURCE,
    INFERENCE_ATTRIBUTE,
    PROBABILITY_ATTRIBUTE,
    PROBABILITY_THRESHOLD_ATTRIBUTE,
    PROBLEM_TYPE,
)
from container.monitoring.errors import MonitoringInputError

MODEL_QUALITY = "MODEL_QUALITY"
DATA_QUALITY = "DATA_QUALITY"
REGRESSION = "Regression"
BINARY = "BinaryClassification"
MULTICLASS = "MulticlassClassification"
PROBLEM_TYPES = (REGRESSION, BINARY, MULTICLASS)
DEFAULT_THRESHOLD = 0.5


def add_quality_flags(parser, monitoring: bool = False) -> None:
    """The model-quality flags, shared by `baseline` and `monitor`."""
    group = parser.add_argument_group(
        "model quality (analysis_type=MODEL_QUALITY; see docs/monitoring.md)"
    )
    group.add_argument(
        "--analysis-type",
        choices=(DATA_QUALITY, MODEL_QUALITY),
        help="what to analyse (default: analysis_type, else DATA_QUALITY)",
    )
    group.add_argument("--problem-type", choices=PROBLEM_TYPES)
    group.add_argument(
        "--inference-attribute", help="prediction column (name or 0-based index)"
    )
    group.add_argument(
        "--probability-attribute", help="probability column (name or 0-based index)"
    )
    group.add_argument(
        "--probability-threshold-attribute",
        help="probability from which a binary prediction is positive (default 0.5)",
    )
    group.add_argument(
        "--ground-truth-attribute", help="label column (name or 0-based index)"
    )
    if monitoring:
        group.add_argument(
            "--ground-truth",
            help="ground-truth folder (default: ground_truth_source, "
            "else /opt/ml/processing/groundtruth)",
        )


def analysis_type(args, environ: Mapping[str, str]) -> str:
    """DATA_QUALITY (also when unset) or MODEL_QUALITY."""
    raw = getattr(args, "analysis_type", None) or _raw(environ, ANALYSIS_TYPE)
    value = (raw or DATA_QUALITY).upper()
    if value not in (DATA_QUALITY, MODEL_QUALITY):
        raise MonitoringInputError(
            f"{ANALYSIS_TYPE}={raw!r} is not supported: expected {DATA_QUALITY} "
            f"(the default) or {MODEL_QUALITY}"
        )
    return value


@dataclass(frozen=True)
class QualitySettings:
    problem_type: str
    inference_attribute: str | None
    probability_attribute: str | None
    probability_threshold: float
    ground_truth_attribute: str | None
    ground_truth_source: str | None

    @classmethod
    def read(cls, args, environ: Mapping[str, str]) -> QualitySettings:
        def pick(flag: str, name: str) -> str | None:
            value = getattr(args, flag, None)
            return value if value not in (None, "") else _raw(environ, name)

        problem = pick("problem_type", PROBLEM_TYPE)
        if problem is None:
            raise MonitoringInputError(
                f"{ANALYSIS_TYPE}={MODEL_QUALITY} needs {PROBLEM_TYPE}: one of "
                f"{', '.join(PROBLEM_TYPES)}"
            )
        matched = [p for p in PROBLEM_TYPES if p.lower() == problem.lower()]
        if not matched:
            raise MonitoringInputError(
                f"{PROBLEM_TYPE}={problem!r} is not supported: expected one of "
                f"{', '.join(PROBLEM_TYPES)}"
            )
        raw_threshold = pick(
            "probability_threshold_attribute", PROBABILITY_THRESHOLD_ATTRIBUTE
        )
        return cls(
            problem_type=matched[0],
            inference_attribute=pick("inference_attribute", INFERENCE_ATTRIBUTE),
            probability_attribute=pick("probability_attribute", PROBABILITY_ATTRIBUTE),
            probability_threshold=_threshold(raw_threshold),
            ground_truth_attribute=pick(
                "ground_truth_attribute", GROUND_TRUTH_ATTRIBUTE
            ),
            ground_truth_source=pick("ground_truth", GROUND_TRUTH_SOURCE),
        )


def _threshold(raw: str | None) -> float:
    if raw is None:
        return DEFAULT_THRESHOLD
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not 0.0 <= value <= 1.0:
        raise MonitoringInputError(
            f"{PROBABILITY_THRESHOLD_ATTRIBUTE}={raw!r}: expected a probability "
            "between 0 and 1, e.g. 0.5"
        )
    return value


def _raw(environ: Mapping[str, str], name: str) -> str | None:
    value = environ.get(name)
    if value is None or value.strip() == "":
        return None
    return value.strip()

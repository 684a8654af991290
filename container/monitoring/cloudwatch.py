"""CloudWatch metric lines in the format SageMaker publishes for a monitoring job.

A monitoring container writes JSON lines under /opt/ml/output/metrics/cloudwatch/;
SageMaker publishes them (locally, the alerting layer reads them). Names are
the ones AWS's analyzer uses: `feature_baseline_drift_<f>` (the distance),
`feature_non_null_<f>` (the non-null share) and `feature_data_<f>` (count,
sum, min and max of the window's values, numeric features only).
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from container.contract.files import write_atomic
from container.monitoring.checks import CheckOutcome
from container.monitoring.statistics import DatasetProfile

METRICS_FILE = "metrics.jsonl"


def metric_lines(
    outcome: CheckOutcome,
    current: DatasetProfile,
    timestamp: datetime,
    endpoint_name: str | None,
    schedule_name: str | None,
) -> list[dict[str, Any]]:
    dimensions = [
        {"Name": "Endpoint", "Value": endpoint_name or "unknown"},
        {"Name": "MonitoringSchedule", "Value": schedule_name or "unknown"},
    ]
    stamp = timestamp.strftime("%Y-%m-%dT%H:%M:%SZ")

    def metric(name: str, **value: Any) -> dict[str, Any]:
        return {
            "MetricName": name,
            "Timestamp": stamp,
            "Dimensions": dimensions,
            **value,
        }

    lines = []
    for name, result in outcome.features.items():
        if result.distance is not None:
            lines.append(
                metric(f"feature_baseline_drift_{name}", Value=result.distance.value)
            )
        if result.completeness is not None:
            lines.append(metric(f"feature_non_null_{name}", Value=result.completeness))
        column = current.columns.get(name)
        if (
            column is not None
            and column.numeric_count
            and result.baseline_type in ("Integral", "Fractional")
        ):
            lines.append(
                metric(
                    f"feature_data_{name}",
                    StatisticValues={
                        "SampleCount": float(column.numeric_count),
                        "Sum": column.total,
                        "Minimum": column.minimum,
                        "Maximum": column.maximum,
                    },
                )
            )
    return lines


def write_metrics(directory: Path, lines: list[dict[str, Any]]) -> Path:
    path = directory / METRICS_FILE
    write_atomic(path, "".join(json.dumps(line) + "\n" for line in lines))
    return path

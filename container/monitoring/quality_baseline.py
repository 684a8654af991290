"""`baseline` with analysis_type=MODEL_QUALITY: metrics of a labelled dataset.

The dataset holds a label column and a prediction (or probability) column,
named by the attribute variables ModelQualityMonitor.suggest_baseline sets.
Writes statistics.json (the problem type's metrics block), constraints.json
(a threshold and comparison operator per headline metric) and report.html,
atomically and only after the whole dataset was read.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

from container.contract.files import write_atomic, write_json
from container.contract.paths import OptMl
from container.contract.settings import (
    MonitoringJobSettings,
)
from container.jobs import StopGuard
from container.monitoring.datasets import DatasetFormat
from container.monitoring.errors import MonitoringInputError, NoDataError
from container.monitoring.processing import parse_dataset_format
from container.monitoring.quality_checks import suggest_constraints
from container.monitoring.quality_data import Pairs, labelled_pairs
from container.monitoring.quality_metrics import compute_metrics, statistics_document
from container.monitoring.quality_report import render_quality_report
from container.monitoring.quality_settings import QualitySettings
from container.monitoring.scripts import post_analytics

STATISTICS_FILE = "statistics.json"
CONSTRAINTS_FILE = "constraints.json"
REPORT_FILE = "report.html"


def plain_format(args, settings: MonitoringJobSettings) -> DatasetFormat:
    """dataset_format for a plain dataset, with the --format/--header flags."""
    fmt = parse_dataset_format(
        args.dataset_format or settings.dataset_format, DatasetFormat(kind="csv")
    )
    return DatasetFormat(
        kind=args.format or fmt.kind,
        header=fmt.header if args.header is None else args.header,
        output_columns_position=fmt.output_columns_position,
        capture_index_names=fmt.capture_index_names,
    )


def no_pairs(source: Path, rows: int, pairs: Pairs) -> NoDataError:
    return NoDataError(
        f"dataset {source}: none of its {rows} rows has both a label and a "
        f"prediction ({pairs.without_label} without a label, "
        f"{pairs.without_prediction} without a prediction); check "
        "ground_truth_attribute, inference_attribute and probability_attribute"
    )


def run(args, settings: MonitoringJobSettings, opt_ml: OptMl, guard: StopGuard) -> str:
    # baseline.run has refused a record preprocessor already.
    quality = QualitySettings.read(args, os.environ)
    after = settings.post_analytics_processor_script
    post = post_analytics(after) if after else None
    fmt = plain_format(args, settings)
    if fmt.kind == "capture":
        raise MonitoringInputError(
            "baseline reads a plain dataset (csv, json or parquet), not capture files; "
            'set dataset_format to e.g. {"csv": {"header": true}}'
        )
    source = Path(
        args.dataset or settings.dataset_source or opt_ml.baseline_dataset_dir
    )
    output = Path(args.output or settings.output_path or opt_ml.processing_output_dir)
    pairs, rows = labelled_pairs(source, fmt, quality)
    if not pairs.truth:
        raise no_pairs(source, rows, pairs)
    problem = quality.problem_type
    block = compute_metrics(
        problem, pairs.truth, pairs.predicted, pairs.binary_scores(problem)
    )
    evaluated = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    statistics = statistics_document(problem, block, len(pairs.truth), evaluated)
    constraints = suggest_constraints(problem, block)
    html = render_quality_report(
        "Model quality baseline",
        [
            ("problem type", problem),
            ("dataset", str(source)),
            ("rows", str(rows)),
            ("rows evaluated", str(len(pairs.truth))),
            ("rows without a label", str(pairs.without_label)),
            ("rows without a prediction", str(pairs.without_prediction)),
        ],
        block,
    )
    with guard.publishing():
        write_json(output / STATISTICS_FILE, statistics)
        write_json(output / CONSTRAINTS_FILE, constraints)
        write_atomic(output / REPORT_FILE, html)
    if post is not None:
        post()
    return f"Completed: Model-quality baseline ({problem}) of {len(pairs.truth)} records written to {output}."  # noqa: E501

"""`baseline`: profile a dataset into statistics.json and suggest constraints.json.

Runs as a SageMaker processing job (the Model Monitor contract: dataset_format,
dataset_source, output_path, categorical_drift_method) or by hand with flags:

    python -m container.monitoring.baseline --dataset train.csv --output out/

Writes statistics.json, constraints.json and report.html into the output
folder, each atomically, only after the whole dataset was read.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path

from container.contract.files import write_atomic, write_json
from container.contract.paths import OptMl
from container.contract.settings import (
    RECORD_PREPROCESSOR_SCRIPT,
    MonitoringJobSettings,
)
from container.jobs import StopGuard
from container.monitoring.constraints import (
    check_categorical_drift_method,
    suggest_constraints,
)
from container.monitoring.datasets import DatasetFormat, profile_dataset
from container.monitoring.errors import MonitoringInputError
from container.monitoring.predictions import baseline_output_column, label_columns
from container.monitoring.processing import (
    OneLineParser,
    model_dir_for_job,
    parse_dataset_format,
    read_schema,
    run_job,
    schema_name_choices,
)
from container.monitoring.quality_settings import (
    MODEL_QUALITY,
    add_quality_flags,
    analysis_type,
)
from container.monitoring.report import FeatureView, render_report
from container.monitoring.scripts import post_analytics
from container.monitoring.statistics import DatasetProfile, statistics_document

STATISTICS_FILE = "statistics.json"
CONSTRAINTS_FILE = "constraints.json"
REPORT_FILE = "report.html"


def build_parser() -> OneLineParser:
    parser = OneLineParser(
        prog="baseline",
        description="Profile a dataset into SageMaker Model Monitor's statistics.json "
        "and constraints.json (flags override the processing-job environment).",
    )
    parser.add_argument(
        "--dataset",
        help="data file or folder (default: dataset_source, "
        "else /opt/ml/processing/input/baseline_dataset_input)",
    )
    parser.add_argument(
        "--format",
        choices=("csv", "json", "parquet"),
        help="dataset format (default: from dataset_format, else csv)",
    )
    parser.add_argument(
        "--dataset-format", help="dataset_format JSON, as in the contract"
    )
    header = parser.add_mutually_exclusive_group()
    header.add_argument(
        "--header",
        dest="header",
        action="store_true",
        default=None,
        help="the CSV's first line names the columns (default)",
    )
    header.add_argument(
        "--no-header",
        dest="header",
        action="store_false",
        help="the CSV has no header: columns are _c0, _c1, ... or the "
        "model schema's names",
    )
    parser.add_argument(
        "--model-dir",
        help="model bundle whose schema names headerless "
        "columns (default: /opt/ml/processing/input/model if present)",
    )
    parser.add_argument(
        "--output",
        help="output folder (default: output_path, else /opt/ml/processing/output)",
    )
    parser.add_argument(
        "--categorical-drift-method",
        choices=("LInfinity", "ChiSquared"),
        help="categorical drift method written into constraints.json",
    )
    add_quality_flags(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    opt_ml = OptMl.from_env()
    return run_job("baseline", opt_ml, lambda guard: _run(args, opt_ml, guard))


def _run(args, opt_ml: OptMl, guard: StopGuard) -> str:
    settings = MonitoringJobSettings.from_env()
    if settings.record_preprocessor_script:
        # Model Monitor's preprocessor takes captured records, which a baseline
        # dataset (data or model quality) does not hold; running it on rows
        # would be a guess.
        raise MonitoringInputError(
            f"{RECORD_PREPROCESSOR_SCRIPT} is not used by baseline, which reads a plain dataset; "  # noqa: E501
            "preprocess the dataset before baselining it, or unset it"
        )
    if analysis_type(args, os.environ) == MODEL_QUALITY:
        from container.monitoring import quality_baseline

        return quality_baseline.run(args, settings, opt_ml, guard)
    after = settings.post_analytics_processor_script
    post = post_analytics(after) if after else None
    fmt = parse_dataset_format(
        args.dataset_format or settings.dataset_format, DatasetFormat(kind="csv")
    )
    if fmt.kind == "capture":
        raise MonitoringInputError(
            "baseline reads a plain dataset (csv, json or parquet), not capture files; "
            'set dataset_format to e.g. {"csv": {"header": true}}'
        )
    if args.format:
        fmt = DatasetFormat(
            kind=args.format,
            header=fmt.header,
            output_columns_position=fmt.output_columns_position,
        )
    if args.header is not None:
        fmt = DatasetFormat(
            kind=fmt.kind,
            header=args.header,
            output_columns_position=fmt.output_columns_position,
        )
    method = check_categorical_drift_method(
        args.categorical_drift_method or settings.categorical_drift_method
    )
    source = Path(
        args.dataset or settings.dataset_source or opt_ml.baseline_dataset_dir
    )
    output = Path(args.output or settings.output_path or opt_ml.processing_output_dir)
    model_dir = model_dir_for_job(args.model_dir, opt_ml)
    names = schema_name_choices(model_dir, fmt.output_columns_position)
    schema = read_schema(model_dir)
    # A classifier's target holds class labels: categories, even when integers.
    profile = profile_dataset(source, fmt, names, categorical=label_columns(schema))
    statistics = statistics_document(profile)
    constraints = suggest_constraints(profile, method)
    predictions = baseline_output_column(
        profile.columns, schema.target if schema is not None else None
    )
    rows = [
        ("dataset", str(source)),
        ("records", str(profile.item_count)),
        ("features", str(len(profile.columns))),
    ]
    rows.append(
        (
            "model predictions column",
            f"{predictions} (the monitor compares captured endpointOutput with it)"
            if predictions
            else "none: the monitor reports captured predictions without "
            "checking them for drift",
        )
    )
    views = baseline_views(profile)
    for view in views:
        if view.name == predictions:
            view.facts["column"] = "compared with the model's predictions"
    html = render_report("Baseline profile", rows, [], views)
    with guard.publishing():
        write_json(output / STATISTICS_FILE, statistics)
        write_json(output / CONSTRAINTS_FILE, constraints)
        write_atomic(output / REPORT_FILE, html)
    if post is not None:
        post()
    return f"Completed: Baseline of {profile.item_count} records and {len(profile.columns)} features written to {output}."  # noqa: E501


def baseline_views(profile: DatasetProfile) -> list[FeatureView]:
    views = []
    for name, column in profile.columns.items():
        kind = column.inferred_type
        view = FeatureView(
            name,
            kind,
            facts={
                "present": str(column.num_present),
                "missing": str(column.num_missing),
            },
        )
        if kind in ("Integral", "Fractional"):
            view.baseline_sketch = column.sketch
            view.facts.update(
                mean=f"{column.mean:.4g}",
                min=f"{column.minimum:.4g}",
                max=f"{column.maximum:.4g}",
            )
        elif kind == "String":
            view.baseline_counts = column.value_counts
            view.facts["distinct"] = str(len(column.value_counts))
        views.append(view)
    return views


if __name__ == "__main__":
    sys.exit(main())

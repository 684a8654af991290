"""`monitor`: compare a window of captured traffic (or a dataset) with a baseline.

Runs as a Model Monitor processing job (dataset_source holding capture files,
start_time, end_time, baseline_statistics, baseline_constraints, output_path,
publish_cloudwatch_metrics, sagemaker_endpoint_name,
sagemaker_monitoring_schedule_name) or by hand with flags:

    python -m container.monitoring.monitor --dataset capture/ \\
        --baseline-statistics statistics.json --baseline-constraints constraints.json \\
        --output report/

Writes statistics.json (the window's), constraint_violations.json,
summary.json, report.html and, when publishing, CloudWatch metric lines; then
`Completed: ...` or `CompletedWithViolations: ... N violations.` to
/opt/ml/output/message. A window without data fails the job.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from container.contract.files import write_atomic, write_json
from container.contract.paths import OptMl
from container.contract.settings import (
    RECORD_PREPROCESSOR_SCRIPT,
    MonitoringJobSettings,
)
from container.jobs import StopGuard
from container.monitoring.capture_decoding import capture_frames
from container.monitoring.capture_reader import (
    CaptureScan,
    capture_drops,
    capture_files,
    iter_record_blocks,
    parse_time,
)
from container.monitoring.checks import CheckOutcome, run_checks
from container.monitoring.cloudwatch import metric_lines, write_metrics
from container.monitoring.constraints import (
    ConstraintsFile,
    FeatureConstraints,
    MonitoringConfig,
    check_categorical_drift_method,
    parse_constraints,
)
from container.monitoring.datasets import DatasetFormat, profile_dataset
from container.monitoring.errors import MonitoringInputError, NoDataError
from container.monitoring.predictions import (
    OUTPUT_DESCRIPTION,
    OutputColumn,
    baseline_output_column,
    output_is_categorical,
)
from container.monitoring.processing import (
    OneLineParser,
    model_dir_for_job,
    parse_dataset_format,
    read_json_file,
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
from container.monitoring.scripts import (
    RecordPreprocessor,
    post_analytics,
)
from container.monitoring.statistics import (
    DatasetProfile,
    StatisticsFile,
    parse_statistics,
    profile_batches,
    statistics_document,
)

VIOLATIONS_FILE = "constraint_violations.json"
STATISTICS_FILE = "statistics.json"
SUMMARY_FILE = "summary.json"
REPORT_FILE = "report.html"
# The model's output is read when captured, so its drift shows with the inputs';
# captureIndexNames ["endpointInput"] leaves it out.
CAPTURE_FORMAT = DatasetFormat(
    kind="capture", capture_index_names=("endpointInput", "endpointOutput")
)


def build_parser() -> OneLineParser:
    parser = OneLineParser(
        prog="monitor",
        description="Check captured endpoint traffic (or a dataset) against a Model "
        "Monitor baseline (flags override the processing-job environment).",
    )
    parser.add_argument(
        "--dataset",
        help="capture folder, or a data file/folder "
        "(default: dataset_source, else /opt/ml/processing/input/endpoint)",
    )
    parser.add_argument(
        "--format",
        choices=("capture", "csv", "json", "parquet"),
        help="input format (default: from dataset_format, else capture)",
    )
    parser.add_argument(
        "--dataset-format", help="dataset_format JSON, as in the contract"
    )
    header = parser.add_mutually_exclusive_group()
    header.add_argument("--header", dest="header", action="store_true", default=None)
    header.add_argument("--no-header", dest="header", action="store_false")
    parser.add_argument("--start-time", help="window start, ISO 8601 UTC (inclusive)")
    parser.add_argument("--end-time", help="window end, ISO 8601 UTC (exclusive)")
    parser.add_argument("--baseline-statistics", help="baseline statistics.json")
    parser.add_argument("--baseline-constraints", help="baseline constraints.json")
    parser.add_argument(
        "--output",
        help="output folder (default: output_path, else /opt/ml/processing/output)",
    )
    publish = parser.add_mutually_exclusive_group()
    publish.add_argument(
        "--publish-cloudwatch-metrics",
        dest="publish",
        action="store_true",
        default=None,
        help="write CloudWatch metric lines",
    )
    publish.add_argument(
        "--no-publish-cloudwatch-metrics", dest="publish", action="store_false"
    )
    parser.add_argument(
        "--metrics-dir",
        help="CloudWatch metric folder (default: /opt/ml/output/metrics/cloudwatch)",
    )
    parser.add_argument("--endpoint-name", help="endpoint being monitored")
    parser.add_argument("--schedule-name", help="monitoring schedule name")
    parser.add_argument(
        "--model-dir",
        help="model bundle whose schema names headerless columns of a plain dataset",
    )
    parser.add_argument(
        "--categorical-drift-method",
        choices=("LInfinity", "ChiSquared"),
        help="override the constraints' categorical drift method",
    )
    add_quality_flags(parser, monitoring=True)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    opt_ml = OptMl.from_env()
    return run_job("monitor", opt_ml, lambda guard: _run(args, opt_ml, guard))


@dataclass(frozen=True)
class MonitorInputs:
    """Everything the flags and the processing-job environment ask for, checked."""

    fmt: DatasetFormat
    start: datetime | None
    end: datetime | None
    statistics: StatisticsFile | None
    constraints: ConstraintsFile
    source: Path
    output: Path
    endpoint: str | None
    schedule: str | None
    model_dir: Path | None
    publish: bool
    metrics_dir: Path
    preprocessor: RecordPreprocessor | None
    post_analytics: Callable[[], None] | None


def _run(args, opt_ml: OptMl, guard: StopGuard) -> str:
    if analysis_type(args, os.environ) == MODEL_QUALITY:
        from container.monitoring import quality_monitor

        return quality_monitor.run(
            args, MonitoringJobSettings.from_env(), opt_ml, guard
        )
    inputs = read_inputs(args, MonitoringJobSettings.from_env(), opt_ml)
    current, scan, output = profile_current(inputs)
    outcome = run_checks(
        current,
        inputs.constraints,
        inputs.statistics,
        _checked_output(inputs, output, current),
    )
    with guard.publishing():
        write_results(inputs, outcome, current, scan, output)
    if inputs.post_analytics is not None:
        inputs.post_analytics()
    count = len(outcome.violations)
    if count:
        return "CompletedWithViolations: " + (
            f"Job completed successfully with {count} violations."
        )
    return "Completed: Job completed successfully with no violations."


def read_inputs(args, settings: MonitoringJobSettings, opt_ml: OptMl) -> MonitorInputs:
    fmt = _dataset_format(args, settings)
    start = parse_time(args.start_time or settings.start_time, "start_time")
    end = parse_time(args.end_time or settings.end_time, "end_time")
    if start and end and start >= end:
        raise MonitoringInputError(f"start_time {start} is not before end_time {end}")
    statistics, constraints = _load_baseline(args, settings, opt_ml)
    drift_method = args.categorical_drift_method or settings.categorical_drift_method
    if drift_method:
        constraints = _with_drift_method(
            constraints, check_categorical_drift_method(drift_method)
        )
    preprocessor = None
    if settings.record_preprocessor_script:
        if fmt.kind != "capture":
            raise MonitoringInputError(
                f"{RECORD_PREPROCESSOR_SCRIPT} applies to captured records; "
                f"the dataset_format is {fmt.kind}"
            )
        preprocessor = RecordPreprocessor(settings.record_preprocessor_script)
    after = settings.post_analytics_processor_script
    return MonitorInputs(
        fmt=fmt,
        start=start,
        end=end,
        statistics=statistics,
        constraints=constraints,
        source=Path(
            args.dataset or settings.dataset_source or opt_ml.endpoint_input_dir
        ),
        output=Path(
            args.output or settings.output_path or opt_ml.processing_output_dir
        ),
        endpoint=args.endpoint_name or settings.endpoint_name,
        schedule=args.schedule_name or settings.monitoring_schedule_name,
        model_dir=model_dir_for_job(args.model_dir, opt_ml),
        publish=settings.publish_cloudwatch_metrics
        if args.publish is None
        else args.publish,
        metrics_dir=Path(args.metrics_dir or opt_ml.cloudwatch_metrics_dir),
        preprocessor=preprocessor,
        post_analytics=post_analytics(after) if after else None,
    )


def _dataset_format(args, settings: MonitoringJobSettings) -> DatasetFormat:
    fmt = parse_dataset_format(
        args.dataset_format or settings.dataset_format, CAPTURE_FORMAT
    )
    return replace(
        fmt,
        kind=args.format or fmt.kind,
        header=fmt.header if args.header is None else args.header,
    )


def profile_current(
    inputs: MonitorInputs,
) -> tuple[DatasetProfile, CaptureScan, OutputColumn]:
    """The profile of the window's captured records (or of the plain dataset),
    and which of its columns holds the model's captured predictions."""
    constraints = inputs.constraints
    names = list(constraints.features)
    strings = [
        n for n, f in constraints.features.items() if f.inferred_type == "String"
    ]
    scan = CaptureScan()
    output = OutputColumn()
    schema = read_schema(inputs.model_dir)

    def categorical(name: str) -> bool:
        feature = constraints.features.get(name)
        return output_is_categorical(
            schema, feature.inferred_type if feature is not None else None
        )

    if inputs.fmt.kind == "capture":
        current = _profile_capture(inputs, names, strings, scan, output, categorical)
        return current, scan, output
    from_schema = schema_name_choices(
        inputs.model_dir, inputs.fmt.output_columns_position
    )
    choices = [names, *(from_schema or [])]
    # A plain dataset's target (or `prediction`) column, typed as the baseline's.
    labels = baseline_output_column(
        constraints.features, schema.target if schema is not None else None
    )
    current = profile_dataset(
        inputs.source,
        inputs.fmt,
        choices,
        track_values_for=strings,
        categorical=[labels] if labels is not None and categorical(labels) else [],
    )
    return current, scan, output


def _checked_output(
    inputs: MonitorInputs, output: OutputColumn, current: DatasetProfile
) -> str | None:
    """The predictions' column for the checks: the captured one, else (asked for
    but none captured) the baseline's, so its missing_column_check says what
    is missing."""
    name = output_name(output, current)
    if name is not None or inputs.fmt.kind != "capture" or inputs.preprocessor:
        return name
    if "endpointOutput" not in inputs.fmt.capture_index_names:
        return None
    schema = read_schema(inputs.model_dir)
    return baseline_output_column(
        inputs.constraints.features, schema.target if schema is not None else None
    )


def output_name(output: OutputColumn, current: DatasetProfile) -> str | None:
    """The column of the model's captured predictions, None if none was captured."""
    return output.name if output.name in current.columns else None


def write_results(
    inputs: MonitorInputs,
    outcome: CheckOutcome,
    current: DatasetProfile,
    scan: CaptureScan,
    output: OutputColumn | None = None,
) -> None:
    """The window's statistics, its violations, summary, report and metrics."""
    output = output or OutputColumn()
    if inputs.publish and inputs.constraints.config.emit_metrics:
        lines = metric_lines(
            outcome,
            current,
            inputs.end or datetime.now(UTC),
            inputs.endpoint,
            inputs.schedule,
        )
        write_metrics(inputs.metrics_dir, lines)
    summary = _summary(outcome, current, scan, inputs, output)
    output = inputs.output
    write_json(output / STATISTICS_FILE, statistics_document(current))
    write_json(output / VIOLATIONS_FILE, outcome.document())
    write_json(output / SUMMARY_FILE, summary)
    report = _report(summary, outcome, inputs.statistics, inputs.constraints, current)
    write_atomic(output / REPORT_FILE, report)


def _load_baseline(
    args, settings: MonitoringJobSettings, opt_ml: OptMl
) -> tuple[StatisticsFile | None, ConstraintsFile]:
    stats_path = args.baseline_statistics or settings.baseline_statistics
    cons_path = args.baseline_constraints or settings.baseline_constraints
    if stats_path is None and opt_ml.baseline_statistics_file.is_file():
        stats_path = str(opt_ml.baseline_statistics_file)
    if cons_path is None and opt_ml.baseline_constraints_file.is_file():
        cons_path = str(opt_ml.baseline_constraints_file)
    if stats_path is None and cons_path is None:
        raise MonitoringInputError(
            "no baseline: give baseline_statistics and/or baseline_constraints (files written by `baseline`, or by SageMaker's suggest_baseline)"  # noqa: E501
        )
    statistics = (
        parse_statistics(
            read_json_file(Path(stats_path), "baseline_statistics"), stats_path
        )
        if stats_path
        else None
    )
    if cons_path:
        constraints = parse_constraints(
            read_json_file(Path(cons_path), "baseline_constraints"), cons_path
        )
    else:  # statistics alone: compare types and distributions with default settings
        constraints = ConstraintsFile(
            features={
                n: FeatureConstraints(n, f.inferred_type)
                for n, f in statistics.features.items()
            },
            config=MonitoringConfig(),
        )
    return statistics, constraints


def _with_drift_method(constraints: ConstraintsFile, method: str) -> ConstraintsFile:
    from dataclasses import replace

    return ConstraintsFile(
        features={
            n: replace(f, config=replace(f.config, categorical_drift_method=method))
            for n, f in constraints.features.items()
        },
        config=replace(constraints.config, categorical_drift_method=method),
    )


def _profile_capture(
    inputs: MonitorInputs,
    names: list[str],
    strings: list[str],
    scan: CaptureScan,
    output: OutputColumn,
    categorical: Callable[[str], bool] = lambda name: False,
) -> DatasetProfile:
    """Profile the window's records; the predictions' column is String when
    `categorical` says so of its name (known once the first output is read)."""
    source, start, end = inputs.source, inputs.start, inputs.end
    files = capture_files(source, start, end, inputs.endpoint)
    capture_drops(source, start, end, scan, inputs.endpoint)
    if inputs.preprocessor is not None:
        blocks = iter_record_blocks(files, start, end, scan, with_documents=True)
        records = (item for block in blocks for item in block)
        frames = inputs.preprocessor.frames(records, scan)
    else:
        frames = capture_frames(
            iter_record_blocks(files, start, end, scan),
            names,
            scan,
            include_output="endpointOutput" in inputs.fmt.capture_index_names,
            schema=read_schema(inputs.model_dir),
            output=output,
            position=inputs.fmt.output_columns_position,
        )
    labels: set[str] = set()

    def typed(frames: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for frame in frames:
            name = output.name
            if name is not None and name not in labels and categorical(name):
                labels.add(name)
            yield frame

    profile = profile_batches(
        typed(frames), track_values_for=strings, categorical=labels
    )
    if profile.item_count == 0:
        window = f"[{start or 'the beginning'}, {end or 'now'})"
        first = f" (first problem: {scan.examples[0]})" if scan.examples else ""
        raise NoDataError(
            f"no captured data in {source} for the window {window}: "
            f"{len(files)} capture files, {scan.records} records in the window, "
            f"{scan.outside_window} outside it, {scan.malformed} malformed lines, "
            f"{scan.undecodable} undecodable payloads, "
            f"{scan.dropped} records dropped by the capture writer{first}"
        )
    return profile


def _summary(
    outcome: CheckOutcome,
    current: DatasetProfile,
    scan: CaptureScan,
    inputs: MonitorInputs,
    output: OutputColumn,
) -> dict:
    by_check: dict[str, int] = {}
    for violation in outcome.violations:
        key = violation["constraint_check_type"]
        by_check[key] = by_check.get(key, 0) + 1
    start, end = inputs.start, inputs.end
    return {
        "status": "CompletedWithViolations" if outcome.violations else "Completed",
        "violations": len(outcome.violations),
        "violations_by_check": by_check,
        "item_count": current.item_count,
        "dataset_source": str(inputs.source),
        "dataset_format": inputs.fmt.kind,
        "start_time": start.isoformat() if start else None,
        "end_time": end.isoformat() if end else None,
        "endpoint_name": inputs.endpoint,
        "monitoring_schedule_name": inputs.schedule,
        "capture": scan.to_dict() if inputs.fmt.kind == "capture" else None,
        # Records the server could not capture (a full disk): from the capture
        # writer's sidecars; 0 for SageMaker's own capture, which writes none.
        "dropped_capture_records": scan.dropped
        if inputs.fmt.kind == "capture"
        else None,
        "output_column": _output_summary(output, current, inputs.constraints),
        "features": {
            name: {
                "distance": r.distance.value if r.distance else None,
                "distance_method": r.distance.method if r.distance else None,
                "threshold": r.threshold,
                "completeness": r.completeness,
            }
            for name, r in outcome.features.items()
        },
    }


def _output_summary(
    output: OutputColumn, current: DatasetProfile, constraints: ConstraintsFile
) -> dict | None:
    """The captured predictions' column: its name, counts and whether the
    baseline had one to compare it with (None when no output was captured)."""
    name = output_name(output, current)
    if name is None:
        return None
    compared = name in constraints.features
    note = (
        f"The model's predictions (endpointOutput) are the column {name!r}, "
        "checked against the baseline's column of that name."
        if compared
        else f"The model's predictions (endpointOutput) are profiled as the column "
        f"{name!r}, but the baseline has no such column: they are not checked for "
        "drift. Baseline a dataset that holds the model's predictions (or the "
        f"target) as {name!r} to compare them."
    )
    return {**output.to_dict(), "in_baseline": compared, "note": note}


def _report(
    summary: dict,
    outcome: CheckOutcome,
    statistics: StatisticsFile | None,
    constraints: ConstraintsFile,
    current: DatasetProfile,
) -> str:
    rows = [
        ("status", summary["status"]),
        ("violations", str(summary["violations"])),
        ("records analysed", str(summary["item_count"])),
        ("window", f"{summary['start_time'] or '-'} to {summary['end_time'] or '-'}"),
        ("source", summary["dataset_source"]),
    ]
    if summary["endpoint_name"]:
        rows.append(("endpoint", summary["endpoint_name"]))
    notes = []
    predictions = summary["output_column"]
    if predictions:
        rows.append(("model predictions column", predictions["name"]))
        notes.append(predictions["note"])
        if predictions["undecodable_outputs"] or predictions["unaligned_outputs"]:
            notes.append(
                f"{predictions['undecodable_outputs']} captured outputs gave no prediction and {predictions['unaligned_outputs']} did not hold one prediction per input row: their rows count as missing predictions."  # noqa: E501
            )
    capture = summary["capture"]
    if capture:
        rows.append(
            ("capture files / records", f"{capture['files']} / {capture['records']}")
        )
        if capture["malformed_lines"] or capture["undecodable_records"]:
            notes.append(
                f"{capture['malformed_lines']} malformed capture lines and {capture['undecodable_records']} undecodable payloads were skipped."  # noqa: E501
            )
        if capture["unreadable_drop_sidecars"]:
            notes.append(
                f"{capture['unreadable_drop_sidecars']} drop sidecars (*.drops.json) could not be read: the dropped count may be short."  # noqa: E501
            )
        if (
            capture["malformed_lines"]
            or capture["undecodable_records"]
            or capture["unreadable_drop_sidecars"]
        ):
            notes.extend(capture["examples"][:5])
        dropped = summary["dropped_capture_records"]
        rows.append(("dropped capture records", str(dropped)))
        if dropped:
            reasons = ", ".join(f"{k}: {v}" for k, v in capture["drop_reasons"].items())
            notes.append(
                f"{dropped} records of this window were never captured: the server's capture writer dropped them ({reasons}), for instance on a full disk. The statistics describe the captured records only."  # noqa: E501
            )
    by_feature: dict[str, list[str]] = {}
    for v in outcome.violations:
        by_feature.setdefault(v["feature_name"], []).append(
            f"{v['constraint_check_type']}: {v['description']}"
        )
    views = []
    for name in list(constraints.features) + [
        n for n in current.columns if n not in constraints.features
    ]:
        base = statistics.features.get(name) if statistics else None
        column = current.columns.get(name)
        kind = (
            constraints.features[name].inferred_type
            if name in constraints.features
            else column.inferred_type
        )
        view = FeatureView(name, kind, violations=by_feature.get(name, []))
        if predictions and name == predictions["name"]:
            view.facts["column"] = OUTPUT_DESCRIPTION
            if not predictions["in_baseline"]:
                view.facts["baseline"] = "none: not compared"
        result = outcome.features.get(name)
        if result and result.distance:
            view.facts["distance"] = (
                f"{result.distance.value:.4f} ({result.distance.method})"
            )
            view.facts["threshold"] = f"{result.threshold}"
        if result and result.completeness is not None:
            view.facts["non-null"] = f"{result.completeness * 100:.1f}%"
        if kind in ("Integral", "Fractional"):
            view.baseline_sketch = base.sketch if base else None
            view.current_sketch = column.sketch if column else None
        elif kind == "String":
            view.baseline_counts = base.categories if base else None
            view.current_counts = column.value_counts if column else None
        if column is None:
            view.facts["current"] = "missing"
        views.append(view)
    return render_report(
        "Data quality monitoring report", rows, outcome.violations, views, notes
    )


if __name__ == "__main__":
    sys.exit(main())

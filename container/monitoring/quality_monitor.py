"""`monitor` with analysis_type=MODEL_QUALITY: a window's metrics against a baseline.

Reads the window's captured predictions (dataset_source, start_time,
end_time, as the data-quality monitor does) and the ground-truth labels
(ground_truth_source, default /opt/ml/processing/groundtruth), merges them
(container.monitoring.quality_merge), computes the problem type's metrics and
checks them against the baseline's constraints.json. A pre-merged dataset
(dataset_format csv, json or parquet, with the attribute columns) is read
instead of captures when given.

Writes statistics.json, constraint_violations.json, summary.json, report.html
and, when publishing, one CloudWatch metric line per metric; then
`Completed: ...` or `CompletedWithViolations: ...`. A window without
captures fails the job saying what was found; so does a window whose
captures have no labels, unless its performance can be estimated.

With the model bundle (--model-dir, else /opt/ml/processing/input/model)
and captured class probabilities, a classifier's window also gets
`estimated_metrics` (container.monitoring.quality_estimation): its accuracy
(and binary ROC AUC) estimated from the calibrated confidence, reported
apart from SageMaker's metrics, and reported alone (nothing checked) while
the window has no labels yet.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from container.contract.files import write_atomic, write_json
from container.contract.paths import OptMl
from container.contract.settings import (
    RECORD_PREPROCESSOR_SCRIPT,
    MonitoringJobSettings,
)
from container.jobs import StopGuard
from container.monitoring.arrow_lines import window_outputs
from container.monitoring.capture_reader import (
    CaptureScan,
    capture_files,
    parse_time,
)
from container.monitoring.cloudwatch import write_metrics
from container.monitoring.errors import MonitoringInputError, NoDataError
from container.monitoring.ground_truth import (
    GroundTruthScan,
    ground_truth_files,
    read_labels,
)
from container.monitoring.processing import model_dir_for_job, read_json_file
from container.monitoring.quality_baseline import no_pairs
from container.monitoring.quality_checks import (
    MetricCheck,
    check_metrics,
    parse_constraints,
)
from container.monitoring.quality_data import Pairs, labelled_pairs
from container.monitoring.quality_estimation import (
    ESTIMATED,
    Calibration,
    WindowProbabilities,
    add_output,
    estimate,
    estimate_line,
    load_calibration,
    not_estimated,
)
from container.monitoring.quality_merge import MergeCounts, merge
from container.monitoring.quality_metrics import (
    BLOCK_KEYS,
    compute_metrics,
    scalar_metrics,
    statistics_document,
)
from container.monitoring.quality_report import render_quality_report
from container.monitoring.quality_settings import QualitySettings
from container.monitoring.scripts import post_analytics

VIOLATIONS_FILE = "constraint_violations.json"
STATISTICS_FILE = "statistics.json"
SUMMARY_FILE = "summary.json"
REPORT_FILE = "report.html"
GROUND_TRUTH_DIR = "groundtruth"  # /opt/ml/processing/groundtruth


def run(args, settings: MonitoringJobSettings, opt_ml: OptMl, guard: StopGuard) -> str:
    from container.monitoring.monitor import _dataset_format

    quality = QualitySettings.read(args, os.environ)
    problem = quality.problem_type
    if settings.record_preprocessor_script:
        raise MonitoringInputError(
            f"{RECORD_PREPROCESSOR_SCRIPT} is not supported with analysis_type=MODEL_QUALITY; "  # noqa: E501
            "unset it (predictions are read from endpointOutput)"
        )
    fmt = _dataset_format(args, settings)
    start = parse_time(args.start_time or settings.start_time, "start_time")
    end = parse_time(args.end_time or settings.end_time, "end_time")
    if start and end and start >= end:
        raise MonitoringInputError(f"start_time {start} is not before end_time {end}")
    constraints_path = args.baseline_constraints or settings.baseline_constraints
    if constraints_path is None and opt_ml.baseline_constraints_file.is_file():
        constraints_path = str(opt_ml.baseline_constraints_file)
    constraints = (
        parse_constraints(
            read_json_file(Path(constraints_path), "baseline_constraints"),
            problem,
            constraints_path,
        )
        if constraints_path
        else None
    )
    baseline_block = _baseline_block(args, settings, opt_ml, problem)
    after = settings.post_analytics_processor_script
    post = post_analytics(after) if after else None
    source = Path(args.dataset or settings.dataset_source or opt_ml.endpoint_input_dir)
    output = Path(args.output or settings.output_path or opt_ml.processing_output_dir)
    endpoint = args.endpoint_name or settings.endpoint_name
    schedule = args.schedule_name or settings.monitoring_schedule_name
    publish = (
        settings.publish_cloudwatch_metrics if args.publish is None else args.publish
    )  # noqa: E501
    now = datetime.now(UTC)

    scan, truth_scan, counts = CaptureScan(), GroundTruthScan(), None
    truth_source, estimated = None, None
    if fmt.kind == "capture":
        truth_source = Path(
            quality.ground_truth_source or opt_ml.processing_dir / GROUND_TRUTH_DIR
        )
        calibration, why_not = load_calibration(
            model_dir_for_job(args.model_dir, opt_ml), problem
        )
        window = WindowProbabilities()
        pairs, counts = _merged(
            source,
            truth_source,
            start,
            end,
            now,
            endpoint,
            quality,
            scan,
            truth_scan,
            (calibration, window) if calibration else None,
        )
        estimated = (
            estimate(window, calibration, problem)
            if calibration
            else not_estimated(why_not)
        )
        if not pairs.truth and estimated["status"] != ESTIMATED:
            raise _no_labels(start, end, counts, truth_scan, truth_source, estimated)
        rows = counts.captured
    else:
        pairs, rows = labelled_pairs(source, fmt, quality)
        if not pairs.truth:
            raise no_pairs(source, rows, pairs)
    block = (
        compute_metrics(
            problem, pairs.truth, pairs.predicted, pairs.binary_scores(problem)
        )
        if pairs.truth
        else None
    )
    checks, violations = (
        check_metrics(block, constraints) if constraints and block else ([], [])
    )
    stamp = (end or now).strftime("%Y-%m-%dT%H:%M:%SZ")
    evaluated_at = now.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    if block is not None:
        statistics = statistics_document(problem, block, len(pairs.truth), evaluated_at)
    else:
        statistics = {
            "version": 0.0,
            "dataset": {"item_count": 0, "evaluation_time": evaluated_at},
        }
    is_estimated = bool(estimated) and estimated["status"] == ESTIMATED
    if is_estimated:
        statistics["estimated_metrics"] = estimated
    status = "CompletedWithViolations" if violations else "Completed"
    summary = {
        "status": status,
        "analysis_type": "MODEL_QUALITY",
        "problem_type": problem,
        "violations": len(violations),
        "item_count": len(pairs.truth),
        "dataset_source": str(source),
        "dataset_format": fmt.kind,
        "ground_truth_source": str(truth_source) if truth_source else None,
        "start_time": start.isoformat() if start else None,
        "end_time": end.isoformat() if end else None,
        "endpoint_name": endpoint,
        "monitoring_schedule_name": schedule,
        "baseline_constraints": constraints_path,
        "merge": counts.to_dict() if counts else None,
        "ground_truth": truth_scan.to_dict() if truth_source else None,
        "capture": scan.to_dict() if fmt.kind == "capture" else None,
        "rows_without_label": pairs.without_label,
        "rows_without_prediction": pairs.without_prediction,
        "metrics": _metric_summary(block, checks, estimated),
        "estimated_metrics": estimated,
    }
    html = render_quality_report(
        "Model quality monitoring report",
        _report_rows(summary, counts, rows),
        block,
        baseline_block,
        checks,
        violations,
        _notes(constraints_path, counts, truth_scan, scan, estimated),
        estimated if is_estimated else None,
    )
    with guard.publishing():
        if publish:
            write_metrics(
                Path(args.metrics_dir or opt_ml.cloudwatch_metrics_dir),
                metric_lines(block, stamp, endpoint, schedule)
                + (
                    estimated_metric_lines(estimated, stamp, endpoint, schedule)
                    if is_estimated
                    else []
                ),
            )
        write_json(output / STATISTICS_FILE, statistics)
        write_json(output / VIOLATIONS_FILE, {"violations": violations})
        write_json(output / SUMMARY_FILE, summary)
        write_atomic(output / REPORT_FILE, html)
    if post is not None:
        post()
    if block is None:
        return (
            "Completed: no captured record of the window has a ground-truth label yet, "  # noqa: E501
            f"so nothing was checked; {estimate_line(estimated)}."
        )
    if violations:
        return "CompletedWithViolations: " + (
            f"Job completed successfully with {len(violations)} violations."
        )
    return "Completed: Job completed successfully with no violations."


def _merged(
    source: Path,
    truth_source: Path,
    start: datetime | None,
    end: datetime | None,
    now: datetime,
    endpoint: str | None,
    quality: QualitySettings,
    scan: CaptureScan,
    truth_scan: GroundTruthScan,
    estimation: tuple[Calibration, WindowProbabilities] | None = None,
) -> tuple[Pairs, MergeCounts]:
    """The window's labelled predictions; with `estimation`, every captured
    prediction's probabilities are also added to its WindowProbabilities."""
    files = capture_files(source, start, end, endpoint)
    label_files = ground_truth_files(truth_source, start, now, truth_scan)
    labels = read_labels(label_files, truth_scan, quality.ground_truth_attribute)
    collect = None
    if estimation is not None:
        calibration, window_probabilities = estimation

        def collect(raw: Any) -> None:
            add_output(window_probabilities, raw, calibration, quality.problem_type)

    pairs, counts = merge(
        window_outputs(files, start, end, scan), labels, quality, collect
    )
    window = _window(start, end)
    if counts.captured == 0:
        first = f" (first problem: {scan.examples[0]})" if scan.examples else ""
        raise NoDataError(
            f"no captured data in {source} for the window {window}: "
            f"{len(files)} capture files, {scan.outside_window} records outside the "
            f"window, {scan.malformed} malformed lines{first}"
        )
    return pairs, counts


def _window(start: datetime | None, end: datetime | None) -> str:
    return f"[{start or 'the beginning'}, {end or 'now'})"


def _no_labels(
    start: datetime | None,
    end: datetime | None,
    counts: MergeCounts,
    truth_scan: GroundTruthScan,
    truth_source: Path,
    estimated: dict[str, Any],
) -> NoDataError:
    first = f" (first problem: {counts.examples[0]})" if counts.examples else ""
    return NoDataError(
        f"no captured record of the window {_window(start, end)} could be merged with a ground-truth label: "  # noqa: E501
        f"{counts.captured} captured records, {counts.captured_without_label} without a label; "  # noqa: E501
        f"{truth_scan.records} labels read from {truth_scan.files} files in {truth_source} "  # noqa: E501
        f"({truth_scan.malformed} malformed){first}. Labels match a capture's "
        "eventMetadata.inferenceId, else its eventId; labels that arrive later "
        "are merged by a later run over this window. "
        f"No estimate without labels either: {estimated['reason']}"
    )


def _baseline_block(
    args, settings: MonitoringJobSettings, opt_ml: OptMl, problem: str
) -> dict[str, Any] | None:
    path = args.baseline_statistics or settings.baseline_statistics
    if path is None and opt_ml.baseline_statistics_file.is_file():
        path = str(opt_ml.baseline_statistics_file)
    if path is None:
        return None
    document = read_json_file(Path(path), "baseline_statistics")
    block = document.get(BLOCK_KEYS[problem]) if isinstance(document, dict) else None
    if not isinstance(block, dict):
        raise MonitoringInputError(
            f"baseline_statistics {path} has no {BLOCK_KEYS[problem]} for problem_type "
            f"{problem}: give the statistics.json of a model-quality baseline"
        )
    return block


def _dimensions(endpoint: str | None, schedule: str | None) -> list[dict[str, str]]:
    return [
        {"Name": "Endpoint", "Value": endpoint or "unknown"},
        {"Name": "MonitoringSchedule", "Value": schedule or "unknown"},
    ]


def estimated_metric_lines(
    estimated: dict[str, Any], stamp: str, endpoint: str | None, schedule: str | None
) -> list[dict[str, Any]]:
    """One CloudWatch line per estimated metric: estimated_accuracy, estimated_auc."""
    return [
        {
            "MetricName": f"estimated_{name}",
            "Timestamp": stamp,
            "Dimensions": _dimensions(endpoint, schedule),
            "Value": estimated[name]["value"],
        }
        for name in ("accuracy", "auc")
        if name in estimated
    ]


def metric_lines(
    block: dict[str, Any] | None,
    stamp: str,
    endpoint: str | None,
    schedule: str | None,
) -> list[dict[str, Any]]:
    """One CloudWatch line per defined metric, named as in statistics.json."""
    if block is None:
        return []
    dimensions = _dimensions(endpoint, schedule)
    return [
        {
            "MetricName": name,
            "Timestamp": stamp,
            "Dimensions": dimensions,
            "Value": metric["value"],
        }
        for name, metric in scalar_metrics(block).items()
        if isinstance(metric["value"], float)
    ]


def _metric_summary(
    block: dict[str, Any] | None,
    checks: list[MetricCheck],
    estimated: dict[str, Any] | None = None,
) -> dict[str, dict[str, Any]]:
    """Each metric with its check; `estimated` (its estimate before labels) where
    the window has one."""
    if block is None:
        return {}
    by_metric = {c.constraint.metric: c for c in checks}
    estimates = estimated if estimated and estimated["status"] == ESTIMATED else {}
    out = {}
    for name, metric in scalar_metrics(block).items():
        check = by_metric.get(name)
        out[name] = {
            "value": metric["value"],
            **(
                {"estimated": estimates[name]["value"]}
                if isinstance(estimates.get(name), dict)
                else {}
            ),
            "standard_deviation": metric["standard_deviation"],
            "threshold": check.constraint.threshold if check else None,
            "comparison_operator": check.constraint.comparison_operator
            if check
            else None,
            "violated": check.breached if check else False,
        }
    return out


def _report_rows(
    summary: dict[str, Any], counts: MergeCounts | None, rows: int
) -> list[tuple[str, str]]:
    out = [
        ("status", summary["status"]),
        ("problem type", summary["problem_type"]),
        ("violations", str(summary["violations"])),
        ("records evaluated", str(summary["item_count"])),
        ("window", f"{summary['start_time'] or '-'} to {summary['end_time'] or '-'}"),
        ("source", summary["dataset_source"]),
    ]
    if summary["endpoint_name"]:
        out.append(("endpoint", summary["endpoint_name"]))
    if counts is None:
        out.append(("dataset rows", str(rows)))
        return out
    out += [
        ("ground truth", summary["ground_truth_source"]),
        ("captured records", str(counts.captured)),
        ("merged with a label", str(counts.merged_records)),
        ("captured without a label", str(counts.captured_without_label)),
        ("labels without a capture in the window", str(counts.labels_without_capture)),
        (
            "duplicated labels (last collected wins)",
            str(summary["ground_truth"]["duplicated_labels"]),
        ),  # noqa: E501
    ]
    return out


def _notes(
    constraints_path: str | None,
    counts: MergeCounts | None,
    truth_scan: GroundTruthScan,
    scan: CaptureScan,
    estimated: dict[str, Any] | None = None,
) -> list[str]:
    notes = []
    if counts is not None and counts.merged_records == 0:
        notes.append(
            "No captured record has a ground-truth label yet: only the estimated metrics are reported, nothing is checked."  # noqa: E501
        )
    if estimated and estimated["status"] != ESTIMATED:
        notes.append(f"No estimated metrics: {estimated['reason']}")
    if constraints_path is None:
        notes.append(
            "No baseline constraints were given: metrics are reported, nothing is checked."  # noqa: E501
        )
    if counts is not None and counts.captured_without_label and counts.merged_records:
        notes.append(
            f"{counts.captured_without_label} captured records have no label yet; the metrics describe the {counts.merged_records} that have one."  # noqa: E501
        )
    problems = (counts.examples if counts else []) + truth_scan.examples + scan.examples
    if problems:
        notes.append(f"First problems: {'; '.join(problems[:5])}")
    return notes

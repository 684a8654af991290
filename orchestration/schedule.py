"""The monitoring schedule: `monitor` over each window of the endpoint's traffic.

`run_schedule` describes the schedule (endpoint, baseline, period) and hands
it to the backend. Where there is no scheduler service (this machine) the
backend calls back `run_due` now and at each window's end: windows are
aligned to `monitoring.schedule_minutes` (hourly by default, like
``cron(0 * ? * * *)``), each window that ended since the last run is
monitored once, and the last window done is kept in the lifecycle state so a
restart neither repeats nor skips one. As on SageMaker, a window with no
captured traffic is a failed execution, reported and skipped, not a stop.

Any `schedule_minutes` works locally. On AWS the backend creates (or, run
again, updates) a SageMaker monitoring schedule running the image's `monitor`
with the baseline, and CloudWatch alarms notifying the SNS topic; SageMaker
schedules only whole hours that divide a day (60, 120, 180, 240, 360, 480,
720 minutes) or daily (1440), unless aws.options.schedule_expression names
the schedule.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from orchestration import lifecycle
from orchestration.backends.base import (
    JobFailed,
    ModelQualityScheduleSpec,
    MonitoringScheduleSpec,
    ScheduleRun,
    join_location,
)
from orchestration.times import iso, parse_utc


def schedule_name(endpoint_name: str) -> str:
    """One schedule per endpoint, the same name wherever it runs."""
    return f"{endpoint_name}-monitoring"


def due_windows(
    last_end: datetime | None, now: datetime, minutes: int, max_windows: int = 24
) -> list[tuple[datetime, datetime]]:
    """Whole windows ending by `now`, after `last_end` (only the latest if None)."""
    period = timedelta(minutes=minutes)
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    latest_end = epoch + ((now - epoch) // period) * period
    if last_end is None:
        return [(latest_end - period, latest_end)]
    windows = []
    end = last_end + period
    while end <= latest_end:
        windows.append((end - period, end))
        end += period
    return windows[-max_windows:]


def run_due(
    project: lifecycle.Project,
    now: datetime | None = None,
    progress: Callable[[str], None] | None = None,
) -> list[dict[str, Any]]:
    """Monitor every due window once; returns one record per execution."""
    minutes = project.config.monitoring.schedule_minutes
    last = project.state.get("schedule_last_end")
    last_end = parse_utc(last, "schedule_last_end") if last else None
    executions = []
    name = schedule_name(project.need("endpoint", "deploy")["name"])
    for start, end in due_windows(last_end, now or datetime.now(UTC), minutes):
        window = (iso(start), iso(end))
        try:
            # Each window is looked at once, as a scheduled execution would.
            report = lifecycle.monitor(
                project,
                *window,
                progress=progress,
                schedule_name=name,
                wait_for_capture=False,
            )
            executions.append(
                {
                    "window": window,
                    "status": report.status,
                    "violations": len(report.violations),
                    "alerts": [a.rule for a in report.alerts],
                    "model_quality": report.quality.get("status"),
                }
            )
        except JobFailed as exc:
            project.say(f"  window {window[0]} → {window[1]}: Failed: {exc.reason}")
            executions.append(
                {"window": window, "status": "Failed", "failure_reason": exc.reason}
            )
        project.save(schedule_last_end=window[1])
    if not executions:
        project.say("no monitoring window is due yet")
    return executions


def _quality_spec(
    project: lifecycle.Project, base: dict[str, Any], name: str
) -> ModelQualityScheduleSpec | None:
    """The model-quality part of the schedule, when `baseline` measured it."""
    mq = base.get("quality")
    if not mq or not mq.get("constraints"):
        return None
    alarm = mq.get("alarm") or {}
    return ModelQualityScheduleSpec(
        problem_type=mq["problem_type"],
        constraints_location=mq["constraints"],
        ground_truth_location=project.backend.location("groundtruth"),
        output_location=project.backend.location("monitoring", f"{name}-quality"),
        alarm_metric=alarm.get("metric"),
        alarm_threshold=alarm.get("threshold"),
        alarm_operator=alarm.get("comparison_operator"),
    )


def run_schedule(
    project: lifecycle.Project,
    once: bool = False,
    max_runs: int | None = None,
    progress: Callable[[str], None] | None = None,
) -> ScheduleRun:
    """Monitor the deployed endpoint's traffic every `schedule_minutes`.

    The backend runs the schedule (`Backend.run_monitoring_schedule`): this
    process on this machine, SageMaker on AWS. What runs it is kept in the
    lifecycle state.
    """
    base = project.need("baseline", "baseline")
    endpoint = project.need("endpoint", "deploy")
    name = schedule_name(endpoint["name"])
    backend = project.backend
    spec = MonitoringScheduleSpec(
        schedule_name=name,
        endpoint_name=endpoint["name"],
        statistics_location=join_location(base["location"], "statistics.json"),
        constraints_location=join_location(base["location"], "constraints.json"),
        output_location=backend.location("monitoring", name),
        schedule_minutes=project.config.monitoring.schedule_minutes,
        instance_type=project.config.monitoring.instance_type,
        features=tuple(project.state.get("features", ())),
        quality=_quality_spec(project, base, name),
        **_traffic_rules(project, endpoint),
    )
    ran = backend.run_monitoring_schedule(
        spec,
        lambda: run_due(project, progress=progress),
        project.say,
        progress or project.say,
        once=once,
        max_runs=max_runs,
    )
    project.save(schedule=ran.schedule)
    return ran


def _traffic_rules(
    project: lifecycle.Project, endpoint: dict[str, Any]
) -> dict[str, Any]:
    """The strictest error_rate and latency rules, and the variants they watch."""
    rules = project.config.alerts.rules
    error_rates = [r.max_error_rate for r in rules if r.kind == "error_rate"]
    latencies = [r.max_latency_p99_ms for r in rules if r.kind == "latency"]
    return {
        "variant_names": tuple(sorted(endpoint.get("variants") or {"AllTraffic": {}})),
        "max_error_rate": min(error_rates) if error_rates else None,
        "max_latency_p99_ms": min(latencies) if latencies else None,
    }

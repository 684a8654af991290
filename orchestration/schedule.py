"""The monitoring schedule: `monitor` over each past window, locally or on AWS.

Locally there is no scheduler service, so `schedule` is one: windows are
aligned to `monitoring.schedule_minutes` (hourly by default, like
``cron(0 * ? * * *)``), each window that ended since the last run is
monitored once, and the last window done is kept in the lifecycle state so a
restart neither repeats nor skips one. As on SageMaker, a window with no
captured traffic is a failed execution, reported and skipped, not a stop.

Any `schedule_minutes` works here. On AWS the same step creates (or, run
again, updates) a SageMaker monitoring schedule running the image's `monitor`
with the baseline, and a CloudWatch alarm on the drift metric notifying the
SNS topic; SageMaker schedules only whole hours that divide a day (60, 120,
180, 240, 360, 480, 720 minutes) or daily (1440), unless
aws.options.schedule_expression names the schedule.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from orchestration import lifecycle
from orchestration.backends.base import JobFailed

ISO = "%Y-%m-%dT%H:%M:%SZ"


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
    last_end = datetime.strptime(last, ISO).replace(tzinfo=UTC) if last else None
    executions = []
    name = f"{project.config.endpoint.name}-schedule"
    for start, end in due_windows(last_end, now or datetime.now(UTC), minutes):
        window = (start.strftime(ISO), end.strftime(ISO))
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


def run_schedule(
    project: lifecycle.Project,
    once: bool = False,
    max_runs: int | None = None,
    progress: Callable[[str], None] | None = None,
) -> list[dict[str, Any]]:
    """Local: monitor due windows now, then (unless `once`) at each boundary."""
    if project.backend.name == "aws":
        return [create_aws_schedule(project, progress)]
    executions = run_due(project, progress=progress)
    period = project.config.monitoring.schedule_minutes * 60
    while not once and (max_runs is None or len(executions) < max_runs):
        wait = period - (time.time() % period) + 1
        project.say(
            f"next monitoring window closes in {wait / 60:.1f} min (Ctrl-C to stop)"
        )
        time.sleep(wait)
        executions += run_due(project, progress=progress)
    return executions


def create_aws_schedule(
    project: lifecycle.Project, progress: Callable[[str], None] | None = None
) -> dict[str, Any]:
    """A SageMaker monitoring schedule running our `monitor`, plus the drift alarm.

    The expression is aws.options.schedule_expression, else
    `monitoring.schedule_minutes` as one SageMaker accepts (refused, before
    any AWS call, when there is none). Run again, it updates the schedule.
    """
    from orchestration.aws.monitoring import ScheduleSpec

    base = project.need("baseline", "baseline")
    endpoint = project.need("endpoint", "deploy")
    backend: Any = project.backend
    expression = backend.schedule_expression(project.config.monitoring.schedule_minutes)
    name = f"{endpoint['name']}-monitoring"
    spec = ScheduleSpec(
        schedule_name=name,
        endpoint_name=endpoint["name"],
        image=project.backend.ensure_image(),
        statistics_uri=f"{base['location']}/statistics.json",
        constraints_uri=f"{base['location']}/constraints.json",
        output_uri=project.location("monitoring", name),
        schedule_expression=expression,
        instance_type=project.config.monitoring.instance_type,
    )
    backend.create_monitoring_schedule(spec, progress or project.say)
    features = tuple(project.state.get("features", ()))
    alarm = backend.create_drift_alarm(
        endpoint["name"], name, features, schedule_expression=expression
    )
    project.say(
        f"monitoring schedule {name} ({expression}); alarm {alarm['alarm_name']} "
        f"→ {alarm['topic_arn']}"
    )
    project.save(schedule={"name": name, **alarm})
    return {"schedule": name, **alarm}

"""The monitoring schedule on this machine: this process is the scheduler.

There is no scheduler service locally, so `run_schedule` is one, in the
foreground: it monitors the windows due now and then, unless told to run
once, sleeps until the next window closes and monitors again, until stopped
(Ctrl-C) or after `max_runs` executions. Which windows are due, and that
each is monitored once across restarts, is `orchestration.schedule`'s
business; this module only keeps time.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from orchestration.backends.base import (
    MonitorDue,
    MonitoringScheduleSpec,
    Progress,
    ScheduleRun,
)

# A window is monitored a second after it closes, so its last record is in.
SETTLE_SECONDS = 1


def run_schedule(
    spec: MonitoringScheduleSpec,
    monitor_due: MonitorDue,
    say: Progress,
    once: bool = False,
    max_runs: int | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.time,
) -> ScheduleRun:
    """Monitor due windows now, then (unless `once`) at each window boundary."""
    executions = monitor_due()
    period = spec.schedule_minutes * 60
    while not once and (max_runs is None or len(executions) < max_runs):
        wait = period - (clock() % period) + SETTLE_SECONDS
        say(f"next monitoring window closes in {wait / 60:.1f} min (Ctrl-C to stop)")
        sleep(wait)
        executions += monitor_due()
    schedule = {"name": spec.schedule_name, "schedule_minutes": spec.schedule_minutes}
    return ScheduleRun(schedule, executions)

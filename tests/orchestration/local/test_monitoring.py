"""The local monitoring schedule keeps time; `orchestration.schedule` picks windows."""

from orchestration.backends.base import MonitoringScheduleSpec
from orchestration.local.monitoring import run_schedule

SPEC = MonitoringScheduleSpec(
    "ep-monitoring", "ep", "/b/statistics.json", "/b/constraints.json", "/out", 60
)


def test_once_monitors_what_is_due_and_returns():
    slept = []
    ran = run_schedule(
        SPEC, lambda: [{"window": 1}], print, once=True, sleep=slept.append
    )
    assert ran.executions == [{"window": 1}] and slept == []
    assert ran.schedule == {"name": "ep-monitoring", "schedule_minutes": 60}


def test_it_wakes_a_second_after_each_window_closes_until_max_runs():
    slept, said = [], []
    windows = iter(range(10))
    ran = run_schedule(
        SPEC,
        lambda: [{"window": next(windows)}],
        said.append,
        max_runs=3,
        sleep=slept.append,
        clock=lambda: 3600 * 5 + 600.0,  # ten minutes into an hour
    )
    assert [e["window"] for e in ran.executions] == [0, 1, 2]
    assert slept == [3000 + 1, 3000 + 1]
    assert said[0] == "next monitoring window closes in 50.0 min (Ctrl-C to stop)"

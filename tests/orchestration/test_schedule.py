from datetime import UTC, datetime

from orchestration.schedule import due_windows


def at(hour, minute=0):
    return datetime(2026, 4, 18, hour, minute, tzinfo=UTC)


def test_first_run_monitors_the_last_whole_window():
    assert due_windows(None, at(10, 17), 60) == [(at(9), at(10))]


def test_every_window_since_the_last_run_is_due_once():
    assert due_windows(at(7), at(10, 5), 60) == [
        (at(7), at(8)),
        (at(8), at(9)),
        (at(9), at(10)),
    ]
    assert due_windows(at(10), at(10, 59), 60) == []


def test_windows_follow_the_schedule_period_and_are_capped():
    assert due_windows(at(9), at(9, 31), 15) == [
        (at(9), at(9, 15)),
        (at(9, 15), at(9, 30)),
    ]
    assert len(due_windows(at(0), at(23), 5, max_windows=24)) == 24

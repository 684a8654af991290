"""Wait for an endpoint's data capture of a time window to reach S3.

On SageMaker the platform, not the model server, writes capture: it buffers
records and puts them under
``{destination}/{endpoint}/{variant}/yyyy/mm/dd/hh/`` (the hour in UTC) some
time after the responses, usually within a couple of minutes. A `monitor`
started right after the traffic would find nothing, so the lifecycle waits
here first.

An object can hold records of the window only if its hour folder overlaps
the window (as the `monitor` container reads them) and it was written after
the window began. The window is taken as complete once such an object was
written at (or, by the recorded end's rounding, just before) the window's
end: records are written after they happen, so by then the traffic before
the end has been flushed (from one instance at least: with several, another
one's buffer may still be due).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from orchestration.aws import s3
from orchestration.backends.base import BackendError, CaptureFound, Progress
from orchestration.times import parse_utc

# Object times come from S3's clock, window times from this machine's.
CLOCK_SKEW = timedelta(seconds=60)
# `predict` records its traffic as ending on the whole second after its last
# request, and S3 times are whole seconds: an object holding that request can
# carry a time up to two seconds before the recorded end.
TRAFFIC_END_SLACK = timedelta(seconds=2)
POLL_SECONDS = 15.0
PROGRESS_EVERY_SECONDS = 60.0


class CaptureIncomplete(BackendError):
    """Capture of a window started arriving but did not reach its end in time."""

    code = "capture_incomplete"


def hour_prefixes(
    destination: str, endpoint_name: str, variant: str, start: datetime, end: datetime
) -> list[str]:
    """The hour folders that can hold records of [start, end), oldest first."""
    base = s3.join(destination, endpoint_name, variant)
    hour = start.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    prefixes = []
    while hour < end or not prefixes:
        prefixes.append(f"{base}/{hour:%Y/%m/%d/%H}/")
        hour += timedelta(hours=1)
    return prefixes


def describe_location(prefixes: list[str]) -> str:
    if len(prefixes) == 1:
        return prefixes[0]
    last_hour = prefixes[-1].rstrip("/").split("/")[-4:]
    return f"{prefixes[0]} (to {'/'.join(last_hour)}/)"


def window_objects(
    client: Any, prefixes: list[str], start: datetime
) -> list[dict[str, Any]]:
    """Objects under `prefixes` written since `start` (less the clock skew)."""
    since = start - CLOCK_SKEW
    return [
        obj
        for prefix in prefixes
        for obj in s3.list_objects(client, prefix)
        if obj["LastModified"] >= since
    ]


def wait_for_window(
    client: Any,
    destination: str,
    endpoint_name: str,
    variant: str,
    start: str,
    end: str,
    progress: Progress,
    timeout_seconds: float,
    poll_seconds: float,
    sleep: Callable[[float], None],
) -> CaptureFound:
    """List the window's hour folders until its capture is complete.

    `timeout_seconds == 0` looks once. Returns the objects found (none, after
    the whole wait, when no traffic was captured); raises `CaptureIncomplete`
    when some arrived but none written after the window's end within the wait.
    """
    begin, finish = parse_utc(start, "start"), parse_utc(end, "end")
    prefixes = hour_prefixes(destination, endpoint_name, variant, begin, finish)
    location = describe_location(prefixes)
    poll = min(poll_seconds, POLL_SECONDS) or POLL_SECONDS
    waited = 0.0
    reported = -PROGRESS_EVERY_SECONDS
    while True:
        objects = window_objects(client, prefixes, begin)
        newest = max((o["LastModified"] for o in objects), default=None)
        complete = newest is not None and newest >= finish - TRAFFIC_END_SLACK
        if complete or (objects and timeout_seconds == 0):
            return CaptureFound(location, len(objects), waited)
        if waited >= timeout_seconds:
            if not objects:
                return CaptureFound(location, 0, waited)
            raise CaptureIncomplete(
                f"the capture of {start} → {end} under {location} is still incomplete after waiting {waited:.0f} s: {len(objects)} object(s), the newest written {newest:%Y-%m-%dT%H:%M:%SZ}, before the window's end; run `monitor` for the window later, or raise aws.options.capture_wait_seconds"
            )
        if waited - reported >= PROGRESS_EVERY_SECONDS:
            progress(
                f"waiting for SageMaker to write the capture of {start} → {end} "
                f"under {location}: {len(objects)} object(s) so far, "
                f"{waited:.0f} of {timeout_seconds:.0f} s"
            )
            reported = waited
        step = min(poll, timeout_seconds - waited)
        sleep(step)
        waited += step

"""Times as the lifecycle writes and reads them: ISO 8601, UTC, whole seconds.

Monitoring windows, capture times, job and alert records all use the form
SageMaker's Model Monitor uses (``2026-04-18T09:00:00Z``); this module is the
one place that formats and parses it.
"""

from __future__ import annotations

from datetime import UTC, datetime

from container.contract.errors import ByocError

ISO_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


class InvalidTime(ByocError):
    """A time given on the command line or in the state is not ISO 8601."""

    status_code = 400
    code = "invalid_time"


def iso(moment: datetime) -> str:
    """`moment` as 2026-04-18T09:00:00Z (microseconds dropped)."""
    return moment.astimezone(UTC).strftime(ISO_FORMAT)


def utc_now() -> str:
    return iso(datetime.now(UTC))


def parse_utc(value: str, name: str = "time") -> datetime:
    """An ISO 8601 time (a trailing Z allowed) as an aware datetime; naive is UTC."""
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except (ValueError, AttributeError):
        raise InvalidTime(
            f"{name}={value!r} is not an ISO 8601 time like 2026-04-18T09:00:00Z"
        ) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def stamp(now: datetime | None = None) -> str:
    """A millisecond UTC stamp for resource names: 20260418-090000-123."""
    return (now or datetime.now(UTC)).strftime("%Y%m%d-%H%M%S-%f")[:-3]

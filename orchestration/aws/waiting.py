"""Poll a describe call until a terminal state, reporting each change once.

SageMaker jobs and endpoints take minutes; the user should see every state
change (and the job's own status messages) as it happens, and a wait must
end with a clear error instead of hanging forever.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection
from typing import Any

from orchestration.backends.base import BackendError, Progress


class WaitTimedOut(BackendError):
    code = "wait_timed_out"


def wait_for(
    describe: Callable[[], dict[str, Any]],
    status_of: Callable[[dict[str, Any]], str],
    terminal: Collection[str],
    progress: Progress,
    what: str,
    poll_seconds: float,
    timeout_seconds: float,
    detail_of: Callable[[dict[str, Any]], str | None] = lambda _: None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> dict[str, Any]:
    """Return the first description whose status is terminal."""
    deadline = clock() + timeout_seconds
    last_line = None
    while True:
        description = describe()
        status = status_of(description)
        detail = detail_of(description)
        line = f"{what}: {status}" + (f" ({detail})" if detail else "")
        if line != last_line:
            progress(line)
            last_line = line
        if status in terminal:
            return description
        if clock() >= deadline:
            raise WaitTimedOut(
                f"{what} still {status} after {timeout_seconds:.0f} s; it keeps running on AWS: check it with `status`, or raise aws.wait_timeout_seconds"
            )
        sleep(poll_seconds)

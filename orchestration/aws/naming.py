"""SageMaker resource names: validated early, made unique where AWS needs it.

Job, model, endpoint and config names share one rule (at most 63 letters,
digits and single hyphens, starting with a letter or digit). botocore checks
only the length, so a bad name would otherwise fail on AWS with a less
helpful message.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from orchestration.backends.base import BackendError

MAX_LENGTH = 63
_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")


def check_name(name: str, kind: str) -> str:
    if not _NAME.match(name):
        raise BackendError(
            f"{kind} name {name!r} is not valid on SageMaker: use at most "
            f"{MAX_LENGTH} letters, digits and hyphens, starting and ending with "
            "a letter or digit (e.g. penguins-train-20260101-120000)"
        )
    return name


def timestamped(base: str, now: datetime | None = None) -> str:
    """`base` plus a UTC timestamp, cut so the whole stays a valid name."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%d-%H%M%S-%f")[:-3]
    head = re.sub(r"[^a-zA-Z0-9-]", "-", base).strip("-")[: MAX_LENGTH - len(stamp) - 1]
    return check_name(f"{head.rstrip('-')}-{stamp}", "resource")

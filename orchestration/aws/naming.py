"""SageMaker resource names: validated early, made unique where AWS needs it.

Job, model, endpoint and config names share one rule, the backends' own
(`orchestration.names`, checked by `orchestration.backends.base.check_name`). botocore checks only the length,
so a bad name would otherwise fail on AWS with a less helpful message.
"""

from __future__ import annotations

import re
from datetime import datetime

from orchestration import times
from orchestration.backends.base import check_name
from orchestration.names import NAME_MAX_LENGTH as MAX_LENGTH

__all__ = ["MAX_LENGTH", "check_name", "timestamped"]


def timestamped(base: str, now: datetime | None = None) -> str:
    """`base` plus a UTC timestamp, cut so the whole stays a valid name."""
    stamp = times.stamp(now)
    head = re.sub(r"[^a-zA-Z0-9-]", "-", base).strip("-")[: MAX_LENGTH - len(stamp) - 1]
    return check_name(f"{head.rstrip('-')}-{stamp}", "resource")

"""SageMaker's one rule for resource names, with nothing else to import.

Job, model, endpoint (config), variant and model group names share it. Names
also become local folders, so nothing else gets through. The config checks
names with it when it is read; the backends check them at their edge
(`orchestration.backends.base.check_name`).
"""

from __future__ import annotations

import re

NAME_MAX_LENGTH = 63
NAME_PATTERN = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}")
NAME_RULE = (
    "at most 63 letters, digits and hyphens, starting and ending with a letter or digit"
)


def is_valid_name(name: object) -> bool:
    return isinstance(name, str) and NAME_PATTERN.fullmatch(name) is not None

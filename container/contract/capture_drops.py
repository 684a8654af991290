"""The drop sidecar: how many capture records a writer could not write, and why.

Beside each capture file ``MM-SS-mmm-<uuid>.jsonl`` the server's capture
writer keeps ``MM-SS-mmm-<uuid>.drops.json``, one JSON object padded with
spaces to exactly `SIDECAR_BYTES` bytes::

    {"capture_file": "21-48-123-<uuid>.jsonl", "dropped_records": 3,
     "reasons": {"ENOSPC": 3}, "first_drop": "2026-04-18T00:21:50Z",
     "last_drop": "2026-04-18T00:22:03Z"}

The fixed size is what lets the writer update it on a full disk: the file is
created (temporary file + rename) when its capture file is opened, while there
is room, and every later update overwrites the same bytes in place, which
needs no new space. `monitor` sums the sidecars of its window; its capture
reader lists ``*.jsonl`` only, so sidecars are never read as records.
SageMaker's own capture on AWS writes no sidecars.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field

SIDECAR_SUFFIX = ".drops.json"
SIDECAR_BYTES = 1024
CAPTURE_SUFFIX = ".jsonl"


def sidecar_name(capture_name: str) -> str:
    """``21-48-123-<uuid>.jsonl`` -> ``21-48-123-<uuid>.drops.json``."""
    stem = capture_name.removesuffix(CAPTURE_SUFFIX)
    return stem + SIDECAR_SUFFIX


@dataclass
class DropCounts:
    """One capture file's dropped records."""

    capture_file: str
    dropped_records: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    first_drop: str | None = None  # inferenceTime of the first dropped record
    last_drop: str | None = None

    def add(self, reason: str, when: str) -> None:
        self.dropped_records += 1
        self.reasons[reason] = self.reasons.get(reason, 0) + 1
        self.first_drop = self.first_drop or when
        self.last_drop = when

    def encode(self) -> bytes:
        """Exactly SIDECAR_BYTES bytes of JSON, space-padded, newline-terminated."""
        reasons: Mapping[str, int] = self.reasons
        for _ in range(2):
            text = json.dumps(
                {
                    "capture_file": self.capture_file,
                    "dropped_records": self.dropped_records,
                    "reasons": dict(reasons),
                    "first_drop": self.first_drop,
                    "last_drop": self.last_drop,
                },
                separators=(",", ":"),
            ).encode()
            if len(text) < SIDECAR_BYTES:
                return text + b" " * (SIDECAR_BYTES - 1 - len(text)) + b"\n"
            # Too many distinct reasons to fit: keep the total, not the detail.
            reasons = {"various": self.dropped_records}
        raise ValueError(
            f"capture file name too long for a sidecar: {self.capture_file}"
        )


def parse_sidecar(text: str) -> DropCounts:
    """A sidecar's counts; ValueError when it is not one."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON ({exc.msg})") from None
    if not isinstance(doc, dict):
        raise ValueError("not a JSON object")
    dropped = doc.get("dropped_records")
    reasons = doc.get("reasons") or {}
    if type(dropped) is not int or dropped < 0:
        raise ValueError("dropped_records is not a count")
    if not isinstance(reasons, dict) or not all(
        type(v) is int for v in reasons.values()
    ):
        raise ValueError("reasons is not an object of counts")
    return DropCounts(
        capture_file=str(doc.get("capture_file") or ""),
        dropped_records=dropped,
        reasons={str(k): v for k, v in reasons.items()},
        first_drop=doc.get("first_drop")
        if isinstance(doc.get("first_drop"), str)
        else None,
        last_drop=doc.get("last_drop")
        if isinstance(doc.get("last_drop"), str)
        else None,
    )

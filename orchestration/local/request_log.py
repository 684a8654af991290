"""An endpoint's request log, kept after its containers are gone.

The serving container writes one JSON line per request on stdout (`time`,
`path`, `status`, `latency_ms`, `records`, ...; container/serving/app.py).
Docker keeps a container's log only as long as the container, so the lines
of /invocations requests are copied to ``<endpoint folder>/requests.jsonl``,
each with the variant that answered:

- whenever the endpoint's traffic is asked for (`monitor`, `status`), from
  every running container of the endpoint;
- just before any endpoint container is removed (an update replacing it, a
  variant retired, teardown), by the engine's removal hook.

A cursor per container (the Docker timestamp of the last line copied) makes
each line land once however often it is collected. `window` aggregates a
time window: requests, 4xx and 5xx, error rate, latency p50 and p99, per
variant and for the whole endpoint.
"""

from __future__ import annotations

import fcntl
import json
import math
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from orchestration.backends.base import traffic_summary
from orchestration.times import parse_utc

REQUESTS_FILE = "requests.jsonl"
CURSORS_FILE = "requests.cursors.json"
LOCK_FILE = ".requests.lock"
VARIANT_LABEL = "sklearn-byoc.variant"  # set by hosting.Endpoints.create_container
DEFAULT_VARIANT = "AllTraffic"
INVOCATIONS = "/invocations"
ALL = "all"


def collect(container: Any, folder: Path) -> int:
    """Copy `container`'s new request lines into `folder`; how many were new."""
    variant = (container.labels or {}).get(VARIANT_LABEL, DEFAULT_VARIANT)
    folder.mkdir(parents=True, exist_ok=True)
    with _locked(folder):
        cursors = _read_cursors(folder)
        since = cursors.get(container.id)
        # Docker's `since` counts whole seconds: the cursor drops the rest.
        after = (
            {"since": int(parse_utc(since[:19] + "Z", "since").timestamp())}
            if since
            else {}
        )
        text = container.logs(stdout=True, stderr=False, timestamps=True, **after)
        new, last = _request_lines(_decoded(text), since, variant)
        if new:
            with open(folder / REQUESTS_FILE, "a", encoding="utf-8") as out:
                out.writelines(json.dumps(r, separators=(",", ":")) + "\n" for r in new)
        if last is not None:
            cursors[container.id] = last
            _write_cursors(folder, cursors)
    return len(new)


def _decoded(raw: bytes | str) -> Iterator[str]:
    text = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else raw
    yield from text.splitlines()


def _request_lines(
    lines: Iterable[str], since: str | None, variant: str
) -> tuple[list[dict[str, Any]], str | None]:
    """The /invocations records after `since`, and the last timestamp seen."""
    new, last = [], since
    for line in lines:
        stamp, _, body = line.partition(" ")
        if since is not None and stamp <= since:
            continue
        last = stamp
        if not body.startswith("{"):
            continue
        try:
            record = json.loads(body)
        except json.JSONDecodeError:
            continue
        if not isinstance(record, dict) or record.get("path") != INVOCATIONS:
            continue
        new.append(
            {
                "time": record.get("time"),
                "variant": variant,
                "status": record.get("status"),
                "latency_ms": record.get("latency_ms"),
                "records": record.get("records"),
                "error": record.get("error"),
            }
        )
    return new, last


def window(folder: Path, start: str, end: str) -> dict[str, dict[str, Any]]:
    """Per variant and for `all`: the window's traffic, from the kept log."""
    begin, finish = parse_utc(start, "start"), parse_utc(end, "end")
    by_variant: dict[str, list[dict[str, Any]]] = {}
    path = folder / REQUESTS_FILE
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            when = _time(record.get("time"))
            if when is None or not (begin <= when < finish):
                continue
            by_variant.setdefault(record["variant"], []).append(record)
    every = [r for records in by_variant.values() for r in records]
    summary = {name: summarize(records) for name, records in sorted(by_variant.items())}
    summary[ALL] = summarize(every)
    return summary


def summarize(records: list[dict[str, Any]]) -> dict[str, Any]:
    statuses = [int(r.get("status") or 0) for r in records]
    latencies = sorted(
        float(r["latency_ms"]) for r in records if r.get("latency_ms") is not None
    )
    errors_4xx = sum(1 for s in statuses if 400 <= s < 500)
    errors_5xx = sum(1 for s in statuses if s >= 500)
    return traffic_summary(
        len(records),
        errors_4xx,
        errors_5xx,
        _percentile(latencies, 0.50),
        _percentile(latencies, 0.99),
    )


def _percentile(values: list[float], q: float) -> float | None:
    """The nearest-rank percentile (what CloudWatch's pNN reports), or None."""
    if not values:
        return None
    return round(values[max(0, math.ceil(q * len(values)) - 1)], 3)


def _time(text: Any) -> datetime | None:
    try:
        return parse_utc(str(text), "time")
    except Exception:  # noqa: BLE001 - a line without a readable time is skipped
        return None


@contextmanager
def _locked(folder: Path) -> Iterator[None]:
    """One collector at a time per endpoint (two commands may look at once)."""
    with open(folder / LOCK_FILE, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _read_cursors(folder: Path) -> dict[str, str]:
    path = folder / CURSORS_FILE
    try:
        return json.loads(path.read_text()) if path.is_file() else {}
    except json.JSONDecodeError:
        return {}


def _write_cursors(folder: Path, cursors: dict[str, str]) -> None:
    path = folder / CURSORS_FILE
    partial = path.with_suffix(".partial")
    partial.write_text(json.dumps(cursors, indent=1, sort_keys=True) + "\n")
    partial.replace(path)

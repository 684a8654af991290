"""The local endpoints' request log: kept from the serving containers' log
lines, once each, and counted per window (no Docker: containers are fakes
that answer `logs` as the Docker SDK does)."""

from __future__ import annotations

import json
from pathlib import Path

from orchestration.local import request_log
from orchestration.local.request_log import VARIANT_LABEL


def line(stamp: str, time: str, status: int, latency: float, path="/invocations"):
    record = {
        "time": time,
        "method": "POST",
        "path": path,
        "status": status,
        "latency_ms": latency,
        "records": 1,
    }
    return f"2026-12-02T10:{stamp}.000000000Z {json.dumps(record)}"


class FakeContainer:
    def __init__(self, container_id: str, variant: str | None, lines: list[str]):
        self.id = container_id
        self.labels = {VARIANT_LABEL: variant} if variant else {}
        self.lines = lines
        self.asked: list[dict] = []

    def logs(self, **kwargs) -> bytes:
        self.asked.append(kwargs)
        return ("\n".join(self.lines) + "\n").encode()


def test_only_invocations_are_kept_each_once(tmp_path: Path):
    container = FakeContainer(
        "c1",
        "AllTraffic",
        [
            line("00:01", "2026-12-02T10:00:01.000Z", 200, 3.0),
            line("00:02", "2026-12-02T10:00:02.000Z", 200, 1.0, path="/ping"),
            "2026-12-02T10:00:03.000000000Z [serve] a plain log line",
            line("00:04", "2026-12-02T10:00:04.000Z", 400, 0.5),
        ],
    )
    assert request_log.collect(container, tmp_path) == 2
    assert request_log.collect(container, tmp_path) == 0  # the cursor moved on
    container.lines.append(line("00:05", "2026-12-02T10:00:05.000Z", 500, 9.0))
    assert request_log.collect(container, tmp_path) == 1
    kept = (tmp_path / request_log.REQUESTS_FILE).read_text().splitlines()
    assert [json.loads(k)["status"] for k in kept] == [200, 400, 500]
    assert container.asked[-1]["since"] > 0  # Docker is asked only for what is new


def test_a_window_counts_errors_and_latency_per_variant_and_in_all(tmp_path):
    blue = FakeContainer(
        "blue",
        "blue",
        [
            line(f"00:{i:02d}", f"2026-12-02T10:00:{i:02d}.000Z", 200, float(i))
            for i in range(1, 11)
        ],
    )
    green = FakeContainer(
        "green",
        "green",
        [
            line("00:20", "2026-12-02T10:00:20.000Z", 503, 50.0),
            line("00:21", "2026-12-02T10:00:21.000Z", 200, 20.0),
            line("59:59", "2026-12-02T10:59:59.000Z", 200, 1.0),  # outside
        ],
    )
    for container in (blue, green):
        request_log.collect(container, tmp_path)

    counted = request_log.window(
        tmp_path, "2026-12-02T10:00:00Z", "2026-12-02T10:30:00Z"
    )

    assert counted["blue"]["requests"] == 10 and counted["blue"]["error_rate"] == 0
    assert counted["blue"]["latency_p50_ms"] == 5.0
    assert counted["blue"]["latency_p99_ms"] == 10.0
    assert counted["green"] == {
        "requests": 2,
        "errors_4xx": 0,
        "errors_5xx": 1,
        "error_rate": 0.5,
        "latency_p50_ms": 20.0,
        "latency_p99_ms": 50.0,
    }
    assert counted["all"]["requests"] == 12
    assert counted["all"]["errors_5xx"] == 1


def test_an_unlabelled_container_is_the_single_variant(tmp_path):
    container = FakeContainer(
        "c", None, [line("00:01", "2026-12-02T10:00:01.000Z", 200, 1.0)]
    )
    request_log.collect(container, tmp_path)
    counted = request_log.window(
        tmp_path, "2026-12-02T10:00:00Z", "2026-12-02T11:00:00Z"
    )
    assert set(counted) == {"AllTraffic", "all"}


def test_no_log_yet_is_an_empty_window(tmp_path):
    counted = request_log.window(
        tmp_path, "2026-12-02T10:00:00Z", "2026-12-02T11:00:00Z"
    )
    assert counted == {"all": request_log.summarize([])}
    assert counted["all"]["latency_p99_ms"] is None


def test_the_engine_keeps_the_log_before_removing_a_container(tmp_path):
    from orchestration.local.engine import Engine

    removed = []

    class Client:
        class containers:  # noqa: N801 - the Docker SDK's attribute
            @staticmethod
            def get(container_id):
                class Found:
                    id = container_id

                    def remove(self, force):
                        removed.append(container_id)

                return Found()

    engine = Engine("image", "penguins", tmp_path, client=Client())
    seen = []
    engine.before_remove.append(lambda c: seen.append(c.id))
    engine.before_remove.append(lambda c: 1 / 0)  # a failing hook
    engine.remove("abc")
    assert seen == ["abc"] and removed == ["abc"]

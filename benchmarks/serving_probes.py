"""Measurements the serving benchmark takes besides wrk's throughput.

- process trees: every descendant of a server's processes, and which of
  them are model workers (leaf processes that are not nginx);
- PSS of a tree (/proc/PID/smaps_rollup);
- a worker's peak RSS over one request: VmHWM after resetting it through
  /proc/PID/clear_refs, or, where that is refused, the largest VmRSS
  sampled every few milliseconds during the request;
- slow clients: many connections that each send a request one byte per
  second, while /ping is polled on its own connections.
"""

from __future__ import annotations

import http.client
import socket
import threading
import time
from pathlib import Path


# --- process trees -----
def children(pid: int) -> list[int]:
    found = []
    task_dir = Path(f"/proc/{pid}/task")
    try:
        tasks = list(task_dir.iterdir())
    except OSError:
        return []
    for task in tasks:
        try:
            found += [int(p) for p in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


def descendants(pids: list[int]) -> list[int]:
    """pids and every process below them."""
    seen: list[int] = []
    stack = list(pids)
    while stack:
        pid = stack.pop()
        if pid in seen:
            continue
        seen.append(pid)
        stack.extend(children(pid))
    return seen


def comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def worker_pids(root_pids: list[int]) -> list[int]:
    """Processes that answer requests: leaves of the tree that are not nginx."""
    tree = descendants(root_pids)
    return [pid for pid in tree if comm(pid) != "nginx" and not children(pid)]


def nginx_in(root_pids: list[int]) -> bool:
    return any(comm(pid) == "nginx" for pid in descendants(root_pids))


def status_kb(pid: int, key: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def pss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def tree_pss_mb(root_pids: list[int]) -> float:
    return sum(pss_kb(pid) for pid in descendants(root_pids)) / 1024


# --- peak memory over one request -----
def reset_peak(pid: int) -> bool:
    """Reset VmHWM to the current RSS; False where the kernel refuses."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def peak_during(pids: list[int], action) -> dict[str, object]:
    """Run action() and report each worker's idle RSS and peak RSS over it (kB)."""
    idle = {pid: status_kb(pid, "VmRSS") for pid in pids}
    reset = all(reset_peak(pid) for pid in pids)
    sampled = dict(idle)
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            for pid in pids:
                sampled[pid] = max(sampled[pid], status_kb(pid, "VmRSS"))
            time.sleep(0.002)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        outcome = action()
    finally:
        done.set()
        sampler.join()
    peaks = {}
    for pid in pids:
        hwm = status_kb(pid, "VmHWM") if reset else 0
        peaks[pid] = max(hwm, sampled[pid])
    ratios = {pid: peaks[pid] / idle[pid] for pid in pids if idle[pid]}
    worst = max(ratios, key=ratios.get) if ratios else None
    return {
        "method": "VmHWM after clear_refs" if reset else "VmRSS sampled every 2 ms",
        "idle_kb": idle,
        "peak_kb": peaks,
        "ratio": ratios[worst] if worst is not None else float("nan"),
        "worst_idle_mb": idle[worst] / 1024 if worst is not None else float("nan"),
        "worst_peak_mb": peaks[worst] / 1024 if worst is not None else float("nan"),
        "outcome": outcome,
    }


# --- slow clients -----
class SlowClients:
    """`count` connections, each sending one request one byte per `interval`."""

    def __init__(self, port: int, count: int, request: bytes, interval: float = 1.0):
        self.port, self.count, self.request = port, count, request
        self.interval = interval
        self.sockets: list[socket.socket] = []
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._drip, daemon=True)
        self.refused = 0

    def start(self) -> None:
        for _ in range(self.count):
            try:
                self.sockets.append(
                    socket.create_connection(("127.0.0.1", self.port), timeout=5)
                )
            except OSError:
                self.refused += 1
        self.thread.start()

    def _drip(self) -> None:
        offset = 0
        while not self.stopped.is_set() and offset < len(self.request):
            byte = self.request[offset : offset + 1]
            for sock in list(self.sockets):
                try:
                    sock.send(byte)
                except OSError:
                    self.sockets.remove(sock)
            offset += 1
            self.stopped.wait(self.interval)

    def stop(self) -> None:
        self.stopped.set()
        self.thread.join()
        for sock in self.sockets:
            sock.close()


def ping_seconds(port: int, timeout: float) -> float | None:
    """Seconds for one GET /ping answered 200, None on anything else."""
    started = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", "/ping")
        response = conn.getresponse()
        response.read()
        ok = response.status == 200
    except OSError:
        return None
    finally:
        conn.close()
    return time.perf_counter() - started if ok else None


def ping_under_slow_clients(
    port: int,
    request: bytes,
    clients: int = 64,
    window: float = 10.0,
    every: float = 0.05,
    timeout: float = 5.0,
    settle: float = 1.0,
) -> dict[str, object]:
    """Poll /ping every `every` s for `window` s while slow clients hold on.

    Each poll runs on its own thread and connection, so one slow answer does
    not delay the next poll. A poll that fails or takes longer than
    `timeout` counts as `timeout` seconds in the percentiles.
    """
    slow = SlowClients(port, clients, request)
    slow.start()
    time.sleep(settle)  # let the slow requests reach whatever reads them
    results: list[float | None] = []
    lock = threading.Lock()

    def poll() -> None:
        seconds = ping_seconds(port, timeout)
        with lock:
            results.append(seconds)

    threads = []
    started = time.perf_counter()
    next_poll = started
    while time.perf_counter() - started < window:
        thread = threading.Thread(target=poll, daemon=True)
        thread.start()
        threads.append(thread)
        next_poll += every
        time.sleep(max(0.0, next_poll - time.perf_counter()))
    for thread in threads:
        thread.join(timeout + 1)
    slow.stop()
    values = sorted(timeout if s is None else min(s, timeout) for s in results)
    failed = sum(1 for s in results if s is None or s >= timeout)

    def percentile(q: float) -> float:
        if not values:
            return float("nan")
        return values[min(len(values) - 1, int(q * len(values)))]

    return {
        "polls": len(values),
        "failed_or_timed_out": failed,
        "p50_s": percentile(0.50),
        "p99_s": percentile(0.99),
        "max_s": values[-1] if values else float("nan"),
        "slow_clients": clients,
        "slow_clients_refused": slow.refused,
        "timeout_s": timeout,
    }

"""The local state database from several threads at once (a tuning job's trials)."""

from __future__ import annotations

import threading

from orchestration.backends.base import COMPLETED
from orchestration.local.state import LocalState


def test_one_state_records_jobs_from_several_threads(tmp_path):
    state = LocalState(tmp_path)
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def record(worker: int) -> None:
        try:
            start.wait()
            for n in range(15):
                name = f"job-{worker}-{n}"
                with state.recording_job(name, "training-job", {"n": n}):
                    state.set_job_container(name, f"c{worker}{n}")
                    state.finish_job(name, COMPLETED, {"worker": worker})
                state.jobs()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=record, args=(w,)) for w in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    jobs = state.jobs()
    assert len(jobs) == 8 * 15
    assert {j["status"] for j in jobs} == {COMPLETED}
    assert state.job("job-3-7")["result"] == {"worker": 3}
    assert state.job("no-such-job") is None
    state.close()

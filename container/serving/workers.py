"""How many requests the server handles at once, chosen by measurement.

The worker class and counts were chosen by measurement (benchmarks/serving.md).
sync workers take one connection per request, so the kernel spreads requests
over all workers; gthread keeps connections alive on whichever worker
accepted them first, and under load often left one process doing all the
work (half the throughput, bimodal from run to run). Two workers per CPU
cost ~7 MB each (shared model) and keep /ping answered while some workers
are busy with long batch requests.

Both the server launcher and the app's /execution-parameters route ask this
module, so neither imports the other.
"""

from __future__ import annotations

import os

from container.contract.settings import BATCH_DEFAULT_MAX_PAYLOAD_MB, ServingSettings

WORKER_CLASS = "sync"
THREADS_PER_WORKER = 1  # gunicorn turns "sync" into gthread when threads > 1
WORKERS_PER_CPU = 2
MAX_DEFAULT_WORKERS = 16
# SageMaker requires MaxConcurrentTransforms × MaxPayloadInMB ≤ 100.
BATCH_PAYLOAD_BUDGET_MB = 100


def available_cpus() -> int:
    """The CPUs this process may run on (its affinity, which a cgroup may narrow)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def default_workers() -> int:
    """Two workers per CPU this process may run on, at most MAX_DEFAULT_WORKERS."""
    return max(1, min(WORKERS_PER_CPU * available_cpus(), MAX_DEFAULT_WORKERS))


def worker_count(settings: ServingSettings) -> int:
    """SAGEMAKER_MODEL_SERVER_WORKERS when set, else the default."""
    return settings.workers or default_workers()


def execution_parameters(settings: ServingSettings) -> dict[str, object]:
    """GET /execution-parameters: what a batch transform job may send at once.

    One request per worker, within SageMaker's concurrency × payload ≤ 100 MB;
    values set on the transform job win over these.
    """
    payload_mb = (
        BATCH_DEFAULT_MAX_PAYLOAD_MB
        if settings.max_payload_mb is None
        else settings.max_payload_mb
    )
    concurrency = settings.max_concurrent_transforms or max(
        1, min(worker_count(settings), BATCH_PAYLOAD_BUDGET_MB // max(payload_mb, 1))
    )
    return {
        "MaxConcurrentTransforms": concurrency,
        "BatchStrategy": settings.batch_strategy or "MULTI_RECORD",
        "MaxPayloadInMB": payload_mb,
    }

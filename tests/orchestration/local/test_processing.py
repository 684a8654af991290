"""Processing jobs (baseline, monitor) with the real image on the engine."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from orchestration.backends.base import COMPLETED, FAILED, ProcessingJobSpec


def test_processing_jobs_publish_outputs_or_fail_with_the_message(
    backend, processed, tmp_path
):
    out = tmp_path / "baseline"
    spec = ProcessingJobSpec(
        "b-1",
        backend.image,
        "baseline",
        {"input/baseline_dataset_input": str(processed / "baseline")},
        str(out),
        {
            "dataset_format": json.dumps({"csv": {"header": True}}),
            "dataset_source": "/opt/ml/processing/input/baseline_dataset_input",
            "output_path": "/opt/ml/processing/output",
        },
    )
    result = backend.run_processing_job(spec, lambda line: None)
    assert result.status == COMPLETED and result.exit_message.startswith("Completed")
    assert {"statistics.json", "constraints.json"} <= {p.name for p in out.iterdir()}

    empty = tmp_path / "empty-capture"
    empty.mkdir()
    now = datetime.now(UTC)
    monitor = ProcessingJobSpec(
        "m-empty",
        backend.image,
        "monitor",
        {
            "input/endpoint": str(empty),
            "baseline/stats": str(out / "statistics.json"),
            "baseline/constraints": str(out / "constraints.json"),
        },
        str(tmp_path / "report"),
        {
            "dataset_format": json.dumps({"sagemakerCaptureJson": {}}),
            "dataset_source": "/opt/ml/processing/input/endpoint",
            "output_path": "/opt/ml/processing/output",
            "start_time": (now - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "end_time": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "baseline_statistics": "/opt/ml/processing/baseline/stats/statistics.json",
            "baseline_constraints": "/opt/ml/processing/baseline/constraints/"
            "constraints.json",
        },
    )
    failed = backend.run_processing_job(monitor, lambda line: None)
    assert failed.status == FAILED and failed.failure_reason
    assert not (tmp_path / "report").exists()  # nothing half-published

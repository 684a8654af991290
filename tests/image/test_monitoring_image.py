"""`baseline` and `monitor` in the built image, driven only by the processing-job
contract (environment variables and /opt/ml paths), as SageMaker runs them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from tests.image.docker_helpers import REPO_ROOT, run_job

PENGUINS = REPO_ROOT / "data" / "raw" / "penguins.csv"
HOUR = "2026/04/18/00"
OPT = "/opt/ml/processing"


def capture_lines(frame: pd.DataFrame, when: str) -> str:
    lines = []
    for row in frame.itertuples(index=False):
        data = ",".join("" if pd.isna(v) else str(v) for v in row)
        lines.append(
            json.dumps(
                {
                    "captureData": {
                        "endpointInput": {
                            "observedContentType": "text/csv",
                            "mode": "INPUT",
                            "data": data,
                            "encoding": "CSV",
                        }
                    },
                    "eventMetadata": {"eventId": "e", "inferenceTime": when},
                    "eventVersion": "0",
                }
            )
        )
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def baselined(docker_client, image, tmp_path_factory) -> Path:
    """An /opt/ml tree after the image's `baseline` ran on the penguins data."""
    root = tmp_path_factory.mktemp("baseline") / "opt_ml"
    dataset = root / "processing" / "input" / "baseline_dataset_input"
    dataset.mkdir(parents=True)
    shutil.copy(PENGUINS, dataset / "penguins.csv")
    run = run_job(
        docker_client,
        image,
        root,
        "baseline",
        environment={
            "dataset_format": (
                '{"csv": {"header": true, "output_columns_position": "START"}}'
            ),
            "dataset_source": f"{OPT}/input/baseline_dataset_input",
            "output_path": f"{OPT}/output",
        },
    )
    assert run.exit_code == 0, run.logs[-3000:]
    return root


def test_baseline_writes_statistics_and_constraints(baselined):
    output = baselined / "processing" / "output"
    stats = json.loads((output / "statistics.json").read_text())
    assert stats["dataset"]["item_count"] == 344
    assert {f["name"] for f in stats["features"]} >= {"island", "body_mass_g"}
    constraints = json.loads((output / "constraints.json").read_text())
    assert (
        constraints["monitoring_config"]["distribution_constraints"][
            "comparison_method"
        ]
        == "Robust"
    )
    assert (output / "report.html").exists()
    assert (baselined / "output" / "message").read_text().startswith("Completed:")


def monitoring_tree(baselined: Path, tmp_path: Path, frame: pd.DataFrame) -> Path:
    root = tmp_path / "opt_ml"
    capture = root / "processing" / "input" / "endpoint" / "penguins-ep" / "AllTraffic"
    (capture / HOUR).mkdir(parents=True)
    (capture / HOUR / "00-00-000-a.jsonl").write_text(
        capture_lines(frame, "2026-04-18T00:30:00Z") + "not a capture line\n"
    )
    # Outside the window: must not be read.
    (capture / "2026/04/18/03").mkdir(parents=True)
    (capture / "2026/04/18/03" / "x.jsonl").write_text(
        capture_lines(frame.assign(island="Atlantis"), "2026-04-18T03:10:00Z")
    )
    for kind, name in (
        ("constraints", "constraints.json"),
        ("stats", "statistics.json"),
    ):
        target = root / "processing" / "baseline" / kind
        target.mkdir(parents=True)
        shutil.copy(baselined / "processing" / "output" / name, target / name)
    (root / "output").mkdir()
    return root


MONITOR_ENV = {
    "dataset_format": '{"sagemakerCaptureJson": {"captureIndexNames": '
    '["endpointInput", "endpointOutput"]}}',
    "dataset_source": f"{OPT}/input/endpoint",
    "output_path": f"{OPT}/output",
    "start_time": "2026-04-18T00:00:00Z",
    "end_time": "2026-04-18T01:00:00Z",
    "baseline_constraints": f"{OPT}/baseline/constraints/constraints.json",
    "baseline_statistics": f"{OPT}/baseline/stats/statistics.json",
    "publish_cloudwatch_metrics": "Enabled",
    "sagemaker_endpoint_name": "penguins-ep",
    "sagemaker_monitoring_schedule_name": "hourly",
}


def test_monitor_finds_drift_through_the_contract(
    docker_client, image, baselined, tmp_path
):
    penguins = pd.read_csv(PENGUINS)
    root = monitoring_tree(
        baselined, tmp_path, penguins.assign(body_mass_g=penguins.body_mass_g + 1500)
    )
    run = run_job(docker_client, image, root, "monitor", environment=MONITOR_ENV)
    assert run.exit_code == 0, run.logs[-3000:]
    output = root / "processing" / "output"
    violations = json.loads((output / "constraint_violations.json").read_text())
    assert [
        (v["feature_name"], v["constraint_check_type"])
        for v in violations["violations"]
    ] == [("body_mass_g", "baseline_drift_check")]
    assert (
        (root / "output" / "message")
        .read_text()
        .startswith(
            "CompletedWithViolations: Job completed successfully with 1 violations."
        )
    )
    summary = json.loads((output / "summary.json").read_text())
    assert summary["capture"]["malformed_lines"] == 1
    assert summary["item_count"] == 344
    metrics = (root / "output" / "metrics" / "cloudwatch" / "metrics.jsonl").read_text()
    assert '"MetricName": "feature_baseline_drift_body_mass_g"' in metrics
    assert "<svg" in (output / "report.html").read_text()


def test_monitor_fails_clearly_on_an_empty_window(
    docker_client, image, baselined, tmp_path
):
    root = monitoring_tree(baselined, tmp_path, pd.read_csv(PENGUINS))
    env = {
        **MONITOR_ENV,
        "start_time": "2026-04-19T00:00:00Z",
        "end_time": "2026-04-19T01:00:00Z",
    }
    run = run_job(docker_client, image, root, "monitor", environment=env)
    assert run.exit_code == 1
    message = (root / "output" / "message").read_text()
    assert message.startswith(
        "Failed: no captured data in /opt/ml/processing/input/endpoint"
    )
    assert "Traceback" not in run.logs
    assert not (root / "processing" / "output" / "constraint_violations.json").exists()

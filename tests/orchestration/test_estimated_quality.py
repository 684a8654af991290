"""Estimated model quality in the lifecycle: the model-quality monitor gets the
deployed version's bundle and reports the window's estimated accuracy.

The backend serves a calibrated bundle in this process, captures its answers
as the server does, and runs the image's model-quality `baseline` and
`monitor` in this process too, with their inputs laid out under /opt/ml as
the local backend lays them out.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from container.contract.bundle import load_bundle
from container.contract.paths import ROOT_ENV_VAR, OptMl
from container.monitoring import baseline as baseline_command
from container.monitoring import monitor as monitor_command
from container.serving.inference import InvocationOptions, invocations
from container.training import estimation
from container.training.splits import Split
from orchestration import lifecycle, quality, specs
from orchestration.backends.base import COMPLETED, FAILED, ProcessingJobResult
from orchestration.local.artifacts import copy_tree, make_tarball
from orchestration.local.processing import host_path
from tests.bundles import PENGUINS_CSV, build_penguins_bundle
from tests.orchestration.test_lifecycle import MemoryBackend, calls
from tests.orchestration.test_lifecycle import project as project  # noqa: F401

CONTAINER_ROOT = "/opt/ml"


def calibrated_penguins_bundle(folder: Path, columns: list[str]) -> Path:
    """The tests' penguins bundle, with the calibration `train` records and its
    features in the order of the prepared data's `columns` (as `train` writes
    them), which is the order of the demo's headerless CSV requests."""
    build_penguins_bundle(folder)
    pipeline = load_bundle(folder).pipeline
    data = pd.read_csv(PENGUINS_CSV).dropna(subset=["species"])
    target = data.pop("species")
    record = estimation.calibrate(
        pipeline, {"validation": Split("validation", data, target)}, "classification"
    )
    assert record["status"] == "calibrated", record
    manifest = json.loads((folder / "model.json").read_text())
    manifest["performance_estimation"] = record
    features = {f["name"]: f for f in manifest["schema"]["features"]}
    manifest["schema"]["features"] = [features[c] for c in columns if c in features]
    (folder / "model.json").write_text(json.dumps(manifest))
    return folder


class ServingBackend(MemoryBackend):
    def __init__(self, root: Path, monkeypatch: pytest.MonkeyPatch):
        super().__init__(root)
        self.monkeypatch = monkeypatch
        self.bundle = None
        self.capture: Path | None = None

    def run_training_job(self, spec, progress):
        result = super().run_training_job(spec, progress)
        (train,) = Path(spec.channels["train"]).glob("*.csv")
        columns = list(pd.read_csv(train, nrows=0).columns)
        folder = calibrated_penguins_bundle(
            Path(spec.output_location) / "bundle", columns
        )
        make_tarball(folder, Path(result.model_artifact))
        return result

    def create_endpoint(self, spec):
        info = super().create_endpoint(spec)
        served = quality.bundle_folder(Path(spec.model_artifact), self.root / "served")
        self.bundle = load_bundle(served)
        self.capture = Path(spec.capture.destination) / spec.endpoint_name
        return info

    def invoke_endpoint(
        self, endpoint_name, body, content_type, accept, inference_id=None
    ):
        self.calls.append(("invoke", body))
        # SKLEARN_BYOC_RETURN_PROBABILITIES=true, as the demo's config sets it.
        answer = invocations(
            body,
            content_type,
            accept,
            self.bundle,
            InvocationOptions(return_probabilities=True),
        )
        now = datetime.now(UTC)
        record = {
            "captureData": {
                "endpointInput": {
                    "observedContentType": content_type,
                    "mode": "INPUT",
                    "data": body.decode(),
                    "encoding": "CSV",
                },
                "endpointOutput": {
                    "observedContentType": answer.content_type,
                    "mode": "OUTPUT",
                    "data": answer.body.decode(),
                    "encoding": "CSV",
                },
            },
            "eventMetadata": {
                "eventId": f"event-{inference_id}",
                "inferenceId": inference_id,
                "inferenceTime": now.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            },
            "eventVersion": "0",
        }
        folder = self.capture / "AllTraffic" / now.strftime("%Y/%m/%d/%H")
        folder.mkdir(parents=True, exist_ok=True)
        with (folder / "capture.jsonl").open("a") as fh:
            fh.write(json.dumps(record) + "\n")
        return answer.body

    def run_processing_job(self, spec, progress):
        if spec.environment.get("analysis_type") != "MODEL_QUALITY":
            return super().run_processing_job(spec, progress)
        self.calls.append((f"quality-{spec.command}", spec))
        opt_ml = OptMl(self.root / "jobs" / spec.job_name / "opt_ml")
        for key, location in spec.inputs.items():
            copy_tree(Path(location), host_path(opt_ml, key))
        opt_ml.processing_output_dir.mkdir(parents=True, exist_ok=True)
        opt_ml.output_dir.mkdir(parents=True, exist_ok=True)
        with self.monkeypatch.context() as env:
            env.setenv(ROOT_ENV_VAR, str(opt_ml.root))
            for name, value in spec.environment.items():
                if value.startswith(f"{CONTAINER_ROOT}/"):
                    value = str(opt_ml.root) + value[len(CONTAINER_ROOT) :]
                env.setenv(name, value)
            command = {"baseline": baseline_command}.get(spec.command, monitor_command)
            code = command.main([])
        message = (
            opt_ml.message_file.read_text() if opt_ml.message_file.is_file() else None
        )
        if code != 0:
            return ProcessingJobResult(
                spec.job_name, FAILED, message, spec.output_location, message
            )
        copy_tree(opt_ml.processing_output_dir, Path(spec.output_location))
        return ProcessingJobResult(
            spec.job_name, COMPLETED, message, spec.output_location
        )


@pytest.fixture
def served(project, tmp_path, monkeypatch):  # noqa: F811 - test_lifecycle's fixture
    backend = ServingBackend(tmp_path, monkeypatch)
    made = lifecycle.open_project(project.config, say=project.say, backend=backend)
    made.said = project.said  # type: ignore[attr-defined]
    lifecycle.prepare(made)
    lifecycle.train(made)
    lifecycle.register(made)
    lifecycle.deploy(made)
    lifecycle.baseline(made)
    return made


def test_a_window_without_labels_gets_its_accuracy_estimated(served):
    _, window = lifecycle.predict(served, limit=20)
    report = lifecycle.monitor(served, *window)

    (spec,) = calls(served, "quality-monitor")
    model = Path(spec.inputs[specs.MODEL_INPUT])
    assert json.loads((model / "model.json").read_text())["performance_estimation"]
    found = report.quality
    assert found["status"] == "Completed"
    assert found["metrics"] == {}
    assert 0.5 < found["estimated"]["accuracy"] <= 1
    folder = Path(found["folder"])
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["estimated_metrics"]["status"] == "estimated"
    assert summary["estimated_metrics"]["records"] == 20
    statistics = json.loads((folder / "statistics.json").read_text())
    assert statistics["estimated_metrics"]["accuracy"]["value"] == pytest.approx(
        found["estimated"]["accuracy"]
    )
    assert served.state["last_monitor"]["quality"]["estimated"] == found["estimated"]
    assert any("estimated from the confidence: accuracy=" in s for s in served.said)
    assert "(estimated accuracy=" in lifecycle.quality_line(found)


def test_a_labelled_window_gets_both_the_realised_and_the_estimated(served):
    _, window = lifecycle.predict(served, limit=20)
    lifecycle.ground_truth(served, Path(served.state["labels_held-out"]))
    report = lifecycle.monitor(served, *window)

    (spec,) = calls(served, "quality-monitor")
    assert spec.inputs["groundtruth"] == served.backend.location("groundtruth")
    found = report.quality
    assert found["metrics"]["accuracy"] > 0.5
    assert set(found["estimated"]) == {"accuracy"}
    summary = json.loads((Path(found["folder"]) / "summary.json").read_text())
    assert summary["metrics"]["accuracy"]["estimated"] == pytest.approx(
        found["estimated"]["accuracy"]
    )


def test_without_a_calibrated_bundle_an_unlabelled_window_runs_no_job(served):
    # An endpoint whose version has no model on record: nothing to estimate with.
    endpoint = dict(served.state["endpoint"])
    endpoint.pop("version")
    served.save(endpoint=endpoint)
    _, window = lifecycle.predict(served, limit=3)
    report = lifecycle.monitor(served, *window)
    assert report.quality == {"status": lifecycle.NO_GROUND_TRUTH}
    assert calls(served, "quality-monitor") == []

"""Model quality in the lifecycle: labels files, ground-truth records, the
model-quality baseline and monitor steps (over the in-memory backend of
test_lifecycle.py, with a real model bundle), and the `model_quality` rule."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from orchestration import lifecycle, quality
from orchestration.alerts import MonitoringOutcome, evaluate
from orchestration.backends.base import COMPLETED, FAILED, ProcessingJobResult
from orchestration.cli import main
from orchestration.config import AlertRule
from tests.bundles import build_penguins_bundle
from tests.orchestration.test_lifecycle import MemoryBackend, calls
from tests.orchestration.test_lifecycle import project as project  # noqa: F401

F1_DROP = {
    "feature_name": "accuracy",
    "metric_name": "accuracy",
    "constraint_check_type": "LessThanThreshold",
    "description": "Metric accuracy with 0.31 +/- NaN was LessThanThreshold 0.97",
}


# --- labels files -----------------------------------------------------------------
def test_a_csv_labels_file_reads_as_id_label_pairs(tmp_path):
    path = tmp_path / "labels.csv"
    path.write_text("label,inference_id\nAdelie,a-0\n\nGentoo,a-1\n")
    assert quality.read_labels(path) == [("a-0", "Adelie"), ("a-1", "Gentoo")]


def test_a_jsonl_labels_file_reads_too(tmp_path):
    path = tmp_path / "labels.jsonl"
    path.write_text(
        '{"inference_id": "a-0", "label": 1}\n{"inference_id": "a-1", "label": true}\n'
    )
    assert quality.read_labels(path) == [("a-0", "1"), ("a-1", "true")]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("id,label\na,b\n", "lacks inference_id"),
        ("inference_id,label\n", "holds no labels"),
        (
            "inference_id,label\na-0,Adelie\na-0,Gentoo\n",
            "line 3: inference id 'a-0' is already labelled on line 2",
        ),
        ("inference_id,label\na-0,\n", "line 2: no label for inference id 'a-0'"),
        ("inference_id,label\n,Adelie\n", "line 2: inference_id is empty"),
        ("inference_id,label\na-0,Adelie,extra\n", "line 2: 3 fields"),
        ("", "is empty"),
        ('{"inference_id": "a"}\n', 'line 1: expected {"inference_id"'),
        ('{"inference_id": "a", "label": [1]}\n', "a single value"),
        ('{"inference_id": "a", "label": 1}\n{oops\n', "line 2: not JSON"),
    ],
)
def test_a_bad_labels_file_is_refused_in_one_line(tmp_path, text, message):
    path = tmp_path / "labels.csv"
    path.write_text(text)
    with pytest.raises(quality.LabelsError) as caught:
        quality.read_labels(path)
    assert message in caught.value.message
    assert "\n" not in caught.value.message


def test_a_missing_labels_file_is_named(tmp_path):
    with pytest.raises(quality.LabelsError, match="does not exist"):
        quality.read_labels(tmp_path / "nope.csv")


# --- ground-truth records -------------------------------------------------------------
def test_ground_truth_goes_to_the_collection_hour_in_model_monitors_format(tmp_path):
    at = datetime(2026, 4, 18, 9, 30, tzinfo=UTC)
    written = quality.write_ground_truth(
        tmp_path, [("a-0", "Adelie"), ("a-1", "x,y")], at, "labels-1"
    )
    assert written == tmp_path / "2026/04/18/09/labels-1.jsonl"
    first, second = (json.loads(line) for line in written.read_text().splitlines())
    assert first == {
        "groundTruthData": {"data": "Adelie", "encoding": "CSV"},
        "eventMetadata": {"eventId": "a-0"},
        "eventVersion": "0",
    }
    # A comma would split a CSV label: it is sent as JSON instead.
    assert second["groundTruthData"] == {"data": '"x,y"', "encoding": "JSON"}


def test_ground_truth_counts_only_hours_from_the_window_on(tmp_path):
    quality.write_ground_truth(
        tmp_path, [("a", "1")], datetime(2026, 4, 18, 8, tzinfo=UTC), "old"
    )
    start = datetime(2026, 4, 18, 9, 15, tzinfo=UTC)
    assert quality.ground_truth_since(tmp_path, start) == 0
    quality.write_ground_truth(
        tmp_path, [("a", "1")], datetime(2026, 4, 18, 9, 5, tzinfo=UTC), "same-hour"
    )
    assert quality.ground_truth_since(tmp_path, start) == 1
    assert quality.ground_truth_since(tmp_path / "none", start) == 0


@pytest.mark.parametrize(
    ("schema", "expected"),
    [
        ({"problem_type": "regression"}, "Regression"),
        ({"problem_type": "classification", "classes": [0, 1]}, "BinaryClassification"),
        (
            {"problem_type": "classification", "classes": ["a", "b", "c"]},
            "MulticlassClassification",
        ),
    ],
)
def test_problem_type_follows_the_bundles_schema(schema, expected):
    assert quality.problem_type(schema) == expected


def test_validation_predictions_are_the_bundles_own(tmp_path):
    bundle = build_penguins_bundle(tmp_path / "model")
    table = pd.read_csv("data/raw/penguins.csv", dtype=str, keep_default_na=False)
    table = table[table["species"] != ""].head(20)
    predicted, problem = quality.validation_predictions(bundle, table)
    assert problem == "MulticlassClassification"
    assert list(predicted.columns) == ["label", "prediction"]
    assert (predicted["label"] == predicted["prediction"]).mean() > 0.9


# --- the steps, over the in-memory backend --------------------------------------------
class QualityBackend(MemoryBackend):
    """Trains a real bundle; the model-quality monitor reports `quality_violations`."""

    def __init__(self, root: Path):
        super().__init__(root)
        self.quality_violations: list[dict] = [F1_DROP]
        self.unmatched = False

    def run_training_job(self, spec, progress):
        result = super().run_training_job(spec, progress)
        from orchestration.local.artifacts import make_tarball

        folder = build_penguins_bundle(Path(spec.output_location) / "bundle")
        make_tarball(folder, Path(result.model_artifact))
        return result

    def run_processing_job(self, spec, progress):
        if spec.environment.get("analysis_type") != "MODEL_QUALITY":
            return super().run_processing_job(spec, progress)
        self.calls.append((f"quality-{spec.command}", spec))
        out = Path(spec.output_location)
        out.mkdir(parents=True)
        if self.unmatched:
            reason = (
                "no captured record of the window [a, b) could be merged "
                "with a ground-truth label: ..."
            )
            return ProcessingJobResult(spec.job_name, FAILED, reason, str(out), reason)
        block = {"accuracy": {"value": 0.31, "standard_deviation": "NaN"}}
        (out / "statistics.json").write_text(
            json.dumps({"multiclass_classification_metrics": block})
        )
        if spec.command == "baseline":
            (out / "constraints.json").write_text("{}")
            return ProcessingJobResult(spec.job_name, COMPLETED, "Completed", str(out))
        (out / "constraint_violations.json").write_text(
            json.dumps({"violations": self.quality_violations})
        )
        return ProcessingJobResult(
            spec.job_name, COMPLETED, "CompletedWithViolations: 1", str(out)
        )


@pytest.fixture
def labelled(project, tmp_path):  # noqa: F811 - the fixture of test_lifecycle
    backend = QualityBackend(tmp_path)
    made = lifecycle.open_project(project.config, say=project.say, backend=backend)
    made.said = project.said  # type: ignore[attr-defined]
    lifecycle.prepare(made)
    lifecycle.train(made)
    lifecycle.register(made)
    lifecycle.deploy(made)
    return made


@pytest.fixture
def trained(project, tmp_path):  # noqa: F811 - the fixture of test_lifecycle
    """Prepared and trained, not yet registered."""
    backend = QualityBackend(tmp_path)
    made = lifecycle.open_project(project.config, say=project.say, backend=backend)
    made.said = project.said  # type: ignore[attr-defined]
    lifecycle.prepare(made)
    lifecycle.train(made)
    return made


def model_quality_of(project) -> dict:
    """What the version should record: the baseline's statistics and the
    relaxed constraints the monitor uses."""
    measured = project.state["baseline"]["quality"]
    return {
        "ModelQuality": {
            "Statistics": {
                "ContentType": "application/json",
                "S3Uri": measured["statistics"],
            },
            "Constraints": {
                "ContentType": "application/json",
                "S3Uri": measured["constraints"],
            },
        }
    }


def test_a_baseline_before_register_is_recorded_with_the_version(trained):
    lifecycle.baseline(trained)
    measured = trained.state["baseline"]["quality"]
    assert measured["run_id"] == trained.state["last_run"]
    assert Path(measured["statistics"]).name == "statistics.json"
    assert Path(measured["statistics"]).is_file()
    assert Path(measured["constraints"]).is_file()
    version = lifecycle.register(trained)
    assert version.model_metrics == model_quality_of(trained)
    # The registry's record, as `models` and `status` read it.
    group = trained.config.registry.model_group
    assert trained.registry.get(group, 1).model_metrics == model_quality_of(trained)
    (listed,) = lifecycle.status(trained)["model_versions"]
    assert listed["model_metrics"] == model_quality_of(trained)


def test_a_newly_trained_model_is_baselined_over_the_deployed_one(labelled):
    deployed_run = labelled.state["last_run"]
    assert labelled.registry.get("penguins-species", 1).model_metrics == {}
    assert any("no model-quality baseline of run" in s for s in labelled.said)
    lifecycle.train(labelled)
    lifecycle.baseline(labelled)
    measured = labelled.state["baseline"]["quality"]
    assert measured["run_id"] == labelled.state["last_run"] != deployed_run
    assert lifecycle.register(labelled).model_metrics == model_quality_of(labelled)
    # Registered: `baseline` is for the deployed version again.
    lifecycle.baseline(labelled)
    assert labelled.state["baseline"]["quality"]["run_id"] == deployed_run


def test_a_baseline_of_another_model_is_not_recorded_with_the_version(trained):
    lifecycle.baseline(trained)
    lifecycle.train(trained)  # a newer model, not baselined
    assert lifecycle.register(trained).model_metrics == {}


def test_predict_writes_the_true_labels_by_the_ids_it_sent(labelled):
    ids = []
    backend = labelled.backend
    invoke = backend.invoke_endpoint

    def recording(name, body, content_type, accept, inference_id=None):
        ids.append(inference_id)
        return invoke(name, body, content_type, accept, inference_id)

    backend.invoke_endpoint = recording
    result, _ = lifecycle.predict(labelled, limit=3)
    again, _ = lifecycle.predict(labelled, limit=3)
    assert len(set(ids)) == 6  # unique across sends
    path = Path(labelled.state["labels_held-out"])
    pairs = quality.read_labels(path)
    assert [i for i, _ in pairs] == again.inference_ids == ids[3:]
    held_out = lifecycle.held_out(labelled).head(3)
    assert [y for _, y in pairs] == held_out["species"].tolist()


def test_baseline_also_baselines_the_models_quality_on_the_validation_split(labelled):
    lifecycle.baseline(labelled)
    (spec,) = calls(labelled, "quality-baseline")
    env = spec.environment
    assert env["analysis_type"] == "MODEL_QUALITY"
    assert env["problem_type"] == "MulticlassClassification"
    assert (env["ground_truth_attribute"], env["inference_attribute"]) == (
        "label",
        "prediction",
    )
    assert "probability_attribute" not in env
    dataset = Path(spec.inputs["input/baseline_dataset_input"])
    table = pd.read_csv(dataset / "validation_predictions.csv")
    validation = Path(labelled.state["prepared"]["folder"]) / "validation"
    assert len(table) == len(pd.read_csv(validation / "validation.csv"))
    recorded = labelled.state["baseline"]["quality"]
    assert recorded["problem_type"] == "MulticlassClassification"
    assert Path(recorded["local"], "constraints.json").is_file()
    # The data-quality baseline is unchanged.
    (data,) = calls(labelled, "baseline")
    assert "analysis_type" not in data.environment


def test_a_window_without_ground_truth_is_reported_not_failed(labelled):
    lifecycle.baseline(labelled)
    _, window = lifecycle.predict(labelled, limit=3)
    report = lifecycle.monitor(labelled, *window)
    assert report.quality == {"status": lifecycle.NO_GROUND_TRUTH}
    assert calls(labelled, "quality-monitor") == []
    assert labelled.state["last_monitor"]["quality"]["status"] == "NoGroundTruth"
    assert any("no ground truth for this window" in s for s in labelled.said)


def test_monitor_measures_a_labelled_window_and_alerts_on_its_quality(labelled):
    lifecycle.baseline(labelled)
    _, window = lifecycle.predict(labelled, limit=3)
    written = lifecycle.ground_truth(labelled, Path(labelled.state["labels_held-out"]))
    root = Path(labelled.backend.location("groundtruth"))
    assert written.parent.relative_to(root).parts == tuple(
        datetime.now(UTC).strftime("%Y/%m/%d/%H").split("/")
    )
    report = lifecycle.monitor(labelled, *window, schedule_name="s")
    (spec,) = calls(labelled, "quality-monitor")
    env = spec.environment
    assert env["analysis_type"] == "MODEL_QUALITY"
    assert env["ground_truth_source"] == "/opt/ml/processing/groundtruth"
    assert spec.inputs["groundtruth"] == str(root)
    assert (env["start_time"], env["end_time"]) == window
    assert env["baseline_constraints"].endswith("constraints/constraints.json")
    recorded = labelled.state["baseline"]["quality"]
    assert spec.inputs["baseline/constraints"] == recorded["constraints"]
    assert spec.inputs["baseline/stats"].startswith(recorded["location"])
    assert report.quality["status"] == "CompletedWithViolations"
    assert report.quality["metrics"] == {"accuracy": 0.31}
    assert [a.rule for a in report.alerts] == ["any-drift", "model-quality"]
    assert labelled.state["last_monitor"]["quality"]["violations"] == [F1_DROP]


def test_labels_matching_none_of_the_windows_inferences_are_not_a_failure(labelled):
    lifecycle.baseline(labelled)
    _, window = lifecycle.predict(labelled, limit=3)
    lifecycle.ground_truth(labelled, Path(labelled.state["labels_held-out"]))
    labelled.backend.unmatched = True
    report = lifecycle.monitor(labelled, *window)
    assert report.quality["status"] == lifecycle.NO_MATCHING_LABELS
    assert "model-quality" not in [a.rule for a in report.alerts]


def test_the_ground_truth_step_refuses_bad_labels_in_one_line(tmp_path, capsys):
    bad = tmp_path / "labels.csv"
    bad.write_text("id,label\n")
    code = main(
        ["ground-truth", "--labels", str(bad), "--state-dir", str(tmp_path / "s")]
    )
    err = capsys.readouterr().err
    assert code == 1 and err.startswith("error: ") and err.count("\n") == 1
    assert "inference_id" in err


def test_constraints_get_slack_in_the_lenient_direction():
    suggested = {
        "version": 0.0,
        "multiclass_classification_constraints": {
            "accuracy": {"threshold": 0.98, "comparison_operator": "LessThanThreshold"},
        },
        "regression_constraints": {
            "mae": {"threshold": 20.0, "comparison_operator": "GreaterThanThreshold"},
            "r2": {"threshold": 0.5, "comparison_operator": "Unknown"},
        },
    }
    relaxed = quality.relax_constraints(suggested, 0.05)
    block = relaxed["multiclass_classification_constraints"]
    assert block["accuracy"]["threshold"] == pytest.approx(0.93)
    assert relaxed["regression_constraints"]["mae"]["threshold"] == 21.0
    assert relaxed["regression_constraints"]["r2"]["threshold"] == 0.5
    assert (
        suggested["multiclass_classification_constraints"]["accuracy"]["threshold"]
        == 0.98
    )  # the suggested file is left as it is
    assert relaxed["version"] == 0.0


def test_the_ground_truth_step_writes_the_hour_folder_of_the_state(tmp_path, capsys):
    labels = quality.write_labels(tmp_path / "labels.csv", [("a-0", "Adelie")])
    state = tmp_path / "s"
    assert (
        main(["ground-truth", "--labels", str(labels), "--state-dir", str(state)]) == 0
    )
    (written,) = (state / "local" / "groundtruth").rglob("*.jsonl")
    hour = datetime.now(UTC).strftime("%Y/%m/%d/%H")
    assert written.parent == state / "local" / "groundtruth" / hour
    assert "1 ground-truth label(s)" in capsys.readouterr().out


def test_an_image_without_model_quality_is_said_and_skipped(labelled):
    backend = labelled.backend
    plain = MemoryBackend.run_processing_job

    def old_image(spec, progress):
        return plain(backend, spec, progress)  # profiles the columns as data

    backend.run_processing_job = old_image
    lifecycle.baseline(labelled)
    assert labelled.state["baseline"]["quality"] is None
    assert any("wrote no model-quality metrics" in s for s in labelled.said)


# --- the rule -----------------------------------------------------------------
def test_the_model_quality_rule_fires_on_breached_metrics_it_watches():
    outcome = MonitoringOutcome(
        "ep",
        "job",
        [],
        quality_violations=[F1_DROP],
        quality_metrics={"accuracy": 0.31},
    )
    rules = (
        AlertRule("mq", "model_quality"),
        AlertRule("f1-only", "model_quality", metrics=("weighted_f1",)),
        AlertRule("two", "model_quality", min_violations=2),
        AlertRule("many", "violations"),
    )
    (alert,) = evaluate(rules, outcome)
    assert alert.rule == "mq" and "LessThanThreshold 0.97" in alert.summary
    assert alert.details["metrics"] == {"accuracy": 0.31}
    assert evaluate(rules, MonitoringOutcome("ep", "job", [])) == []


def test_the_demo_labels_both_windows_and_summarises_quality_per_window(labelled):
    labelled.backend.quality_violations = []
    held_out = lifecycle.run(labelled, keep=True)
    quality_jobs = calls(labelled, "quality-monitor")
    assert len(quality_jobs) == 2  # both windows had labels
    assert held_out["quality"]["held-out"]["status"] == "Completed"
    labels = labelled.config.state_dir / "labels"
    truth = quality.read_labels(labels / "drifted.csv")
    shuffled = quality.read_labels(labels / "drifted-shuffled.csv")
    assert [i for i, _ in truth] == [i for i, _ in shuffled]
    assert sorted(y for _, y in truth) == sorted(y for _, y in shuffled)
    assert truth != shuffled
    # The demo baselines the new model before registering it.
    steps = list(held_out["timings_seconds"])
    assert steps.index("baseline") < steps.index("register")
    version = labelled.registry.get("penguins-species", held_out["model_version"])
    assert version.model_metrics == model_quality_of(labelled)
    assert labelled.state["endpoint"]["version"] == version.version
    page = (labelled.config.state_dir / "penguins.run-summary.html").read_text()
    assert "Model quality per window" in page and "accuracy=0.31" in page
    assert any("model quality, drifted window: Completed" in s for s in labelled.said)


def test_the_window_metrics_are_the_realised_ones_not_the_estimated(tmp_path):
    # The monitor may write estimated metrics (from probabilities) first.
    statistics = {
        "version": 0.0,
        "estimated_metrics": {"accuracy": {"value": 0.91}},
        "multiclass_classification_metrics": {
            "accuracy": {"value": 0.62, "standard_deviation": "NaN"}
        },
    }
    (tmp_path / "statistics.json").write_text(json.dumps(statistics))

    assert lifecycle._quality_metrics(tmp_path) == {"accuracy": 0.62}

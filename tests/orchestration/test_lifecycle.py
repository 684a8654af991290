"""The lifecycle steps over a small in-memory backend: the steps' own logic
(what they pass to a backend, what they record, what they refuse), without
Docker. The real backends are tested in test_local_backend.py, test_aws_*.py
and tests/e2e."""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from orchestration import lifecycle, schedule
from orchestration.aws.errors import AwsConfigError
from orchestration.backends.aws import AwsBackend
from orchestration.backends.base import (
    COMPLETED,
    FAILED,
    IN_SERVICE,
    Backend,
    CaptureFound,
    EndpointInfo,
    JobFailed,
    ProcessingJobResult,
    ResourceNotFound,
    ServedModel,
    TrainingJobResult,
    TransformJobResult,
    VariantInfo,
)
from orchestration.config import load_config
from orchestration.local import monitoring as local_monitoring
from orchestration.registry import APPROVED, PENDING, REJECTED, LocalRegistry

DRIFT = {
    "feature_name": "body_mass_g",
    "constraint_check_type": "baseline_drift_check",
    "description": "Numerical distance: 0.4 exceeds numerical threshold: 0.1",
}


class MemoryBackend:
    """Records every call; jobs "run" by writing the files the image would."""

    name = "memory"

    def __init__(self, root: Path):
        self.root = root
        self.calls: list[tuple[str, object]] = []
        self.endpoints: dict[str, object] = {}
        self.variants: dict[str, dict[str, VariantInfo]] = {}
        self.accuracy = 0.97
        self.violations: list[dict] = [DRIFT]
        self.fail_monitor = False
        self.capture_files = 1  # what wait_for_capture finds
        self.traffic: dict[str, dict] = {}  # what endpoint_traffic counts

    def location(self, *parts):
        return str(self.root / "state" / "local" / Path(*parts))

    def registry(self):
        return LocalRegistry(self.root / "state")

    def upload_data(self, local_dir, prefix):
        self.calls.append(("upload_data", prefix))
        return str(local_dir)

    def ensure_image(self):
        return "sklearn-byoc:test"

    def image_digest(self):
        return "sha256:abc"

    def run_training_job(self, spec, progress):
        self.calls.append(("train", spec))
        progress("validation:accuracy=...")
        artifact = Path(spec.output_location) / spec.job_name / "model.tar.gz"
        artifact.parent.mkdir(parents=True)
        artifact.write_bytes(b"model")
        return TrainingJobResult(
            spec.job_name,
            COMPLETED,
            str(artifact),
            None,
            {"validation:accuracy": self.accuracy},
            1.5,
        )

    def create_endpoint(self, spec):
        self.calls.append(("create_endpoint", spec))
        self.endpoints[spec.endpoint_name] = spec
        return EndpointInfo(spec.endpoint_name, IN_SERVICE, "http://x")

    def update_endpoint(self, spec):
        self.calls.append(("update_endpoint", spec))
        if spec.endpoint_name not in self.endpoints:
            raise ResourceNotFound("gone")
        self.endpoints[spec.endpoint_name] = spec
        return EndpointInfo(spec.endpoint_name, IN_SERVICE, "http://x")

    def invoke_endpoint(
        self,
        endpoint_name,
        body,
        content_type,
        accept,
        inference_id=None,
        target_variant=None,
    ):
        self.calls.append(("invoke", body))
        if target_variant is not None:
            self.calls.append(("target_variant", target_variant))
        return b"Adelie\n"

    def _variants(self, endpoint_name):
        if endpoint_name not in self.endpoints:
            raise ResourceNotFound(f"no endpoint {endpoint_name}")
        known = self.variants.setdefault(
            endpoint_name, {"AllTraffic": VariantInfo("AllTraffic", "first", 1.0)}
        )
        return known

    def deploy_variant(self, endpoint_name, spec):
        self.calls.append(("deploy_variant", spec))
        known = self._variants(endpoint_name)
        known[spec.variant_name] = VariantInfo(
            spec.variant_name, spec.model_name, spec.weight, spec.shadow
        )
        return list(known.values())

    def set_variant_weights(self, endpoint_name, weights):
        self.calls.append(("set_variant_weights", weights))
        known = self._variants(endpoint_name)
        for name, weight in weights.items():
            known[name] = dataclasses.replace(known[name], weight=weight)
        return list(known.values())

    def remove_variants(self, endpoint_name, names):
        self.calls.append(("remove_variants", names))
        known = self._variants(endpoint_name)
        for name in names:
            known.pop(name)
        return list(known.values())

    def describe_variants(self, endpoint_name):
        return list(self._variants(endpoint_name).values())

    def describe_endpoint_models(self, endpoint_name):
        spec = self.endpoints.get(endpoint_name)
        if spec is None:
            raise ResourceNotFound(f"no endpoint {endpoint_name}")
        return [
            ServedModel(
                spec.variant_name, spec.model_name, spec.model_artifact, spec.image
            )
        ]

    def run_processing_job(self, spec, progress):
        self.calls.append((spec.command, spec))
        out = Path(spec.output_location)
        out.mkdir(parents=True)
        if spec.command == "baseline":
            (out / "statistics.json").write_text("{}")
            (out / "constraints.json").write_text("{}")
            return ProcessingJobResult(spec.job_name, COMPLETED, "Completed", str(out))
        if self.fail_monitor:
            return ProcessingJobResult(
                spec.job_name, FAILED, None, str(out), "no captured data in the window"
            )
        (out / "constraint_violations.json").write_text(
            json.dumps({"violations": self.violations})
        )
        return ProcessingJobResult(
            spec.job_name,
            COMPLETED,
            f"CompletedWithViolations: {len(self.violations)}",
            str(out),
        )

    def run_transform_job(self, spec, progress):
        """One label per input line, as the image answers; `fail_transform` fails."""
        self.calls.append(("transform", spec))
        if getattr(self, "fail_transform", False):
            return TransformJobResult(
                spec.job_name, FAILED, spec.output_location, "ClientError: a.csv line 2"
            )
        out = Path(spec.output_location)
        records = 0
        for path in sorted(Path(spec.input_location).rglob("*.csv")):
            lines = path.read_text().splitlines()
            (out / f"{path.name}.out").parent.mkdir(parents=True, exist_ok=True)
            (out / f"{path.name}.out").write_text("Adelie\n" * len(lines))
            records += len(lines)
        capture = spec.capture.destination if spec.capture else None
        return TransformJobResult(
            spec.job_name,
            COMPLETED,
            spec.output_location,
            records=records,
            capture_destination=capture,
        )

    def run_tuning_job(self, spec, progress):
        raise AssertionError("no tuning job expected here")

    def endpoint_traffic(self, endpoint_name, variants, start, end):
        self.calls.append(("endpoint_traffic", (start, end)))
        return self.traffic

    def upsert_pipeline(self, name, definition, tags):
        self.calls.append(("upsert_pipeline", definition))
        return f"arn:aws:sagemaker:eu-west-1:123456789012:pipeline/{name}"

    def start_pipeline(self, name, parameters):
        self.calls.append(("start_pipeline", parameters))
        return f"arn:aws:sagemaker:eu-west-1:123456789012:pipeline/{name}/execution/1"

    def pipeline_status(self, name, execution_arn):
        self.calls.append(("pipeline_status", execution_arn))
        return {"execution_arn": execution_arn, "status": "Executing", "steps": []}

    def fetch(self, location, local_dir):
        return Path(location)

    def wait_for_capture(
        self, destination, endpoint_name, start, end, progress, wait=True
    ):
        self.calls.append(("wait_for_capture", (start, end, wait)))
        return CaptureFound(
            f"{destination}/{endpoint_name}", self.capture_files, 5.0 if wait else 0.0
        )

    def delete_endpoint(self, endpoint_name):
        self.calls.append(("delete_endpoint", endpoint_name))
        self.endpoints.pop(endpoint_name)

    def status(self):
        return {"backend": self.name, "endpoints": list(self.endpoints)}

    def cleanup(self):
        return []

    def run_monitoring_schedule(
        self, spec, monitor_due, say, progress, once=False, max_runs=None
    ):
        return local_monitoring.run_schedule(spec, monitor_due, say, once, max_runs)


@pytest.fixture
def project(tmp_path):
    config = load_config()
    config = dataclasses.replace(
        config,
        state_dir=tmp_path / "state",
        data=dataclasses.replace(config.data, processed=tmp_path / "processed"),
    )
    backend = MemoryBackend(tmp_path)
    assert isinstance(backend, Backend)  # the protocol, checked at runtime
    said: list[str] = []
    made = lifecycle.open_project(config, say=said.append, backend=backend)
    made.said = said  # type: ignore[attr-defined]
    return made


def reopen(project):
    """The same project in a new process: state comes back from the state folder."""
    again = lifecycle.open_project(
        project.config, say=project.say, backend=project.backend
    )
    again.said = project.said  # type: ignore[attr-defined]
    return again


def calls(project, kind):
    return [arg for name, arg in project.backend.calls if name == kind]


def test_training_gets_string_hyperparameters_and_the_three_channels(project):
    lifecycle.prepare(project)
    run = lifecycle.train(reopen(project))
    (spec,) = calls(project, "train")
    assert spec.hyperparameters["n_estimators"] == "100"
    assert set(spec.channels) == {"train", "validation", "test"}
    assert spec.max_runtime_seconds == 900
    assert run.image_digest == "sha256:abc" and run.data_hashes["train"]
    assert run.metrics == {"validation:accuracy": 0.97}
    assert project.state["features"][0] == "island"  # for the AWS drift alarm


def test_only_approved_versions_are_deployed(project):
    lifecycle.prepare(project)
    project.backend.accuracy = 0.5  # below the auto-approval threshold
    lifecycle.train(project)
    version = lifecycle.register(project)
    assert version.approval == PENDING
    assert any("below the threshold 0.9" in line for line in project.said)
    with pytest.raises(lifecycle.LifecycleError, match="no approved version"):
        lifecycle.deploy(project)
    with pytest.raises(lifecycle.LifecycleError, match="is PendingManualApproval"):
        lifecycle.deploy(project, version=1)
    lifecycle.approve(project, 1, reject=True)
    assert project.registry.get("penguins-species", 1).approval == REJECTED
    lifecycle.approve(project, 1)
    assert lifecycle.deploy(project)["version"] == 1


def test_a_better_model_is_approved_and_replaces_the_deployed_one(project):
    lifecycle.prepare(project)
    lifecycle.train(project)
    assert lifecycle.register(project).approval == APPROVED
    lifecycle.deploy(project)
    project.backend.accuracy = 0.93  # clears 0.9 but worse than the approved 0.97
    lifecycle.train(project)
    assert lifecycle.register(project).approval == PENDING
    project.backend.accuracy = 0.99
    lifecycle.train(project)
    assert lifecycle.register(project).approval == APPROVED
    lifecycle.deploy(reopen(project))
    (update,) = calls(project, "update_endpoint")
    assert update.model_name.startswith("penguins-species-v3-")
    assert update.capture.destination.endswith("capture")


def test_deploy_recreates_an_endpoint_deleted_elsewhere(project):
    lifecycle.prepare(project)
    lifecycle.train(project)
    lifecycle.register(project)
    lifecycle.deploy(project)
    project.backend.endpoints.clear()
    lifecycle.deploy(project)
    assert len(calls(project, "create_endpoint")) == 2


def test_monitor_passes_the_model_monitor_contract_and_raises_alerts(project, tmp_path):
    lifecycle.prepare(project)
    lifecycle.train(project)
    lifecycle.register(project)
    lifecycle.deploy(project)
    result, window = lifecycle.predict(project, drifted=True, limit=4)
    assert result.sent == 4 and result.errors == 0
    first = calls(project, "invoke")[0].decode()
    assert first.count(",") == 5 and first.endswith("\n")  # 6 features, no target
    lifecycle.baseline(project)
    report = lifecycle.monitor(reopen(project), *window)
    (spec,) = calls(project, "monitor")
    env = spec.environment
    assert json.loads(env["dataset_format"]) == {
        "sagemakerCaptureJson": {
            "captureIndexNames": ["endpointInput", "endpointOutput"]
        }
    }
    assert (env["start_time"], env["end_time"]) == window
    assert (
        env["baseline_statistics"]
        == "/opt/ml/processing/baseline/stats/statistics.json"
    )
    assert env["dataset_source"] == "/opt/ml/processing/input/endpoint"
    assert env["sagemaker_endpoint_name"] == "penguins-local"
    assert spec.inputs["baseline/constraints"].endswith("constraints.json")
    assert [a.rule for a in report.alerts] == ["any-drift"]
    assert (project.config.state_dir / "alerts.jsonl").is_file()


def traffic(requests: int, errors_5xx: int = 0, errors_4xx: int = 0) -> dict:
    return {
        "requests": requests,
        "errors_4xx": errors_4xx,
        "errors_5xx": errors_5xx,
        "error_rate": (errors_4xx + errors_5xx) / requests if requests else 0.0,
        "latency_p50_ms": 2.0,
        "latency_p99_ms": 9.0,
    }


def test_the_error_rate_rule_counts_the_endpoints_real_traffic_in_the_window(
    project,
):
    lifecycle.prepare(project)
    lifecycle.train(project)
    lifecycle.register(project)
    lifecycle.deploy(project)
    _, window = lifecycle.predict(project, limit=4)  # the CLI saw no error
    lifecycle.baseline(project)
    project.backend.violations = []
    # Other clients' requests in the same window: 8 of 100 failed.
    project.backend.traffic = {"all": traffic(100, errors_5xx=5, errors_4xx=3)}

    again = reopen(project)
    report = lifecycle.monitor(again, *window)

    assert calls(project, "endpoint_traffic") == [tuple(window)]
    assert [a.rule for a in report.alerts] == ["endpoint-errors"]
    assert "8/100" in report.alerts[0].summary
    assert any("100 requests, 3 4xx, 5 5xx" in line for line in project.said)
    assert again.state["last_monitor"]["traffic"]["requests"] == 100


def test_a_quiet_window_raises_no_error_rate_alert(project):
    lifecycle.prepare(project)
    lifecycle.train(project)
    lifecycle.register(project)
    lifecycle.deploy(project)
    _, window = lifecycle.predict(project, limit=4)
    lifecycle.baseline(project)
    project.backend.violations = []
    project.backend.traffic = {"all": traffic(100, errors_5xx=1)}
    assert lifecycle.monitor(reopen(project), *window).alerts == []


def test_steps_run_too_early_say_which_step_comes_first(project):
    with pytest.raises(lifecycle.LifecycleError, match="orchestration prepare"):
        lifecycle.train(project)
    with pytest.raises(lifecycle.LifecycleError, match="orchestration baseline"):
        lifecycle.monitor(project)


def test_a_failed_job_is_an_error_with_its_reason(project):
    lifecycle.prepare(project)
    lifecycle.train(project)
    lifecycle.register(project)
    lifecycle.deploy(project)
    lifecycle.baseline(project)
    project.backend.fail_monitor = True
    with pytest.raises(JobFailed, match="no captured data in the window"):
        lifecycle.monitor(project)


def test_schedule_monitors_each_window_once_and_survives_failures(project):
    from datetime import UTC, datetime

    lifecycle.prepare(project)
    lifecycle.train(project)
    lifecycle.register(project)
    lifecycle.deploy(project)
    lifecycle.baseline(project)
    project.save(schedule_last_end="2026-04-18T07:00:00Z")
    project.backend.fail_monitor = True
    first = schedule.run_due(project, now=datetime(2026, 4, 18, 9, 5, tzinfo=UTC))
    assert [e["status"] for e in first] == ["Failed", "Failed"]
    project.backend.fail_monitor = False
    again = reopen(project)
    second = schedule.run_due(again, now=datetime(2026, 4, 18, 10, 1, tzinfo=UTC))
    assert [e["window"] for e in second] == [
        ("2026-04-18T09:00:00Z", "2026-04-18T10:00:00Z")
    ]
    assert second[0]["violations"] == 1
    assert schedule.run_due(again, now=datetime(2026, 4, 18, 10, 30, tzinfo=UTC)) == []


def deployed_with_baseline(project):
    lifecycle.prepare(project)
    lifecycle.train(project)
    lifecycle.register(project)
    lifecycle.deploy(project)
    lifecycle.baseline(project)
    return project


def test_a_window_without_captured_traffic_fails_before_any_job(project):
    deployed_with_baseline(project)
    project.backend.capture_files = 0
    window = ("2026-04-18T09:00:00Z", "2026-04-18T10:00:00Z")
    with pytest.raises(
        lifecycle.NoCapturedTraffic,
        match=r"^no traffic was captured between 2026-04-18T09:00:00Z and "
        r"2026-04-18T10:00:00Z under \S+/capture/penguins-local$",
    ):
        lifecycle.monitor(project, *window)
    assert calls(project, "wait_for_capture") == [(*window, False)]
    assert calls(project, "monitor") == []  # no job started


def test_monitor_waits_for_the_capture_of_traffic_predict_sent(project):
    deployed_with_baseline(project)
    _, window = lifecycle.predict(project, drifted=True, limit=2)
    lifecycle.monitor(reopen(project), *window)
    lifecycle.monitor(project)  # the last hour, which holds that traffic
    lifecycle.monitor(project, "2026-04-18T09:00:00Z", "2026-04-18T10:00:00Z")
    (exact, last_hour, other) = calls(project, "wait_for_capture")
    # Traffic was sent: wait until its capture is there, up to its end.
    assert exact == (*window, True)
    assert last_hour[0] < window[0] and last_hour[1:] == (window[1], True)
    # No traffic recorded there: look once.
    assert other == ("2026-04-18T09:00:00Z", "2026-04-18T10:00:00Z", False)
    project.backend.capture_files = 0
    with pytest.raises(
        lifecycle.NoCapturedTraffic, match=r"under \S+ \(waited 5 s for it\)$"
    ):
        lifecycle.monitor(project, *window)


def test_traffic_never_captured_leaves_the_rest_of_the_window_to_look_at(project):
    deployed_with_baseline(project)
    lifecycle.predict(project, limit=2)
    seen = []

    def look(destination, endpoint_name, start, end, progress, wait=True):
        seen.append((start, end, wait))
        return CaptureFound(destination, 0 if wait else 3, 600.0 if wait else 0.0)

    project.backend.wait_for_capture = look
    lifecycle.monitor(project)  # the last hour: it goes on after that traffic
    (waited, looked) = seen
    assert waited[2] and not looked[2] and looked[1] > waited[1]
    assert len(calls(project, "monitor")) == 1


def test_run_waits_for_each_traffic_windows_capture_before_monitoring(project):
    summary = lifecycle.run(project, keep=True)
    assert summary["drift_violations"] == [DRIFT]
    sequence = [
        ("wait", arg[2]) if name == "wait_for_capture" else name
        for name, arg in project.backend.calls
        if name in ("wait_for_capture", "monitor")
    ]
    assert sequence == [("wait", True), "monitor", ("wait", True), "monitor"]


def test_schedule_reports_a_window_without_capture_as_failed_and_goes_on(project):
    from datetime import UTC, datetime

    deployed_with_baseline(project)
    project.save(schedule_last_end="2026-04-18T08:00:00Z")
    project.backend.capture_files = 0
    done = schedule.run_due(project, now=datetime(2026, 4, 18, 10, 5, tzinfo=UTC))
    assert [e["status"] for e in done] == ["Failed", "Failed"]
    assert done[0]["failure_reason"].startswith(
        "no traffic was captured between 2026-04-18T08:00:00Z and "
        "2026-04-18T09:00:00Z under "
    )
    assert project.state["schedule_last_end"] == "2026-04-18T10:00:00Z"
    assert [w for *_, w in calls(project, "wait_for_capture")] == [False, False]
    assert calls(project, "monitor") == []


def test_teardown_deletes_the_endpoint_and_forgets_it(project):
    lifecycle.prepare(project)
    lifecycle.train(project)
    lifecycle.register(project)
    lifecycle.deploy(project)
    assert lifecycle.teardown(project) == ["penguins-local"]
    assert "endpoint" not in reopen(project).state
    assert project.backend.endpoints == {}


class ScheduleRecordingBackend(MemoryBackend):
    """Stands in for the AWS backend's schedule and alarm calls."""

    name = "aws"
    settings = SimpleNamespace(schedule_expression=None)
    schedule_expression = AwsBackend.schedule_expression
    run_monitoring_schedule = AwsBackend.run_monitoring_schedule

    def create_monitoring_schedule(self, spec, progress=None):
        self.calls.append(("schedule", spec))
        return spec.schedule_name

    def create_drift_alarm(
        self, endpoint_name, schedule_name, features, schedule_expression=None
    ):
        self.calls.append(("alarm", (endpoint_name, schedule_name, features)))
        return {"alarm_name": f"{endpoint_name}-drift", "topic_arn": "arn:aws:sns:x"}

    def create_traffic_alarms(self, spec, topic_arn):
        self.calls.append(("traffic_alarms", spec))
        return [f"{spec.endpoint_name}-error-rate"]


def test_on_aws_schedule_creates_a_monitoring_schedule_and_drift_alarm(project):
    project.backend.__class__ = ScheduleRecordingBackend
    lifecycle.prepare(project)
    lifecycle.train(project)
    lifecycle.register(project)
    lifecycle.deploy(project)
    lifecycle.baseline(project)
    ran = schedule.run_schedule(project, once=True)
    assert ran.executions == []  # SageMaker runs them
    created = ran.schedule
    (spec,) = calls(project, "schedule")
    assert spec.schedule_expression == "cron(0 * ? * * *)"
    assert spec.statistics_uri.endswith("/statistics.json")
    assert spec.constraints_uri.endswith("/constraints.json")
    (alarm,) = calls(project, "alarm")
    assert alarm[0] == "penguins-local" and "body_mass_g" in alarm[2]
    assert created["alarm_name"] == "penguins-local-drift"
    # The config's error_rate rule, as an alarm on the deployed variant.
    (traffic,) = calls(project, "traffic_alarms")
    assert traffic.max_error_rate == 0.05 and traffic.max_latency_p99_ms is None
    assert traffic.variant_names == ("AllTraffic",)
    assert created["traffic_alarm_names"] == ["penguins-local-error-rate"]
    assert reopen(project).state["schedule"]["name"] == "penguins-local-monitoring"


def scheduled_on_aws(project, minutes, expression=None):
    """`schedule` on the AWS stand-in with these settings; the spec it made."""
    project.backend.__class__ = ScheduleRecordingBackend
    project.backend.settings = SimpleNamespace(schedule_expression=expression)
    project.config = dataclasses.replace(
        project.config,
        monitoring=dataclasses.replace(
            project.config.monitoring, schedule_minutes=minutes
        ),
    )
    lifecycle.prepare(project)
    lifecycle.train(project)
    lifecycle.register(project)
    lifecycle.deploy(project)
    lifecycle.baseline(project)
    schedule.run_schedule(project, once=True)
    (spec,) = calls(project, "schedule")
    return spec


@pytest.mark.parametrize(
    ("minutes", "expression"),
    [
        (120, "cron(0 0/2 ? * * *)"),
        (360, "cron(0 0/6 ? * * *)"),
        (720, "cron(0 0/12 ? * * *)"),
        (1440, "cron(0 0 ? * * *)"),
    ],
)
def test_on_aws_schedule_minutes_become_an_expression_sagemaker_documents(
    project, minutes, expression
):
    assert scheduled_on_aws(project, minutes).schedule_expression == expression


@pytest.mark.parametrize("minutes", [15, 30, 90, 300, 2880])
def test_on_aws_schedule_minutes_sagemaker_cannot_run_are_refused(project, minutes):
    with pytest.raises(
        AwsConfigError,
        match=rf"schedule_minutes={minutes} cannot be scheduled on SageMaker: "
        r"use 60, 120, 180, 240, 360, 480, 720 or 1440",
    ):
        scheduled_on_aws(project, minutes)
    assert calls(project, "schedule") == [] and calls(project, "alarm") == []


def test_on_aws_the_schedule_expression_option_overrides_the_minutes(project):
    spec = scheduled_on_aws(project, 90, expression="cron(0 6 ? * * *)")
    assert spec.schedule_expression == "cron(0 6 ? * * *)"


def test_job_names_are_unique_within_one_millisecond_and_valid(tmp_path):
    import re
    from types import SimpleNamespace

    from orchestration.lifecycle import job_name

    project = SimpleNamespace(config=SimpleNamespace(project="p" * 80))
    names = {job_name(project, "monitor") for _ in range(200)}
    assert len(names) == 200
    for name in names:
        assert len(name) <= 63
        assert re.fullmatch(r"[a-zA-Z0-9](-*[a-zA-Z0-9])*", name), name


class SlowEndpoints(MemoryBackend):
    """Endpoints take a while to start; two starts at once are recorded."""

    def __init__(self, root):
        super().__init__(root)
        self.starting = 0
        self.overlapped = False

    def _slowly(self, start, spec):
        self.starting += 1
        self.overlapped |= self.starting > 1
        time.sleep(0.3)
        self.starting -= 1
        return start(spec)

    def create_endpoint(self, spec):
        return self._slowly(super().create_endpoint, spec)

    def update_endpoint(self, spec):
        return self._slowly(super().update_endpoint, spec)


def test_two_deploys_at_once_on_one_state_run_one_after_the_other(project, tmp_path):
    lifecycle.prepare(project)
    lifecycle.train(project)
    lifecycle.register(project)
    backend = SlowEndpoints(tmp_path)
    backend.calls = project.backend.calls
    deployed, failures = [], []

    def deploy():
        # Each command opens the project itself, as two CLI processes would.
        mine = lifecycle.open_project(
            project.config, say=lambda _: None, backend=backend
        )
        try:
            deployed.append(lifecycle.deploy(mine))
        except Exception as exc:  # noqa: BLE001 - the test reports any failure
            failures.append(exc)

    threads = [threading.Thread(target=deploy) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert failures == [] and len(deployed) == 2
    assert not backend.overlapped
    # The second saw the endpoint the first made, and updated it.
    assert len(calls(project, "create_endpoint")) == 1
    (update,) = calls(project, "update_endpoint")
    assert backend.endpoints["penguins-local"] is update
    assert reopen(project).state["endpoint"] == deployed[-1]

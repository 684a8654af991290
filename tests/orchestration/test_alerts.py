import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from orchestration.alerts import LocalAlerts, MonitoringOutcome, evaluate, post_webhook
from orchestration.config import AlertRule, AlertsConfig

DRIFT = {
    "feature_name": "body_mass_g",
    "constraint_check_type": "baseline_drift_check",
    "description": "Numerical distance: 0.7 exceeds numerical threshold: 0.1",
}
DOMAIN = {
    "feature_name": "island",
    "constraint_check_type": "categorical_values_check",
    "description": "...",
}
RULES = (
    AlertRule("any-drift", "feature_drift"),
    AlertRule("mass-drift", "feature_drift", features=("body_mass_g",)),
    AlertRule("sex-drift", "feature_drift", features=("sex",)),
    AlertRule("many", "violations", min_violations=2),
    AlertRule("errors", "error_rate", max_error_rate=0.1),
)


def outcome(violations, invocations=10, errors=0):
    return MonitoringOutcome(
        "ep", "job", violations, "/r/report.html", invocations, errors
    )


def test_no_violations_raise_nothing():
    assert evaluate(RULES, outcome([])) == []


def test_rules_fire_on_what_they_watch():
    alerts = evaluate(RULES, outcome([DRIFT, DOMAIN], errors=2))
    assert [a.rule for a in alerts] == ["any-drift", "mass-drift", "many", "errors"]
    assert "body_mass_g" in alerts[0].summary
    assert "2 constraint violation(s)" in alerts[2].summary
    assert "20.0%" in alerts[3].summary


def test_one_violation_is_below_a_limit_of_two():
    assert evaluate(RULES, outcome([DOMAIN])) == []


class Receiver(BaseHTTPRequestHandler):
    received: list = []
    status = 200
    statuses: list[int] = []  # answered first, one per request, then `status`

    def do_POST(self):  # noqa: N802 - the http.server API
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Receiver.received.append((self.headers["Content-Type"], json.loads(body)))
        status = Receiver.statuses.pop(0) if Receiver.statuses else Receiver.status
        self.send_response(status)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


@pytest.fixture
def receiver():
    Receiver.received = []
    Receiver.status = 200
    Receiver.statuses = []
    server = HTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    server.shutdown()
    server.server_close()


def test_alerts_go_to_the_log_the_console_and_the_webhook(tmp_path, receiver):
    lines = []
    sink = LocalAlerts(
        tmp_path, AlertsConfig(RULES, webhook_url=receiver), lines.append
    )
    alerts = evaluate(RULES[:1], outcome([DRIFT]))
    assert sink.deliver(alerts) == []
    assert lines == ["ALERT [any-drift] data drift on ep: body_mass_g"]
    assert sink.history()[0]["rule"] == "any-drift"
    content_type, payload = Receiver.received[0]
    assert content_type == "application/json"
    assert "data drift on ep" in payload["text"]  # Slack's incoming-webhook field
    assert payload["alert"]["details"]["violations"] == [DRIFT]


def test_a_failing_webhook_is_reported_not_raised(tmp_path, receiver):
    Receiver.status = 500
    lines = []
    sink = LocalAlerts(
        tmp_path, AlertsConfig(RULES, webhook_url=receiver), lines.append, no_sleep
    )
    problems = sink.deliver(evaluate(RULES[:1], outcome([DRIFT])))
    assert len(problems) == 1 and "HTTP 500" in problems[0]
    assert sink.history()  # still logged


def test_an_unreachable_webhook_is_a_one_line_problem():
    problem = post_webhook("http://127.0.0.1:9/hook", {"text": "x"})
    assert problem is not None and problem.startswith("http://127.0.0.1:9/hook: ")
    assert "\n" not in problem


def no_sleep(seconds: float) -> None:
    pass


def test_a_webhook_failing_for_a_while_is_retried_with_backoff(tmp_path, receiver):
    Receiver.statuses = [503, 500]
    slept, lines = [], []
    sink = LocalAlerts(
        tmp_path, AlertsConfig(RULES, webhook_url=receiver), lines.append, slept.append
    )
    assert sink.deliver(evaluate(RULES[:1], outcome([DRIFT]))) == []
    assert len(Receiver.received) == 3 and slept == [2.0, 4.0]
    (delivery,) = sink.deliveries()
    assert delivery["delivered"] is True and delivery["rule"] == "any-drift"
    assert [a["outcome"] for a in delivery["attempts"]] == [
        "HTTP 503: ok",
        "HTTP 500: ok",
        "delivered",
    ]
    assert delivery["webhook"] == "127.0.0.1"  # the host, not the secret path
    assert [a["rule"] for a in sink.history()] == ["any-drift"]


def test_retries_are_bounded_and_each_outcome_is_logged(tmp_path, receiver):
    Receiver.status = 500
    slept, lines = [], []
    sink = LocalAlerts(
        tmp_path, AlertsConfig(RULES, webhook_url=receiver), lines.append, slept.append
    )
    (problem,) = sink.deliver(evaluate(RULES[:1], outcome([DRIFT])))
    assert problem.startswith(f"{receiver}: HTTP 500")
    assert len(Receiver.received) == 3 and slept == [2.0, 4.0]
    (delivery,) = sink.deliveries()
    assert delivery["delivered"] is False and len(delivery["attempts"]) == 3
    assert "failed after 3 attempt(s)" in lines[-1]


def test_a_refused_webhook_is_not_retried(tmp_path, receiver):
    Receiver.status = 404
    slept = []
    sink = LocalAlerts(
        tmp_path, AlertsConfig(RULES, webhook_url=receiver), print, slept.append
    )
    assert len(sink.deliver(evaluate(RULES[:1], outcome([DRIFT])))) == 1
    assert len(Receiver.received) == 1 and slept == []
    assert sink.deliveries()[0]["attempts"][0]["outcome"] == "HTTP 404: ok"


def test_model_quality_rules_watch_regression_metrics_by_name():
    # SageMaker's regression constraints: errors above, r2 below, a threshold.
    breached = [
        {
            "metric_name": "rmse",
            "constraint_check_type": "GreaterThanThreshold",
            "description": "Metric rmse with 128.4 was GreaterThanThreshold 63.3",
        },
        {
            "metric_name": "r2",
            "constraint_check_type": "LessThanThreshold",
            "description": "Metric r2 with -2.02 was LessThanThreshold 0.33",
        },
    ]
    found = MonitoringOutcome(
        "ep", "job", [], quality_violations=breached, quality_metrics={"rmse": 128.4}
    )
    every = AlertRule("quality", "model_quality")
    only_mae = AlertRule("mae-only", "model_quality", metrics=("mae",))
    alerts = evaluate((every, only_mae), found)
    assert [a.rule for a in alerts] == ["quality"]
    assert "2 metric(s) past their constraint (rmse, r2)" in alerts[0].summary


def test_the_latency_rule_fires_on_the_windows_p99():
    from orchestration.alerts import MonitoringOutcome, evaluate
    from orchestration.config import AlertRule

    rule = AlertRule(name="slow", kind="latency", max_latency_p99_ms=200.0)
    slow = MonitoringOutcome("ep", "job", [], latency_p99_ms=350.0)
    (alert,) = evaluate((rule,), slow)
    assert alert.rule == "slow" and "p99 350 ms on ep above 200 ms" in alert.summary
    quick = MonitoringOutcome("ep", "job", [], latency_p99_ms=120.0)
    assert evaluate((rule,), quick) == []
    unknown = MonitoringOutcome("ep", "job", [])  # no traffic counted: no evidence
    assert evaluate((rule,), unknown) == []

"""Alert rules over monitoring results → an alerts log, the console, a webhook.

Rules come from the config (`alerts.rules`): any drift violation on chosen
features, at least N violations of any kind, an endpoint error rate above a
limit or a latency p99 above one (both over the window's real traffic),
or a model-quality metric crossing its constraint (`model_quality`,
over the window's labelled predictions). `evaluate` is a pure function from a monitoring outcome to the alerts it
raises; `LocalAlerts` delivers them: one JSON line appended to
``<state_dir>/alerts.jsonl``, one line on the console, and when configured a
Slack-style JSON POST (``{"text": ...}``) to a webhook. A webhook that fails
for a reason that can pass (no connection, a timeout, 429, 5xx) is tried
again, a few times with growing pauses; how each delivery went, attempt by
attempt, is one more line of alerts.jsonl (``{"delivery": ...}``). On AWS
the same rules become a CloudWatch alarm notifying an SNS topic
(``orchestration.aws``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from orchestration.config import AlertRule, AlertsConfig
from orchestration.times import utc_now

ALERTS_LOG = "alerts.jsonl"
DRIFT_CHECK = "baseline_drift_check"
WEBHOOK_TIMEOUT_SECONDS = 10
WEBHOOK_ATTEMPTS = 3
WEBHOOK_BACKOFF_SECONDS = 2.0  # before the second attempt; doubled after each


@dataclass(frozen=True)
class MonitoringOutcome:
    """What one monitoring run found, as the alert rules need it."""

    endpoint_name: str
    job_name: str
    violations: list[dict[str, str]]  # constraint_violations.json's `violations`
    report_location: str | None = None
    invocations: int = 0
    errors: int = 0
    # The model-quality analysis's constraint_violations.json `violations`
    # (each names its metric) and the window's metrics; empty without labels.
    quality_violations: list[dict[str, str]] = field(default_factory=list)
    quality_metrics: dict[str, float] = field(default_factory=dict)
    latency_p99_ms: float | None = None  # the window's, from the endpoint's traffic

    @property
    def error_rate(self) -> float:
        return self.errors / self.invocations if self.invocations else 0.0


@dataclass(frozen=True)
class Alert:
    rule: str
    kind: str
    endpoint_name: str
    job_name: str
    summary: str
    details: dict[str, Any] = field(default_factory=dict)
    raised_at: str = field(default_factory=utc_now)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def evaluate(rules: tuple[AlertRule, ...], outcome: MonitoringOutcome) -> list[Alert]:
    """The alerts `outcome` raises under `rules`, in rule order."""
    alerts = []
    for rule in rules:
        alert = _RULES[rule.kind](rule, outcome)
        if alert is not None:
            alerts.append(alert)
    return alerts


def _violations_rule(rule: AlertRule, outcome: MonitoringOutcome) -> Alert | None:
    count = len(outcome.violations)
    if count < rule.min_violations:
        return None
    kinds = sorted({v.get("constraint_check_type", "?") for v in outcome.violations})
    return Alert(
        rule.name,
        rule.kind,
        outcome.endpoint_name,
        outcome.job_name,
        f"{count} constraint violation(s) on {outcome.endpoint_name} "
        f"({', '.join(kinds)}); limit {rule.min_violations}",
        {"violations": outcome.violations, "report": outcome.report_location},
    )


def _drift_rule(rule: AlertRule, outcome: MonitoringOutcome) -> Alert | None:
    drifted = [
        v
        for v in outcome.violations
        if v.get("constraint_check_type") == DRIFT_CHECK
        and (not rule.features or v.get("feature_name") in rule.features)
    ]
    if len(drifted) < rule.min_violations:
        return None
    names = sorted({v.get("feature_name", "?") for v in drifted})
    return Alert(
        rule.name,
        rule.kind,
        outcome.endpoint_name,
        outcome.job_name,
        f"data drift on {outcome.endpoint_name}: {', '.join(names)}",
        {"violations": drifted, "report": outcome.report_location},
    )


def _error_rate_rule(rule: AlertRule, outcome: MonitoringOutcome) -> Alert | None:
    if outcome.invocations == 0 or outcome.error_rate <= rule.max_error_rate:
        return None
    return Alert(
        rule.name,
        rule.kind,
        outcome.endpoint_name,
        outcome.job_name,
        f"error rate {outcome.error_rate:.1%} on {outcome.endpoint_name} "
        f"({outcome.errors}/{outcome.invocations}) above {rule.max_error_rate:.1%}",
        {"errors": outcome.errors, "invocations": outcome.invocations},
    )


def _latency_rule(rule: AlertRule, outcome: MonitoringOutcome) -> Alert | None:
    p99 = outcome.latency_p99_ms
    if p99 is None or p99 <= rule.max_latency_p99_ms:
        return None
    return Alert(
        rule.name,
        rule.kind,
        outcome.endpoint_name,
        outcome.job_name,
        f"latency p99 {p99:g} ms on {outcome.endpoint_name} above {rule.max_latency_p99_ms:g} ms",
        {"latency_p99_ms": p99, "report": outcome.report_location},
    )


def _model_quality_rule(rule: AlertRule, outcome: MonitoringOutcome) -> Alert | None:
    breached = [
        v
        for v in outcome.quality_violations
        if not rule.metrics or _metric(v) in rule.metrics
    ]
    if len(breached) < rule.min_violations:
        return None
    names = ", ".join(dict.fromkeys(_metric(v) for v in breached))
    first = breached[0].get("description") or _metric(breached[0])
    return Alert(
        rule.name,
        rule.kind,
        outcome.endpoint_name,
        outcome.job_name,
        f"model quality on {outcome.endpoint_name}: {len(breached)} metric(s) "
        f"past their constraint ({names}); {first}",
        {"violations": breached, "metrics": outcome.quality_metrics},
    )


def _metric(violation: dict[str, str]) -> str:
    return violation.get("metric_name") or violation.get("feature_name") or "?"


_RULES: dict[str, Callable[[AlertRule, MonitoringOutcome], Alert | None]] = {
    "violations": _violations_rule,
    "feature_drift": _drift_rule,
    "error_rate": _error_rate_rule,
    "latency": _latency_rule,
    "model_quality": _model_quality_rule,
}


def slack_payload(alert: Alert) -> dict[str, Any]:
    """Slack's incoming-webhook shape; other chat tools accept `text` too."""
    return {
        "text": f":rotating_light: [{alert.rule}] {alert.summary}",
        "attachments": [
            {
                "color": "danger",
                "fields": [
                    {"title": "endpoint", "value": alert.endpoint_name, "short": True},
                    {"title": "job", "value": alert.job_name, "short": True},
                    {"title": "raised at", "value": alert.raised_at, "short": True},
                ],
            }
        ],
        "alert": alert.to_dict(),
    }


class LocalAlerts:
    """Delivers alerts to the alerts log, the console and an optional webhook."""

    def __init__(
        self,
        state_dir: Path,
        config: AlertsConfig,
        say: Callable[[str], None] = print,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.log_path = Path(state_dir) / ALERTS_LOG
        self.config = config
        self.say = say
        self.sleep = sleep

    def deliver(self, alerts: list[Alert]) -> list[str]:
        """Send each alert everywhere configured; returns problems, never raises.

        The alert is logged first, so a webhook that never answers loses
        nothing; how its delivery went is logged after.
        """
        problems = []
        for alert in alerts:
            self._log(alert.to_dict())
            self.say(f"ALERT [{alert.rule}] {alert.summary}")
            url = self.config.webhook_url
            if url:
                delivery = deliver_webhook(url, slack_payload(alert), sleep=self.sleep)
                self._log(
                    {
                        "delivery": {
                            "rule": alert.rule,
                            "raised_at": alert.raised_at,
                            **delivery.to_dict(),
                        }
                    }
                )
                if not delivery.delivered:
                    problems.append(delivery.problem)
                    self.say(
                        f"  webhook delivery failed after {len(delivery.attempts)} attempt(s): {delivery.problem}"
                    )
        return problems

    def _log(self, record: dict[str, Any]) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "a") as fh:
            fh.write(json.dumps(record, sort_keys=True) + "\n")

    def _records(self) -> list[dict[str, Any]]:
        if not self.log_path.is_file():
            return []
        lines = self.log_path.read_text().splitlines()
        return [json.loads(line) for line in lines if line]

    def history(self) -> list[dict[str, Any]]:
        """The alerts raised, oldest first."""
        return [r for r in self._records() if "delivery" not in r]

    def deliveries(self) -> list[dict[str, Any]]:
        """How each webhook delivery went, attempt by attempt."""
        return [r["delivery"] for r in self._records() if "delivery" in r]


@dataclass(frozen=True)
class WebhookDelivery:
    url: str
    attempts: list[dict[str, str]]  # {"at": ..., "outcome": "delivered" | problem}

    @property
    def delivered(self) -> bool:
        return self.attempts[-1]["outcome"] == DELIVERED

    @property
    def problem(self) -> str:
        return f"{self.url}: {self.attempts[-1]['outcome']}"

    def to_dict(self) -> dict[str, Any]:
        # The host only: a webhook's path often holds its secret token.
        return {
            "webhook": urlsplit(self.url).hostname,
            "delivered": self.delivered,
            "attempts": self.attempts,
        }


DELIVERED = "delivered"


def deliver_webhook(
    url: str,
    payload: dict[str, Any],
    attempts: int = WEBHOOK_ATTEMPTS,
    backoff_seconds: float = WEBHOOK_BACKOFF_SECONDS,
    sleep: Callable[[float], None] = time.sleep,
) -> WebhookDelivery:
    """POST JSON, again after a pause while the failure is one that can pass."""
    tried: list[dict[str, str]] = []
    for attempt in range(attempts):
        if attempt:
            sleep(backoff_seconds * 2 ** (attempt - 1))
        problem, passing = _post(url, payload)
        tried.append({"at": utc_now(), "outcome": problem or DELIVERED})
        if problem is None or not passing:
            break
    return WebhookDelivery(url, tried)


def post_webhook(url: str, payload: dict[str, Any]) -> str | None:
    """POST JSON once: a one-line problem description, or None when delivered."""
    problem, _ = _post(url, payload)
    return f"{url}: {problem}" if problem else None


def _post(url: str, payload: dict[str, Any]) -> tuple[str | None, bool]:
    """(what went wrong or None, whether trying again may help)."""
    import requests

    try:
        response = requests.post(url, json=payload, timeout=WEBHOOK_TIMEOUT_SECONDS)
    except requests.RequestException as exc:
        return _one_line(f"{type(exc).__name__}: {exc}"), True
    status = response.status_code
    if status >= 300:
        said = _one_line(f"HTTP {status}: {response.text[:200]}")
        return said, status == 429 or status >= 500
    return None, False


def _one_line(text: str) -> str:
    return " ".join(text.split())

"""Alert rules over monitoring results → an alerts log, the console, a webhook.

Rules come from the config (`alerts.rules`): any drift violation on chosen
features, at least N violations of any kind, or an endpoint error rate above a
limit. `evaluate` is a pure function from a monitoring outcome to the alerts it
raises; `LocalAlerts` delivers them: one JSON line appended to
``<state_dir>/alerts.jsonl``, one line on the console, and when configured a
Slack-style JSON POST (``{"text": ...}``) to a webhook. On AWS the same rules
become a CloudWatch alarm notifying an SNS topic (``orchestration.aws``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from orchestration.config import AlertRule, AlertsConfig
from orchestration.times import utc_now

ALERTS_LOG = "alerts.jsonl"
DRIFT_CHECK = "baseline_drift_check"
WEBHOOK_TIMEOUT_SECONDS = 10


@dataclass(frozen=True)
class MonitoringOutcome:
    """What one monitoring run found, as the alert rules need it."""

    endpoint_name: str
    job_name: str
    violations: list[dict[str, str]]  # constraint_violations.json's `violations`
    report_location: str | None = None
    invocations: int = 0
    errors: int = 0

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


_RULES: dict[str, Callable[[AlertRule, MonitoringOutcome], Alert | None]] = {
    "violations": _violations_rule,
    "feature_drift": _drift_rule,
    "error_rate": _error_rate_rule,
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
        self, state_dir: Path, config: AlertsConfig, say: Callable[[str], None] = print
    ):
        self.log_path = Path(state_dir) / ALERTS_LOG
        self.config = config
        self.say = say

    def deliver(self, alerts: list[Alert]) -> list[str]:
        """Send each alert everywhere configured; returns problems, never raises."""
        problems = []
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        for alert in alerts:
            with open(self.log_path, "a") as fh:
                fh.write(json.dumps(alert.to_dict(), sort_keys=True) + "\n")
            self.say(f"ALERT [{alert.rule}] {alert.summary}")
            if self.config.webhook_url:
                problem = post_webhook(self.config.webhook_url, slack_payload(alert))
                if problem:
                    problems.append(problem)
                    self.say(f"  webhook delivery failed: {problem}")
        return problems

    def history(self) -> list[dict[str, Any]]:
        if not self.log_path.is_file():
            return []
        return [
            json.loads(line) for line in self.log_path.read_text().splitlines() if line
        ]


def post_webhook(url: str, payload: dict[str, Any]) -> str | None:
    """POST JSON; returns a one-line problem description, or None when delivered."""
    import requests

    try:
        response = requests.post(url, json=payload, timeout=WEBHOOK_TIMEOUT_SECONDS)
    except requests.RequestException as exc:
        return f"{url}: {type(exc).__name__}: {exc}"
    if response.status_code >= 300:
        return f"{url}: HTTP {response.status_code}: {response.text[:200]}"
    return None

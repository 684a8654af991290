"""Production and shadow variants of an endpoint: the requests of A/B and shadow tests.

An endpoint config is immutable, so a variant is added, replaced or removed by
a new config holding every variant that stays (same models, instance types and
the instance counts and weights the endpoint runs now, which
UpdateEndpointWeightsAndCapacities or autoscaling may have changed since the
config was written) and an UpdateEndpoint to it. Weights alone move in place
(UpdateEndpointWeightsAndCapacities), without new instances.

SageMaker's rules, checked here before anything is created:

- at most 10 production variants, and at least one: a shadow variant only
  receives copies of the production traffic;
- with a shadow variant, exactly one production variant and one shadow
  (CreateEndpointConfig's ShadowProductionVariants);
- weights are >= 0, and some production variant has a weight above 0, or
  only requests naming a TargetVariant would be answered.

The update's DeploymentConfig (`deployment_config`): blue/green with all of
the traffic shifted at once (ALL_AT_ONCE), because CANARY and LINEAR need a
fleet of several instances to shift a part of (these variants run one
instance each by default); a baking period (TerminationWaitInSeconds) while
rollback alarms exist, during which the old fleet stays up and an alarm going
off rolls the endpoint back. SageMaker's deployment guardrails require the new
config to hold the same variant names as the old one, so a DeploymentConfig is
only sent when the names do not change (a variant's model replaced); adding or
removing a variant is a plain UpdateEndpoint, which SageMaker still runs
blue/green all at once and rolls back when the new fleet does not come up.

Pure: no AWS calls here; `orchestration.backends.aws.AwsBackend` makes them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from orchestration.aws import alarms
from orchestration.aws.naming import check_name
from orchestration.backends.base import (
    IN_SERVICE,
    BackendError,
    EndpointSpec,
    VariantInfo,
    VariantSpec,
    traffic_summary,
)

MAX_PRODUCTION_VARIANTS = 10
TRAFFIC_ROUTING = "ALL_AT_ONCE"
# How long the old fleet stays up after the shift while alarms are watched.
BAKING_SECONDS = 600
# MaximumExecutionTimeoutInSeconds' bounds in the service model.
MIN_EXECUTION_SECONDS = 600
MAX_EXECUTION_SECONDS = 28800
# The traffic `describe_variants` reports: the CloudWatch metrics SageMaker
# publishes per variant (AWS/SageMaker, EndpointName and VariantName).
METRICS_NAMESPACE = "AWS/SageMaker"
TRAFFIC_WINDOW = timedelta(hours=1)
TRAFFIC_METRICS = (
    # (query id suffix, metric, statistic)
    ("requests", "Invocations", "Sum"),
    ("errors_4xx", "Invocation4XXErrors", "Sum"),
    ("errors_5xx", "Invocation5XXErrors", "Sum"),
    ("latency_p50", "ModelLatency", "p50"),
    ("latency_p99", "ModelLatency", "p99"),
)
MICROSECONDS_PER_MS = 1000.0


def rollback_alarm_names(endpoint_name: str) -> list[str]:
    """The alarms of `alarms` that may roll an update back, where they exist.

    Only the model-quality alarm says something about the model a variant
    serves. The drift alarm watches the inputs, which every variant shares, and
    the silence alarm fires when monitoring results stop coming (and is in
    ALARM before the first one): neither is a reason to undo a deployment.
    """
    return [alarms.quality_alarm_name_for(endpoint_name)]


@dataclass(frozen=True)
class Variant:
    """A variant as the next endpoint config holds it.

    `base` is the variant's entry of the config it comes from
    (DescribeEndpointConfig's ProductionVariant, the request's shape), so what
    this project does not set itself (volume size, timeouts) is carried over.
    """

    variant_name: str
    model_name: str
    instance_type: str
    instance_count: int
    weight: float
    shadow: bool = False
    base: tuple[tuple[str, Any], ...] = ()

    def request(self) -> dict[str, Any]:
        entry = dict(self.base)
        entry.update(
            {
                "VariantName": self.variant_name,
                "ModelName": self.model_name,
                "InstanceType": self.instance_type,
                "InitialInstanceCount": self.instance_count,
                "InitialVariantWeight": float(self.weight),
            }
        )
        return entry


def deployed(endpoint: dict[str, Any], config: dict[str, Any]) -> list[Variant]:
    """The variants the endpoint serves, from its config (models, instance
    types) and DescribeEndpoint (the weights and counts it runs now)."""
    now = {
        v["VariantName"]: v
        for key in ("ProductionVariants", "ShadowProductionVariants")
        for v in endpoint.get(key) or []
    }
    found = []
    for key, shadow in (
        ("ProductionVariants", False),
        ("ShadowProductionVariants", True),
    ):
        for entry in config.get(key) or []:
            name = entry["VariantName"]
            current = now.get(name, {})
            weight = current.get(
                "CurrentWeight", entry.get("InitialVariantWeight", 1.0)
            )
            count = current.get(
                "CurrentInstanceCount", entry.get("InitialInstanceCount", 1)
            )
            found.append(
                Variant(
                    variant_name=name,
                    model_name=entry["ModelName"],
                    instance_type=entry.get("InstanceType", ""),
                    instance_count=int(count),
                    weight=float(weight),
                    shadow=shadow,
                    base=tuple(sorted(entry.items())),
                )
            )
    return found


def names_of(variants: list[Variant]) -> str:
    return (
        ", ".join(v.variant_name + (" (shadow)" if v.shadow else "") for v in variants)
        or "none"
    )


def check_weight(name: str, weight: float) -> float:
    if not isinstance(weight, int | float) or not math.isfinite(weight) or weight < 0:
        raise BackendError(
            f"variant {name}: weight {weight!r} must be a number >= 0 (a share of the traffic relative to the other variants' weights)"
        )
    return float(weight)


def check_variants(endpoint_name: str, variants: list[Variant]) -> list[Variant]:
    """`variants`, if SageMaker accepts them as one endpoint's; else BackendError."""
    production = [v for v in variants if not v.shadow]
    shadows = [v for v in variants if v.shadow]
    where = f"endpoint {endpoint_name}"
    if not production:
        raise BackendError(
            f"{where} needs a production variant: a shadow variant ({names_of(shadows)}) only receives copies of production traffic"
        )
    if len(production) > MAX_PRODUCTION_VARIANTS:
        raise BackendError(
            f"{where} would have {len(production)} production variants; SageMaker allows at most {MAX_PRODUCTION_VARIANTS}"
        )
    if shadows and (len(shadows) > 1 or len(production) > 1):
        raise BackendError(
            f"{where} would have production variants {names_of(production)} and shadow variants {names_of(shadows)}; SageMaker allows a shadow variant only beside exactly one production variant, and one shadow at a time"
        )
    for v in variants:
        check_name(v.variant_name, "variant")
        check_weight(v.variant_name, v.weight)
    if not any(v.weight > 0 for v in production):
        raise BackendError(
            f"{where}: every production variant would have weight 0, so only requests naming a target variant would be answered; give one a weight above 0"
        )
    return variants


def model_spec(endpoint_name: str, spec: VariantSpec) -> EndpointSpec:
    """The `EndpointSpec` `hosting.model_request` builds the variant's model from."""
    return EndpointSpec(
        endpoint_name=endpoint_name,
        model_name=spec.model_name,
        model_artifact=spec.model_artifact,
        image=spec.image,
        instance_type=spec.instance_type,
        instance_count=spec.instance_count,
        environment=dict(spec.environment),
        variant_name=spec.variant_name,
    )


def with_variant(
    endpoint_name: str, current: list[Variant], spec: VariantSpec
) -> list[Variant]:
    """`current` with `spec` added, or replacing the variant of its name."""
    check_name(spec.variant_name, "variant")
    check_weight(spec.variant_name, spec.weight)
    if spec.instance_count < 1:
        raise BackendError(
            f"variant {spec.variant_name}: instance_count={spec.instance_count} must be at least 1"
        )
    for v in current:
        if v.model_name == spec.model_name:
            raise BackendError(
                f"model {spec.model_name} already serves variant {v.variant_name} of endpoint {endpoint_name}; give the new version its own model name"
            )
    new = Variant(
        variant_name=spec.variant_name,
        model_name=spec.model_name,
        instance_type=spec.instance_type,
        instance_count=spec.instance_count,
        weight=float(spec.weight),
        shadow=spec.shadow,
    )
    replaced = [v for v in current if v.variant_name == spec.variant_name]
    if replaced:
        # The new model keeps what else the old variant's entry held.
        new = replace(new, base=replaced[0].base)
        variants = [new if v.variant_name == spec.variant_name else v for v in current]
    else:
        variants = [*current, new]
    return check_variants(endpoint_name, variants)


def without_variants(
    endpoint_name: str, current: list[Variant], names: list[str]
) -> list[Variant]:
    if not names:
        raise BackendError(f"name the variants to remove from endpoint {endpoint_name}")
    known = {v.variant_name for v in current}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise BackendError(
            f"endpoint {endpoint_name} has no variant {', '.join(unknown)}; its variants: {names_of(current)}"
        )
    left = [v for v in current if v.variant_name not in names]
    if not any(not v.shadow for v in left):
        raise BackendError(
            f"removing {', '.join(names)} would leave endpoint {endpoint_name} without a production variant; deploy another variant first, or run `teardown` to delete the endpoint"
        )
    return check_variants(endpoint_name, left)


def endpoint_config_request(
    config_name: str,
    variants: list[Variant],
    config: dict[str, Any],
    tags: dict[str, str],
) -> dict[str, Any]:
    """CreateEndpointConfig for `variants`, with `config`'s data capture."""
    check_name(config_name, "endpoint config")
    request: dict[str, Any] = {
        "EndpointConfigName": config_name,
        "ProductionVariants": [v.request() for v in variants if not v.shadow],
        "Tags": [{"Key": k, "Value": v} for k, v in sorted(tags.items())],
    }
    shadows = [v.request() for v in variants if v.shadow]
    if shadows:
        request["ShadowProductionVariants"] = shadows
    if config.get("DataCaptureConfig"):
        request["DataCaptureConfig"] = config["DataCaptureConfig"]
    return request


def deployment_config(
    rollback_alarms: list[str], wait_timeout_seconds: float
) -> dict[str, Any]:
    """Blue/green, all at once, baking while rollback alarms exist."""
    timeout = int(
        min(MAX_EXECUTION_SECONDS, max(MIN_EXECUTION_SECONDS, wait_timeout_seconds))
    )
    config: dict[str, Any] = {
        "BlueGreenUpdatePolicy": {
            "TrafficRoutingConfiguration": {
                "Type": TRAFFIC_ROUTING,
                "WaitIntervalInSeconds": 0,
            },
            # Without alarms a baking period would only run both fleets longer.
            "TerminationWaitInSeconds": BAKING_SECONDS if rollback_alarms else 0,
            "MaximumExecutionTimeoutInSeconds": timeout,
        }
    }
    if rollback_alarms:
        config["AutoRollbackConfiguration"] = {
            "Alarms": [{"AlarmName": name} for name in rollback_alarms]
        }
    return config


def update_request(
    endpoint_name: str,
    config_name: str,
    before: list[Variant],
    after: list[Variant],
    rollback_alarms: list[str],
    wait_timeout_seconds: float,
) -> dict[str, Any]:
    """UpdateEndpoint to the new config; see the module docstring for when it
    carries a DeploymentConfig."""
    request: dict[str, Any] = {
        "EndpointName": endpoint_name,
        "EndpointConfigName": config_name,
        # The new config holds the weights and counts the endpoint runs now.
        "RetainAllVariantProperties": False,
    }
    if {v.variant_name for v in before} == {v.variant_name for v in after}:
        request["DeploymentConfig"] = deployment_config(
            rollback_alarms, wait_timeout_seconds
        )
    return request


def weights_request(
    endpoint_name: str, current: list[Variant], weights: dict[str, float]
) -> dict[str, Any]:
    """UpdateEndpointWeightsAndCapacities, once the names and weights check out."""
    if not weights:
        raise BackendError(
            f"give a weight for some variant of endpoint {endpoint_name}"
        )
    known = {v.variant_name for v in current}
    unknown = sorted(n for n in weights if n not in known)
    if unknown:
        raise BackendError(
            f"endpoint {endpoint_name} has no variant {', '.join(unknown)}; its variants: {names_of(current)}"
        )
    checked = {name: check_weight(name, w) for name, w in weights.items()}
    check_variants(
        endpoint_name,
        [replace(v, weight=checked.get(v.variant_name, v.weight)) for v in current],
    )
    return {
        "EndpointName": endpoint_name,
        "DesiredWeightsAndCapacities": [
            {"VariantName": name, "DesiredWeight": weight}
            for name, weight in checked.items()
        ],
    }


def variant_infos(
    endpoint: dict[str, Any],
    config: dict[str, Any],
    traffic: dict[str, dict[str, Any]] | None = None,
) -> list[VariantInfo]:
    """VariantInfo per production and shadow variant of DescribeEndpoint."""
    models = {
        v["VariantName"]: v.get("ModelName")
        for key in ("ProductionVariants", "ShadowProductionVariants")
        for v in config.get(key) or []
    }
    infos = []
    for key, shadow in (
        ("ProductionVariants", False),
        ("ShadowProductionVariants", True),
    ):
        for v in endpoint.get(key) or []:
            name = v["VariantName"]
            statuses = v.get("VariantStatus") or []
            status = (
                statuses[0]["Status"]
                if statuses
                else endpoint.get("EndpointStatus", IN_SERVICE)
            )
            infos.append(
                VariantInfo(
                    variant_name=name,
                    model_name=models.get(name),
                    weight=float(v.get("CurrentWeight", v.get("DesiredWeight", 0.0))),
                    shadow=shadow,
                    status=status,
                    traffic=dict((traffic or {}).get(name, {})),
                )
            )
    return infos


# --- traffic ------------------------------------------------------------------------
def _query_id(index: int, suffix: str) -> str:
    # GetMetricData ids: a lower-case letter first, then letters, digits, _.
    return f"v{index}_{suffix}"


def metric_data_request(
    endpoint_name: str,
    variant_names: list[str],
    end: datetime,
    start: datetime | None = None,
) -> dict[str, Any]:
    """GetMetricData over [start, end) (default: the last hour) as one period,
    five queries per variant. CloudWatch periods are whole minutes."""
    start = start or end - TRAFFIC_WINDOW
    period = max(60, math.ceil((end - start).total_seconds() / 60) * 60)
    queries = [
        {
            "Id": _query_id(i, suffix),
            "Label": f"{name} {metric} {stat}",
            "MetricStat": {
                "Metric": {
                    "Namespace": METRICS_NAMESPACE,
                    "MetricName": metric,
                    "Dimensions": [
                        {"Name": "EndpointName", "Value": endpoint_name},
                        {"Name": "VariantName", "Value": name},
                    ],
                },
                "Period": period,
                "Stat": stat,
            },
            "ReturnData": True,
        }
        for i, name in enumerate(variant_names)
        for suffix, metric, stat in TRAFFIC_METRICS
    ]
    return {
        "MetricDataQueries": queries,
        "StartTime": start,
        "EndTime": end,
    }


def traffic_from(
    variant_names: list[str],
    results: list[dict[str, Any]],
    window: timedelta = TRAFFIC_WINDOW,
) -> dict[str, dict[str, Any]]:
    """Per variant: requests, errors_4xx / errors_5xx, error_rate and
    latency_p50_ms / latency_p99_ms (ModelLatency is in microseconds)."""
    values: dict[str, float | None] = {}
    for result in results:
        found = result.get("Values") or []
        # One period; should CloudWatch split the hour, sums add up and the
        # latest percentile is kept.
        if not found:
            values[result["Id"]] = None
        elif result["Id"].endswith(("requests", "4xx", "5xx")):
            values[result["Id"]] = float(sum(found))
        else:
            values[result["Id"]] = float(found[0])
    traffic = {}
    for i, name in enumerate(variant_names):

        def get(suffix: str, i: int = i) -> float | None:
            return values.get(_query_id(i, suffix))

        requests = int(get("requests") or 0)
        errors_4xx = int(get("errors_4xx") or 0)
        errors_5xx = int(get("errors_5xx") or 0)
        p50, p99 = get("latency_p50"), get("latency_p99")
        traffic[name] = {
            **traffic_summary(
                requests,
                errors_4xx,
                errors_5xx,
                None if p50 is None else round(p50 / MICROSECONDS_PER_MS, 3),
                None if p99 is None else round(p99 / MICROSECONDS_PER_MS, 3),
            ),
            "window_seconds": int(window.total_seconds()),
        }
    return traffic


def combined(per_variant: list[dict[str, Any]]) -> dict[str, Any]:
    """The endpoint's traffic from its variants': counts add up, and each
    latency is the worst variant's (percentiles cannot be added)."""
    requests = sum(t["requests"] for t in per_variant)
    errors_4xx = sum(t["errors_4xx"] for t in per_variant)
    errors_5xx = sum(t["errors_5xx"] for t in per_variant)

    def worst(key: str) -> float | None:
        found = [t[key] for t in per_variant if t.get(key) is not None]
        return max(found) if found else None

    return traffic_summary(
        requests,
        errors_4xx,
        errors_5xx,
        worst("latency_p50_ms"),
        worst("latency_p99_ms"),
    )

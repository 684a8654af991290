"""A/B and shadow rollouts: `deploy --variant`, `promote`, variants in `status`.

`monitor --variant NAME` checks one variant's capture, measured with the
bundle of the version it serves against the last model-quality baseline's
constraints (those of the last model `baseline` measured, not necessarily
this version's); `status` shows its last outcome beside the variant's
traffic, so two versions compare on error rate, latency and, once labels
come, model quality.

SageMaker rolls a new model version out as a second production variant of
the live endpoint, taking a share of traffic set by the variants' weights
(an A/B test), or as a shadow variant that gets a copy of live traffic and
answers no client (a shadow test). Once the new version proves itself,
`promote` gives it all the traffic and retires the others.

The endpoint's first version is its first variant (``AllTraffic``); every
variant captures under its own name, so each can be monitored apart.
"""

from __future__ import annotations

from typing import Any

from orchestration import lifecycle, specs
from orchestration.backends.base import VariantInfo, VariantSpec, check_name
from orchestration.times import stamp

FIRST_VARIANT = "AllTraffic"


def deploy_variant(
    p: lifecycle.Project,
    variant: str,
    version: int | None = None,
    weight: float = 1.0,
    shadow: bool = False,
) -> list[VariantInfo]:
    """Put `version` (default: the latest approved) behind the endpoint as
    `variant`, with `weight` of its traffic (or, as a shadow, a copy of it)."""
    check_name(variant, "variant")
    with p.exclusive("deploy"):
        endpoint = p.need("endpoint", "deploy")
        chosen = lifecycle.deployable(p, version)
        group = p.config.registry.model_group
        model = lifecycle.unique_name(f"{group}-v{chosen.version}-{variant}", stamp())
        serving = specs.endpoint(
            p.config,
            model,
            chosen.model_artifact,
            chosen.image or p.backend.ensure_image(),
            endpoint["capture"],
        )
        spec = VariantSpec(
            variant_name=variant,
            model_name=model,
            model_artifact=chosen.model_artifact,
            image=serving.image,
            weight=weight,
            shadow=shadow,
            instance_type=serving.instance_type,
            instance_count=serving.instance_count,
            environment=dict(serving.environment),
        )
        kind = "shadow variant" if shadow else f"variant with weight {weight:g}"
        p.say(
            f"adding {group} version {chosen.version} to {endpoint['name']} as {kind} {variant}"
        )
        variants = p.backend.deploy_variant(endpoint["name"], spec)
        known = dict(endpoint.get("variants") or _first(endpoint))
        known[variant] = {"version": chosen.version, "shadow": shadow}
        endpoint["variants"] = known
        p.save(endpoint=endpoint)
    _say_variants(p, variants, known)
    return variants


def promote(p: lifecycle.Project, variant: str) -> list[VariantInfo]:
    """All traffic to `variant`, the other variants retired.

    A shadow variant is promoted as SageMaker's shadow tests do: its version
    replaces the endpoint's variants in a whole update (a new AllTraffic).
    """
    endpoint = p.need("endpoint", "deploy")
    known = dict(endpoint.get("variants") or _first(endpoint))
    if variant not in known:
        raise lifecycle.LifecycleError(
            f"{endpoint['name']} has no variant {variant!r}: its variants are {', '.join(known)}"
        )
    if known[variant].get("shadow"):
        version = known[variant]["version"]
        p.say(
            f"promoting shadow {variant}: version {version} replaces every variant of {endpoint['name']}"
        )
        lifecycle.deploy(p, version)
        return p.backend.describe_variants(endpoint["name"])
    with p.exclusive("deploy"):
        endpoint = p.need("endpoint", "deploy")
        known = dict(endpoint.get("variants") or _first(endpoint))
        name = endpoint["name"]
        p.backend.set_variant_weights(name, {variant: 1.0})
        others = [v for v in known if v != variant]
        variants = (
            p.backend.remove_variants(name, others)
            if others
            else p.backend.describe_variants(name)
        )
        endpoint["version"] = known[variant]["version"]
        endpoint["variants"] = {variant: known[variant]}
        p.save(endpoint=endpoint)
    p.say(
        f"promoted {variant} (version {endpoint['version']}): all of {name}'s traffic"
        + (f"; retired {', '.join(others)}" if others else "")
    )
    return variants


def status(p: lifecycle.Project) -> list[dict[str, Any]]:
    """The endpoint's variants side by side: weight, version and traffic."""
    endpoint = p.need("endpoint", "deploy")
    known = endpoint.get("variants") or _first(endpoint)
    monitored = p.state.get("variant_monitors", {})
    rows = []
    for info in p.backend.describe_variants(endpoint["name"]):
        row = info.to_dict()
        row["version"] = (known.get(info.variant_name) or {}).get("version")
        # The last `monitor --variant` of it: drift and model quality, if any.
        last = monitored.get(info.variant_name) or {}
        quality = last.get("quality") or {}
        row["monitor"] = (
            {
                "window": last.get("window"),
                "violations": last.get("violations"),
                "quality_status": quality.get("status"),
                "metrics": quality.get("metrics") or {},
            }
            if last
            else None
        )
        rows.append(row)
    return rows


def _first(endpoint: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {FIRST_VARIANT: {"version": endpoint.get("version"), "shadow": False}}


def _say_variants(
    p: lifecycle.Project, variants: list[VariantInfo], known: dict[str, Any]
) -> None:
    for info in variants:
        version = (known.get(info.variant_name) or {}).get("version")
        role = "shadow" if info.shadow else f"weight {info.weight:g}"
        p.say(f"  {info.variant_name}: version {version}, {role}, {info.status}")

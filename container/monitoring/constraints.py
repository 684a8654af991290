"""constraints.json: suggest it from a baseline profile, and read it back.

Suggestions match what AWS's analyzer writes (inferred type, completeness,
is_non_negative, domains for low-cardinality text, and a monitoring_config
with thresholds 1.0/1.0/0.1/0.1 and the Robust comparison). Users edit these
files, so the reader is forgiving where AWS is (version 0 or 0.0, per-feature
overrides spelled monitoringConfigOverrides or monitoring_config_overrides)
and strict, with a message naming the field, where a value cannot mean anything.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from container.monitoring.errors import MonitoringInputError
from container.monitoring.profile import FRACTIONAL, INTEGRAL, STRING
from container.monitoring.statistics import KNOWN_TYPES, DatasetProfile

# A text column gets a domain when it has few distinct values, both in absolute
# terms and relative to its size (an id column of a tiny dataset gets none).
MAX_DOMAIN_VALUES = 20
MAX_DOMAIN_RATIO = 0.1

COMPARISON_METHODS = ("Simple", "Robust")
CATEGORICAL_DRIFT_METHODS = ("LInfinity", "ChiSquared")
OVERRIDE_KEYS = ("monitoringConfigOverrides", "monitoring_config_overrides")


@dataclass(frozen=True)
class MonitoringConfig:
    """monitoring_config, with one feature's overrides applied where it has any."""

    evaluate_constraints: bool = True
    emit_metrics: bool = True
    datatype_check_threshold: float = 1.0
    domain_content_threshold: float = 1.0
    perform_comparison: bool = True
    comparison_threshold: float = 0.1
    comparison_method: str = "Robust"
    categorical_comparison_threshold: float = 0.1
    categorical_drift_method: str = "LInfinity"

    def to_dict(self) -> dict[str, Any]:
        return {
            "evaluate_constraints": _enabled(self.evaluate_constraints),
            "emit_metrics": _enabled(self.emit_metrics),
            "datatype_check_threshold": self.datatype_check_threshold,
            "domain_content_threshold": self.domain_content_threshold,
            "distribution_constraints": {
                "perform_comparison": _enabled(self.perform_comparison),
                "comparison_threshold": self.comparison_threshold,
                "comparison_method": self.comparison_method,
                "categorical_comparison_threshold": (
                    self.categorical_comparison_threshold
                ),
                "categorical_drift_method": self.categorical_drift_method,
            },
        }


@dataclass(frozen=True)
class FeatureConstraints:
    name: str
    inferred_type: str
    completeness: float | None = None
    is_non_negative: bool | None = None
    domains: tuple[str, ...] | None = None
    config: MonitoringConfig = field(default_factory=MonitoringConfig)


@dataclass(frozen=True)
class ConstraintsFile:
    features: dict[str, FeatureConstraints]
    config: MonitoringConfig


def _enabled(flag: bool) -> str:
    return "Enabled" if flag else "Disabled"


# --- suggesting ---------------------------------------------------------------
def suggest_constraints(
    profile: DatasetProfile, categorical_drift_method: str = "LInfinity"
) -> dict[str, Any]:
    """The constraints.json AWS's analyzer would suggest for this profile."""
    method = check_categorical_drift_method(categorical_drift_method)
    features = []
    for name, column in profile.columns.items():
        entry: dict[str, Any] = {"name": name, "inferred_type": column.inferred_type}
        if profile.item_count:
            entry["completeness"] = column.num_present / profile.item_count
        kind = column.inferred_type
        if kind in (INTEGRAL, FRACTIONAL) and column.numeric_count:
            entry["num_constraints"] = {"is_non_negative": bool(column.minimum >= 0)}
        elif kind == STRING:
            distinct = len(column.value_counts)
            if distinct <= MAX_DOMAIN_VALUES and distinct <= max(
                1, MAX_DOMAIN_RATIO * column.num_present
            ):
                entry["string_constraints"] = {
                    "domains": sorted(str(v) for v in column.value_counts)
                }
        features.append(entry)
    config = MonitoringConfig(categorical_drift_method=method)
    return {"version": 0.0, "features": features, "monitoring_config": config.to_dict()}


def check_categorical_drift_method(value: str | None) -> str:
    if value is None or value == "":
        return "LInfinity"
    for method in CATEGORICAL_DRIFT_METHODS:
        if value.lower() == method.lower():
            return method
    raise MonitoringInputError(
        f"categorical_drift_method={value!r} is not supported: "
        f"use {' or '.join(CATEGORICAL_DRIFT_METHODS)}"
    )


# --- reading ------------------------------------------------------------------
def parse_constraints(doc: Any, source: str = "constraints.json") -> ConstraintsFile:
    if not isinstance(doc, dict) or not isinstance(doc.get("features"), list):
        raise MonitoringInputError(
            f"{source} is not a SageMaker constraints file: "
            "expected an object with a 'features' list and a 'monitoring_config'"
        )
    version = doc.get("version", 0)
    try:
        version_ok = float(version) == 0.0
    except (TypeError, ValueError):
        version_ok = False
    if not version_ok:
        raise MonitoringInputError(
            f"{source} has version {version!r}; this analyzer reads version 0.0 (or 0)"
        )
    config = _apply_config(
        MonitoringConfig(),
        doc.get("monitoring_config") or {},
        f"{source}: monitoring_config",
    )
    features = {}
    for index, entry in enumerate(doc["features"]):
        if not isinstance(entry, dict) or not entry.get("name"):
            raise MonitoringInputError(f"{source}: feature #{index} has no 'name'")
        feature = _parse_feature(entry, config, source)
        features[feature.name] = feature
    return ConstraintsFile(features=features, config=config)


def _parse_feature(
    entry: dict[str, Any], config: MonitoringConfig, source: str
) -> FeatureConstraints:
    name = str(entry["name"])
    where = f"{source}: feature {name!r}"
    kind = entry.get("inferred_type", "Unknown")
    if kind not in KNOWN_TYPES:
        raise MonitoringInputError(
            f"{where} has inferred_type {kind!r}; "
            f"expected one of {', '.join(KNOWN_TYPES)}"
        )
    completeness = entry.get("completeness")
    if completeness is not None:
        completeness = _fraction(completeness, f"{where} completeness")
    overrides: dict[str, Any] = {}
    for key in OVERRIDE_KEYS:
        if isinstance(entry.get(key), dict):
            overrides.update(entry[key])
    domains = (entry.get("string_constraints") or {}).get("domains")
    return FeatureConstraints(
        name=name,
        inferred_type=kind,
        completeness=completeness,
        is_non_negative=(entry.get("num_constraints") or {}).get("is_non_negative"),
        domains=tuple(str(d) for d in domains) if isinstance(domains, list) else None,
        config=_apply_config(config, overrides, f"{where} overrides"),
    )


def _apply_config(
    base: MonitoringConfig, raw: dict[str, Any], where: str
) -> MonitoringConfig:
    """Overlay a monitoring_config (or a feature's overrides) on `base`.

    Overrides may be flat or nest distribution settings under
    distribution_constraints, as monitoring_config does.
    """
    flat = dict(raw)
    flat.update(flat.pop("distribution_constraints", None) or {})
    changes: dict[str, Any] = {}
    for key in ("evaluate_constraints", "emit_metrics", "perform_comparison"):
        if key in flat:
            changes[key] = _flag(flat[key], f"{where}.{key}")
    for key in (
        "datatype_check_threshold",
        "domain_content_threshold",
        "comparison_threshold",
        "categorical_comparison_threshold",
    ):
        if key in flat:
            changes[key] = _fraction(flat[key], f"{where}.{key}")
    if "comparison_method" in flat:
        changes["comparison_method"] = _choice(
            flat["comparison_method"], COMPARISON_METHODS, f"{where}.comparison_method"
        )
    if "categorical_drift_method" in flat:
        changes["categorical_drift_method"] = _choice(
            flat["categorical_drift_method"],
            CATEGORICAL_DRIFT_METHODS,
            f"{where}.categorical_drift_method",
        )
    return replace(base, **changes)


def _flag(value: Any, where: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("enabled", "disabled"):
        return value.lower() == "enabled"
    raise MonitoringInputError(
        f"{where} is {value!r}; expected 'Enabled' or 'Disabled'"
    )


def _fraction(value: Any, where: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = -1.0
    if not 0.0 <= number <= 1.0 or isinstance(value, bool):
        raise MonitoringInputError(
            f"{where} is {value!r}; expected a number from 0 to 1"
        )
    return number


def _choice(value: Any, allowed: tuple[str, ...], where: str) -> str:
    for option in allowed:
        if isinstance(value, str) and value.lower() == option.lower():
            return option
    raise MonitoringInputError(
        f"{where} is {value!r}; expected one of {', '.join(allowed)}"
    )

"""The feature schema a model bundle carries.

Names, order, kinds, categories, target and classes.

Training infers it and writes it into model.json; serving uses it to name,
order and type incoming columns; monitoring uses it to name headerless data.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

FeatureKind = Literal["numeric", "categorical"]
ProblemType = Literal["classification", "regression"]


@dataclass(frozen=True)
class Feature:
    name: str
    kind: FeatureKind
    # Categories seen in training (categorical features only), sorted as strings.
    categories: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "kind": self.kind}
        if self.kind == "categorical":
            out["categories"] = list(self.categories)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Feature:
        kind = data.get("kind")
        if kind not in ("numeric", "categorical"):
            raise ValueError(f"feature {data.get('name')!r} has unknown kind {kind!r}")
        return cls(
            name=str(data["name"]),
            kind=kind,
            categories=tuple(str(c) for c in data.get("categories", ())),
        )


@dataclass(frozen=True)
class Schema:
    features: tuple[Feature, ...]
    target: str
    problem_type: ProblemType
    # Class labels in the order predict_proba returns them (classification only).
    classes: tuple[Any, ...] = field(default_factory=tuple)

    @property
    def feature_names(self) -> list[str]:
        return [f.name for f in self.features]

    @property
    def numeric_features(self) -> list[str]:
        return [f.name for f in self.features if f.kind == "numeric"]

    @property
    def categorical_features(self) -> list[str]:
        return [f.name for f in self.features if f.kind == "categorical"]

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["features"] = [f.to_dict() for f in self.features]
        out["classes"] = list(self.classes)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Schema:
        problem_type = data.get("problem_type")
        if problem_type not in ("classification", "regression"):
            raise ValueError(f"unknown problem_type {problem_type!r}")
        return cls(
            features=tuple(Feature.from_dict(f) for f in data["features"]),
            target=str(data["target"]),
            problem_type=problem_type,
            classes=tuple(data.get("classes") or ()),
        )

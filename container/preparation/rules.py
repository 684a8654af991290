"""The declared raw schema: columns, types, ranges, allowed values, patterns.

A schema arrives as a plain mapping (read from YAML by the orchestration, or
from the processing job's JSON settings inside the image); `schema_from_dict`
checks it and names the offending key on any error.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from container.contract.errors import ByocError

TYPES = ("string", "integer", "float", "date")


class DataValidationError(ByocError):
    """The raw data does not match its declared schema well enough to use."""

    code = "invalid_data"


@dataclass(frozen=True)
class ColumnRule:
    name: str
    type: str
    nullable: bool = False
    min: float | None = None
    max: float | None = None
    allowed: tuple[str, ...] = ()
    pattern: str | None = None
    rename: str | None = None
    recode: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RawSchema:
    columns: tuple[ColumnRule, ...]
    target: str
    features: tuple[str, ...]
    id_name: str
    id_from: tuple[str, ...]
    id_separator: str = "-"
    require_any: tuple[str, ...] = ()
    # No column identifies a record: its id is its row number in the raw file
    # (1 for the first data row), stable while the file only grows at its end.
    id_from_row_number: bool = False

    def to_dict(self) -> dict[str, Any]:
        """The summary recorded in the data manifest."""
        return {
            "id": self.id_name,
            "target": self.target,
            "features": list(self.features),
            "columns": {c.name: c.type for c in self.columns},
        }

    def to_declaration(self) -> dict[str, Any]:
        """The schema in its declared form: `schema_from_dict` reads it back."""
        columns = {}
        for rule in self.columns:
            declared = {k: v for k, v in asdict(rule).items() if k != "name"}
            declared["allowed"] = list(rule.allowed)
            columns[rule.name] = declared
        return {
            "columns": columns,
            "target": self.target,
            "features": list(self.features),
            "id": self._id_declaration(),
            "require_any": list(self.require_any),
        }

    def _id_declaration(self) -> dict[str, Any]:
        if self.id_from_row_number:
            return {"name": self.id_name, "row_number": True}
        return {
            "name": self.id_name,
            "from": list(self.id_from),
            "separator": self.id_separator,
        }


def schema_from_dict(data: Any, source: str) -> RawSchema:
    """A checked `RawSchema` from its declaration; errors start with `source`."""
    if not isinstance(data, dict):
        raise DataValidationError(f"{source}: expected a mapping of schema keys")
    columns = []
    for name, rule in (data.get("columns") or {}).items():
        if not isinstance(rule, dict) or rule.get("type") not in TYPES:
            raise DataValidationError(
                f"{source}: columns.{name}.type must be one of {', '.join(TYPES)}"
            )
        unknown = set(rule) - (set(ColumnRule.__dataclass_fields__) - {"name"})
        if unknown:
            raise DataValidationError(
                f"{source}: columns.{name} has unknown key {sorted(unknown)[0]!r}"
            )
        columns.append(
            ColumnRule(
                name=str(name),
                type=rule["type"],
                nullable=bool(rule.get("nullable", False)),
                min=rule.get("min"),
                max=rule.get("max"),
                allowed=tuple(str(v) for v in rule.get("allowed") or ()),
                pattern=rule.get("pattern"),
                rename=rule.get("rename"),
                recode={str(k): str(v) for k, v in (rule.get("recode") or {}).items()},
            )
        )
    id_spec = data.get("id") or {}
    for key in ("target", "features"):
        if not data.get(key):
            raise DataValidationError(f"{source}: {key} is required")
    row_number = id_spec.get("row_number") is True
    if not id_spec.get("name") or bool(id_spec.get("from")) == row_number:
        raise DataValidationError(
            f"{source}: id needs a name and either from (the columns that make it) or row_number: true"
        )
    schema = RawSchema(
        columns=tuple(columns),
        target=str(data["target"]),
        features=tuple(str(f) for f in data["features"]),
        id_name=str(id_spec["name"]),
        id_from=tuple(str(c) for c in id_spec.get("from") or ()),
        id_separator=str(id_spec.get("separator", "-")),
        require_any=tuple(str(c) for c in data.get("require_any") or ()),
        id_from_row_number=row_number,
    )
    produced = {c.rename or c.name for c in schema.columns}
    missing = [c for c in (schema.target, *schema.features) if c not in produced]
    if missing:
        raise DataValidationError(
            f"{source}: target/features {missing} are not produced by any column (a column's name or its `rename`)"
        )
    return schema

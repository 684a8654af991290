"""Labels from a SageMaker Ground Truth output manifest, joined on the record id."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from container.preparation.rules import DataValidationError, RawSchema


@dataclass(frozen=True)
class AnnotationSettings:
    manifest: Path
    label_attribute: str  # Ground Truth's label attribute name, e.g. species-label
    id_field: str = "source"  # the manifest field holding the record id
    min_confidence: float = 0.0
    source: str | None = None  # how the data manifest names it (a repo path, an S3 URI)


def read_ground_truth(config: AnnotationSettings) -> pd.DataFrame:
    """A Ground Truth output manifest (JSON Lines) → id, label, confidence."""
    path = config.manifest
    if not path.is_file():
        raise DataValidationError(f"annotations manifest {path} does not exist")
    rows = []
    meta_key = f"{config.label_attribute}-metadata"
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataValidationError(
                f"{path}:{number}: not valid JSON: {exc}"
            ) from None
        meta = item.get(meta_key) or {}
        if config.id_field not in item or "class-name" not in meta:
            raise DataValidationError(
                f"{path}:{number}: expected a Ground Truth record with {config.id_field!r} and {meta_key!r}.class-name"
            )
        rows.append(
            {
                "id": str(item[config.id_field]),
                "label": str(meta["class-name"]),
                "confidence": float(meta.get("confidence", 1.0)),
            }
        )
    return pd.DataFrame(rows, columns=["id", "label", "confidence"])


def apply_annotations(
    table: pd.DataFrame,
    labels: pd.DataFrame,
    schema: RawSchema,
    config: AnnotationSettings,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Confident human labels fill or replace the target; returns counts too."""
    confident = labels[labels["confidence"] >= config.min_confidence]
    confident = confident.drop_duplicates("id", keep="last").set_index("id")["label"]
    ids = table[schema.id_name]
    matched = ids.isin(confident.index)
    new = ids.map(confident)
    current = table[schema.target]
    changed = matched & current.notna() & (current.astype(str) != new.astype(str))
    filled = matched & current.isna()
    out = table.copy()
    out.loc[matched, schema.target] = new[matched]
    summary = {
        "manifest": config.source or str(config.manifest),
        "records": int(len(labels)),
        "below_min_confidence": int(
            (labels["confidence"] < config.min_confidence).sum()
        ),
        "joined": int(matched.sum()),
        "agreed": int((matched & ~changed & ~filled).sum()),
        "relabelled": int(changed.sum()),
        "filled": int(filled.sum()),
        "unknown_ids": sorted(set(confident.index) - set(ids)),
    }
    return out, summary

"""The kept rows, renamed and recoded: id first, then target, then features."""

from __future__ import annotations

import pandas as pd

from container.preparation.rules import RawSchema


def record_ids(raw: pd.DataFrame, schema: RawSchema) -> pd.Series:
    if schema.id_from_row_number:
        # The raw frame keeps its row labels 0..n-1 through validation.
        return pd.Series(raw.index + 1, index=raw.index).astype(str)
    parts = [raw[c].astype(str) for c in schema.id_from]
    ids = parts[0]
    for part in parts[1:]:
        ids = ids + schema.id_separator + part
    return ids


def clean(raw: pd.DataFrame, schema: RawSchema) -> pd.DataFrame:
    """Rename and recode the declared columns; id first, then target, then features."""
    out = pd.DataFrame({schema.id_name: record_ids(raw, schema)}, index=raw.index)
    for rule in schema.columns:
        name = rule.rename or rule.name
        if name not in (schema.target, *schema.features):
            continue
        # Numbers keep their raw text ("181", not "181.0"), so an integral column
        # stays Integral for the baseline and the monitor alike.
        values = raw[rule.name]
        if rule.recode:
            values = values.map(
                lambda v, m=rule.recode: m.get(str(v), v) if pd.notna(v) else v
            )
        out[name] = values
    return out[[schema.id_name, schema.target, *schema.features]]

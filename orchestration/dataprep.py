"""`prepare`: raw CSV → validated → cleaned → stratified splits + manifest.

The raw file is checked against a declared schema (config/*.schema.yaml:
columns, types, ranges, allowed values, patterns). Rows that break a rule are
set aside in ``rejected.csv`` with the reason, and every failed check is listed
in ``validation_report.json``; too many rejects, or a missing column, stop the
step. Labels may come from a SageMaker Ground Truth output manifest, joined on
the record id. The kept rows are renamed, recoded, reduced to target +
features and split train/validation/test, stratified on the target, with a
fixed seed, so a rerun gives byte-identical files. ``manifest.json`` records
each file's sha256 and row count for lineage.

Everything is written to a temporary folder first and moved into place only
when complete, so a failed run never leaves half-written splits.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from container.contract.errors import ByocError
from orchestration.config import AnnotationsConfig, DataConfig

TYPES = ("string", "integer", "float", "date")
SPLITS = ("train", "validation", "test")
MANIFEST_FILE = "manifest.json"
REPORT_FILE = "validation_report.json"
REJECTED_FILE = "rejected.csv"
BASELINE_DIR = "baseline"  # features only, with header: the baseline job's input


class DataValidationError(ByocError):
    """The raw data does not match its declared schema well enough to use."""

    code = "invalid_data"


# --- the declared raw schema ---------------------------------------------------
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

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id_name,
            "target": self.target,
            "features": list(self.features),
            "columns": {c.name: c.type for c in self.columns},
        }


def load_raw_schema(path: Path) -> RawSchema:
    """Read a raw-data schema file, naming the offending key on any error."""
    if not Path(path).is_file():
        raise DataValidationError(f"schema file {path} does not exist")
    try:
        data = yaml.safe_load(Path(path).read_text()) or {}
    except yaml.YAMLError as exc:
        raise DataValidationError(f"{path}: not valid YAML: {exc}") from None
    columns = []
    for name, rule in (data.get("columns") or {}).items():
        if not isinstance(rule, dict) or rule.get("type") not in TYPES:
            raise DataValidationError(
                f"{path}: columns.{name}.type must be one of {', '.join(TYPES)}"
            )
        unknown = set(rule) - (set(ColumnRule.__dataclass_fields__) - {"name"})
        if unknown:
            raise DataValidationError(
                f"{path}: columns.{name} has unknown key {sorted(unknown)[0]!r}"
            )
        columns.append(
            ColumnRule(
                name=str(name),
                type=rule["type"],
                nullable=bool(rule.get("nullable", False)),
                min=rule.get("min"),
                max=rule.get("max"),
                allowed=tuple(str(v) for v in rule.get("allowed", ())),
                pattern=rule.get("pattern"),
                rename=rule.get("rename"),
                recode={str(k): str(v) for k, v in (rule.get("recode") or {}).items()},
            )
        )
    id_spec = data.get("id") or {}
    for key in ("target", "features"):
        if not data.get(key):
            raise DataValidationError(f"{path}: {key} is required")
    if not id_spec.get("name") or not id_spec.get("from"):
        raise DataValidationError(f"{path}: id.name and id.from are required")
    schema = RawSchema(
        columns=tuple(columns),
        target=str(data["target"]),
        features=tuple(str(f) for f in data["features"]),
        id_name=str(id_spec["name"]),
        id_from=tuple(str(c) for c in id_spec["from"]),
        id_separator=str(id_spec.get("separator", "-")),
        require_any=tuple(str(c) for c in data.get("require_any", ())),
    )
    produced = {c.rename or c.name for c in schema.columns}
    missing = [c for c in (schema.target, *schema.features) if c not in produced]
    if missing:
        raise DataValidationError(
            f"{path}: target/features {missing} are not produced by any column (a column's name or its `rename`)"
        )
    return schema


# --- validation ----------------------------------------------------------------------
@dataclass
class ValidationReport:
    rows: int
    missing_columns: list[str] = field(default_factory=list)
    extra_columns: list[str] = field(default_factory=list)
    # column -> check -> number of failing rows, plus a few examples
    failures: dict[str, dict[str, Any]] = field(default_factory=dict)
    rejected_rows: int = 0
    dropped_no_measurements: int = 0
    annotations: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.missing_columns

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "missing_columns": self.missing_columns,
            "extra_columns": self.extra_columns,
            "failures": self.failures,
            "rejected_rows": self.rejected_rows,
            "dropped_no_measurements": self.dropped_no_measurements,
            "annotations": self.annotations,
        }


def _record_failure(
    report: ValidationReport, column: str, check: str, bad: pd.Series, values: pd.Series
) -> None:
    count = int(bad.sum())
    if count == 0:
        return
    examples = values[bad].astype(str).head(3).tolist()
    report.failures.setdefault(column, {})[check] = {
        "rows": count,
        "examples": examples,
    }


def validate(
    raw: pd.DataFrame, schema: RawSchema
) -> tuple[ValidationReport, pd.Series]:
    """Check every rule; return the report and each row's reason ('' if fine)."""
    report = ValidationReport(rows=len(raw))
    declared = [c.name for c in schema.columns]
    report.missing_columns = [c for c in declared if c not in raw.columns]
    report.extra_columns = [c for c in raw.columns if c not in declared]
    reasons = pd.Series("", index=raw.index, dtype=object)
    if report.missing_columns:
        return report, reasons

    def flag(column: str, check: str, bad: pd.Series) -> None:
        nonlocal reasons
        _record_failure(report, column, check, bad, raw[column])
        reasons = reasons.where(~bad, reasons + f"{column}: {check}; ")

    for rule in schema.columns:
        values = raw[rule.name]
        present = values.notna() & (values.astype(str).str.strip() != "")
        if not rule.nullable:
            flag(rule.name, "missing value", ~present)
        if rule.type in ("integer", "float"):
            numbers = pd.to_numeric(values, errors="coerce")
            flag(rule.name, f"not a {rule.type}", present & numbers.isna())
            if rule.type == "integer":
                flag(
                    rule.name,
                    "not a whole number",
                    numbers.notna() & (numbers % 1 != 0),
                )
            if rule.min is not None:
                flag(rule.name, f"below minimum {rule.min}", numbers < rule.min)
            if rule.max is not None:
                flag(rule.name, f"above maximum {rule.max}", numbers > rule.max)
        elif rule.type == "date":
            dates = pd.to_datetime(values, errors="coerce", format="%Y-%m-%d")
            flag(rule.name, "not a date (YYYY-MM-DD)", present & dates.isna())
        if rule.allowed:
            outside = present & ~values.astype(str).isin(rule.allowed)
            flag(rule.name, f"not one of {list(rule.allowed)}", outside)
        if rule.pattern:
            pattern = re.compile(rule.pattern)
            mismatch = present & ~values.astype(str).str.contains(pattern, regex=True)
            flag(rule.name, f"does not match {rule.pattern}", mismatch)
    report.rejected_rows = int((reasons != "").sum())
    return report, reasons


# --- cleaning, annotations, features ----------------------------------------
def record_ids(raw: pd.DataFrame, schema: RawSchema) -> pd.Series:
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


def read_ground_truth(config: AnnotationsConfig) -> pd.DataFrame:
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
    config: AnnotationsConfig,
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
        "manifest": _relative(config.manifest),
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


# --- splitting and writing ---------------------------------------------------------
def stratified_split(
    table: pd.DataFrame, target: str, split_fractions: dict[str, float], seed: int
) -> dict[str, pd.DataFrame]:
    """Train/validation/test with each class in the same proportions, reproducibly."""
    from sklearn.model_selection import train_test_split

    counts = table[target].value_counts()
    rare = counts[counts < 3]
    if not rare.empty:
        raise DataValidationError(
            f"class(es) {sorted(rare.index.astype(str))} have fewer than 3 rows: a stratified train/validation/test split needs at least 3 per class"
        )
    test_size = split_fractions["test"]
    rest, test = train_test_split(
        table, test_size=test_size, stratify=table[target], random_state=seed
    )
    val_share = split_fractions["validation"] / (1 - test_size)
    if split_fractions["validation"] <= 0:
        return {"train": rest, "validation": rest.iloc[0:0], "test": test}
    train, validation = train_test_split(
        rest, test_size=val_share, stratify=rest[target], random_state=seed
    )
    return {"train": train, "validation": validation, "test": test}


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class PreparedData:
    folder: Path
    manifest: dict[str, Any]

    def split_dir(self, name: str) -> Path:
        return self.folder / name

    @property
    def data_hashes(self) -> dict[str, str]:
        return {k: v["sha256"] for k, v in self.manifest["files"].items()}


def prepare(config: DataConfig) -> PreparedData:
    """Run the whole data pipeline; returns where the splits and manifest are."""
    schema = load_raw_schema(config.schema)
    if not config.raw.is_file():
        raise DataValidationError(f"raw data file {config.raw} does not exist")
    raw = pd.read_csv(config.raw, dtype=str, keep_default_na=True)
    report, reasons = validate(raw, schema)
    if report.missing_columns:
        raise DataValidationError(
            f"{config.raw} is missing declared column(s) {report.missing_columns}; it has {list(raw.columns)}"
        )
    rejected_share = report.rejected_rows / max(len(raw), 1)
    if rejected_share > config.max_rejected_fraction:
        worst = _worst_failures(report)
        raise DataValidationError(
            f"{report.rejected_rows} of {len(raw)} rows ({rejected_share:.0%}) fail the schema, more than max_rejected_fraction {config.max_rejected_fraction:.0%}; most common: {worst}"
        )
    kept = raw[reasons == ""]
    table = clean(kept, schema)
    if config.annotations is not None:
        labels = read_ground_truth(config.annotations)
        table, report.annotations = apply_annotations(
            table, labels, schema, config.annotations
        )
    measured = (
        table[list(schema.require_any)].notna().any(axis=1)
        if schema.require_any
        else True
    )
    report.dropped_no_measurements = int((~measured).sum()) if schema.require_any else 0
    table = table[measured & table[schema.target].notna()]
    fractions = {s: getattr(config.split, s) for s in SPLITS}
    splits = stratified_split(table, schema.target, fractions, config.split.seed)
    rejected = raw[reasons != ""].assign(
        rejection_reason=reasons[reasons != ""].str.rstrip("; ")
    )
    return _write(config, schema, splits, report, rejected, fractions)


def _worst_failures(report: ValidationReport) -> str:
    items = [
        (detail["rows"], f"{column}: {check}")
        for column, checks in report.failures.items()
        for check, detail in checks.items()
    ]
    return "; ".join(
        f"{text} ({n} rows)" for n, text in sorted(items, reverse=True)[:3]
    )


def _write(
    config: DataConfig,
    schema: RawSchema,
    splits: dict[str, pd.DataFrame],
    report: ValidationReport,
    rejected: pd.DataFrame,
    fractions: dict[str, float],
) -> PreparedData:
    target = Path(config.processed)
    target.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".prepare-", dir=target))
    try:
        files: dict[str, Any] = {}
        for name, frame in splits.items():
            # One folder per split: a SageMaker channel is a folder (an S3 prefix).
            path = staging / name / f"{name}.csv"
            path.parent.mkdir()
            frame.drop(columns=[schema.id_name]).to_csv(
                path, index=False, lineterminator="\n"
            )
            files[name] = _file_entry(path, staging, frame, schema)
        ids = staging / "ids.csv"
        pd.concat(
            [f[[schema.id_name]].assign(split=n) for n, f in splits.items()]
        ).to_csv(ids, index=False, lineterminator="\n")
        baseline = staging / BASELINE_DIR / "baseline.csv"
        baseline.parent.mkdir()
        splits["train"][list(schema.features)].to_csv(
            baseline, index=False, lineterminator="\n"
        )
        files[BASELINE_DIR] = {
            "path": f"{BASELINE_DIR}/baseline.csv",
            "sha256": sha256_file(baseline),
            "rows": len(splits["train"]),
        }
        rejected.to_csv(staging / REJECTED_FILE, index=False, lineterminator="\n")
        (staging / REPORT_FILE).write_text(
            json.dumps(report.to_dict(), indent=2) + "\n"
        )
        manifest = {
            "raw": {
                "path": _relative(config.raw),
                "sha256": sha256_file(config.raw),
                "rows": report.rows,
            },
            "schema": schema.to_dict(),
            "split": {
                **fractions,
                "seed": config.split.seed,
                "stratify": schema.target,
            },
            "classes": {
                n: f[schema.target].value_counts().sort_index().to_dict()
                for n, f in splits.items()
            },
            "files": files,
            "rejected_rows": report.rejected_rows,
            "annotations": report.annotations,
        }
        (staging / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2) + "\n")
        _swap_into_place(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return PreparedData(folder=target, manifest=manifest)


def _file_entry(path: Path, root: Path, frame: pd.DataFrame, schema: RawSchema) -> dict:
    return {
        "path": str(path.relative_to(root)),
        "sha256": sha256_file(path),
        "rows": len(frame),
        "columns": [schema.target, *schema.features],
    }


def _relative(path: Path) -> str:
    from orchestration.config import REPO_ROOT

    try:
        return str(Path(path).resolve().relative_to(REPO_ROOT))
    except ValueError:
        return str(path)


def _swap_into_place(staging: Path, target: Path) -> None:
    """Replace the previous outputs with the staged ones, entry by entry."""
    for entry in staging.iterdir():
        destination = target / entry.name
        if destination.is_dir():
            shutil.rmtree(destination)
        elif destination.exists():
            destination.unlink()
        entry.rename(destination)
    staging.rmdir()


def load_prepared(folder: Path) -> PreparedData:
    """The outputs of an earlier `prepare`, or a clear error if there are none."""
    path = Path(folder) / MANIFEST_FILE
    if not path.is_file():
        raise DataValidationError(
            f"no prepared data in {folder}: run `python -m orchestration prepare` first"
        )
    return PreparedData(folder=Path(folder), manifest=json.loads(path.read_text()))

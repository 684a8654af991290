"""Helpers for the monitoring tests: a synthetic tabular dataset, SageMaker
capture lines, and the two commands run in-process."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from container.monitoring import baseline, monitor

HOUR = "2026/04/18/00"
WINDOW = ("2026-04-18T00:00:00Z", "2026-04-18T01:00:00Z")


def make_frame(rows: int = 3000, seed: int = 7) -> pd.DataFrame:
    """Five features of every kind the analyzer infers: Integral, Fractional, String."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "age": np.clip(rng.normal(40, 10, rows).round(), 0, None).astype(int),
            "income": rng.lognormal(10, 0.5, rows).round(2),
            "score": rng.normal(0, 1, rows).round(4),
            "colour": rng.choice(["red", "green", "blue"], rows, p=[0.5, 0.3, 0.2]),
            "visits": rng.poisson(3, rows),
        }
    )


def csv_field(value) -> str:
    return "" if pd.isna(value) else str(value)


def capture_line(
    data: str,
    content_type: str = "text/csv",
    encoding: str = "CSV",
    when: str = "2026-04-18T00:30:00Z",
    output: str | None = None,
) -> str:
    record = {
        "captureData": {
            "endpointInput": {
                "observedContentType": content_type,
                "mode": "INPUT",
                "data": data,
                "encoding": encoding,
            },
        },
        "eventMetadata": {"eventId": "e", "inferenceTime": when},
        "eventVersion": "0",
    }
    if output is not None:
        record["captureData"]["endpointOutput"] = {
            "observedContentType": "text/csv",
            "mode": "OUTPUT",
            "data": output,
            "encoding": "CSV",
        }
    return json.dumps(record)


def csv_lines(frame: pd.DataFrame, **kwargs) -> list[str]:
    return [
        capture_line(",".join(csv_field(v) for v in row), **kwargs)
        for row in frame.itertuples(index=False)
    ]


def json_lines(frame: pd.DataFrame, **kwargs) -> list[str]:
    """One JSON object per request, missing values left out (as clients do)."""
    out = []
    for record in frame.to_dict(orient="records"):
        clean = {
            k: (v.item() if hasattr(v, "item") else v)
            for k, v in record.items()
            if not pd.isna(v)
        }
        out.append(
            capture_line(json.dumps(clean), "application/json", "JSON", **kwargs)
        )
    return out


def base64_line(payload: bytes, content_type: str) -> str:
    return capture_line(base64.b64encode(payload).decode(), content_type, "BASE64")


def write_capture(
    root: Path,
    lines: Iterable[str],
    hour: str = HOUR,
    name: str = "00-00-000-test.jsonl",
) -> Path:
    folder = root / "endpoint-a" / "AllTraffic" / hour
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text("".join(line + "\n" for line in lines))
    return path


@dataclass
class MonitorRun:
    code: int
    output: Path
    violations: list[dict]
    message: str

    def checks(self) -> set[tuple[str, str]]:
        return {
            (v["feature_name"], v["constraint_check_type"]) for v in self.violations
        }


@dataclass
class Baseline:
    statistics: Path
    constraints: Path

    def run_monitor(self, dataset: Path, output: Path, *extra: str) -> MonitorRun:
        code = monitor.main(
            [
                "--dataset",
                str(dataset),
                "--output",
                str(output),
                "--baseline-statistics",
                str(self.statistics),
                "--baseline-constraints",
                str(self.constraints),
                "--start-time",
                WINDOW[0],
                "--end-time",
                WINDOW[1],
                *extra,
            ]
        )
        violations_file = output / "constraint_violations.json"
        violations = (
            json.loads(violations_file.read_text())["violations"]
            if violations_file.exists()
            else []
        )
        from container.contract.paths import OptMl

        message_file = OptMl.from_env().message_file
        message = message_file.read_text() if message_file.exists() else ""
        return MonitorRun(code, output, violations, message)


def run_baseline(frame: pd.DataFrame, folder: Path, *extra: str) -> Baseline:
    folder.mkdir(parents=True, exist_ok=True)
    data = folder / "train.csv"
    frame.to_csv(data, index=False)
    output = folder / "baseline"
    assert baseline.main(["--dataset", str(data), "--output", str(output), *extra]) == 0
    return Baseline(output / "statistics.json", output / "constraints.json")

"""Helpers for the model-quality tests: capture records with ids and outputs,
ground-truth records, and the processing-job environment the SDK sets."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

WINDOW = ("2026-04-18T00:00:00Z", "2026-04-18T01:00:00Z")


def capture_record(
    event_id: str,
    output: str,
    output_type: str = "text/csv",
    inference_id: str | None = None,
    when: str = "2026-04-18T00:30:00Z",
    data: str = "1.0,2.0",
) -> str:
    meta = {"eventId": event_id, "inferenceTime": when}
    if inference_id is not None:
        meta["inferenceId"] = inference_id
    encoding = "JSON" if "json" in output_type else "CSV"
    return json.dumps(
        {
            "captureData": {
                "endpointInput": {
                    "observedContentType": "text/csv",
                    "mode": "INPUT",
                    "data": data,
                    "encoding": "CSV",
                },
                "endpointOutput": {
                    "observedContentType": output_type,
                    "mode": "OUTPUT",
                    "data": output,
                    "encoding": encoding,
                },
            },
            "eventMetadata": meta,
            "eventVersion": "0",
        }
    )


def label_record(event_id: str, label, encoding: str = "CSV") -> str:
    data = json.dumps(label) if encoding == "JSON" else str(label)
    return json.dumps(
        {
            "groundTruthData": {"data": data, "encoding": encoding},
            "eventMetadata": {"eventId": event_id},
            "eventVersion": "0",
        }
    )


def write_lines(folder: Path, lines: Iterable[str], name: str = "part.jsonl") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text("".join(line + "\n" for line in lines))
    return path


def capture_dir(root: Path, hour: str = "2026/04/18/00") -> Path:
    return root / "endpoint-a" / "AllTraffic" / hour


def binary_frame(rows: int, seed: int = 11) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    label = rng.integers(0, 2, rows)
    probability = np.clip(label * 0.4 + rng.uniform(0, 0.6, rows), 0, 1).round(4)
    return pd.DataFrame(
        {
            "label": label,
            "prediction": (probability >= 0.5).astype(int),
            "probability": probability,
            "x": rng.normal(size=rows).round(3),
        }
    )


def sdk_baseline_env(
    opt_ml, problem: str, dataset_format: dict, **attributes: str
) -> dict:
    """What ModelQualityMonitor.suggest_baseline puts in the job's Environment
    (its /opt/ml paths, under the test's /opt/ml)."""
    env = {
        "dataset_format": json.dumps(dataset_format),
        "output_path": str(opt_ml.processing_output_dir),
        "publish_cloudwatch_metrics": "Disabled",
        "dataset_source": str(opt_ml.baseline_dataset_dir),
        "analysis_type": "MODEL_QUALITY",
        "problem_type": problem,
    }
    env.update(attributes)
    return env

"""`IMAGE evaluate`: a trained bundle scored on a held-out split, as a processing job.

The pipeline's evaluation step. Inputs, under /opt/ml/processing/input:

- ``model/model.tar.gz``: what a training job wrote (the TrainingStep's
  S3ModelArtifacts);
- ``test/``: CSV files with a header row, holding the target and the features.

Output (ProcessingOutput ``evaluation``): /opt/ml/processing/evaluation/
evaluation.json, the pipeline's property file. A ConditionStep reads it with
JsonGet, e.g. ``metrics.validation.accuracy``:

    {"problem_type": "classification", "target": "species",
     "metrics": {"validation": {...}, "test": {...}},
     "training_job_name": "...", "rows": {"test": 52}}

`validation` is what training measured (the auto-approval metric's split);
`test` is measured here, on rows the training job never saw.
"""

from __future__ import annotations

import argparse
import math
import sys
import tarfile
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from container.contract.archives import extract
from container.contract.bundle import load_bundle
from container.contract.errors import ByocError
from container.contract.files import write_json
from container.contract.paths import OptMl
from container.jobs import Job, StopGuard, run
from container.training.channels import ChannelSpec, read_channel
from container.training.evaluation import evaluate
from container.training.features import coerce_features, prepare_target

EVALUATION_FILE = "evaluation.json"


class EvaluationInputError(ByocError):
    code = "invalid_evaluation_input"


def main(argv: Sequence[str] | None = None) -> int:
    argparse.ArgumentParser(
        prog="evaluate", description=__doc__.split("\n")[0]
    ).parse_args(argv)
    opt_ml = OptMl.from_env()
    job = Job(
        "evaluate",
        opt_ml,
        activity="evaluating the model",
        stopped_reason="stopped by SIGTERM (StopProcessingJob or the time limit); no evaluation was published",  # noqa: E501
        out_of_memory_reason="evaluate ran out of memory; use a larger processing instance",  # noqa: E501
        writes_message=True,
    )
    return run(job, lambda guard: _evaluate(opt_ml, guard))


def _evaluate(opt_ml: OptMl, guard: StopGuard) -> str:
    inputs = opt_ml.processing_input_dir
    with tempfile.TemporaryDirectory(prefix="evaluate-") as scratch:
        bundle = load_bundle(_extract_model(inputs / "model", Path(scratch)))
        document = assess(
            bundle,
            read_channel(
                ChannelSpec("test", inputs / "test", "text/csv"), header=True
            ).frame,
        )
    output = opt_ml.processing_dir / "evaluation" / EVALUATION_FILE
    output.parent.mkdir(parents=True, exist_ok=True)
    write_json(output, document)
    headline = ", ".join(
        f"{name}={value:.4g}"
        for name, value in list(document["metrics"]["test"].items())[:3]
    )
    return f"evaluated on {document['rows']['test']} test rows: {headline}"


def _extract_model(folder: Path, scratch: Path) -> Path:
    archives = sorted(folder.glob("*.tar.gz")) if folder.is_dir() else []
    if len(archives) != 1:
        raise EvaluationInputError(
            f"the 'model' input must hold one model.tar.gz (a training job's output); found {len(archives)} archive(s)"  # noqa: E501
        )
    try:
        with tarfile.open(archives[0], "r:gz") as tar:
            extract(tar, scratch)
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise EvaluationInputError(f"cannot read {archives[0].name}: {exc}") from None
    return scratch


def assess(bundle: Any, frame: Any) -> dict[str, Any]:
    """The evaluation document of `bundle` on `frame` (target + features)."""
    schema = bundle.schema
    missing = [
        c for c in (schema.target, *schema.feature_names) if c not in frame.columns
    ]
    if missing:
        raise EvaluationInputError(
            f"the 'test' input lacks column(s) {missing}; it needs the target and every feature the model was trained on"  # noqa: E501
        )
    labelled = frame[frame[schema.target].notna()]
    if labelled.empty:
        raise EvaluationInputError(
            f"the 'test' input has no row with a {schema.target!r} value"
        )
    kinds = {f.name: f.kind for f in schema.features}
    features = coerce_features(labelled, kinds, "test", tolerance=1.0)
    target = prepare_target(labelled[schema.target], schema.problem_type, "test")
    metrics, _ = evaluate(bundle.pipeline, features, target, schema.problem_type)
    manifest = bundle.manifest
    return {
        "problem_type": schema.problem_type,
        "target": schema.target,
        "metrics": {
            "validation": _finite(manifest.get("metrics", {}).get("validation", {})),
            "test": _finite(metrics),
        },
        "rows": {"test": int(len(labelled))},
        "training_job_name": manifest.get("training_job_name"),
    }


def _finite(metrics: dict[str, float]) -> dict[str, float]:
    """JSON has no NaN: a metric that could not be computed is left out."""
    return {
        k: float(v) for k, v in metrics.items() if v is not None and math.isfinite(v)
    }


if __name__ == "__main__":
    sys.exit(main())

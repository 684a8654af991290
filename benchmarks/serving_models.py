"""Model bundles for the serving benchmark.

- The default bundle: what `train` writes with its default hyperparameters
  on the bundled penguins data (a 100-tree random forest behind the
  project's preprocessing pipeline). This is what users serve, so the
  headline figures are taken on it. It is trained once per benchmark run by
  running `python -m container.training` on a temporary /opt/ml tree, the
  same way SageMaker and the local backend run the image's `train`.
- The iris decision tree: the model AWS's scikit_bring_your_own example
  serves.
- A light penguins pipeline (imputers, one-hot encoder, one tree), kept as a
  secondary row to compare with earlier results.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd

from container.contract.bundle import library_versions, save_bundle
from container.contract.schema import Feature, Schema

REPO_ROOT = Path(__file__).resolve().parents[1]
PENGUINS_CSV = REPO_ROOT / "data" / "raw" / "penguins.csv"
PENGUIN_NUMERICS = [
    "bill_length_mm",
    "bill_depth_mm",
    "flipper_length_mm",
    "body_mass_g",
]
PENGUIN_CATEGORICALS = ["island", "sex"]


def train_default_bundle(opt_ml_root: Path, log: Path) -> Path:
    """Run the project's `train` on the penguins data; returns the model folder.

    Only the target is given, so every other hyperparameter is `train`'s own
    default. Raises if the job fails (its failure reason is in the message).
    """
    for sub in ("input/config", "input/data/train", "model", "output"):
        (opt_ml_root / sub).mkdir(parents=True, exist_ok=True)
    (opt_ml_root / "input/data/train/penguins.csv").write_bytes(
        PENGUINS_CSV.read_bytes()
    )
    (opt_ml_root / "input/config/hyperparameters.json").write_text(
        json.dumps({"target": "species"})
    )
    (opt_ml_root / "input/config/inputdataconfig.json").write_text(
        json.dumps({"train": {"ContentType": "text/csv"}})
    )
    environ = {
        **os.environ,
        "PYTHONPATH": str(REPO_ROOT),
        "SKLEARN_BYOC_OPT_ML": str(opt_ml_root),
        "TRAINING_JOB_NAME": "bench-serving-default",
    }
    with open(log, "ab") as out:
        code = subprocess.call(
            [sys.executable, "-m", "container.training"],
            env=environ,
            stdout=out,
            stderr=out,
            stdin=subprocess.DEVNULL,
            cwd=REPO_ROOT,
        )
    failure = opt_ml_root / "output" / "failure"
    if code != 0:
        reason = failure.read_text() if failure.exists() else f"see {log}"
        raise RuntimeError(f"train failed (exit {code}): {reason}")
    return opt_ml_root / "model"


def default_bundle_rows(model_dir: Path, count: int) -> bytes:
    """`count` complete penguins records as headerless CSV, in the model's order."""
    from container.contract.bundle import read_manifest

    manifest = read_manifest(model_dir)
    names = [feature["name"] for feature in manifest["schema"]["features"]]
    data = pd.read_csv(PENGUINS_CSV)[names].dropna()
    repeated = pd.concat([data] * (count // len(data) + 1)).head(count)
    return repeated.to_csv(header=False, index=False).encode()


def build_iris_bundle(model_dir: Path) -> Path:
    """A bare DecisionTreeClassifier on iris, with its schema."""
    from sklearn.datasets import load_iris
    from sklearn.tree import DecisionTreeClassifier

    iris = load_iris(as_frame=True)
    features = iris.data.rename(
        columns=lambda c: c.replace(" (cm)", "").replace(" ", "_")
    )
    labels = iris.target.map(dict(enumerate(iris.target_names)))
    tree = DecisionTreeClassifier(random_state=0).fit(features, labels)
    schema = Schema(
        features=tuple(Feature(name, "numeric") for name in features.columns),
        target="species",
        problem_type="classification",
        classes=tuple(str(c) for c in tree.classes_),
    )
    save_bundle(
        model_dir,
        tree,
        {
            "schema": schema.to_dict(),
            "algorithm": "decision_tree",
            "libraries": library_versions(),
        },
    )
    return model_dir


def build_penguins_bundle(model_dir: Path) -> Path:
    """Imputation + one-hot encoding + a decision tree on the penguins data."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline, make_pipeline
    from sklearn.preprocessing import OneHotEncoder
    from sklearn.tree import DecisionTreeClassifier

    data = pd.read_csv(PENGUINS_CSV).dropna(subset=["species"])
    features = PENGUIN_NUMERICS + PENGUIN_CATEGORICALS
    pre = ColumnTransformer(
        [
            ("num", SimpleImputer(strategy="median"), PENGUIN_NUMERICS),
            (
                "cat",
                make_pipeline(
                    SimpleImputer(strategy="most_frequent"),
                    OneHotEncoder(handle_unknown="ignore"),
                ),
                PENGUIN_CATEGORICALS,
            ),
        ]
    )
    pipeline = Pipeline(
        [("preprocess", pre), ("model", DecisionTreeClassifier(random_state=0))]
    )
    pipeline.fit(data[features], data["species"])
    schema = Schema(
        features=tuple(
            [Feature(n, "numeric") for n in PENGUIN_NUMERICS]
            + [
                Feature(
                    n,
                    "categorical",
                    tuple(sorted(data[n].dropna().astype(str).unique())),
                )
                for n in PENGUIN_CATEGORICALS
            ]
        ),
        target="species",
        problem_type="classification",
        classes=tuple(str(c) for c in pipeline.classes_),
    )
    save_bundle(
        model_dir,
        pipeline,
        {
            "schema": schema.to_dict(),
            "algorithm": "decision_tree",
            "libraries": library_versions(),
        },
    )
    return model_dir

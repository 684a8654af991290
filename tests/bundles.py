"""Model bundles the tests serve and monitor, built directly with scikit-learn.

Not through `train`, so that serving and monitoring tests do not depend on
the training code (the training tests and the image tests run `train`
itself). The benchmarks keep their own reference bundles
(benchmarks/serving_models.py): their numbers are published, so their models
change only with the benchmark, never with a test.
"""

from __future__ import annotations

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


def build_penguins_bundle(model_dir: Path) -> Path:
    """Imputation + one-hot encoding + a decision tree on the penguins data."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline, make_pipeline
    from sklearn.preprocessing import OneHotEncoder
    from sklearn.tree import DecisionTreeClassifier

    data = pd.read_csv(PENGUINS_CSV).dropna(subset=["species"])
    features = PENGUIN_NUMERICS + PENGUIN_CATEGORICALS
    categorical = make_pipeline(
        SimpleImputer(strategy="most_frequent"),
        OneHotEncoder(handle_unknown="ignore"),
    )
    pre = ColumnTransformer(
        [
            ("num", SimpleImputer(strategy="median"), PENGUIN_NUMERICS),
            ("cat", categorical, PENGUIN_CATEGORICALS),
        ]
    )
    pipeline = Pipeline(
        [("preprocess", pre), ("model", DecisionTreeClassifier(random_state=0))]
    )
    pipeline.fit(data[features], data["species"])
    categories = [
        Feature(n, "categorical", tuple(sorted(data[n].dropna().astype(str).unique())))
        for n in PENGUIN_CATEGORICALS
    ]
    schema = Schema(
        features=tuple([Feature(n, "numeric") for n in PENGUIN_NUMERICS] + categories),
        target="species",
        problem_type="classification",
        classes=tuple(str(c) for c in pipeline.classes_),
    )
    manifest = {
        "schema": schema.to_dict(),
        "algorithm": "decision_tree",
        "libraries": library_versions(),
    }
    save_bundle(model_dir, pipeline, manifest)
    return model_dir


def train_bundle(root: Path, hyperparameters: dict[str, str]) -> Path:
    """The bundle `train` itself writes on the penguins data (model.onnx included).

    For the tests of the compiled predictor, which only `train` produces.
    """
    import contextlib
    import io
    import json

    import pytest

    from container import training
    from container.contract.paths import ROOT_ENV_VAR, OptMl

    opt_ml = OptMl(root)
    for sub in ("input/config", "input/data/train", "model", "output"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    pd.read_csv(PENGUINS_CSV).to_csv(
        opt_ml.channel_dir("train") / "penguins.csv", index=False
    )
    opt_ml.hyperparameters_file.write_text(json.dumps(hyperparameters))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(ROOT_ENV_VAR, str(root))
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = training.main()
    if code != 0:
        raise RuntimeError(f"train failed: {err.getvalue()}")
    return opt_ml.model_dir

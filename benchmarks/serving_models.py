"""Reference model bundles for the serving benchmark.

The iris decision tree is the model AWS's scikit_bring_your_own example
serves, so throughput can be compared with the figures quoted for that stack;
the penguins tree (numeric and categorical features behind a preprocessing
pipeline) is closer to what `train` produces.
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

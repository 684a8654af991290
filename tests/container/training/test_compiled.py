"""The compiled predictor `train` writes: every algorithm, parity, and its failures."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from container import training
from container.contract.bundle import COMPILED_FILE, MANIFEST_FILE, load_bundle
from container.contract.compiled import COMPILED, NOT_COMPILED, compiled_model
from container.contract.paths import OptMl
from container.training import compiled as compilation
from container.training import features
from container.training.algorithms import ALGORITHMS
from container.training.estimators import estimator_class

TARGETS = {"classification": "species", "regression": "body_mass_g"}
CASES = [
    (name, problem)
    for name, algorithm in ALGORITHMS.items()
    for problem in TARGETS
    if algorithm.supports(problem)
]


def fitted(penguins: pd.DataFrame, algorithm: str, problem: str):
    """(pipeline, schema, features) as `train` builds them, on the penguins data."""
    from sklearn.pipeline import Pipeline

    target = TARGETS[problem]
    frame = penguins.dropna(subset=[target])
    names = [c for c in frame.columns if c != target]
    kinds = features.infer_kinds(frame, names, [], 0.01)
    x = features.coerce_features(frame, kinds, "train", 0.01)
    y = features.prepare_target(frame[target], problem, "train")
    schema = features.build_schema(x, kinds, target, problem)
    spec = ALGORITHMS[algorithm]
    estimator = estimator_class(algorithm, problem)()
    if "random_state" in estimator.get_params():
        estimator.set_params(random_state=0)
    preprocess = features.build_preprocessor(
        schema, spec.scale_numerics, spec.dense_input
    )
    pipeline = Pipeline([("preprocess", preprocess), ("model", estimator)])
    return pipeline.fit(x, y), schema, x


def unusual_rows(x: pd.DataFrame) -> pd.DataFrame:
    """Rows with missing values everywhere and a category never seen in training."""
    rows = x.head(6).copy()
    for i, column in enumerate(rows.columns):
        rows.iloc[i % len(rows), rows.columns.get_loc(column)] = np.nan
    rows["island"] = rows["island"].astype(object)
    rows.iloc[0, rows.columns.get_loc("island")] = "Atlantis"
    return rows


@pytest.mark.parametrize("algorithm,problem", CASES, ids=lambda v: str(v))
def test_every_algorithm_compiles_and_answers_like_scikit_learn(
    penguins, algorithm, problem
):
    pipeline, schema, x = fitted(penguins, algorithm, problem)

    outcome = compilation.compile_pipeline(pipeline, schema, problem, x, "train")

    record = outcome.record
    assert outcome.compiled, record
    assert record["status"] == COMPILED
    assert record["parity"]["held"] and record["parity"]["rows"] == len(x)
    assert record["opset"] == {"": 18, "ai.onnx.ml": 3}
    classes = pipeline.classes_ if problem == "classification" else None
    model = compiled_model(outcome.model, json.loads(json.dumps(record)), classes)
    rows = pd.concat([x, unusual_rows(x)])
    labels, probabilities = model.predict(rows, problem == "classification")
    expected = pipeline.predict(rows)
    if problem == "classification":
        assert labels.dtype == expected.dtype
        assert labels.tolist() == expected.tolist()
        assert record["parity"]["label_mismatches"] == 0
        reference = pipeline.predict_proba(rows)
        assert np.abs(probabilities - reference).max() <= 1e-6
    else:
        np.testing.assert_allclose(labels, expected, rtol=1e-6)


def test_integer_classes_come_back_as_the_pipelines_own_labels(penguins):
    frame = penguins.assign(year=penguins["year"] - 2007)
    pipeline, schema, x = fitted(
        frame.drop(columns="species").rename(columns={"year": "species"}),
        "random_forest",
        "classification",
    )
    assert pipeline.classes_.dtype.kind == "i"

    outcome = compilation.compile_pipeline(
        pipeline, schema, "classification", x, "train"
    )

    assert outcome.compiled, outcome.record
    model = compiled_model(outcome.model, outcome.record, pipeline.classes_)
    labels, _ = model.predict(x)
    assert labels.dtype == pipeline.predict(x).dtype
    assert labels.tolist() == pipeline.predict(x).tolist()


def test_failed_parity_is_not_compiled_with_the_figures(penguins, monkeypatch):
    pipeline, schema, x = fitted(penguins, "random_forest", "classification")
    monkeypatch.setattr(compilation, "PROBABILITY_TOLERANCE", 0.0)

    outcome = compilation.compile_pipeline(
        pipeline, schema, "classification", x, "validation"
    )

    assert outcome.model is None
    record = outcome.record
    assert record["status"] == NOT_COMPILED
    assert "parity failed on the validation rows" in record["reason"]
    assert record["parity"]["held"] is False
    assert record["parity"]["max_probability_difference"] > 0


def test_a_conversion_error_is_a_reason_not_a_failure(penguins, monkeypatch):
    pipeline, schema, x = fitted(penguins, "decision_tree", "classification")

    def broken(*args, **kwargs):
        raise RuntimeError("no converter for this")

    monkeypatch.setattr(compilation, "convert", broken)
    outcome = compilation.compile_pipeline(
        pipeline, schema, "classification", x, "train"
    )

    assert outcome.model is None
    assert outcome.record == {
        "status": NOT_COMPILED,
        "reason": "conversion failed: RuntimeError: no converter for this",
    }


def test_a_pipeline_of_another_shape_is_not_compiled(penguins):
    from sklearn.tree import DecisionTreeClassifier

    x = penguins[["bill_length_mm"]].fillna(0)
    model = DecisionTreeClassifier().fit(x, penguins["species"])
    pipeline, schema, _ = fitted(penguins, "decision_tree", "classification")

    outcome = compilation.compile_pipeline(model, schema, "classification", x, "train")

    assert outcome.model is None
    assert "only a preprocess + estimator Pipeline" in outcome.record["reason"]


# --- through the job ---------------------------------------------------------------
def _write_job(opt_ml: OptMl, penguins: pd.DataFrame, hyperparameters: dict) -> None:
    path = opt_ml.channel_dir("train") / "penguins.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    penguins.to_csv(path, index=False)
    opt_ml.hyperparameters_file.write_text(json.dumps(hyperparameters))


def test_train_writes_model_onnx_and_records_parity(opt_ml, penguins, capsys):
    _write_job(opt_ml, penguins, {"target": "species", "validation_fraction": "0.25"})

    assert training.main() == 0
    err = capsys.readouterr().err

    assert (opt_ml.model_dir / COMPILED_FILE).is_file()
    manifest = json.loads((opt_ml.model_dir / MANIFEST_FILE).read_text())
    record = manifest["compiled"]
    assert record["status"] == COMPILED
    assert record["runtime"] == "onnxruntime" and record["runtime_version"]
    assert record["parity"]["split"] == "validation"
    assert record["parity"]["label_mismatches"] == 0
    assert "compile" in manifest["timings_seconds"]
    assert "[train] compiled to ONNX" in err
    assert "parity held on" in err
    assert load_bundle(opt_ml.model_dir).compiled is not None


def test_compile_predictor_false_writes_no_model_onnx(opt_ml, penguins, capsys):
    _write_job(opt_ml, penguins, {"target": "species", "compile_predictor": "false"})

    assert training.main() == 0

    assert not (opt_ml.model_dir / COMPILED_FILE).exists()
    manifest = json.loads((opt_ml.model_dir / MANIFEST_FILE).read_text())
    assert manifest["compiled"]["status"] == NOT_COMPILED
    assert "compile_predictor=false" in manifest["compiled"]["reason"]
    assert manifest["hyperparameters"]["compile_predictor"] is False
    assert "not compiled" in capsys.readouterr().err


def test_a_crash_in_conversion_still_trains(opt_ml, penguins, capsys, monkeypatch):
    def broken(*args, **kwargs):
        raise MemoryError("out of memory in the converter")

    monkeypatch.setattr(compilation, "_compile", broken)
    _write_job(opt_ml, penguins, {"target": "species"})

    assert training.main() == 0

    manifest = json.loads((opt_ml.model_dir / MANIFEST_FILE).read_text())
    assert manifest["compiled"]["status"] == NOT_COMPILED
    assert "MemoryError" in manifest["compiled"]["reason"]
    assert not (opt_ml.model_dir / COMPILED_FILE).exists()


def test_the_best_pipeline_of_a_search_is_compiled(opt_ml, penguins, capsys):
    _write_job(
        opt_ml,
        penguins,
        {
            "target": "species",
            "algorithm": "decision_tree",
            "search": '{"max_depth": [2, 4]}',
        },
    )

    assert training.main() == 0

    manifest = json.loads((opt_ml.model_dir / MANIFEST_FILE).read_text())
    assert manifest["compiled"]["status"] == COMPILED
    assert manifest["compiled"]["parity"]["split"] == "train"
    assert (opt_ml.model_dir / COMPILED_FILE).is_file()


@pytest.mark.parametrize("algorithm", ["random_forest", "knn"])
def test_numeric_only_and_headerless_data_compile(opt_ml, penguins, algorithm):
    numbers = penguins[["species", "bill_length_mm", "bill_depth_mm", "year"]]
    path = opt_ml.channel_dir("train") / "penguins.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    numbers.to_csv(path, index=False, header=False)
    opt_ml.hyperparameters_file.write_text(json.dumps({"algorithm": algorithm}))

    assert training.main() == 0

    bundle = load_bundle(opt_ml.model_dir)
    record = bundle.manifest["compiled"]
    assert record["status"] == COMPILED, record
    assert [i["name"] for i in record["inputs"]] == ["_c1", "_c2", "_c3"]
    model = compiled_model(bundle.compiled, record, bundle.pipeline.classes_)
    rows = pd.DataFrame(
        {"_c1": [39.1, np.nan], "_c2": [18.7, 17.0], "_c3": [2007.0, np.nan]}
    )
    labels, _ = model.predict(rows)
    assert labels.tolist() == bundle.pipeline.predict(rows).tolist()
    array_labels, _ = model.predict(rows.to_numpy())
    assert array_labels.tolist() == labels.tolist()

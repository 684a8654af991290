"""The `train` job end to end, in-process, on temporary /opt/ml trees."""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from container import training
from container.contract.bundle import MANIFEST_FILE, MODEL_FILE, load_bundle
from container.contract.paths import OptMl

REPO_ROOT = Path(__file__).resolve().parents[3]
PENGUINS_CSV = REPO_ROOT / "data" / "raw" / "penguins.csv"
METRIC_LINE = re.compile(
    r"^(train|validation|test):([a-z0-9_]+)=([-+0-9.eE]+|nan|inf)$"
)


# --- building job inputs --------------------------------------------------------------
def write_hyperparameters(opt_ml: OptMl, hyperparameters: dict[str, str]) -> None:
    opt_ml.hyperparameters_file.write_text(json.dumps(hyperparameters))


def write_inputdataconfig(opt_ml: OptMl, config: dict[str, dict[str, str]]) -> None:
    opt_ml.inputdataconfig_file.write_text(json.dumps(config))


def write_frame(
    path: Path,
    frame: pd.DataFrame,
    fmt: str = "csv",
    header: bool = True,
    gz: bool = False,
) -> Path:
    """A DataFrame as CSV / JSON Lines / Parquet, optionally gzip-compressed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "csv":
        payload = frame.to_csv(index=False, header=header).encode()
    elif fmt == "jsonl":
        payload = frame.to_json(orient="records", lines=True).encode()
    else:
        frame.to_parquet(path, index=False)
        payload = path.read_bytes()
    path.write_bytes(gzip.compress(payload) if gz else payload)
    return path


def write_text(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def diabetes() -> pd.DataFrame:
    """scikit-learn's bundled regression data (no network): ten numerics + "target"."""
    from sklearn.datasets import load_diabetes

    return load_diabetes(as_frame=True).frame


def run_job(opt_ml: OptMl, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = training.main()
    return code, capsys.readouterr().out


def metric_values(stdout: str) -> dict[str, float]:
    found = {}
    for line in stdout.splitlines():
        match = METRIC_LINE.match(line)
        if match:
            found[f"{match[1]}:{match[2]}"] = float(match[3])
    return found


def failure_text(opt_ml: OptMl) -> str:
    return opt_ml.failure_file.read_text()


def assert_no_bundle(opt_ml: OptMl) -> None:
    assert not (opt_ml.model_dir / MANIFEST_FILE).exists()
    assert not (opt_ml.model_dir / MODEL_FILE).exists()
    assert not list(opt_ml.model_dir.glob(".model.*"))


def assert_failed_with(opt_ml: OptMl, capsys, *fragments: str) -> str:
    code, _ = run_job(opt_ml, capsys)
    assert code != 0
    text = failure_text(opt_ml)
    assert len(text) <= 1024
    assert "Traceback" not in text
    for fragment in fragments:
        assert fragment in text, f"{fragment!r} not in failure reason {text!r}"
    assert_no_bundle(opt_ml)
    return text


@pytest.fixture
def penguins_job(opt_ml: OptMl, penguins: pd.DataFrame) -> OptMl:
    write_frame(opt_ml.channel_dir("train") / "penguins.csv", penguins)
    write_hyperparameters(opt_ml, {"target": "species"})
    return opt_ml


# --- successful jobs ------------------------------------------------------------------
def test_penguins_classification_bundle_is_complete_and_serves(
    penguins_job: OptMl, penguins: pd.DataFrame, capsys, monkeypatch
):
    monkeypatch.setenv("TRAINING_JOB_NAME", "penguins-2024")
    validation = penguins.sample(frac=0.3, random_state=1)
    write_frame(penguins_job.channel_dir("validation") / "v.csv", validation)
    write_frame(penguins_job.channel_dir("test") / "t.csv", validation.head(40))

    code, stdout = run_job(penguins_job, capsys)

    assert code == 0, failure_text(penguins_job)
    assert not penguins_job.failure_file.exists()
    bundle = load_bundle(penguins_job.model_dir)
    manifest = bundle.manifest
    schema = bundle.schema
    assert schema.target == "species"
    assert schema.problem_type == manifest["problem_type"] == "classification"
    assert list(schema.classes) == ["Adelie", "Chinstrap", "Gentoo"]
    assert list(schema.classes) == [str(c) for c in bundle.pipeline.classes_]
    assert schema.categorical_features == ["island", "sex"]
    assert set(schema.numeric_features) == {
        "bill_length_mm",
        "bill_depth_mm",
        "flipper_length_mm",
        "body_mass_g",
        "year",
    }
    island = next(f for f in schema.features if f.name == "island")
    assert island.categories == ("Biscoe", "Dream", "Torgersen")
    assert manifest["algorithm"] == "random_forest"
    assert manifest["hyperparameters"]["target"] == "species"
    assert manifest["hyperparameters"]["random_state"] == 0
    assert manifest["training_job_name"] == "penguins-2024"
    assert manifest["started_at"].endswith("Z") and manifest["finished_at"].endswith(
        "Z"
    )
    assert manifest["started_at"] <= manifest["finished_at"]
    train_file = manifest["data"]["train"]["files"][0]
    assert train_file["path"] == "penguins.csv"
    assert train_file["rows"] == len(penguins)
    import hashlib

    expected_sha = hashlib.sha256(
        (penguins_job.channel_dir("train") / "penguins.csv").read_bytes()
    ).hexdigest()
    assert train_file["sha256"] == expected_sha
    assert manifest["data"]["validation"]["rows"] == len(validation)
    for library in ("python", "scikit-learn", "pandas", "numpy", "joblib"):
        assert library in manifest["libraries"]
    for split in ("train", "validation", "test"):
        for metric in (
            "accuracy",
            "balanced_accuracy",
            "f1_macro",
            "roc_auc_ovr",
            "log_loss",
        ):
            assert metric in manifest["metrics"][split], (split, metric)
    assert manifest["metrics"]["validation"]["accuracy"] > 0.9

    # stdout carries the same numbers, one scrapeable line each
    scraped = metric_values(stdout)
    assert scraped["validation:accuracy"] == pytest.approx(
        manifest["metrics"]["validation"]["accuracy"], abs=1e-5
    )
    assert len(scraped) == sum(len(v) for v in manifest["metrics"].values())

    # output/data: metrics, confusion matrices, report
    out = penguins_job.output_data_dir
    assert json.loads((out / "metrics.json").read_text()) == manifest["metrics"]
    evaluation = json.loads((out / "evaluation.json").read_text())
    matrix = np.array(evaluation["validation"]["confusion_matrix"])
    assert matrix.shape == (3, 3) and matrix.sum() == len(validation)
    assert evaluation["validation"]["labels"] == ["Adelie", "Chinstrap", "Gentoo"]
    report = (out / "report.html").read_text()
    assert "<svg" in report and "Gentoo" in report and "<script" not in report

    # the serving contract: schema-named DataFrame, None for missing, unseen categories
    rows = penguins[schema.feature_names].head(3).astype(object)
    rows.iloc[0, rows.columns.get_loc("sex")] = None
    rows.iloc[1, rows.columns.get_loc("island")] = "Atlantis"
    rows.iloc[2, rows.columns.get_loc("bill_length_mm")] = None
    proba = bundle.pipeline.predict_proba(rows)
    assert proba.shape == (3, 3)
    assert np.allclose(proba.sum(axis=1), 1)


def test_regression_on_diabetes_with_validation_fraction(opt_ml: OptMl, capsys):
    write_frame(opt_ml.channel_dir("train") / "diabetes.csv", diabetes())
    write_hyperparameters(
        opt_ml,
        {
            "algorithm": "hist_gradient_boosting",
            "max_iter": "50",
            "validation_fraction": "0.25",
        },
    )

    code, stdout = run_job(opt_ml, capsys)

    assert code == 0, failure_text(opt_ml)
    bundle = load_bundle(opt_ml.model_dir)
    assert bundle.manifest["problem_type"] == "regression"
    assert bundle.schema.target == "target"  # found by its conventional name
    assert bundle.schema.classes == ()
    assert bundle.pipeline[-1].max_iter == 50
    metrics = bundle.manifest["metrics"]
    assert set(metrics) == {"train", "validation"}
    assert set(metrics["validation"]) == {"rmse", "mae", "r2"}
    assert metrics["validation"]["r2"] > 0.2
    assert metrics["validation"]["rmse"] > metrics["validation"]["mae"] > 0
    assert (
        bundle.manifest["data"]["validation"]["rows_used"] == 111
    )  # ceil(442 * 0.25), as scikit-learn rounds up
    assert bundle.manifest["data"]["train"]["rows_used"] == 331
    assert "validation:rmse" in metric_values(stdout)
    assert not (opt_ml.output_data_dir / "evaluation.json").exists()


def test_headerless_label_first_csv_uses_column_zero(opt_ml: OptMl, capsys):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 3))
    label = (x[:, 0] > 0).astype(int)
    frame = pd.DataFrame({"y": label, "a": x[:, 0], "b": x[:, 1], "c": x[:, 2]})
    write_frame(opt_ml.channel_dir("train") / "part-0.csv", frame, header=False)
    write_inputdataconfig(opt_ml, {"train": {"ContentType": "text/csv"}})

    code, stdout = run_job(opt_ml, capsys)

    assert code == 0, failure_text(opt_ml)
    bundle = load_bundle(opt_ml.model_dir)
    assert bundle.schema.target == "_c0"
    assert bundle.schema.feature_names == ["_c1", "_c2", "_c3"]
    assert list(bundle.schema.classes) == [0, 1]  # JSON ints, not "0"/"1" or floats
    assert all(type(c) is int for c in bundle.schema.classes)
    assert bundle.manifest["data"]["train"]["has_header"] is False
    assert metric_values(stdout)["train:accuracy"] > 0.9


@pytest.mark.parametrize(
    ("fmt", "gz", "name"),
    [
        ("csv", True, "data.csv.gz"),
        ("jsonl", False, "data.jsonl"),
        ("jsonl", True, "data.jsonl.gz"),
        ("parquet", False, "data.parquet"),
    ],
)
def test_formats_nested_and_concatenated(
    opt_ml: OptMl, penguins: pd.DataFrame, capsys, fmt, gz, name
):
    half = len(penguins) // 2
    train_dir = opt_ml.channel_dir("train")
    write_frame(train_dir / "year=2007" / name, penguins.iloc[:half], fmt=fmt, gz=gz)
    write_frame(
        train_dir / "year=2008" / "deep" / name, penguins.iloc[half:], fmt=fmt, gz=gz
    )
    write_text(train_dir / "_SUCCESS", "")  # a marker file, not data
    write_hyperparameters(opt_ml, {"target": "species", "algorithm": "decision_tree"})

    code, _ = run_job(opt_ml, capsys)

    assert code == 0, failure_text(opt_ml)
    manifest = load_bundle(opt_ml.model_dir).manifest
    files = manifest["data"]["train"]["files"]
    assert [f["path"] for f in files] == [f"year=2007/{name}", f"year=2008/deep/{name}"]
    assert [f["rows"] for f in files] == [half, len(penguins) - half]
    assert all(f["format"] == fmt and f["compressed"] is gz for f in files)
    assert manifest["data"]["train"]["rows"] == len(penguins)
    assert manifest["schema"]["classes"] == ["Adelie", "Chinstrap", "Gentoo"]


def test_content_type_wins_over_extension(
    opt_ml: OptMl, penguins: pd.DataFrame, capsys
):
    write_frame(opt_ml.channel_dir("train") / "blob.bin", penguins, fmt="jsonl")
    write_inputdataconfig(opt_ml, {"train": {"ContentType": "application/jsonlines"}})
    write_hyperparameters(opt_ml, {"target": "species", "algorithm": "decision_tree"})
    code, _ = run_job(opt_ml, capsys)
    assert code == 0, failure_text(opt_ml)
    assert (
        load_bundle(opt_ml.model_dir).manifest["data"]["train"]["files"][0]["format"]
        == "jsonl"
    )


def test_sm_environment_variables(
    opt_ml: OptMl, penguins: pd.DataFrame, capsys, monkeypatch, tmp_path
):
    """SM_HPS / SM_HP_* give hyperparameters, SM_CHANNEL_* relocates a channel, and
    hyperparameters.json wins where both name the same key."""
    elsewhere = tmp_path / "somewhere" / "train"
    write_frame(elsewhere / "p.csv", penguins)
    monkeypatch.setenv("SM_CHANNEL_TRAIN", str(elsewhere))
    monkeypatch.setenv("SM_HPS", json.dumps({"target": "species", "max_depth": 2}))
    monkeypatch.setenv("SM_HP_ALGORITHM", "extra_trees")
    monkeypatch.setenv("SM_HP_N_ESTIMATORS", "7")
    write_hyperparameters(opt_ml, {"max_depth": "3"})

    code, _ = run_job(opt_ml, capsys)

    assert code == 0, failure_text(opt_ml)
    bundle = load_bundle(opt_ml.model_dir)
    model = bundle.pipeline[-1]
    assert type(model).__name__ == "ExtraTreesClassifier"
    assert model.n_estimators == 7
    assert model.max_depth == 3  # hyperparameters.json beats SM_HPS
    assert bundle.manifest["hyperparameters"]["estimator_params"] == {
        "max_depth": 3,
        "n_estimators": 7,
    }


def test_hyperparameter_search_records_every_trial(penguins_job: OptMl, capsys):
    write_hyperparameters(
        penguins_job,
        {
            "target": "species",
            "algorithm": "decision_tree",
            "search": json.dumps(
                {"max_depth": [1, 3, None], "criterion": ["gini", "entropy"]}
            ),
            "search_cv": "3",
        },
    )
    code, _ = run_job(penguins_job, capsys)
    assert code == 0, failure_text(penguins_job)
    manifest = load_bundle(penguins_job.model_dir).manifest
    search = manifest["search"]
    assert len(search["trials"]) == 6
    assert {t["params"]["max_depth"] for t in search["trials"]} == {1, 3, None}
    best = max(search["trials"], key=lambda t: t["mean_score"])
    assert search["best_score"] == pytest.approx(best["mean_score"])
    assert (
        load_bundle(penguins_job.model_dir).pipeline[-1].max_depth
        == search["best_params"]["max_depth"]
    )
    trials_file = json.loads(
        (penguins_job.output_data_dir / "search_trials.json").read_text()
    )
    assert trials_file["trials"] == search["trials"]


def test_random_search_caps_iterations_to_the_space(penguins_job: OptMl, capsys):
    write_hyperparameters(
        penguins_job,
        {
            "target": "species",
            "algorithm": "logistic_regression",
            "search": '{"C": [0.1, 1.0]}',
            "search_strategy": "random",
            "search_iterations": "10",
        },
    )
    code, _ = run_job(penguins_job, capsys)
    assert code == 0, failure_text(penguins_job)
    assert len(load_bundle(penguins_job.model_dir).manifest["search"]["trials"]) == 2


def test_convergence_warnings_are_recorded_not_raised(penguins_job: OptMl, capsys):
    write_hyperparameters(
        penguins_job,
        {"target": "species", "algorithm": "logistic_regression", "max_iter": "1"},
    )
    code, _ = run_job(penguins_job, capsys)
    assert code == 0, failure_text(penguins_job)
    warnings = load_bundle(penguins_job.model_dir).manifest["warnings"]
    assert any("ConvergenceWarning" in w for w in warnings)


# --- failures: each reason in the failure file, no bundle left ------------------------
def test_no_train_channel(opt_ml: OptMl, capsys):
    assert_failed_with(opt_ml, capsys, "no training data", "'train'")


def test_no_files_in_channel(opt_ml: OptMl, capsys):
    opt_ml.channel_dir("train").mkdir(parents=True)
    write_text(opt_ml.channel_dir("train") / ".hidden", "x")
    assert_failed_with(opt_ml, capsys, "channel 'train' has no data files")


def test_empty_file(opt_ml: OptMl, capsys):
    write_text(opt_ml.channel_dir("train") / "empty.csv", "")
    assert_failed_with(opt_ml, capsys, "empty.csv is empty")


def test_header_only_file(opt_ml: OptMl, capsys):
    write_text(opt_ml.channel_dir("train") / "h.csv", "a,b,target\n")
    assert_failed_with(opt_ml, capsys, "h.csv holds no data rows")


def test_files_whose_columns_disagree(opt_ml: OptMl, penguins: pd.DataFrame, capsys):
    write_frame(opt_ml.channel_dir("train") / "a.csv", penguins)
    write_frame(opt_ml.channel_dir("train") / "b.csv", penguins.drop(columns=["sex"]))
    write_hyperparameters(opt_ml, {"target": "species"})
    assert_failed_with(opt_ml, capsys, "columns disagree", "b.csv", "missing ['sex']")


def test_target_missing(penguins_job: OptMl, capsys):
    write_hyperparameters(penguins_job, {"target": "kind"})
    assert_failed_with(
        penguins_job, capsys, "target column 'kind' is not a column", "species"
    )


def test_no_target_and_no_conventional_name(penguins_job: OptMl, capsys):
    write_hyperparameters(penguins_job, {})
    assert_failed_with(
        penguins_job, capsys, "no target column", "'target' hyperparameter"
    )


def test_target_all_null(opt_ml: OptMl, penguins: pd.DataFrame, capsys):
    write_frame(opt_ml.channel_dir("train") / "p.csv", penguins.assign(species=np.nan))
    write_hyperparameters(opt_ml, {"target": "species"})
    assert_failed_with(opt_ml, capsys, "target column 'species' is entirely empty")


def test_target_single_class(opt_ml: OptMl, penguins: pd.DataFrame, capsys):
    write_frame(
        opt_ml.channel_dir("train") / "p.csv", penguins.assign(species="Adelie")
    )
    write_hyperparameters(opt_ml, {"target": "species"})
    assert_failed_with(opt_ml, capsys, "single class ('Adelie')", "at least two")


def test_feature_column_entirely_null(opt_ml: OptMl, penguins: pd.DataFrame, capsys):
    write_frame(opt_ml.channel_dir("train") / "p.csv", penguins.assign(sex=None))
    write_hyperparameters(opt_ml, {"target": "species"})
    assert_failed_with(opt_ml, capsys, "['sex'] are entirely empty", "drop_columns")


def test_numeric_garbage_beyond_tolerance(
    opt_ml: OptMl, penguins: pd.DataFrame, capsys
):
    dirty = penguins.copy().astype({"body_mass_g": object})
    dirty.loc[:19, "body_mass_g"] = "heavy"  # 20 of 342 present values: 5.8%
    write_frame(opt_ml.channel_dir("train") / "p.csv", dirty)
    write_hyperparameters(opt_ml, {"target": "species"})
    assert_failed_with(
        opt_ml,
        capsys,
        "column 'body_mass_g'",
        "'heavy'",
        "at most 1.0%",
        "max_invalid_fraction",
    )


def test_numeric_garbage_within_tolerance_becomes_missing(
    opt_ml: OptMl, penguins: pd.DataFrame, capsys
):
    dirty = penguins.copy().astype({"body_mass_g": object})
    dirty.loc[:19, "body_mass_g"] = "heavy"
    write_frame(opt_ml.channel_dir("train") / "p.csv", dirty)
    write_hyperparameters(opt_ml, {"target": "species", "max_invalid_fraction": "0.1"})
    code, _ = run_job(opt_ml, capsys)
    assert code == 0, failure_text(opt_ml)
    schema = load_bundle(opt_ml.model_dir).schema
    assert "body_mass_g" in schema.numeric_features


def test_fewer_rows_than_minimum(opt_ml: OptMl, penguins: pd.DataFrame, capsys):
    write_frame(opt_ml.channel_dir("train") / "p.csv", penguins.iloc[::40])
    write_hyperparameters(opt_ml, {"target": "species", "min_rows": "20"})
    assert_failed_with(opt_ml, capsys, "9 usable rows", "min_rows=20")


def test_validation_columns_differ(penguins_job: OptMl, penguins: pd.DataFrame, capsys):
    write_frame(
        penguins_job.channel_dir("validation") / "v.csv",
        penguins.drop(columns=["year"]).assign(colour="blue"),
    )
    assert_failed_with(
        penguins_job,
        capsys,
        "channel 'validation' columns differ from train",
        "missing ['year']",
        "extra ['colour']",
    )


def test_validation_with_unseen_class(
    penguins_job: OptMl, penguins: pd.DataFrame, capsys
):
    write_frame(
        penguins_job.channel_dir("validation") / "v.csv",
        penguins.head(5).assign(species="Emperor"),
    )
    assert_failed_with(
        penguins_job, capsys, "'validation' has target classes ['Emperor']"
    )


def test_invalid_hyperparameter_value(penguins_job: OptMl, capsys):
    write_hyperparameters(penguins_job, {"target": "species", "max_depth": "deep"})
    assert_failed_with(penguins_job, capsys, "'max_depth' parameter", "Got 'deep'")


def test_unknown_hyperparameter(penguins_job: OptMl, capsys):
    write_hyperparameters(penguins_job, {"target": "species", "max_dept": "3"})
    assert_failed_with(
        penguins_job, capsys, "unknown hyperparameter(s) ['max_dept']", "max_depth"
    )


def test_algorithm_that_does_not_fit_the_problem(penguins_job: OptMl, capsys):
    write_hyperparameters(
        penguins_job, {"target": "species", "algorithm": "linear_regression"}
    )
    assert_failed_with(
        penguins_job, capsys, "does not do classification", "random_forest"
    )


def test_malformed_hyperparameters_json(penguins_job: OptMl, capsys):
    penguins_job.hyperparameters_file.write_text("{target: species")
    assert_failed_with(penguins_job, capsys, "hyperparameters.json is not valid JSON")


def test_regression_target_with_text(opt_ml: OptMl, penguins: pd.DataFrame, capsys):
    write_frame(opt_ml.channel_dir("train") / "p.csv", penguins)
    write_hyperparameters(opt_ml, {"target": "species", "problem_type": "regression"})
    assert_failed_with(opt_ml, capsys, "must be numeric for regression", "Adelie")


def test_failure_replaces_an_earlier_bundle_and_truncates(penguins_job: OptMl, capsys):
    code, _ = run_job(penguins_job, capsys)
    assert code == 0
    assert (penguins_job.model_dir / MANIFEST_FILE).exists()
    write_hyperparameters(penguins_job, {"target": "x" * 3000})
    text = assert_failed_with(penguins_job, capsys, "target column")
    assert len(text) <= 1024 and text.endswith("...")


def test_internal_error_reason_has_no_traceback(
    penguins_job: OptMl, capsys, monkeypatch
):
    def broken(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr("container.training.job.save_bundle", broken)
    code = training.main()
    assert code != 0
    text = failure_text(penguins_job)
    assert text.startswith("Internal error") and "disk on fire" in text
    assert "Traceback" not in text
    assert "Traceback" in capsys.readouterr().err  # the traceback goes to stderr
    assert_no_bundle(penguins_job)


@pytest.mark.parametrize("seed", ["1", "2", "3", "4", "5"])
def test_a_class_seen_once_stays_in_the_fit_split(opt_ml: OptMl, capsys, seed):
    rows = [f"{i % 7},{i % 3},{'a' if i % 2 else 'b'}" for i in range(40)]
    write_text(
        opt_ml.channel_dir("train") / "data.csv",
        "x,z,label\n" + "\n".join([*rows, "9,9,rare"]) + "\n",
    )
    write_hyperparameters(
        opt_ml,
        {"target": "label", "validation_fraction": "0.3", "random_state": seed},
    )
    code, _ = run_job(opt_ml, capsys)
    assert code == 0, failure_text(opt_ml)
    assert "rare" in load_bundle(opt_ml.model_dir).schema.classes


def test_a_file_that_is_not_utf8_fails_with_a_reason(opt_ml: OptMl, capsys):
    path = opt_ml.channel_dir("train") / "latin1.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x,c,label\n1,caf\xe9,a\n2,b\xe9,b\n3,cafe,a\n4,the,b\n")
    write_hyperparameters(opt_ml, {"target": "label"})
    code, _ = run_job(opt_ml, capsys)
    assert code != 0
    assert "latin1.csv is not UTF-8" in failure_text(opt_ml)
    assert not (opt_ml.model_dir / MANIFEST_FILE).exists()

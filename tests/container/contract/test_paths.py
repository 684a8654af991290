"""The /opt/ml layout, and the root that tests and hand runs move."""

from __future__ import annotations

from pathlib import Path

from container.contract.paths import OptMl


def test_default_root_is_opt_ml():
    opt_ml = OptMl.from_env({})
    assert opt_ml.hyperparameters_file == Path(
        "/opt/ml/input/config/hyperparameters.json"
    )
    assert opt_ml.channel_dir("train") == Path("/opt/ml/input/data/train")
    assert opt_ml.failure_file == Path("/opt/ml/output/failure")
    assert opt_ml.baseline_statistics_file == Path(
        "/opt/ml/processing/baseline/stats/statistics.json"
    )


def test_root_moves_with_the_environment(tmp_path):
    opt_ml = OptMl.from_env({"SKLEARN_BYOC_OPT_ML": str(tmp_path)})
    assert opt_ml.model_dir == tmp_path / "model"
    assert not opt_ml.is_training_job()
    opt_ml.config_dir.mkdir(parents=True)
    assert opt_ml.is_training_job()


def test_resource_config_is_found_under_either_spelling(tmp_path):
    opt_ml = OptMl(tmp_path)
    opt_ml.config_dir.mkdir(parents=True)
    assert opt_ml.resourceconfig_file.name == "resourceconfig.json"
    (opt_ml.config_dir / "resourceConfig.json").write_text("{}")
    assert opt_ml.resourceconfig_file.name == "resourceConfig.json"

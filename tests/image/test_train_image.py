"""`docker run IMAGE train` with an /opt/ml tree mounted, as SageMaker runs it."""

from __future__ import annotations

import json
import os
import re

from tests.image.docker_helpers import REPO_ROOT, run_job


def set_hyperparameters(root, **values: str) -> None:
    (root / "input/config/hyperparameters.json").write_text(json.dumps(values))


def assert_failed_clearly(run, *expected_fragments: str) -> None:
    assert run.exit_code != 0, run.logs
    assert run.failure, f"no failure file was written; logs:\n{run.logs[-2000:]}"
    assert len(run.failure) <= 1024
    assert "Traceback" not in run.failure
    for fragment in expected_fragments:
        assert fragment in run.failure, run.failure
    assert not (run.root / "model" / "model.json").exists(), "a partial bundle was left"


def test_train_writes_the_bundle_and_no_failure(docker_client, image, test_dir):
    run = run_job(docker_client, image, test_dir, "train")
    assert run.exit_code == 0, run.logs[-3000:]
    assert run.failure is None
    assert {p.name for p in (test_dir / "model").iterdir()} >= {
        "model.joblib",
        "model.json",
    }
    manifest = json.loads((test_dir / "model" / "model.json").read_text())
    assert manifest["schema"]["target"] == "species"
    assert sorted(manifest["schema"]["classes"]) == ["Adelie", "Chinstrap", "Gentoo"]
    # Metrics are printed as name=value lines, so MetricDefinitions can scrape them.
    # (docs/training.md gives the regex: validation:accuracy=([-+0-9.eE]+))
    assert re.search(r"^train:accuracy=[-+0-9.eE]+$", run.logs, re.M), run.logs[-2000:]


def test_bundle_records_the_image_library_versions(docker_client, image, test_dir):
    run = run_job(docker_client, image, test_dir, "train")
    assert run.exit_code == 0, run.logs[-3000:]
    libraries = json.loads((test_dir / "model" / "model.json").read_text())["libraries"]
    lock = dict(
        line.split("==")
        for line in (REPO_ROOT / "docker/requirements.txt").read_text().splitlines()
        if "==" in line
    )
    assert libraries["scikit-learn"] == lock["scikit-learn"]
    assert libraries["pandas"] == lock["pandas"]


def test_no_argument_trains_when_the_training_config_is_mounted(
    docker_client, image, test_dir
):
    run = run_job(docker_client, image, test_dir)  # no command at all
    assert run.exit_code == 0, run.logs[-3000:]
    assert (test_dir / "model" / "model.json").exists()


def test_unknown_algorithm_fails_with_a_reason(docker_client, image, test_dir):
    set_hyperparameters(test_dir, target="species", algorithm="no_such_algorithm")
    run = run_job(docker_client, image, test_dir, "train")
    assert_failed_clearly(run, "algorithm", "no_such_algorithm")


def test_invalid_estimator_hyperparameter_fails_with_a_reason(
    docker_client, image, test_dir
):
    set_hyperparameters(
        test_dir, target="species", algorithm="random_forest", n_estimators="many"
    )
    run = run_job(docker_client, image, test_dir, "train")
    assert_failed_clearly(run, "n_estimators", "many")


def test_missing_target_column_fails_with_a_reason(docker_client, image, test_dir):
    set_hyperparameters(test_dir, target="no_such_column")
    run = run_job(docker_client, image, test_dir, "train")
    assert_failed_clearly(run, "no_such_column")


def test_empty_training_channel_fails_with_a_reason(docker_client, image, test_dir):
    for path in (test_dir / "input/data/train").iterdir():
        path.unlink()
    run = run_job(docker_client, image, test_dir, "train")
    assert_failed_clearly(run, "train")


def test_trains_as_non_root_on_a_read_only_root_filesystem(
    docker_client, image, test_dir
):
    # SageMaker runs as root, but users harden images; the job must only write
    # under /opt/ml (and /tmp).
    for sub in ("model", "output"):
        os.chmod(test_dir / sub, 0o777)
    run = run_job(
        docker_client,
        image,
        test_dir,
        "train",
        user="12345:12345",
        read_only=True,
        tmpfs={"/tmp": ""},
    )
    assert run.exit_code == 0, run.logs[-3000:]
    assert (test_dir / "model" / "model.json").exists()

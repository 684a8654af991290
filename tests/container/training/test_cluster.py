"""Several training hosts, and SM_NUM_CPUS: what `train` does with each."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from container.contract.bundle import MANIFEST_FILE, load_bundle
from container.contract.paths import OptMl
from container.training import job


@pytest.fixture
def penguins_job(opt_ml: OptMl, penguins: pd.DataFrame) -> OptMl:
    folder = opt_ml.channel_dir("train")
    folder.mkdir(parents=True)
    penguins.to_csv(folder / "penguins.csv", index=False)
    opt_ml.hyperparameters_file.write_text(
        json.dumps({"target": "species", "n_estimators": "5"})
    )
    return opt_ml


def resource_config(opt_ml: OptMl, current: str, hosts: list[str]) -> None:
    opt_ml.resourceconfig_file.write_text(
        json.dumps({"current_host": current, "hosts": hosts})
    )


def test_the_leader_trains(penguins_job: OptMl, capsys):
    resource_config(penguins_job, "algo-1", ["algo-1", "algo-2"])
    assert job.main() == 0
    assert (penguins_job.model_dir / MANIFEST_FILE).exists()


def test_another_host_exits_without_a_model_and_says_why(penguins_job: OptMl, capsys):
    resource_config(penguins_job, "algo-2", ["algo-1", "algo-2"])
    assert job.main() == 0
    assert not (penguins_job.model_dir / MANIFEST_FILE).exists()
    assert not penguins_job.failure_file.exists()
    assert "only the leader algo-1 trains" in capsys.readouterr().err


def test_the_toolkit_variables_name_the_hosts_without_resourceconfig(
    penguins_job: OptMl, capsys, monkeypatch
):
    monkeypatch.setenv("SM_HOSTS", '["algo-1", "algo-2", "algo-3"]')
    monkeypatch.setenv("SM_CURRENT_HOST", "algo-3")
    assert job.main() == 0
    assert not (penguins_job.model_dir / MANIFEST_FILE).exists()
    assert "host algo-3 of ['algo-1', 'algo-2', 'algo-3']" in capsys.readouterr().err


def test_sharded_data_on_several_hosts_is_refused(penguins_job: OptMl, capsys):
    resource_config(penguins_job, "algo-1", ["algo-1", "algo-2"])
    penguins_job.inputdataconfig_file.write_text(
        json.dumps({"train": {"S3DistributionType": "ShardedByS3Key"}})
    )
    assert job.main() == 1
    assert "ShardedByS3Key on 2 hosts" in penguins_job.failure_file.read_text()


def test_a_current_host_outside_the_hosts_is_refused(penguins_job: OptMl, capsys):
    resource_config(penguins_job, "algo-9", ["algo-1"])
    assert job.main() == 1
    assert "'algo-9' is not one of the job's hosts" in (
        penguins_job.failure_file.read_text()
    )


def test_sm_num_cpus_sets_n_jobs_unless_given(penguins_job: OptMl, capsys, monkeypatch):
    monkeypatch.setenv("SM_NUM_CPUS", "2")
    assert job.main() == 0
    params = load_bundle(penguins_job.model_dir).manifest["estimator_params"]
    assert params["n_jobs"] == 2
    penguins_job.hyperparameters_file.write_text(
        json.dumps({"target": "species", "n_estimators": "5", "n_jobs": "1"})
    )
    assert job.main() == 0
    params = load_bundle(penguins_job.model_dir).manifest["estimator_params"]
    assert params["n_jobs"] == 1


def test_without_sm_num_cpus_n_jobs_keeps_the_estimators_default(
    penguins_job: OptMl, capsys
):
    assert job.main() == 0
    params = load_bundle(penguins_job.model_dir).manifest["estimator_params"]
    assert params["n_jobs"] is None

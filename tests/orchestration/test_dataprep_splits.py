"""`prepare` with each split strategy, on the two bundled projects' data."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pandas as pd
import pytest

from container.preparation import job
from orchestration import dataprep
from orchestration.config import REPO_ROOT, ConfigError, load_config

DIABETES = REPO_ROOT / "config" / "diabetes.yaml"
# The penguins splits as they were before split strategies existed: the
# classification default must keep making exactly these files.
PENGUINS_SHA256 = {
    "train": "d039eea6cf2f847650a48ade94f2959a6dda0ded666df804cc23bd8808cb1eac",
    "validation": "aef6104a6abd477d4aa674eb9ebfc97f1513553131f59fd608c0f9b046448a35",
    "test": "37f5d2af95fa5e3b5c254dd1955f4fca4bca1bce70c1d820bfba774d79987bff",
}


def _data(tmp_path: Path, config: Path | None = None, **split):
    data = load_config(config).data
    return dataclasses.replace(
        data,
        processed=tmp_path / "processed",
        split=dataclasses.replace(data.split, **split),
    )


def _splits(folder: Path) -> dict[str, pd.DataFrame]:
    return {s: pd.read_csv(folder / s / f"{s}.csv") for s in dataprep.SPLITS}


def test_penguins_still_split_stratified_byte_for_byte(tmp_path):
    prepared = dataprep.prepare(_data(tmp_path))
    manifest = prepared.manifest
    assert {k: prepared.data_hashes[k] for k in PENGUINS_SHA256} == PENGUINS_SHA256
    assert manifest["problem_type"] == "classification"
    assert manifest["split"]["strategy"] == "stratified"
    assert manifest["split"]["stratify"] == "species"


def test_a_regression_target_is_split_at_random_and_summarised(tmp_path):
    """The reported bug: stratifying on a numeric target failed."""
    prepared = dataprep.prepare(_data(tmp_path, DIABETES))
    manifest = prepared.manifest
    assert manifest["problem_type"] == "regression"
    assert manifest["split"]["strategy"] == "random"
    assert "stratify" not in manifest["split"] and "classes" not in manifest
    frames = _splits(tmp_path / "processed")
    assert [len(f) for f in frames.values()] == [308, 67, 67]
    summary = manifest["target"]["train"]
    assert summary["rows"] == 308 and 25 <= summary["min"] < summary["max"] <= 346
    # No column identifies a patient: the record id is the raw row number.
    ids = pd.read_csv(tmp_path / "processed" / "ids.csv")
    assert sorted(ids["record_id"]) == list(range(1, 443))


def test_a_regression_target_without_a_problem_type_is_found_from_its_values(
    tmp_path,
):
    data = dataclasses.replace(_data(tmp_path, DIABETES), problem_type="auto")
    assert dataprep.prepare(data).manifest["problem_type"] == "regression"


def test_stratifying_a_regression_target_says_what_to_use(tmp_path):
    with pytest.raises(dataprep.DataValidationError, match="use random, group or time"):
        dataprep.prepare(_data(tmp_path, DIABETES, strategy="stratified"))


def test_a_group_split_keeps_each_group_in_one_split(tmp_path):
    data = _data(tmp_path, strategy="group", group_column="Individual ID")
    manifest = dataprep.prepare(data).manifest
    assert manifest["split"]["group_column"] == "Individual ID"
    ids = pd.read_csv(tmp_path / "processed" / "ids.csv")
    # sample_id is studyName-Individual ID: the group is its second part.
    ids["group"] = ids["sample_id"].str.split("-", n=1).str[1]
    assert (ids.groupby("group")["split"].nunique() == 1).all()
    assert set(ids["split"]) == {"train", "validation", "test"}


def test_a_time_split_trains_on_the_oldest_rows(tmp_path):
    data = _data(tmp_path, strategy="time", time_column="Date Egg")
    manifest = dataprep.prepare(data).manifest
    assert manifest["split"]["strategy"] == "time"
    raw = pd.read_csv(data.raw, dtype=str)
    raw["sample_id"] = raw["studyName"] + "-" + raw["Individual ID"]
    ids = pd.read_csv(tmp_path / "processed" / "ids.csv").merge(raw, on="sample_id")
    dates = pd.to_datetime(ids["Date Egg"])
    by_split = dates.groupby(ids["split"])
    assert by_split.max()["train"] <= by_split.min()["validation"]
    assert by_split.max()["validation"] <= by_split.min()["test"]


@pytest.mark.parametrize(
    ("split", "message"),
    [
        (
            {"strategy": "group", "group_column": "Patient"},
            "split group_column 'Patient' is not a column of the schema",
        ),
        (
            {"strategy": "time", "time_column": "Island"},
            "time_column 'Island' is a string column; declare it as date",
        ),
    ],
)
def test_split_columns_the_schema_lacks_or_cannot_sort_are_one_line_errors(
    tmp_path, split, message
):
    with pytest.raises(dataprep.DataValidationError, match=message) as raised:
        dataprep.prepare(_data(tmp_path, **split))
    assert "\n" not in raised.value.message


@pytest.mark.parametrize(
    ("split", "message"),
    [
        ("{strategy: group}", "data.split.group_column is required by strategy group"),
        ("{strategy: time}", "data.split.time_column is required by strategy time"),
        (
            "{group_column: patient}",
            "data.split.group_column is for strategy group, but the strategy is auto",
        ),
        ("{strategy: shuffled}", "data.split.strategy must be one of auto, stratified"),
    ],
)
def test_split_config_errors_name_the_key(tmp_path, split, message):
    text = (REPO_ROOT / "config" / "diabetes.yaml").read_text()
    text = text.replace(
        "split: {train: 0.7, validation: 0.15, test: 0.15, seed: 42, strategy: auto}",
        f"split: {split}",
    )
    path = tmp_path / "config" / "p.yaml"
    path.parent.mkdir()
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_config(path)


def test_a_problem_type_train_does_not_know_is_refused(tmp_path):
    text = DIABETES.read_text().replace(
        "problem_type: regression", "problem_type: ranking"
    )
    path = tmp_path / "config" / "p.yaml"
    path.parent.mkdir()
    path.write_text(text)
    with pytest.raises(ConfigError, match="problem_type must be one of auto"):
        load_config(path)


def test_the_jobs_settings_carry_the_strategy_and_problem_type(tmp_path):
    data = _data(tmp_path, strategy="group", group_column="Individual ID")
    document = dataprep.job_settings(data)
    assert document["split"]["strategy"] == "group"
    assert document["split"]["group_column"] == "Individual ID"
    settings = job.settings_from_json(
        json.loads(json.dumps(document)),
        raw_dir=data.raw.parent,
        annotations_dir=data.annotations.manifest.parent,
        output=tmp_path / "out",
    )
    assert settings.split == dataprep.preparation_settings(data).split
    regression = dataprep.job_settings(_data(tmp_path, DIABETES))
    assert regression["problem_type"] == "regression"
    # Defaults are left out, so the penguins' settings still suit older images.
    penguins = dataprep.job_settings(_data(tmp_path))
    assert "problem_type" not in penguins and "strategy" not in penguins["split"]

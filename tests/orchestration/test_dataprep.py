import dataclasses
import json

import pandas as pd
import pytest

from orchestration import dataprep
from orchestration.config import load_config


@pytest.fixture
def data_config(tmp_path):
    config = load_config().data
    return dataclasses.replace(config, processed=tmp_path / "processed")


def test_prepare_writes_stratified_splits_and_a_manifest(data_config):
    prepared = dataprep.prepare(data_config)
    folder = data_config.processed
    manifest = json.loads((folder / "manifest.json").read_text())
    frames = {s: pd.read_csv(folder / s / f"{s}.csv") for s in dataprep.SPLITS}
    assert list(frames["train"].columns) == [
        "species",
        "island",
        "bill_length_mm",
        "bill_depth_mm",
        "flipper_length_mm",
        "body_mass_g",
        "sex",
    ]
    total = sum(len(f) for f in frames.values())
    assert total == 342  # 344 raw rows less the two with no measurement at all
    for name, frame in frames.items():
        assert manifest["files"][name]["rows"] == len(frame)
        assert manifest["files"][name]["sha256"] == dataprep.sha256_file(
            folder / name / f"{name}.csv"
        )
    shares = {s: f["species"].value_counts(normalize=True) for s, f in frames.items()}
    for share in shares.values():  # stratified: class shares within 3 points everywhere
        assert (share - shares["train"]).abs().max() < 0.03
    assert prepared.data_hashes["train"] == manifest["files"]["train"]["sha256"]
    baseline = pd.read_csv(folder / "baseline" / "baseline.csv")
    assert "species" not in baseline.columns and len(baseline) == len(frames["train"])
    # Integral columns keep their raw text, so monitoring sees Integral on both sides.
    assert "181.0" not in (folder / "train" / "train.csv").read_text()


def test_prepare_is_reproducible_byte_for_byte(data_config, tmp_path):
    first = dataprep.prepare(data_config).data_hashes
    again = dataprep.prepare(
        dataclasses.replace(data_config, processed=tmp_path / "again")
    ).data_hashes
    assert first == again
    other_seed = dataclasses.replace(
        data_config,
        processed=tmp_path / "seed",
        split=dataclasses.replace(data_config.split, seed=7),
    )
    assert dataprep.prepare(other_seed).data_hashes["train"] != first["train"]


def test_ground_truth_labels_are_joined_on_the_record_id(data_config):
    manifest = dataprep.prepare(data_config).manifest["annotations"]
    assert manifest["records"] == 11
    assert manifest["below_min_confidence"] == 1
    assert manifest["joined"] == 9 and manifest["agreed"] == 9
    assert manifest["unknown_ids"] == ["PAL1112-N99A1"]


def test_annotations_relabel_and_fill_targets(tmp_path):
    schema = dataprep.load_raw_schema(load_config().data.schema)
    table = pd.DataFrame(
        {"sample_id": ["a", "b", "c"], "species": ["Adelie", None, "Gentoo"]}
    )
    manifest = tmp_path / "m.manifest"
    manifest.write_text(
        "\n".join(
            json.dumps(
                {
                    "source": i,
                    "species-label": 0,
                    "species-label-metadata": {"class-name": label, "confidence": c},
                }
            )
            for i, label, c in [
                ("a", "Chinstrap", 0.9),
                ("b", "Gentoo", 0.9),
                ("c", "Adelie", 0.1),
            ]
        )
    )
    config = dataclasses.replace(load_config().data.annotations, manifest=manifest)
    labels = dataprep.read_ground_truth(config)
    out, summary = dataprep.apply_annotations(table, labels, schema, config)
    assert out["species"].tolist() == ["Chinstrap", "Gentoo", "Gentoo"]
    assert summary["relabelled"] == 1 and summary["filled"] == 1


def test_bad_rows_are_rejected_with_reasons_and_reported(data_config, tmp_path):
    raw = pd.read_csv(data_config.raw, dtype=str)
    raw.loc[0, "Body Mass (g)"] = "-5"
    raw.loc[1, "Island"] = "Atlantis"
    raw.loc[2, "Culmen Length (mm)"] = "long"
    path = tmp_path / "raw.csv"
    raw.to_csv(path, index=False)
    dataprep.prepare(dataclasses.replace(data_config, raw=path))
    report = json.loads((data_config.processed / "validation_report.json").read_text())
    assert report["rejected_rows"] == 3
    assert report["failures"]["Body Mass (g)"]["below minimum 2000"]["rows"] == 1
    assert report["failures"]["Island"]["not one of ['Biscoe', 'Dream', 'Torgersen']"][
        "examples"
    ] == ["Atlantis"]
    assert "not a float" in report["failures"]["Culmen Length (mm)"]
    rejected = pd.read_csv(data_config.processed / "rejected.csv")
    assert len(rejected) == 3 and rejected["rejection_reason"].str.len().min() > 0


def test_too_many_bad_rows_fail_and_leave_previous_outputs_untouched(
    data_config, tmp_path
):
    dataprep.prepare(data_config)
    before = (data_config.processed / "manifest.json").read_bytes()
    raw = pd.read_csv(data_config.raw, dtype=str)
    raw.loc[:100, "Region"] = "Ross Sea"
    path = tmp_path / "raw.csv"
    raw.to_csv(path, index=False)
    with pytest.raises(dataprep.DataValidationError, match="Region: not one of"):
        dataprep.prepare(dataclasses.replace(data_config, raw=path))
    assert (data_config.processed / "manifest.json").read_bytes() == before
    assert not list(data_config.processed.glob(".prepare-*"))


def test_a_missing_declared_column_is_named(data_config, tmp_path):
    raw = pd.read_csv(data_config.raw, dtype=str).drop(columns=["Sex"])
    path = tmp_path / "raw.csv"
    raw.to_csv(path, index=False)
    with pytest.raises(
        dataprep.DataValidationError, match=r"missing declared column\(s\) \['Sex'\]"
    ):
        dataprep.prepare(dataclasses.replace(data_config, raw=path))


def test_schema_errors_name_the_key(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(
        "columns: {a: {type: text}}\ntarget: a\nfeatures: [a]\n"
        "id: {name: i, from: [a]}\n"
    )
    with pytest.raises(dataprep.DataValidationError, match="columns.a.type"):
        dataprep.load_raw_schema(path)


def test_load_prepared_says_to_run_prepare_first(tmp_path):
    with pytest.raises(dataprep.DataValidationError, match="orchestration prepare"):
        dataprep.load_prepared(tmp_path)

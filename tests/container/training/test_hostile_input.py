"""Training data users really send that used to fail badly: corrupt compressed
files, nested columns, and targets with thousands of classes."""

from __future__ import annotations

import bz2
import gzip
import io
import json
import lzma
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from container.contract.paths import OptMl
from container.training import evaluation
from container.training import job as training_job
from container.training.channels import ChannelSpec, DataError, read_channel
from container.training.options import DEFAULT_MAX_CLASSES
from tests.container.training.test_job import (
    assert_failed_with,
    run_job,
    write_hyperparameters,
)

COMPRESS = {"gzip": gzip.compress, "bz2": bz2.compress, "xz": lzma.compress}
SUFFIX = {"gzip": ".gz", "bz2": ".bz2", "xz": ".xz"}
ROWS = pd.DataFrame({"x": np.arange(5000, dtype=float), "label": ["yes", "no"] * 2500})


def encoded(frame: pd.DataFrame, fmt: str) -> bytes:
    if fmt == "csv":
        return frame.to_csv(index=False).encode()
    if fmt == "jsonl":
        return frame.to_json(orient="records", lines=True).encode()
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()


def put(folder: Path, name: str, data: bytes) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(data)
    return folder


def read(folder: Path):
    return read_channel(ChannelSpec("train", folder))


# --- compressed files -------------------------------------------------------------
@pytest.mark.parametrize("compression", sorted(COMPRESS))
@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_a_truncated_compressed_file_names_the_file_and_the_compression(
    tmp_path: Path, compression: str, fmt: str
):
    whole = COMPRESS[compression](encoded(ROWS, fmt))
    name = f"part-1.{fmt}{SUFFIX[compression]}"
    folder = put(tmp_path / "train", name, whole[: len(whole) // 2])
    with pytest.raises(DataError) as caught:
        read(folder)
    message = str(caught.value)
    assert f"file {name} is not a valid {compression} file" in message
    assert "truncated or corrupt" in message


def test_gzip_with_corrupt_bytes_in_the_middle_is_a_data_error(tmp_path: Path):
    whole = bytearray(gzip.compress(encoded(ROWS, "csv")))
    whole[200:400] = bytes(b ^ 0x55 for b in whole[200:400])
    folder = put(tmp_path / "train", "rows.csv.gz", bytes(whole))
    with pytest.raises(DataError, match=r"rows\.csv\.gz is not a valid gzip file"):
        read(folder)


@pytest.mark.parametrize("compression", sorted(COMPRESS))
def test_each_compression_is_read_whatever_the_file_name(
    tmp_path: Path, compression: str
):
    # No compression suffix: the first bytes tell, and pandas must not guess.
    data = COMPRESS[compression](encoded(ROWS, "csv"))
    channel = read(put(tmp_path / "train", "rows.csv", data))
    assert channel.files[0].compression == compression
    assert channel.files[0].to_dict()["compressed"] is True
    assert channel.frame["x"].sum() == ROWS["x"].sum()
    assert list(channel.frame.columns) == ["x", "label"]


def test_a_zip_archive_is_refused_with_what_to_do(tmp_path: Path):
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("rows.csv", encoded(ROWS, "csv"))
    folder = put(tmp_path / "train", "rows.zip", archive.getvalue())
    with pytest.raises(DataError, match="rows.zip is a zip archive.*gzip"):
        read(folder)


def test_a_corrupt_gzip_fails_the_job_with_a_failure_file(opt_ml: OptMl, capsys):
    whole = gzip.compress(encoded(ROWS, "csv"))
    put(opt_ml.channel_dir("train"), "rows.csv.gz", whole[:-100])
    write_hyperparameters(opt_ml, {"target": "label"})
    assert_failed_with(opt_ml, capsys, "rows.csv.gz is not a valid gzip file")
    assert "Traceback" not in capsys.readouterr().err


# --- nested columns ---------------------------------------------------------------
NESTED = {
    "list": [[1, 2], [3]],
    "struct": [{"a": 1, "b": "x"}, {"a": 2, "b": "y"}],
}


@pytest.mark.parametrize("kind", sorted(NESTED))
def test_a_nested_parquet_column_is_named(tmp_path: Path, kind: str):
    frame = pd.DataFrame({"x": [1.0, 2.0], "deep": NESTED[kind], "label": ["a", "b"]})
    folder = put(tmp_path / "train", "nested.parquet", encoded(frame, "parquet"))
    with pytest.raises(DataError) as caught:
        read(folder)
    message = str(caught.value)
    assert "file nested.parquet: column 'deep' holds nested values" in message
    assert "in data row 1" in message and "Flatten" in message


def test_a_parquet_map_column_is_named(tmp_path: Path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table(
        {
            "tags": pa.array(
                [[("k", 1)], [("j", 2)]], pa.map_(pa.string(), pa.int64())
            ),
            "label": ["a", "b"],
        }
    )
    pq.write_table(table, tmp_path / "map.parquet")
    folder = put(
        tmp_path / "train", "map.parquet", (tmp_path / "map.parquet").read_bytes()
    )
    with pytest.raises(DataError, match="column 'tags' holds nested values"):
        read(folder)


def test_a_nested_json_value_after_flat_ones_is_found(tmp_path: Path):
    lines = [json.dumps({"x": i, "label": "a"}) for i in range(50)]
    lines.append(json.dumps({"x": {"value": 3}, "label": "b"}))
    folder = put(tmp_path / "train", "rows.jsonl", "\n".join(lines).encode())
    with pytest.raises(DataError, match=r"column 'x' holds nested .* data row 51"):
        read(folder)


def test_flat_text_and_numbers_pass_the_nesting_check(tmp_path: Path):
    frame = pd.DataFrame({"t": ["[1 2]", None], "n": [1, None], "label": ["a", "b"]})
    channel = read(put(tmp_path / "train", "flat.parquet", encoded(frame, "parquet")))
    assert channel.frame["t"].iloc[0] == "[1 2]"  # text that looks nested is text


def test_a_nested_column_fails_the_job_with_a_failure_file(opt_ml: OptMl, capsys):
    frame = pd.DataFrame({"deep": [[1, 2]] * 20, "label": ["a", "b"] * 10})
    put(opt_ml.channel_dir("train"), "n.parquet", encoded(frame, "parquet"))
    write_hyperparameters(opt_ml, {"target": "label"})
    assert_failed_with(opt_ml, capsys, "file n.parquet: column 'deep'")


# --- many classes -----------------------------------------------------------------
def many_classes(classes: int, rows_per_class: int) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    labels = np.repeat([f"c{i:04d}" for i in range(classes)], rows_per_class)
    return pd.DataFrame({"x": rng.normal(size=len(labels)), "label": labels})


def test_too_many_classes_fail_before_fitting(opt_ml: OptMl, capsys, monkeypatch):
    def no_fit(*args, **kwargs):
        raise AssertionError("fit must not start")

    monkeypatch.setattr(training_job, "fit", no_fit)
    frame = many_classes(3000, 2)
    put(opt_ml.channel_dir("train"), "rows.csv", frame.to_csv(index=False).encode())
    write_hyperparameters(opt_ml, {"target": "label"})
    assert_failed_with(
        opt_ml,
        capsys,
        "target column 'label' has 3000 classes",
        f"more than max_classes={DEFAULT_MAX_CLASSES}",
        "set the hyperparameter max_classes to at least 3000",
    )


def test_max_classes_raised_trains_with_bounded_outputs(opt_ml: OptMl, capsys):
    frame = many_classes(300, 4)
    put(opt_ml.channel_dir("train"), "rows.csv", frame.to_csv(index=False).encode())
    write_hyperparameters(
        opt_ml,
        {
            "target": "label",
            "max_classes": "300",
            "algorithm": "decision_tree",
            "compile_predictor": "false",
        },
    )
    code, _ = run_job(opt_ml, capsys)
    assert code == 0, opt_ml.failure_file.read_text()
    details = json.loads((opt_ml.output_data_dir / "evaluation.json").read_text())
    train = details["train"]
    assert len(train["per_class"]) == 300
    assert len(train["confusion_matrix"]) == evaluation.JSON_MATRIX_CLASSES
    assert len(train["confusion_matrix_labels"]) == evaluation.JSON_MATRIX_CLASSES
    report = (opt_ml.output_data_dir / "report.html").read_text()
    assert len(report.encode()) < 200_000
    assert "most frequent of 300 classes" in report


def test_max_classes_must_allow_two_classes(opt_ml: OptMl, capsys):
    put(opt_ml.channel_dir("train"), "rows.csv", encoded(ROWS, "csv"))
    write_hyperparameters(opt_ml, {"target": "label", "max_classes": "1"})
    assert_failed_with(opt_ml, capsys, "max_classes='1' is invalid")


def report_for(classes: int) -> str:
    rng = np.random.default_rng(1)
    labels = [f"class-{i}" for i in range(classes)]
    truth = rng.integers(0, classes, size=10 * classes)
    guessed = np.where(
        rng.random(truth.size) < 0.7, truth, rng.integers(0, classes, truth.size)
    )
    names = np.array(labels, dtype=object)
    details = evaluation.classification_details(
        pd.Series(names[truth]), names[guessed], labels
    )
    return evaluation.render_report(
        "many classes", {"train": {"accuracy": 0.7}}, {"train": details}, {}
    )


def test_report_size_does_not_grow_with_the_class_count():
    small, huge = report_for(evaluation.REPORT_MATRIX_CLASSES), report_for(3000)
    assert len(huge.encode()) < 150_000
    # Wider only by the note and longer label names, never by classes².
    assert len(huge) < 1.2 * len(small)
    assert "Showing the 20 most frequent of 3000 classes" in huge
    assert "The 50 most frequent of 3000 classes" in huge
    assert "Showing the" not in small


def test_evaluation_details_keep_every_class_but_a_bounded_matrix():
    labels = [f"k{i}" for i in range(250)]
    # k0 has most rows, then k1, ...: the matrix keeps the first 100.
    truth = np.concatenate([np.full(250 - i, i) for i in range(250)])
    names = np.array(labels, dtype=object)
    details = evaluation.classification_details(
        pd.Series(names[truth]), names[truth], labels
    )
    assert details["confusion_matrix_labels"] == labels[:100]
    assert np.trace(np.array(details["confusion_matrix"])) == sum(
        250 - i for i in range(100)
    )
    assert len(details["per_class"]) == 250
    assert details["per_class"]["k249"]["support"] == 1

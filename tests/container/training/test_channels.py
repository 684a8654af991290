"""Reading channels: formats, header detection, nesting, and unusable channels."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pandas as pd
import pytest

from container.contract.paths import OptMl
from container.training.channels import (
    ChannelSpec,
    DataError,
    detect_header,
    discover_channels,
    parse_content_type,
    read_channel,
    train_channel,
)

FRAME = pd.DataFrame(
    {"label": ["a", "b", "a"], "x": [1.5, None, 3.0], "colour": ["red", "blue", None]}
)


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def spec(
    folder: Path, content_type: str | None = None, mode: str | None = None
) -> ChannelSpec:
    return ChannelSpec("train", folder, content_type, mode)


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        ([["species", "mass"], ["Adelie", "3750"]], True),
        ([["1", "0.5", "2"], ["0", "0.7", "3"]], False),  # headerless, label first
        ([["Adelie", "39.1"], ["Gentoo", "45.0"]], False),  # a number in the first row
        ([["colour", "size"], ["red", "big"], ["blue", "small"]], True),
        ([["red", "big"], ["red", "small"]], False),  # "red" repeats: it is data
        ([["a", ""], ["1", "2"]], False),  # an empty name is not a header
        ([["only", "header"]], True),
    ],
)
def test_detect_header(rows, expected):
    assert detect_header(rows) is expected


def test_csv_with_header_keeps_names_and_missing_values(tmp_path: Path):
    write(tmp_path / "a.csv", FRAME.to_csv(index=False).encode())
    channel = read_channel(spec(tmp_path))
    assert channel.has_header
    assert list(channel.frame.columns) == ["label", "x", "colour"]
    assert channel.frame["x"].isna().sum() == 1
    assert channel.frame["colour"].isna().sum() == 1
    assert channel.files[0].rows == 3 and len(channel.files[0].sha256) == 64


def test_headerless_csv_columns_are_named_by_position(tmp_path: Path):
    write(tmp_path / "a.csv", b"1,0.5,2\n0,0.7,3\n")
    channel = read_channel(spec(tmp_path))
    assert not channel.has_header
    assert list(channel.frame.columns) == ["_c0", "_c1", "_c2"]
    assert channel.frame.shape == (2, 3)


def test_header_parameter_in_content_type_overrides_detection(tmp_path: Path):
    write(tmp_path / "a.csv", b"red,big\nblue,small\n")
    assert read_channel(spec(tmp_path, "text/csv; header=present")).has_header
    assert not read_channel(spec(tmp_path, "text/csv; header=absent")).has_header


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_gzip_and_formats_by_extension(tmp_path: Path, fmt: str):
    if fmt == "csv":
        payload = FRAME.to_csv(index=False).encode()
    elif fmt == "jsonl":
        payload = FRAME.to_json(orient="records", lines=True).encode()
    else:
        FRAME.to_parquet(tmp_path / "tmp.parquet")
        payload = (tmp_path / "tmp.parquet").read_bytes()
        (tmp_path / "tmp.parquet").unlink()
    write(tmp_path / "chan" / f"part.{fmt}.gz", gzip.compress(payload))
    channel = read_channel(spec(tmp_path / "chan"))
    assert channel.files[0].format == fmt and channel.files[0].compressed
    assert channel.frame["label"].tolist() == ["a", "b", "a"]
    assert channel.frame["x"].iloc[2] == 3.0


def test_format_sniffed_without_extension_or_content_type(tmp_path: Path):
    write(tmp_path / "part-00000", FRAME.to_json(orient="records", lines=True).encode())
    assert read_channel(spec(tmp_path)).files[0].format == "jsonl"


def test_nested_files_are_concatenated_in_first_file_order(tmp_path: Path):
    write(tmp_path / "a" / "1.csv", FRAME.to_csv(index=False).encode())
    write(
        tmp_path / "b" / "c" / "2.csv",
        FRAME[["colour", "x", "label"]].to_csv(index=False).encode(),
    )
    channel = read_channel(spec(tmp_path))
    assert [f.path for f in channel.files] == ["a/1.csv", "b/c/2.csv"]
    assert list(channel.frame.columns) == ["label", "x", "colour"]
    assert channel.frame["label"].tolist() == ["a", "b", "a"] * 2


def test_header_and_headerless_files_mixed(tmp_path: Path):
    write(tmp_path / "1.csv", b"label,x\na,1\n")
    write(tmp_path / "2.csv", b"b,2\na,3\n")
    with pytest.raises(DataError, match="1.csv has a header row but 2.csv does not"):
        read_channel(spec(tmp_path))


def test_duplicate_header_names(tmp_path: Path):
    write(tmp_path / "1.csv", b"label,x,x\na,1,2\n")
    with pytest.raises(DataError, match=r"names \['x'\] more than once"):
        read_channel(spec(tmp_path))


def test_ragged_csv_is_a_parse_error_naming_the_file(tmp_path: Path):
    write(tmp_path / "bad.csv", b"label,x\na,1\nb,2,3,4\n")
    with pytest.raises(DataError, match="cannot parse bad.csv as CSV"):
        read_channel(spec(tmp_path))


def test_bad_json_lines(tmp_path: Path):
    write(tmp_path / "bad.jsonl", b'{"a": 1}\nnot json\n')
    with pytest.raises(DataError, match="cannot parse bad.jsonl as JSON Lines"):
        read_channel(spec(tmp_path))


def test_corrupt_gzip(tmp_path: Path):
    write(tmp_path / "bad.csv.gz", b"\x1f\x8b" + b"\x00" * 20)
    with pytest.raises(DataError, match="bad.csv.gz"):
        read_channel(spec(tmp_path))


def test_unsupported_content_type_names_the_supported_ones():
    with pytest.raises(DataError, match="application/x-recordio-protobuf.*text/csv"):
        parse_content_type("application/x-recordio-protobuf")


def test_pipe_mode_is_refused(tmp_path: Path):
    write(tmp_path / "a.csv", b"a,b\n1,2\n")
    with pytest.raises(DataError, match="Pipe input mode"):
        read_channel(spec(tmp_path, mode="Pipe"))


def test_missing_channel_folder(tmp_path: Path):
    with pytest.raises(DataError, match="does not exist"):
        read_channel(spec(tmp_path / "nope"))


def test_channels_from_config_env_and_folders(opt_ml: OptMl, tmp_path: Path):
    opt_ml.channel_dir("train").mkdir()
    opt_ml.inputdataconfig_file.write_text(
        json.dumps({"train": {"ContentType": "text/csv"}, "validation": {}})
    )
    specs = discover_channels(opt_ml, {"test": str(tmp_path / "t")})
    assert set(specs) == {"train", "validation", "test"}
    assert specs["train"].content_type == "text/csv"
    assert specs["test"].folder == tmp_path / "t"
    assert train_channel(specs, opt_ml).name == "train"


def test_train_and_training_together_is_ambiguous(opt_ml: OptMl):
    opt_ml.channel_dir("train").mkdir()
    opt_ml.channel_dir("training").mkdir()
    with pytest.raises(DataError, match="both 'train' and 'training'"):
        train_channel(discover_channels(opt_ml), opt_ml)


def test_training_channel_name_is_accepted(opt_ml: OptMl):
    opt_ml.channel_dir("training").mkdir()
    assert train_channel(discover_channels(opt_ml), opt_ml).name == "training"


def test_inputdataconfig_must_be_an_object(opt_ml: OptMl):
    opt_ml.inputdataconfig_file.write_text("[1, 2]")
    with pytest.raises(DataError, match="must be a JSON object"):
        discover_channels(opt_ml)

"""Decoding every request format into DataFrames, and encoding predictions."""

from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from container.contract import codecs
from container.contract.errors import (
    ByocError,
    InvalidInput,
    UnsupportedAccept,
    UnsupportedContentType,
)

NAMES = ["width", "height", "colour"]
ROWS = [[5.1, 3.5, "red"], [4.9, 3.0, "blue"]]


def npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def expected_frame(columns: list) -> pd.DataFrame:
    return pd.DataFrame(ROWS, columns=columns)


# --- every format, with and without names -------------------------------------
NAMED_BODIES = {
    "csv header": (b"width,height,colour\n5.1,3.5,red\n4.9,3.0,blue\n", "text/csv"),
    "csv header reordered": (
        b"colour,width,height\nred,5.1,3.5\nblue,4.9,3.0\n",
        "text/csv",
    ),
    "json dataframe_split": (
        json.dumps({"dataframe_split": {"columns": NAMES, "data": ROWS}}).encode(),
        "application/json",
    ),
    "json dataframe_records": (
        json.dumps(
            {"dataframe_records": [dict(zip(NAMES, r, strict=True)) for r in ROWS]}
        ).encode(),
        "application/json",
    ),
    "json instances objects": (
        json.dumps(
            {"instances": [dict(zip(NAMES, r, strict=True)) for r in ROWS]}
        ).encode(),
        "application/json",
    ),
    "json inputs columns": (
        json.dumps(
            {"inputs": {n: [r[i] for r in ROWS] for i, n in enumerate(NAMES)}}
        ).encode(),
        "application/json",
    ),
    "json bare objects": (
        json.dumps([dict(zip(NAMES, r, strict=True)) for r in ROWS]).encode(),
        "application/json",
    ),
    "jsonlines objects": (
        "\n".join(json.dumps(dict(zip(NAMES, r, strict=True))) for r in ROWS).encode(),
        "application/jsonlines",
    ),
}

POSITIONAL_BODIES = {
    "csv": (b"5.1,3.5,red\n4.9,3.0,blue\n", "text/csv"),
    "csv crlf and charset": (
        b"5.1,3.5,red\r\n4.9,3.0,blue\r\n",
        "text/csv; charset=utf-8",
    ),
    "json instances": (json.dumps({"instances": ROWS}).encode(), "application/json"),
    "json inputs": (json.dumps({"inputs": ROWS}).encode(), "application/json"),
    "json bare rows": (json.dumps(ROWS).encode(), "application/json"),
    "json split no columns": (
        json.dumps({"dataframe_split": {"data": ROWS}}).encode(),
        "application/json",
    ),
    "jsonlines rows": (
        b'[5.1, 3.5, "red"]\n[4.9, 3.0, "blue"]\n',
        "application/x-jsonlines",
    ),
}


@pytest.mark.parametrize("name", sorted(NAMED_BODIES))
def test_named_payloads_keep_their_column_names(name):
    body, content_type = NAMED_BODIES[name]
    frame = codecs.decode(body, content_type, NAMES)
    assert sorted(frame.columns) == sorted(NAMES)
    pd.testing.assert_frame_equal(
        frame[NAMES].reset_index(drop=True), expected_frame(NAMES), check_dtype=False
    )


@pytest.mark.parametrize("name", sorted(POSITIONAL_BODIES))
def test_positional_payloads_take_feature_names_when_the_count_matches(name):
    body, content_type = POSITIONAL_BODIES[name]
    frame = codecs.decode(body, content_type, NAMES)
    assert list(frame.columns) == NAMES
    pd.testing.assert_frame_equal(frame, expected_frame(NAMES), check_dtype=False)


@pytest.mark.parametrize("name", sorted(POSITIONAL_BODIES))
def test_positional_payloads_get_integer_columns_without_names(name):
    body, content_type = POSITIONAL_BODIES[name]
    frame = codecs.decode(body, content_type)
    assert list(frame.columns) == [0, 1, 2]
    assert frame.shape == (2, 3)


def test_positional_columns_stay_integers_when_the_count_differs():
    frame = codecs.decode(b"1,2\n", "text/csv", NAMES)
    assert list(frame.columns) == [0, 1]


def test_csv_first_line_is_data_without_feature_names():
    frame = codecs.decode(b"width,height\n1,2\n", "text/csv")
    assert len(frame) == 2
    assert frame.iloc[0].tolist() == ["width", "height"]


def test_csv_header_is_recognised_even_with_missing_and_extra_names():
    frame = codecs.decode(b"width,extra\n1,2\n", "text/csv", NAMES)
    assert list(frame.columns) == ["width", "extra"]
    assert len(frame) == 1


def test_csv_types_columns_like_the_rules_say():
    body = b"1,2.5,x,,7\n3,4,y,NA,\n"
    frame = codecs.decode(body, "text/csv")
    assert frame[0].dtype == np.int64
    assert frame[1].dtype == np.float64
    assert frame[2].tolist() == ["x", "y"]
    assert frame[3].isna().all()
    assert frame[4].dtype == np.float64 and np.isnan(frame[4].iloc[1])


def test_csv_quoted_fields_and_whitespace():
    frame = codecs.decode(b'" 5.1 ","a, b"\n', "text/csv")
    assert frame.iloc[0].tolist() == [5.1, "a, b"]


def test_json_flat_list_is_one_record():
    frame = codecs.decode(b'[5.1, 3.5, "red"]', "application/json", NAMES)
    assert frame.shape == (1, 3)


def test_json_single_object_is_one_record():
    frame = codecs.decode(b'{"width": 1, "colour": "red"}', "application/json")
    assert frame.to_dict("records") == [{"width": 1, "colour": "red"}]


def test_json_records_with_missing_keys_get_missing_values():
    frame = codecs.decode(b'[{"a": 1, "b": 2}, {"a": 3}]', "application/json")
    assert frame["b"].isna().tolist() == [False, True]


@pytest.mark.parametrize(
    "array, shape",
    [
        (np.array([5.1, 3.5, 1.0]), (1, 3)),
        (np.arange(12, dtype=np.float32).reshape(4, 3), (4, 3)),
        (np.array([["a", "b", "c"]]), (1, 3)),
    ],
)
def test_npy_arrays(array, shape):
    frame = codecs.decode(npy(array), "application/x-npy", NAMES)
    assert frame.shape == shape
    assert list(frame.columns) == NAMES


def test_npy_structured_array_names_its_columns():
    array = np.array([(1.0, "red")], dtype=[("width", "f8"), ("colour", "U5")])
    frame = codecs.decode(npy(array), "application/x-npy")
    assert frame.to_dict("records") == [{"width": 1.0, "colour": "red"}]


def test_npy_object_arrays_are_refused_not_unpickled():
    buffer = io.BytesIO()
    np.save(buffer, np.array([[1, "x"]], dtype=object), allow_pickle=True)
    with pytest.raises(InvalidInput, match="Python objects"):
        codecs.decode(buffer.getvalue(), "application/x-npy")


# --- errors say what was wrong and what to send --------------------------------
@pytest.mark.parametrize(
    "body, content_type, fragment",
    [
        (b"1,2\n3\n", "text/csv", "record 2 has 1 values"),
        (b"", "text/csv", "empty"),
        (b"\xff\xfe", "text/csv", "UTF-8"),
        (b"{", "application/json", "not valid JSON"),
        (b'"text"', "application/json", "JSON str"),
        (b"[]", "application/json", "no records"),
        (b'{"instances": 5}', "application/json", "list of records"),
        (b'{"instances": [], "inputs": []}', "application/json", "only one"),
        (b"[[1, 2], [3]]", "application/json", "record 2 has 1 values"),
        (b'[[1, {"a": 2}]]', "application/json", "list or object"),
        (b'[[1], {"a": 2}]', "application/json", "mixes"),
        (
            b'{"dataframe_split": {"columns": ["a"], "data": [[1, 2]]}}',
            "application/json",
            "1 columns",
        ),
        (
            b'{"inputs": {"a": [1, 2], "b": [3]}}',
            "application/json",
            "different lengths",
        ),
        (b"[1]\n{", "application/jsonlines", "line 2 is not valid JSON"),
        (b'[1]\n{"a": 1}', "application/jsonlines", "mix"),
        (b"not an array", "application/x-npy", "not a .npy array"),
        (b"width,width\n1,2\n", "text/csv", "more than once"),
    ],
)
def test_invalid_bodies_raise_invalid_input_with_guidance(body, content_type, fragment):
    with pytest.raises(InvalidInput) as info:
        codecs.decode(body, content_type, ["width", "height"])
    assert fragment in info.value.message
    assert "Expected" in info.value.message
    assert info.value.status_code == 400


def test_large_csv_errors_name_the_record_count():
    body = b"1,2\n" * 20000 + b"3\n"
    with pytest.raises(InvalidInput, match="needs 2 values"):
        codecs.decode(body, "text/csv")


@pytest.mark.parametrize(
    "content_type", [None, "", "application/xml", "text/plain", "multipart/form-data"]
)
def test_unsupported_content_types_list_the_supported_ones(content_type):
    with pytest.raises(UnsupportedContentType) as info:
        codecs.decode(b"1,2", content_type)
    assert "text/csv" in info.value.message and info.value.status_code == 415


def test_media_type_resolves_aliases_and_drops_parameters():
    assert (
        codecs.media_type("Application/X-JSONLines; charset=utf-8") == codecs.JSONLINES
    )
    assert codecs.media_params("text/csv; probabilities=true") == {
        "probabilities": "true"
    }


# --- the small and large CSV readers agree -------------------------------------
numbers = st.one_of(
    st.integers(-(10**6), 10**6).map(str),
    st.floats(allow_nan=False, allow_infinity=False, width=32).map(repr),
)
tokens = st.one_of(
    numbers,
    st.sampled_from(["", "NA", "red", "blue", " 3 ", "x y", '"a,b"', '"x\ny"']),
)


@settings(max_examples=60, deadline=None)
@given(
    st.integers(1, 4).flatmap(
        lambda width: st.lists(
            st.lists(tokens, min_size=width, max_size=width), min_size=1, max_size=5
        )
    )
)
def test_small_and_large_csv_readers_agree(rows):
    body = "".join(",".join(r) + "\n" for r in rows).encode()
    if not any(any(t.strip() for t in r) or len(r) > 1 for r in rows):
        return  # blank lines only: covered by the empty-body test
    small = codecs.decode(body, "text/csv")
    # Pad past the small-payload threshold with copies of the same rows.
    copies = codecs._SMALL_CSV_BYTES // len(body) + 2
    large = codecs.decode(body * copies, "text/csv")
    assert len(large) == copies * len(small)
    pd.testing.assert_frame_equal(
        large.iloc[: len(small)].reset_index(drop=True), small, check_dtype=True
    )


@settings(max_examples=300, deadline=None)
@given(
    st.binary(max_size=200),
    st.sampled_from(
        [
            "text/csv",
            "application/json",
            "application/jsonlines",
            "application/x-npy",
            "text/csv; charset=latin-1",
            "bogus/x",
        ]
    ),
)
def test_arbitrary_bytes_never_raise_anything_but_byoc_errors(body, content_type):
    try:
        frame = codecs.decode(body, content_type, NAMES)
    except ByocError as exc:
        assert exc.status_code in (400, 415)
    else:
        assert len(frame) >= 1


# --- encoding --------------------------------------------------------------------
LABELS = np.array(["setosa", "a,b"], dtype=object)
PROBS = np.array([[0.75, 0.25], [0.0, 1.0]])


def test_encode_csv_quotes_and_appends_probability_columns():
    assert codecs.encode(LABELS, "text/csv") == b'setosa\n"a,b"'
    assert codecs.encode(LABELS, "text/csv", PROBS, ["setosa", "a,b"]) == (
        b'setosa,0.75,0.25\n"a,b",0.0,1.0'
    )


def test_encode_json_labels_probabilities_per_class():
    out = json.loads(codecs.encode(LABELS, "application/json", PROBS, ["x", "y"]))
    assert out == {
        "predictions": ["setosa", "a,b"],
        "probabilities": [{"x": 0.75, "y": 0.25}, {"x": 0.0, "y": 1.0}],
    }


def test_encode_jsonlines_one_line_per_record():
    lines = codecs.encode(np.array([1.5, 2.0]), "application/jsonlines").split(b"\n")
    assert [json.loads(line) for line in lines] == [
        {"prediction": 1.5},
        {"prediction": 2.0},
    ]


def test_encode_npy_round_trips_without_pickle():
    out = np.load(
        io.BytesIO(codecs.encode(LABELS, "application/x-npy")), allow_pickle=False
    )
    assert out.tolist() == ["setosa", "a,b"]
    labelled = np.load(
        io.BytesIO(codecs.encode(LABELS, "application/x-npy", PROBS, ["x", "y"])),
        allow_pickle=False,
    )
    assert labelled["prediction"].tolist() == ["setosa", "a,b"]
    assert labelled["y"].tolist() == [0.25, 1.0]


def test_encode_unsupported_accept():
    with pytest.raises(UnsupportedAccept, match="text/csv"):
        codecs.encode(LABELS, "text/html")


def test_capture_text_keeps_listed_types_and_base64s_the_rest():
    assert codecs.capture_text(
        b"1,2", "text/csv; charset=utf-8", ["text/csv"], ["application/json"]
    ) == ("1,2", "CSV")
    assert codecs.capture_text(
        b"[1]", "application/json", ["text/csv"], ["application/json"]
    ) == ("[1]", "JSON")
    assert codecs.capture_text(
        b"\x93NUMPY", "application/x-npy", ["text/csv"], ["application/json"]
    ) == ("k05VTVBZ", "BASE64")


@pytest.mark.parametrize("alias", sorted(codecs.ALIASES))
def test_every_alias_names_one_format(alias):
    media = codecs.media_type(f"{alias.upper()}; charset=utf-8")
    assert media == codecs.ALIASES[alias]
    assert alias in codecs.spellings(media)


def test_parquet_is_a_channel_format_and_not_a_request_format():
    assert codecs.media_type("application/parquet") == codecs.PARQUET
    with pytest.raises(UnsupportedContentType, match="not supported"):
        codecs.request_type("application/parquet")


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("text/csv", ("9" * 400 + ",1.0,red\n").encode()),
        ("text/csv", b"-" + ("9" * 400).encode() + b",1.0,red\n"),
        (
            "application/json",
            ('{"instances": [[%s, 1.0, "red"]]}' % ("9" * 400)).encode(),
        ),
        ("application/jsonlines", ('[%s, 1.0, "red"]\n' % ("9" * 400)).encode()),
    ],
)
def test_a_number_too_large_for_a_float_is_the_clients_mistake(content_type, body):
    with pytest.raises(InvalidInput, match="a number is too large for a 64-bit float"):
        codecs.decode(body, content_type, NAMES)

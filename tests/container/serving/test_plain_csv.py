"""The small-CSV shortcut decides exactly as the general decoder, or declines."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from container.contract import codecs
from container.contract.bundle import load_bundle
from container.serving import inference

NUMERIC_TOKENS = ["39.1", " 18.7 ", "181", "-0.0", "1e3", "", "NA", "nan", "null"]
TEXT_TOKENS = ["Torgersen", " Biscoe ", "Dream", "", "N/A", "None", "MALE", "x y"]
ODD_TOKENS = ["3", "3.0", "inf", "1e400", "abc", "Infinity", "١٢"]


@pytest.fixture(scope="module")
def schema(penguins_model_dir):
    return load_bundle(penguins_model_dir).schema


def general(body: bytes, schema) -> pd.DataFrame:
    frame = codecs.decode(body, codecs.CSV, schema.feature_names)
    return inference.align(frame, schema)[0]


def assert_same_columns(shortcut: dict, frame: pd.DataFrame) -> None:
    assert list(shortcut) == list(frame.columns)
    for name, values in shortcut.items():
        expected = frame[name].to_numpy()
        assert values.dtype == expected.dtype, name
        assert pd.isna(values).tolist() == pd.isna(expected).tolist(), name
        present = ~pd.isna(expected)
        assert values[present].tolist() == expected[present].tolist(), name


def token_rows(schema, extra: list[str]):
    def row():
        fields = [
            st.sampled_from(TEXT_TOKENS + extra)
            if f.kind == "categorical"
            else st.sampled_from(NUMERIC_TOKENS + extra)
            for f in schema.features
        ]
        return st.tuples(*fields).map(",".join)

    return st.lists(row(), min_size=1, max_size=5).map(
        lambda rows: "\n".join(rows).encode()
    )


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_the_shortcut_gives_the_general_decoders_columns_or_declines(schema, data):
    body = data.draw(token_rows(schema, ODD_TOKENS))
    shortcut = inference.plain_csv_columns(body, schema)
    try:
        frame = general(body, schema)
    except Exception as exc:  # noqa: BLE001 - the general path refuses: so must we
        assert shortcut is None, (body, exc)
        return
    if shortcut is not None:
        assert_same_columns(shortcut, frame)


def test_plain_rows_take_the_shortcut(schema):
    body = b"39.1,18.7,181,3750,Torgersen,male\n,,,,,\n40, 17 ,190,4000,Dream,FEMALE"
    shortcut = inference.plain_csv_columns(body, schema)
    assert shortcut is not None
    assert_same_columns(shortcut, general(body, schema))
    assert np.isnan(shortcut["bill_length_mm"][1])


@pytest.mark.parametrize(
    "body",
    [
        b"bill_length_mm,bill_depth_mm,flipper_length_mm,body_mass_g,island,sex\n39.1,18.7,181,3750,Torgersen,male",  # noqa: E501
        b'39.1,18.7,181,3750,"Torgersen",male',
        b"39.1,18.7,181,3750,Torgersen",
        b"39.1,18.7,181,3750,3,male",
        b"39.1,18.7,181,inf,Torgersen,male",
        b"39.1,18.7,181,abc,Torgersen,male",
        b"1_0,18.7,181,3750,Torgersen,male",
    ],
    ids=["header", "quotes", "narrow", "number-category", "inf", "text", "underscore"],
)
def test_anything_uncertain_is_left_to_the_general_decoder(schema, body):
    assert inference.plain_csv_columns(body, schema) is None

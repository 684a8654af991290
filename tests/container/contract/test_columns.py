"""Column naming, comparison and the value conversions the saved pipeline runs."""

from __future__ import annotations

import numpy as np
import pandas as pd

from container.contract import columns


def test_positional_names_are_sparks():
    assert columns.positional_name(0) == "_c0"
    assert columns.positional_names(3) == ["_c0", "_c1", "_c2"]
    assert columns.positional_names(4, start=2) == ["_c2", "_c3"]


def test_difference_keeps_order_and_names_only_what_differs():
    assert columns.column_difference(["a", "b", "c"], ["c", "x", "a"]) == (
        ["b"],
        ["x"],
    )
    assert columns.describe_difference(["a", "b"], ["a"]) == "missing ['b']"
    assert columns.describe_difference(["a"], ["a", "z"]) == "extra ['z']"
    assert (
        columns.describe_difference(["a", "b"], ["a", "z"])
        == "missing ['b'], extra ['z']"
    )


def test_whole_numbers_are_one_category_however_they_arrive():
    values = pd.Series([3, 3.0, "3", None, np.nan, "red"], dtype=object)
    out = columns.category_strings(values)
    assert out.iloc[:3].tolist() == ["3", "3", "3"]
    assert out.iloc[3:5].isna().all()
    assert out.iloc[5] == "red"
    floats = columns.category_strings(pd.Series([1.0, 2.5, np.nan]))
    assert floats.iloc[:2].tolist() == ["1", "2.5"] and pd.isna(floats.iloc[2])


def test_float_frame_makes_every_column_float():
    frame = pd.DataFrame({"a": [1.0, 2.0]})
    assert columns.to_float_frame(frame).equals(frame)
    mixed = columns.to_float_frame(pd.DataFrame({"a": [1, None], "b": ["2", "3"]}))
    assert mixed.dtypes.tolist() == [np.float64, np.float64]

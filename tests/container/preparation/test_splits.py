"""Each split strategy on small tables: what it promises, and its errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from container.preparation import problem, splits
from container.preparation.rules import DataValidationError
from container.training import features

FRACTIONS = {"train": 0.6, "validation": 0.2, "test": 0.2}


def _table(rows: int = 200) -> pd.DataFrame:
    rng = np.random.RandomState(0)
    return pd.DataFrame(
        {
            "y": rng.choice(["a", "b", "c"], size=rows, p=[0.6, 0.3, 0.1]),
            "x": rng.normal(size=rows),
            "patient": [f"p{i // 4}" for i in range(rows)],  # 4 rows each
        }
    )


def _ids(parts: dict[str, pd.DataFrame]) -> dict[str, set]:
    return {name: set(frame.index) for name, frame in parts.items()}


def _assert_partition(parts: dict[str, pd.DataFrame], table: pd.DataFrame) -> None:
    ids = _ids(parts)
    assert ids["train"].isdisjoint(ids["validation"] | ids["test"])
    assert ids["validation"].isdisjoint(ids["test"])
    assert set().union(*ids.values()) == set(table.index)


def test_stratified_keeps_class_proportions():
    table = _table()
    parts = splits.stratified_split(table, "y", FRACTIONS, seed=1)
    _assert_partition(parts, table)
    overall = table["y"].value_counts(normalize=True)
    for frame in parts.values():
        share = frame["y"].value_counts(normalize=True)
        assert (share - overall).abs().max() < 0.03


def test_stratified_refuses_classes_too_rare_and_says_what_to_use():
    table = _table().assign(y=lambda t: t["x"].round(3).astype(str))
    with pytest.raises(
        DataValidationError, match="fewer than 3 rows.*strategy: random"
    ):
        splits.stratified_split(table, "y", FRACTIONS, seed=1)


def test_random_is_reproducible_with_the_seed_and_changes_with_it():
    table = _table()
    first = splits.random_split(table, FRACTIONS, seed=3)
    again = splits.random_split(table, FRACTIONS, seed=3)
    other = splits.random_split(table, FRACTIONS, seed=4)
    _assert_partition(first, table)
    assert _ids(first) == _ids(again)
    assert _ids(first)["test"] != _ids(other)["test"]
    assert [len(first[n]) for n in ("train", "validation", "test")] == [120, 40, 40]


def test_random_without_a_validation_share_leaves_it_empty():
    parts = splits.random_split(
        _table(), {"train": 0.8, "validation": 0.0, "test": 0.2}, seed=3
    )
    assert len(parts["validation"]) == 0 and len(parts["test"]) == 40


def test_group_never_lets_a_group_straddle_splits():
    table = _table()
    parts = splits.group_split(table, table["patient"], FRACTIONS, seed=5)
    _assert_partition(parts, table)
    owners = {
        name: set(frame["patient"]) for name, frame in parts.items() if len(frame)
    }
    assert owners["train"].isdisjoint(owners["validation"] | owners["test"])
    assert owners["validation"].isdisjoint(owners["test"])
    # Whole groups of 4 rows: shares of rows within one group of the aim.
    assert abs(len(parts["train"]) - 120) <= 4
    again = splits.group_split(table, table["patient"], FRACTIONS, seed=5)
    assert _ids(again) == _ids(parts)


def test_group_gives_every_split_a_group_even_when_one_group_is_huge():
    table = pd.DataFrame({"x": range(103)})
    groups = pd.Series(["big"] * 100 + ["a", "b", "c"], name="g")
    parts = splits.group_split(table, groups, FRACTIONS, seed=0)
    assert all(len(frame) > 0 for frame in parts.values())


@pytest.mark.parametrize(
    ("groups", "message"),
    [
        (pd.Series(["a", "a", "b", "b"], name="g"), "has 2 group.*at least 3"),
        (pd.Series(["a", None, "b", "c"], name="g"), "no value in 1 usable row"),
    ],
)
def test_group_errors_name_the_column(groups, message):
    table = pd.DataFrame({"x": range(4)})
    with pytest.raises(DataValidationError, match=f"'g'.*{message}|{message}"):
        splits.group_split(table, groups, FRACTIONS, seed=0)


def test_time_puts_the_oldest_in_train_and_the_newest_in_test():
    rng = np.random.RandomState(2)
    days = pd.to_datetime("2024-01-01") + pd.to_timedelta(
        rng.permutation(100), unit="D"
    )
    table = pd.DataFrame({"x": range(100)})
    times = pd.Series(days, name="day")
    parts = splits.time_split(table, times, FRACTIONS)
    _assert_partition(parts, table)
    newest = {n: times[f.index].max() for n, f in parts.items()}
    oldest = {n: times[f.index].min() for n, f in parts.items()}
    assert newest["train"] < oldest["validation"]
    assert newest["validation"] < oldest["test"]
    assert [len(parts[n]) for n in ("train", "validation", "test")] == [60, 20, 20]


def test_time_refuses_rows_without_a_time():
    times = pd.Series([1.0, None, 3.0, 4.0], name="t")
    with pytest.raises(DataValidationError, match="time column 't' has no value"):
        splits.time_split(pd.DataFrame({"x": range(4)}), times, FRACTIONS)


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["Adelie", "Gentoo", "Adelie"], "classification"),
        (["0", "1", "1", "0"], "classification"),
        ([str(v) for v in range(2700, 6300, 50)], "regression"),  # body mass
        (["1.5", "2.25", "3.0"], "regression"),
    ],
)
def test_problem_type_follows_trains_auto_rule(values, expected):
    assert problem.problem_type(pd.Series(values)) == expected
    assert problem.problem_type(pd.Series(values), "regression") == "regression"


def test_the_auto_rule_keeps_trains_class_limit():
    # Both sides must call a target with the same number of values classes.
    assert problem.MAX_AUTO_CLASSES == features.MAX_AUTO_CLASSES

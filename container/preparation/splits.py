"""Train/validation/test splits, one function per strategy, reproducible from a seed.

- ``stratified``: each class in the same proportions in every split (the
  default for classification);
- ``random``: rows shuffled with the seed (the default for regression, whose
  target has no classes to keep in proportion);
- ``group``: whole groups (a patient, a customer) go to one split, so no group's
  rows straddle train and test;
- ``time``: rows sorted by a time column, the oldest to train, then
  validation, the newest to test: a model is judged on data from after it
  was trained, as in production.

Each takes the table and the split fractions (``train``, ``validation``,
``test``) and returns ``{"train": ..., "validation": ..., "test": ...}``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from container.preparation.rules import DataValidationError

STRATEGIES = ("stratified", "random", "group", "time")
Splits = dict[str, pd.DataFrame]


def stratified_split(
    table: pd.DataFrame, target: str, split_fractions: dict[str, float], seed: int
) -> Splits:
    """Train/validation/test with each class in the same proportions, reproducibly."""
    counts = table[target].value_counts()
    rare = counts[counts < 3]
    if not rare.empty:
        raise DataValidationError(
            f"class(es) {sorted(rare.index.astype(str))} have fewer than 3 rows: a stratified train/validation/test split needs at least 3 per class (or set data.split.strategy: random)"
        )
    return _two_cuts(table, split_fractions, seed, stratify_on=target)


def random_split(
    table: pd.DataFrame, split_fractions: dict[str, float], seed: int
) -> Splits:
    """Train/validation/test of shuffled rows, reproducibly."""
    if len(table) < 3:
        raise DataValidationError(
            f"{len(table)} usable row(s): a train/validation/test split needs at least 3"
        )
    return _two_cuts(table, split_fractions, seed, stratify_on=None)


def group_split(
    table: pd.DataFrame,
    groups: pd.Series,
    split_fractions: dict[str, float],
    seed: int,
) -> Splits:
    """Whole groups to each split, shuffled with the seed, until its share of rows.

    Shares are of rows, not of groups, so a few large groups cannot leave
    train nearly empty; a split gets at least one group.
    """
    if groups.isna().any():
        raise DataValidationError(
            f"group column {groups.name!r} has no value in {int(groups.isna().sum())} usable row(s): a group split needs each row's group"
        )
    sizes = groups.value_counts(sort=False).sort_index()
    wanted = 3 if split_fractions["validation"] > 0 else 2
    if len(sizes) < wanted:
        raise DataValidationError(
            f"group column {groups.name!r} has {len(sizes)} group(s): a group split needs at least {wanted}, one per split"
        )
    order = sizes.index[np.random.RandomState(seed).permutation(len(sizes))]
    names = [n for n in ("train", "validation", "test") if split_fractions[n] > 0]
    bounds = np.cumsum([split_fractions[n] for n in names]) * len(groups)
    assigned: dict[object, str] = {}
    current, rows, in_current = 0, 0, 0
    for position, group in enumerate(order):
        last = current == len(names) - 1
        full = in_current > 0 and rows >= bounds[current]
        # Keep one group for each split still to come.
        needed_later = len(order) - position <= len(names) - current - 1
        if not last and (full or needed_later):
            current, in_current = current + 1, 0
        assigned[group] = names[current]
        rows += int(sizes[group])
        in_current += 1
    out = {name: table[groups.map(assigned) == name] for name in names}
    out.setdefault("validation", table.iloc[0:0])
    return {n: out[n] for n in ("train", "validation", "test")}


def time_split(
    table: pd.DataFrame, times: pd.Series, split_fractions: dict[str, float]
) -> Splits:
    """The oldest rows to train, the next to validation, the newest to test.

    Rows of one time keep their file order (a stable sort), so the split is
    the same on every run without a seed.
    """
    if times.isna().any():
        raise DataValidationError(
            f"time column {times.name!r} has no value in {int(times.isna().sum())} usable row(s): a time-ordered split needs each row's time"
        )
    if len(table) < 3:
        raise DataValidationError(
            f"{len(table)} usable row(s): a train/validation/test split needs at least 3"
        )
    ordered = table.loc[times.sort_values(kind="stable").index]
    first = int(round(len(ordered) * split_fractions["train"]))
    second = first + int(round(len(ordered) * split_fractions["validation"]))
    first, second = max(first, 1), min(max(second, first), len(ordered) - 1)
    return {
        "train": ordered.iloc[:first],
        "validation": ordered.iloc[first:second],
        "test": ordered.iloc[second:],
    }


def _two_cuts(
    table: pd.DataFrame,
    split_fractions: dict[str, float],
    seed: int,
    stratify_on: str | None,
) -> Splits:
    """Test first, then validation out of the rest: scikit-learn's shuffle."""
    from sklearn.model_selection import train_test_split

    def labels(frame: pd.DataFrame) -> pd.Series | None:
        return frame[stratify_on] if stratify_on else None

    test_size = split_fractions["test"]
    rest, test = train_test_split(
        table, test_size=test_size, stratify=labels(table), random_state=seed
    )
    if split_fractions["validation"] <= 0:
        return {"train": rest, "validation": rest.iloc[0:0], "test": test}
    val_share = split_fractions["validation"] / (1 - test_size)
    train, validation = train_test_split(
        rest, test_size=val_share, stratify=labels(rest), random_state=seed
    )
    return {"train": train, "validation": validation, "test": test}

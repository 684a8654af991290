"""Train/validation/test splits, reproducible from a seed."""

from __future__ import annotations

import pandas as pd

from container.preparation.rules import DataValidationError


def stratified_split(
    table: pd.DataFrame, target: str, split_fractions: dict[str, float], seed: int
) -> dict[str, pd.DataFrame]:
    """Train/validation/test with each class in the same proportions, reproducibly."""
    from sklearn.model_selection import train_test_split

    counts = table[target].value_counts()
    rare = counts[counts < 3]
    if not rare.empty:
        raise DataValidationError(
            f"class(es) {sorted(rare.index.astype(str))} have fewer than 3 rows: a stratified train/validation/test split needs at least 3 per class"
        )
    test_size = split_fractions["test"]
    rest, test = train_test_split(
        table, test_size=test_size, stratify=table[target], random_state=seed
    )
    val_share = split_fractions["validation"] / (1 - test_size)
    if split_fractions["validation"] <= 0:
        return {"train": rest, "validation": rest.iloc[0:0], "test": test}
    train, validation = train_test_split(
        rest, test_size=val_share, stratify=rest[target], random_state=seed
    )
    return {"train": train, "validation": validation, "test": test}

"""The data splits a model is fitted and evaluated on: train, validation, test.

Each channel becomes a `Split` of typed features and prepared labels; rows
without a target are dropped. Without a validation channel, a share of train
can be held out (stratified for classification). Validation and test must
hold the training data's columns and no class the model never saw.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pandas as pd

from container.contract.columns import describe_difference
from container.jobs import logger
from container.training.channels import ChannelData
from container.training.errors import DataError
from container.training.features import check_target, coerce_features, prepare_target
from container.training.options import TrainingConfig

log = logger("train")


@dataclass
class Split:
    name: str
    features: pd.DataFrame
    target: pd.Series


def make_splits(
    channels: Mapping[str, ChannelData],
    target: str,
    kinds: dict[str, str],
    problem_type: str,
    config: TrainingConfig,
) -> dict[str, Split]:
    """One split per channel (plus a held-out validation split when asked), checked."""
    splits = {
        name: make_split(name, channel.frame, target, kinds, problem_type, config)
        for name, channel in channels.items()
    }
    check_target(splits["train"].target, problem_type)  # type: ignore[arg-type]
    rows = len(splits["train"].target)
    if rows < config.min_rows:
        raise DataError(
            f"channel 'train' has {rows} usable rows (with a target value); "
            f"at least min_rows={config.min_rows} are needed"
        )
    if "validation" not in splits and config.validation_fraction > 0:
        splits["train"], splits["validation"] = hold_out(
            splits["train"],
            config.validation_fraction,
            problem_type,
            config.random_state,
        )
    if problem_type == "classification":
        check_known_classes(splits)
    return splits


def make_split(
    name: str,
    frame: pd.DataFrame,
    target: str,
    kinds: dict[str, str],
    problem_type: str,
    config: TrainingConfig,
) -> Split:
    present = frame[target].notna()
    dropped = int((~present).sum())
    if dropped:
        log(f"channel {name}: dropping {dropped} row(s) without a target value")
    if not present.any():
        raise DataError(
            f"target column {target!r} is entirely empty in channel {name!r}"
        )
    kept = frame if dropped == 0 else frame.loc[present]
    features = coerce_features(kept, kinds, name, config.max_invalid_fraction)
    labels = prepare_target(kept[target], problem_type, name)  # type: ignore[arg-type]
    return Split(name, features.reset_index(drop=True), labels.reset_index(drop=True))


def hold_out(
    split: Split, fraction: float, problem_type: str, seed: int | None
) -> tuple[Split, Split]:
    from sklearn.model_selection import train_test_split

    features, target = split.features, split.target
    # A class seen once cannot be on both sides: it stays in the fit split, so
    # the held-out part never has a class the model was not trained on, and the
    # rest can still be stratified.
    singles = pd.Series(False, index=target.index)
    if problem_type == "classification":
        counts = target.value_counts()
        singles = target.isin(counts[counts < 2].index)
    rest_x, rest_y = features[~singles], target[~singles]
    stratify = rest_y if problem_type == "classification" and len(rest_y) else None
    x_fit, x_val, y_fit, y_val = train_test_split(
        rest_x, rest_y, test_size=fraction, random_state=seed, stratify=stratify
    )
    x_fit = pd.concat([x_fit, features[singles]])
    y_fit = pd.concat([y_fit, target[singles]])
    return (
        Split("train", x_fit.reset_index(drop=True), y_fit.reset_index(drop=True)),
        Split("validation", x_val.reset_index(drop=True), y_val.reset_index(drop=True)),
    )


def check_same_columns(name: str, channel: ChannelData, train: ChannelData) -> None:
    """A validation or test channel holds the training data's columns."""
    expected, got = list(train.frame.columns), list(channel.frame.columns)
    if set(expected) == set(got):
        return
    if train.has_header != channel.has_header:
        which = "has" if train.has_header else "has no"
        does = "does not" if train.has_header else "does"
        raise DataError(
            f"channel {name!r} columns differ from train: train {which} header row but {name} {does}; "  # noqa: E501
            "give both the same layout"
        )
    detail = describe_difference(expected, got)
    raise DataError(
        f"channel {name!r} columns differ from train: {detail} ({len(got)} columns vs {len(expected)} in train). "  # noqa: E501
        "Validation and test data must hold the same columns as the training data."
    )


def check_known_classes(splits: Mapping[str, Split]) -> None:
    known = set(splits["train"].target.unique())
    for name, split in splits.items():
        unseen = sorted(str(c) for c in set(split.target.unique()) - known)
        if unseen:
            raise DataError(
                f"channel {name!r} has target classes {unseen} that never occur in the training data "  # noqa: E501
                f"(classes: {sorted(str(c) for c in known)}); the model cannot predict them"  # noqa: E501
            )

"""Train/validation/test splits: read the files given, carve the missing splits from train."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from trainforge.config import DataConfig
from trainforge.data.readers import read_table, row_place
from trainforge.errors import DataError, did_you_mean, format_choices

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Splits:
    """The data of one run, split three ways. Validation or test may be absent."""

    train: pd.DataFrame
    validation: pd.DataFrame | None
    test: pd.DataFrame | None

    def items(self) -> list[tuple[str, pd.DataFrame]]:
        """(name, frame) for the splits that exist, in train/validation/test order."""
        named = [("train", self.train), ("validation", self.validation), ("test", self.test)]
        return [(name, frame) for name, frame in named if frame is not None]


def load_splits(data: DataConfig, *, stratify_labels: bool, seed: int) -> Splits:
    """Read the configured files and split off validation/test from train where not given.

    Args:
        data: the `data` section of the config.
        stratify_labels: stratify by the label column (classification) when `data.split.stratify`.
        seed: makes the split reproducible.
    """
    train = read_table(data.train, encoding=data.encoding)
    _check_columns(train, data)
    validation = _read_optional(data.validation, data)
    test = _read_optional(data.test, data)
    stratify = stratify_labels and data.split.stratify
    rows = "in data.train"
    if test is None and data.split.test > 0:
        train, test = _split(
            train, data.split.test, data.label_column, stratify, seed, purpose="test", rows=rows
        )
        rows = "remain after the test split"
    if validation is None and data.split.validation > 0:
        # The fraction is of the whole data, so rescale it to what remains after the test split.
        remaining = 1.0 - (data.split.test if data.test is None else 0.0)
        train, validation = _split(
            train,
            data.split.validation / remaining,
            data.label_column,
            stratify,
            seed,
            purpose="validation",
            rows=rows,
        )
    return Splits(train=train, validation=validation, test=test)


def _read_optional(spec: str | None, data: DataConfig) -> pd.DataFrame | None:
    if spec is None:
        return None
    frame = read_table(spec, encoding=data.encoding)
    _check_columns(frame, data)
    return frame


def _check_columns(frame: pd.DataFrame, data: DataConfig) -> None:
    source = frame.attrs.get("source", "data")
    columns = [str(c) for c in frame.columns]
    wanted = [("data.label_column", data.label_column)]
    wanted += [("data.feature_columns", c) for c in data.feature_columns or []]
    for field, column in wanted:
        if column not in columns:
            raise DataError(
                f"column {column!r} (from {field}) not found",
                where=source,
                fix=f"The file has columns {format_choices(columns)}."
                f"{did_you_mean(column, columns)} Fix {field} in the config",
            )
    missing = frame[data.label_column].isna()
    if missing.any():
        rows = [row_place(frame, r) for r in frame.index[missing][:3]]
        raise DataError(
            f"{int(missing.sum())} row(s) have no value in the label column "
            f"{data.label_column!r}, first at {', '.join(rows)}",
            where=source,
            fix="Fill in or drop those rows",
        )


def _split(
    frame: pd.DataFrame,
    fraction: float,
    label: str,
    stratify: bool,
    seed: int,
    *,
    purpose: str,
    rows: str,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    from sklearn.model_selection import train_test_split

    n_out = max(1, round(len(frame) * fraction))
    if len(frame) - n_out < 2:
        # Name the user's setting, not the fraction rescaled to the rows left after a test split.
        raise DataError(
            f"only {len(frame)} rows {rows}: too few to split off {n_out} for {purpose} "
            f"(data.split.{purpose}) and still train",
            where=str(frame.attrs.get("source", "data")),
            fix="Provide more rows, or give data.validation / data.test files",
        )
    strata = frame[label].astype(str) if stratify else None
    if strata is not None:
        counts = strata.value_counts()
        if counts.min() < 2 or n_out < len(counts):
            log.warning(
                "Not stratifying the split: class %r has %d row(s) and %d rows go to the split "
                "for %d classes.",
                counts.idxmin(),
                counts.min(),
                n_out,
                len(counts),
            )
            strata = None
    attrs = dict(frame.attrs)
    kept, taken = train_test_split(frame, test_size=n_out, random_state=seed, stratify=strata)
    kept.attrs.update(attrs)
    taken.attrs.update(attrs)
    return kept, taken


def sample_shots(labels: np.ndarray, shots: int, seed: int, names: list[str], where: str) -> Any:
    """`shots` row indices per class (sorted), seeded.

    Each class's rows are shuffled once by the seed and the first `shots` taken, so the sample
    for 8 shots is inside the sample for 32: a ladder of sizes adds examples, it never swaps them.
    """
    rng = np.random.default_rng(seed)
    chosen = []
    for cls in np.unique(labels):
        rows = rng.permutation(np.flatnonzero(labels == cls))
        if len(rows) < shots:
            smallest = min(int((labels == c).sum()) for c in np.unique(labels))
            raise DataError(
                f"data.shots is {shots}, but the label {names[int(cls)]!r} has only {len(rows)} "
                "training rows",
                where=where,
                fix=f"Set data.shots to at most {smallest} (the smallest class), or add rows",
            )
        chosen.append(rows[:shots])
    return np.sort(np.concatenate(chosen))


def balanced_indices(labels: np.ndarray, size: int, seed: int) -> np.ndarray:
    """Up to `size` row indices, as even across classes as the classes allow, in random order.

    Classes take turns: each round adds one more row of every class that has rows left, so a
    rare class keeps all its rows and the frequent ones share the rest.
    """
    rng = np.random.default_rng(seed)
    labels = np.asarray(labels)
    if labels.ndim > 1:  # multi-label: no single class per row; sample uniformly
        return np.sort(rng.permutation(len(labels))[:size])
    pools = [rng.permutation(np.flatnonzero(labels == c)) for c in np.unique(labels)]
    chosen: list[int] = []
    depth = 0
    while len(chosen) < size and any(depth < len(pool) for pool in pools):
        for pool in pools:
            if depth < len(pool) and len(chosen) < size:
                chosen.append(int(pool[depth]))
        depth += 1
    return np.asarray(chosen, dtype=np.int64)

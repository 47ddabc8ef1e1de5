"""Interaction data for recommenders: read, check, encode and split per user.

An interactions file has one row per (user, item) event with an optional rating and time; an
item file has one row per item, and its other columns become item features. Ids are kept as
strings (135085 and "135085" are the same item). Repeated (user, item) pairs keep their last
row (by time where there is a time column, else in file order).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from trainforge.config import DataConfig
from trainforge.data.item_features import ItemFeaturizer
from trainforge.data.readers import read_table, row_place
from trainforge.errors import DataError, did_you_mean, format_choices

SPLIT_CODES = {"train": 0, "validation": 1, "test": 2}


@dataclass
class Csr:
    """Item lists per user, compressed: user u's items are indices[indptr[u]:indptr[u + 1]]."""

    indptr: np.ndarray
    indices: np.ndarray

    @classmethod
    def build(cls, users: np.ndarray, items: np.ndarray, n_users: int) -> Csr:
        """From (user, item) pairs; items of a user sorted, duplicates kept once."""
        codes = np.unique(users.astype(np.int64) * (1 << 32) + items.astype(np.int64))
        rows, cols = codes >> 32, codes & 0xFFFFFFFF
        indptr = np.zeros(n_users + 1, dtype=np.int64)
        np.add.at(indptr, rows + 1, 1)
        return cls(np.cumsum(indptr), cols.astype(np.int64))

    def row(self, user: int) -> np.ndarray:
        return self.indices[self.indptr[user] : self.indptr[user + 1]]

    def contains(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """Whether each (user, item) pair is in the lists (binary search on sorted pair codes)."""
        codes = self.codes()
        wanted = users.astype(np.int64) * (1 << 32) + items.astype(np.int64)
        found = np.searchsorted(codes, wanted)
        return codes[np.minimum(found, len(codes) - 1)] == wanted if len(codes) else found < 0

    def codes(self) -> np.ndarray:
        """user * 2**32 + item of every pair, sorted (computed once)."""
        cached: np.ndarray | None = getattr(self, "_codes", None)
        if cached is None:
            users = np.repeat(np.arange(len(self.indptr) - 1), np.diff(self.indptr))
            cached = self._codes = users * (1 << 32) + self.indices
        return cached


@dataclass
class Catalog:
    """What a recommender knows at predict time besides its weights.

    Attributes:
        user_ids: user id per user index.
        item_ids: item id per item index.
        records: display fields per item (the item file's feature columns).
        popularity: relevant training interactions per item (the baseline and the fallback).
        seen: items each user interacted with anywhere in the data (excluded at predict time).
        seen_train: items of each user's training interactions (excluded by `evaluate`).
    """

    user_ids: list[str]
    item_ids: list[str]
    records: list[dict[str, Any]]
    popularity: np.ndarray
    seen: Csr
    seen_train: Csr

    def __post_init__(self) -> None:
        self.user_index = {u: i for i, u in enumerate(self.user_ids)}
        self.item_index = {item: i for i, item in enumerate(self.item_ids)}


@dataclass
class Interactions:
    """Encoded, deduplicated interactions with their split.

    Attributes:
        users, items: user and item index per row.
        relevant: the row counts as relevant (rating at or above the threshold).
        split: 0 train, 1 validation, 2 test.
        threshold: the rating threshold used (None without ratings).
        split_kind: "time" (last interactions by time) or "random" (seeded per-user hold-out).
        stats: counts for metrics.json (dropped rows, users kept in train only, ...).
    """

    users: np.ndarray
    items: np.ndarray
    relevant: np.ndarray
    split: np.ndarray
    threshold: float | None
    split_kind: str
    stats: dict[str, Any]

    def rows(self, split: str) -> np.ndarray:
        return np.flatnonzero(self.split == SPLIT_CODES[split])


@dataclass
class RecommendationData:
    """Everything `prepare` needs: interactions, catalog and item feature tokens."""

    interactions: Interactions
    catalog: Catalog
    tokens: np.ndarray
    featurizer: ItemFeaturizer


def load_recommendation_data(data: DataConfig, seed: int) -> RecommendationData:
    """Read and check both files, encode ids, build item features and split per user."""
    frame = read_table(data.train, encoding=data.encoding)
    needed = [data.user_column, data.item_column, data.rating_column, data.time_column]
    keys = ("user_column", "item_column", "rating_column", "time_column")
    for key, column in zip(keys, needed, strict=True):
        if column is not None:
            require_column(frame, column, f"data.{key}")
    for key, column in (("user_column", data.user_column), ("item_column", data.item_column)):
        _no_missing(frame, column, f"data.{key}")
    users = frame[data.user_column].astype(str).to_numpy()
    items = frame[data.item_column].astype(str).to_numpy()
    items_frame = _read_items(data) if data.items is not None else None
    item_ids = (
        items_frame[data.item_column].astype(str).tolist()
        if items_frame is not None
        else sorted(set(items))
    )
    item_index = {item: i for i, item in enumerate(item_ids)}
    known = np.fromiter((i in item_index for i in items), bool, len(items))
    stats: dict[str, Any] = {"unknown_item_rows": int((~known).sum())}
    if not known.any():
        raise DataError(
            f"none of the {len(items)} interactions names an item of {data.items}",
            where=f"{data.train} column {data.item_column!r}",
            fix="Check that data.item_column holds the same ids in both files",
        )
    if not known.all():
        first = int(np.flatnonzero(~known)[0])
        warnings.warn(
            f"{data.train}: {stats['unknown_item_rows']} interactions name items missing from "
            f"{data.items} (first: {items[first]!r} at {row_place(frame, frame.index[first])}); "
            "they are left out",
            stacklevel=2,
        )
    frame = frame.loc[known]
    users, items = users[known], items[known]
    ratings = _ratings(frame, data.rating_column)
    times = _times(frame, data.time_column)
    user_ids = sorted(set(users))
    user_index = {u: i for i, u in enumerate(user_ids)}
    user_codes = np.fromiter((user_index[u] for u in users), np.int64, len(users))
    item_codes = np.fromiter((item_index[i] for i in items), np.int64, len(items))
    keep = _last_of_pairs(user_codes, item_codes, times)
    stats["duplicate_rows"] = int(len(keep) - keep.sum())
    user_codes, item_codes = user_codes[keep], item_codes[keep]
    ratings = ratings[keep] if ratings is not None else None
    times = times[keep] if times is not None else None
    threshold = None
    relevant = np.ones(len(user_codes), dtype=bool)
    if ratings is not None:
        threshold = (
            float(data.positive_threshold)
            if data.positive_threshold is not None
            else float(np.median(ratings))
        )
        relevant = ratings >= threshold
    split, split_stats = split_per_user(
        user_codes, times, data.split.validation, data.split.test, seed, data.train
    )
    stats |= split_stats
    interactions = Interactions(
        users=user_codes,
        items=item_codes,
        relevant=relevant,
        split=split,
        threshold=threshold,
        split_kind="time" if times is not None else "random",
        stats=stats,
    )
    featurizer = ItemFeaturizer(data.item_features)
    if items_frame is not None:
        tokens = featurizer.fit(items_frame, data.item_column).tokens(items_frame)
        records = featurizer.records(items_frame)
    else:
        tokens = np.zeros((len(item_ids), 1), dtype=np.int64)
        records = [{} for _ in item_ids]
    catalog = build_catalog(interactions, user_ids, item_ids, records)
    return RecommendationData(interactions, catalog, tokens, featurizer)


def build_catalog(
    interactions: Interactions,
    user_ids: list[str],
    item_ids: list[str],
    records: list[dict[str, Any]],
) -> Catalog:
    """Popularity and the seen-item lists of the encoded interactions."""
    data = interactions
    train = data.split == 0
    popularity = np.bincount(data.items[train & data.relevant], minlength=len(item_ids)).astype(
        np.float32
    )
    n_users = len(user_ids)
    return Catalog(
        user_ids=user_ids,
        item_ids=item_ids,
        records=records,
        popularity=popularity,
        seen=Csr.build(data.users, data.items, n_users),
        seen_train=Csr.build(data.users[train], data.items[train], n_users),
    )


def split_per_user(
    users: np.ndarray,
    times: np.ndarray | None,
    validation: float,
    test: float,
    seed: int,
    source: str,
) -> tuple[np.ndarray, dict[str, Any]]:
    """0/1/2 (train/validation/test) per row: each user's last rows by time, else a seeded
    random choice of them, go to test, the ones before to validation.

    A user gets max(1, round(fraction × rows)) rows in each held-out split; users with too few
    rows for that (fewer than 1 + one per held-out split) stay in train.
    """
    n = len(users)
    order_key = times if times is not None else np.random.default_rng(seed).random(n)
    # Sort by user, then time (file order breaks ties), then take positions within each user.
    order = np.lexsort((np.arange(n), order_key, users))
    counts = np.bincount(users)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    position = np.empty(n, dtype=np.int64)
    position[order] = np.arange(n) - starts[users[order]]
    held = [f for f in (validation, test) if f > 0]
    minimum = 1 + len(held)
    n_test = np.where(test > 0, np.maximum(1, np.rint(test * counts)), 0).astype(np.int64)
    n_val = np.where(validation > 0, np.maximum(1, np.rint(validation * counts)), 0)
    n_val = np.minimum(n_val.astype(np.int64), np.maximum(counts - n_test - 1, 0))
    enough = counts >= minimum
    n_test, n_val = np.where(enough, n_test, 0), np.where(enough, n_val, 0)
    if held and not enough.any():
        raise DataError(
            f"no user has the {minimum} interactions a per-user split needs "
            f"(most: {int(counts.max())})",
            where=source,
            fix="Add interactions, or lower data.split.validation / data.split.test to 0 for "
            "the splits you do without",
        )
    per_row = counts[users]
    cut_test = per_row - n_test[users]
    cut_val = cut_test - n_val[users]
    split = np.zeros(n, dtype=np.int8)
    split[position >= cut_val] = 1
    split[position >= cut_test] = 2
    stats = {"users": len(counts), "users_train_only": int((~enough).sum())}
    return split, stats


def require_column(frame: pd.DataFrame, column: str, key: str) -> None:
    """A DataError naming the file, the missing column and those there are."""
    if column not in frame.columns:
        available = [str(c) for c in frame.columns]
        raise DataError(
            f"column {column!r} ({key}) not found; the file has {format_choices(available)}",
            where=str(frame.attrs.get("source", "data")),
            fix=f"Set {key} to one of these columns.{did_you_mean(column, available)}",
        )


def _no_missing(frame: pd.DataFrame, column: str, key: str) -> None:
    missing = frame[column].isna().to_numpy()
    if missing.any():
        first = frame.index[int(np.flatnonzero(missing)[0])]
        raise DataError(
            f"{int(missing.sum())} rows have no {column!r} ({key})",
            where=row_place(frame, first),
            fix="Fill in or remove the rows without an id",
        )


def _read_items(data: DataConfig) -> pd.DataFrame:
    assert data.items is not None
    items = read_table(data.items, encoding=data.encoding)
    require_column(items, data.item_column, "data.item_column")
    _no_missing(items, data.item_column, "data.item_column")
    for column in data.item_features or []:
        require_column(items, column, "data.item_features")
    ids = items[data.item_column].astype(str)
    duplicated = ids.duplicated().to_numpy()
    if duplicated.any():
        first = items.index[int(np.flatnonzero(duplicated)[0])]
        raise DataError(
            f"item {ids.loc[first]!r} appears more than once in the item file",
            where=row_place(items, first),
            fix="Keep one row per item",
        )
    return items


def _ratings(frame: pd.DataFrame, column: str | None) -> np.ndarray | None:
    if column is None:
        return None
    values = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=np.float64)
    bad = ~np.isfinite(values)
    if bad.any():
        first = frame.index[int(np.flatnonzero(bad)[0])]
        raise DataError(
            f"rating {frame[column].loc[first]!r} is not a number ({bad.sum()} such rows)",
            where=f"{row_place(frame, first)} column {column!r}",
            fix="Give every row a numeric rating, or drop data.rating_column to treat every "
            "row as a positive interaction",
        )
    return values


def _times(frame: pd.DataFrame, column: str | None) -> np.ndarray | None:
    if column is None:
        return None
    raw = frame[column]
    numeric = pd.to_numeric(raw, errors="coerce")
    if numeric.notna().all():
        return numeric.to_numpy(dtype=np.float64)
    parsed = pd.to_datetime(raw, errors="coerce", utc=True)
    bad = parsed.isna().to_numpy()
    if bad.any():
        first = frame.index[int(np.flatnonzero(bad)[0])]
        raise DataError(
            f"time {raw.loc[first]!r} is neither a number nor a date",
            where=f"{row_place(frame, first)} column {column!r}",
            fix="Use numbers (e.g. Unix seconds) or ISO dates such as 2024-05-01T12:00:00",
        )
    return (parsed - pd.Timestamp(0, tz="UTC")).dt.total_seconds().to_numpy(dtype=np.float64)


def _last_of_pairs(users: np.ndarray, items: np.ndarray, times: np.ndarray | None) -> np.ndarray:
    """A mask keeping the last row of each (user, item) pair (by time, then file order)."""
    n = len(users)
    key = times if times is not None else np.zeros(n)
    order = np.lexsort((np.arange(n), key, items, users))
    pair = users[order] * (1 << 32) + items[order]
    last = np.ones(n, dtype=bool)
    last[:-1] = pair[1:] != pair[:-1]
    keep = np.zeros(n, dtype=bool)
    keep[order[last]] = True
    return keep

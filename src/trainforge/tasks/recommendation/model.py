"""Top-k recommendations from a recommender package: `trainforge.load(path).predict(users)`.

A user known from training gets the items with the highest model scores among those they have
not interacted with yet; an unknown user gets the most popular items, flagged
`"fallback": "popularity"`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd

from trainforge.data.interactions import Catalog
from trainforge.errors import DataError
from trainforge.evaluation.ranking import RankingSet, Ranks, rank_relevant, ranking_set, tie_order
from trainforge.tasks.model import CHUNK_ROWS, Model, Rows, as_frame

DEFAULT_K = 10
MAX_K = 1000
USER_KEY = "user"


class RecommenderModel(Model):
    """A trained recommender: network, catalog (ids, item fields, seen items, popularity).

    Built by training (in memory) or by `trainforge.load` (from a package).

    Example:
        >>> model = trainforge.load("runs/restaurants/model")
        >>> model.predict([{"user": "U1077"}], k=5)[0]["items"][0]
        {'item': '135032', 'score': 7.98, 'name': 'Cafeteria y Restaurant El Pacifico', ...}
    """

    @property
    def catalog(self) -> Catalog:
        catalog: Catalog = self.inputs
        return catalog

    def predict(  # type: ignore[override]
        self, rows: Rows, k: int = DEFAULT_K, exclude_seen: bool = True
    ) -> list[dict[str, Any]]:
        """Top-k items per user: {"user", "known_user", "fallback", "items": [{"item",
        "score", ...item fields}]}.

        Args:
            rows: user ids, dicts with "user" (or the config's user column) and optionally
                "k", a DataFrame, or a CSV/JSONL file of them.
            k: items per user where a row gives no "k" (1 to 1000).
            exclude_seen: leave out the items the user interacted with anywhere in the
                training file (every split).
        """
        return list(self.predict_stream(self.frame(rows), k=k, exclude_seen=exclude_seen))

    def predict_stream(  # type: ignore[override]
        self,
        frame: Any,
        chunk_rows: int = CHUNK_ROWS,
        k: int = DEFAULT_K,
        exclude_seen: bool = True,
    ) -> Iterator[dict[str, Any]]:
        """The recommendations of `predict`, computed `chunk_rows` users at a time."""
        ks = self._ks(frame, k)
        users = frame[USER_KEY].astype(str).tolist()
        for start in range(0, len(users), chunk_rows):
            stop = start + chunk_rows
            yield from self.recommend(users[start:stop], ks[start:stop], exclude_seen)

    def frame(self, rows: Rows) -> pd.DataFrame:
        """Rows as a DataFrame with a "user" column (plain strings are user ids)."""
        frame = as_frame(rows, self.config.data.encoding, USER_KEY)
        column = self.config.data.user_column
        if USER_KEY not in frame.columns and column in frame.columns:
            frame = frame.rename(columns={column: USER_KEY})
        if USER_KEY not in frame.columns:
            raise DataError(
                f"no user column: expected {USER_KEY!r} or {column!r}, got "
                f"{[str(c) for c in frame.columns]}",
                where=str(frame.attrs.get("source", "input")),
                fix=f'Give one user per row, e.g. {{"{USER_KEY}": "U1077"}}',
            )
        missing = frame[USER_KEY].isna().to_numpy()
        if missing.any():
            raise DataError(
                "a row has no user id",
                where=f"{frame.attrs.get('source', 'input')} row {int(np.flatnonzero(missing)[0])}",
                fix="Give a user id in every row",
            )
        return frame

    def output(self, frame: Any) -> np.ndarray:
        """(rows, items) scores of the frame's users (popularity for unknown users)."""
        users = frame[USER_KEY].astype(str).tolist()
        index = np.array([self.catalog.user_index.get(u, -1) for u in users])
        scores = np.tile(self.catalog.popularity.astype(np.float64), (len(users), 1))
        known = index >= 0
        if known.any():
            scores[known] = self.user_scores(index[known])
        return scores

    def user_scores(self, users: np.ndarray) -> np.ndarray:
        """(len(users), items) model scores of known user indices."""
        import torch

        vectors, bias = self._item_vectors()
        with torch.inference_mode():
            user_vectors = self.network.users(torch.as_tensor(users, dtype=torch.int64))
            return (user_vectors @ vectors.T + bias).double().numpy()

    def recommend(
        self, users: list[str], ks: list[int], exclude_seen: bool = True
    ) -> list[dict[str, Any]]:
        """Top-k items for user ids (one k per user)."""
        catalog = self.catalog
        index = np.array([catalog.user_index.get(u, -1) for u in users], dtype=np.int64)
        scores = np.tile(catalog.popularity.astype(np.float64), (len(users), 1))
        known = index >= 0
        if known.any():
            scores[known] = self.user_scores(index[known])
            if exclude_seen:
                for row in np.flatnonzero(known):
                    scores[row, catalog.seen.row(index[row])] = -np.inf
        out = []
        for position, (user, k) in enumerate(zip(users, ks, strict=True)):
            top = _top_k(scores[position], k)
            out.append(
                {
                    "user": user,
                    "known_user": bool(known[position]),
                    "fallback": None if known[position] else "popularity",
                    "items": [self._item(i, float(scores[position, i])) for i in top],
                }
            )
        return out

    def _item(self, index: int, score: float) -> dict[str, Any]:
        """One recommended item: its id, its score, then its fields from the item file."""
        fields = self.catalog.records[index]
        return {
            "item": self.catalog.item_ids[index],
            "score": round(score, 6),
            **{k: v for k, v in fields.items() if k not in ("item", "score")},
        }

    def rank(self, truth: RankingSet) -> dict[str, Ranks]:
        """Ranks of the relevant items under the model and under popularity."""
        self._vectors = None  # the weights may have changed since the last call (training)
        ties = tie_order(truth.n_items)
        popularity = self.catalog.popularity.astype(np.float64)
        return {
            "model": rank_relevant(truth, self.user_scores, ties),
            "popularity": rank_relevant(
                truth, lambda users: np.tile(popularity, (len(users), 1)), ties
            ),
        }

    def evaluate(self, rows: Rows) -> dict[str, Any]:
        """Ranking metrics on held-out interactions (a file or frame with the config's user,
        item and rating columns); each user's training interactions are not candidates."""
        from trainforge.data.interactions import require_column

        data = self.config.data
        frame = as_frame(rows, data.encoding)
        for key in ("user_column", "item_column", "rating_column"):
            column = getattr(data, key)
            if column is not None:
                require_column(frame, column, f"data.{key}")
        catalog = self.catalog
        users = frame[data.user_column].astype(str).map(catalog.user_index)
        items = frame[data.item_column].astype(str).map(catalog.item_index)
        usable = users.notna() & items.notna()
        threshold = self.target.threshold  # type: ignore[union-attr]
        if data.rating_column is not None and threshold is not None:
            ratings = pd.to_numeric(frame[data.rating_column], errors="coerce")
            usable &= ratings >= threshold
        truth = ranking_set(
            users[usable].to_numpy(dtype=np.int64),
            items[usable].to_numpy(dtype=np.int64),
            catalog.seen_train.indptr,
            catalog.seen_train.indices,
            len(catalog.item_ids),
        )
        if len(truth) == 0:
            raise DataError(
                "no relevant interaction of a known user and item to evaluate on",
                where=str(frame.attrs.get("source", "input")),
                fix="Pass held-out interactions of users and items the model was trained with",
            )
        metrics = self.target.metrics(truth, self.rank(truth))  # type: ignore[arg-type]
        metrics["unknown_rows"] = int((users.isna() | items.isna()).sum())
        return metrics

    def _item_vectors(self) -> Any:
        cached = getattr(self, "_vectors", None)
        if cached is None:
            self.network.eval()
            cached = self._vectors = self.network.all_items()
        return cached

    def _ks(self, frame: pd.DataFrame, default: int) -> list[int]:
        """k per row: the row's "k" where given, else `default`; each within 1..MAX_K."""
        values = frame["k"].tolist() if "k" in frame.columns else [default] * len(frame)
        ks = []
        for row, value in enumerate(values):
            if value is None or (isinstance(value, float) and np.isnan(value)):
                value = default
            if not _whole(value) or not 1 <= int(value) <= MAX_K:
                raise DataError(
                    f"k must be a whole number from 1 to {MAX_K}, got {value!r}",
                    where=f"{frame.attrs.get('source', 'input')} row {row}",
                    fix=f"Ask for between 1 and {MAX_K} items",
                )
            ks.append(int(value))
        return ks


def _top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k best finite scores, best first."""
    finite = np.flatnonzero(np.isfinite(scores))
    if len(finite) > k:
        part = np.argpartition(-scores[finite], k - 1)[:k]
        finite = finite[part]
    order = np.lexsort((finite, -scores[finite]))
    return finite[order]


def _whole(value: Any) -> bool:
    """A whole number (not a bool; strings such as "5" count, as CSV files give them)."""
    if isinstance(value, bool):
        return False
    try:
        return float(value).is_integer()
    except (TypeError, ValueError):
        return False

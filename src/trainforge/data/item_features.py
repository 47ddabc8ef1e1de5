"""Item features as bags of hashed tokens: text words, categories and numeric bins.

Every item column becomes tokens of one kind, inferred from the values: numbers are cut into
quantile bins ("price#3"), short repeated strings are categories ("city=s.l.p."; "a|b" is two
categories), anything
else is text, split into lower-case words ("name:tacos"). Tokens are hashed (CRC32) into
`buckets` ids, so the state is a few numbers per column and unseen words still get an id; the
recommender embeds each bag as the mean of its tokens' vectors.
"""

from __future__ import annotations

import re
import zlib
from typing import Any

import numpy as np
import pandas as pd

BUCKETS = 1 << 14
MAX_TOKENS = 48  # per item; categories and bins come first, then text words in order
NUMERIC_BINS = 8
_WORD = re.compile(r"\w+")


class ItemFeaturizer:
    """Infers each item column's kind and turns item rows into padded token-id rows.

    Args:
        columns: the item columns to use; every column but the item id by default.
        buckets: hash buckets (token ids 1..buckets; 0 pads).

    Example:
        >>> featurizer = ItemFeaturizer(None).fit(items, "movie_id")
        >>> featurizer.tokens(items).shape
        (1682, 48)
    """

    def __init__(self, columns: list[str] | None, buckets: int = BUCKETS) -> None:
        self.columns = columns
        self.buckets = buckets

    def fit(self, items: pd.DataFrame, id_column: str) -> ItemFeaturizer:
        """Decide each column's kind (and numeric bin edges); returns self."""
        names = self.columns or [str(c) for c in items.columns if c != id_column]
        self.specs_: list[dict[str, Any]] = [_spec(items[name], name) for name in names]
        return self

    def state_dict(self) -> dict[str, Any]:
        return {"buckets": self.buckets, "columns": self.specs_}

    def tokens(self, items: pd.DataFrame) -> np.ndarray:
        """(items, width) int64 token ids, 0-padded; width = the longest bag, at most 48."""
        bags: list[list[int]] = [[] for _ in range(len(items))]
        ordered = sorted(self.specs_, key=lambda spec: spec["kind"] == "text")
        for spec in ordered:
            for bag, value in zip(bags, items[spec["name"]].tolist(), strict=True):
                bag.extend(self._hash(spec["name"], t) for t in _tokens(spec, value))
        width = max(1, min(MAX_TOKENS, max((len(bag) for bag in bags), default=1)))
        matrix = np.zeros((len(bags), width), dtype=np.int64)
        for row, bag in enumerate(bags):
            bag = bag[:width]
            matrix[row, : len(bag)] = bag
        return matrix

    def records(self, items: pd.DataFrame) -> list[dict[str, Any]]:
        """The feature columns of each item, as JSON-ready values (missing values left out)."""
        names = [spec["name"] for spec in self.specs_]
        out = []
        for row in items[names].itertuples(index=False, name=None):
            out.append({n: _plain(v) for n, v in zip(names, row, strict=True) if not _missing(v)})
        return out

    def _hash(self, column: str, token: str) -> int:
        return zlib.crc32(f"{column}\x1f{token}".encode()) % self.buckets + 1


def _spec(values: pd.Series, name: str) -> dict[str, Any]:
    """{"name", "kind": numeric|categorical|text, "edges" for numeric}."""
    present = values.dropna()
    if pd.api.types.is_bool_dtype(values):
        return {"name": name, "kind": "categorical"}
    if pd.api.types.is_numeric_dtype(values):
        quantiles = np.linspace(0, 1, NUMERIC_BINS + 1)[1:-1]
        edges: list[float] | np.ndarray = (
            np.unique(np.quantile(present.to_numpy(dtype=float), quantiles)) if len(present) else []
        )
        return {"name": name, "kind": "numeric", "edges": [float(e) for e in edges]}
    strings = present.astype(str)
    words = strings.map(lambda s: len(_WORD.findall(s))).mean() if len(strings) else 0.0
    repeated = strings.nunique() <= max(20, len(strings) // 2)
    kind = "categorical" if repeated and words <= 1.5 else "text"
    return {"name": name, "kind": kind}


def _tokens(spec: dict[str, Any], value: Any) -> list[str]:
    if _missing(value):
        return []
    if spec["kind"] == "numeric":
        try:
            number = float(value)
        except (TypeError, ValueError):
            return []
        return [f"#{int(np.searchsorted(spec['edges'], number, side='right'))}"]
    if spec["kind"] == "categorical":  # "drama|crime": one token per part
        return [f"={part.strip()}" for part in str(value).split("|") if part.strip()]
    return [f":{word}" for word in _WORD.findall(str(value).lower())]


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value))


def _plain(value: Any) -> Any:
    """numpy scalars as Python ones, for JSON."""
    return value.item() if isinstance(value, np.generic) else value

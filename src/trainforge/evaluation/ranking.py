"""Ranking metrics of a recommender: HR@k, NDCG@k, MAP@k and AUC from the ranks of relevant items.

Each evaluated user ranks every candidate item (all items except those excluded for them, e.g.
their training interactions) by score; ties are broken by one fixed, seeded order of the items,
the same for every scorer, so a constant scorer gets no credit from ties. All four metrics
follow from the 1-based ranks of the user's relevant items among the candidates:

    HR@k    1 if a relevant item is in the top k
    NDCG@k  sum over relevant ranks r <= k of 1/log2(r + 1), divided by the best possible sum
    MAP@k   sum over relevant ranks r <= k of precision@r, divided by min(k, relevant items)
    AUC     the fraction of (relevant, other candidate) pairs ranked the right way round

and are averaged over users with at least one relevant item.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

K = 10
USER_CHUNK = 256  # users scored at a time: (chunk, items) float32 scores in memory


@dataclass
class RankingSet:
    """Who is evaluated on what.

    Attributes:
        users: user index per evaluated user.
        relevant_indptr, relevant: relevant items of user j are
            relevant[relevant_indptr[j]:relevant_indptr[j + 1]].
        excluded_indptr, excluded: items that are not candidates for user j (same layout).
        n_items: items in the catalog.
    """

    users: np.ndarray
    relevant_indptr: np.ndarray
    relevant: np.ndarray
    excluded_indptr: np.ndarray
    excluded: np.ndarray
    n_items: int

    def __len__(self) -> int:
        return len(self.users)


@dataclass
class Ranks:
    """1-based ranks of each user's relevant items (sorted per user) and candidates per user."""

    indptr: np.ndarray
    ranks: np.ndarray
    candidates: np.ndarray


def tie_order(n_items: int, seed: int = 0) -> np.ndarray:
    """The fixed order that breaks ties between equal scores."""
    return np.random.default_rng(seed).permutation(n_items)


def rank_relevant(
    truth: RankingSet,
    scores: Callable[[np.ndarray], np.ndarray],
    ties: np.ndarray,
    chunk: int = USER_CHUNK,
) -> Ranks:
    """Ranks of the relevant items under a scorer.

    Args:
        truth: the users and their relevant and excluded items.
        scores: user indices (b,) -> scores (b, n_items); higher ranks first.
        ties: `tie_order(n_items)`: among equal scores, earlier in this order ranks first.
        chunk: users scored at a time.
    """
    n_items = truth.n_items
    position = np.empty(n_items, dtype=np.int64)
    position[ties] = np.arange(n_items)  # item -> its column after reordering by `ties`
    out = np.empty(len(truth.relevant), dtype=np.int64)
    candidates = np.empty(len(truth), dtype=np.int64)
    for start in range(0, len(truth), chunk):
        stop = min(start + chunk, len(truth))
        block = np.asarray(scores(truth.users[start:stop]), dtype=np.float64)
        lo, hi = truth.excluded_indptr[start], truth.excluded_indptr[stop]
        rows = np.repeat(np.arange(stop - start), np.diff(truth.excluded_indptr[start : stop + 1]))
        block[rows, truth.excluded[lo:hi]] = -np.inf
        candidates[start:stop] = n_items - np.diff(truth.excluded_indptr[start : stop + 1])
        reordered = block[:, ties]
        order = np.argsort(-reordered, axis=1, kind="stable")
        rank_of_column = np.empty_like(order)
        np.put_along_axis(rank_of_column, order, np.arange(n_items)[None, :], axis=1)
        lo, hi = truth.relevant_indptr[start], truth.relevant_indptr[stop]
        rows = np.repeat(np.arange(stop - start), np.diff(truth.relevant_indptr[start : stop + 1]))
        out[lo:hi] = rank_of_column[rows, position[truth.relevant[lo:hi]]] + 1
    # Sorted within each user (the metrics count the relevant items above each one).
    user_of = np.repeat(np.arange(len(truth)), np.diff(truth.relevant_indptr))
    out = out[np.lexsort((out, user_of))]
    return Ranks(truth.relevant_indptr, out, candidates)


def ranking_metrics(ranks: Ranks, k: int = K) -> dict[str, float]:
    """hr_at_k, ndcg_at_k, map_at_k and auc averaged over users, plus the number of users.

    Example:
        >>> ranks = Ranks(np.array([0, 1]), np.array([3]), np.array([5]))
        >>> ranking_metrics(ranks, k=10)["ndcg_at_10"]  # 1 / log2(4)
        0.5
    """
    indptr, r, candidates = ranks.indptr, ranks.ranks.astype(np.float64), ranks.candidates
    n_users = len(indptr) - 1
    if n_users == 0:
        return {
            f"hr_at_{k}": 0.0,
            f"ndcg_at_{k}": 0.0,
            f"map_at_{k}": 0.0,
            "auc": 0.0,
            "users": 0,
        }
    counts = np.diff(indptr)
    user_of = np.repeat(np.arange(n_users), counts)
    # j: how many relevant items of the same user rank above this one (ranks are sorted).
    j = np.arange(len(r)) - indptr[user_of]
    hit = r <= k
    hr = np.bincount(user_of, weights=hit, minlength=n_users) > 0
    dcg = np.bincount(user_of, weights=hit / np.log2(r + 1), minlength=n_users)
    discounts = np.cumsum(1 / np.log2(np.arange(2, k + 2)))
    ideal = discounts[np.minimum(counts, k) - 1]
    precision = np.where(hit, (j + 1) / r, 0.0)
    average_precision = np.bincount(user_of, weights=precision, minlength=n_users) / np.minimum(
        counts, k
    )
    negatives = (candidates - counts).astype(np.float64)
    above = r - 1 - j  # other candidates ranked above this relevant item
    with np.errstate(divide="ignore", invalid="ignore"):
        pair_share = 1 - above / negatives[user_of]
        auc = np.bincount(user_of, weights=pair_share, minlength=n_users) / counts
    has_negatives = negatives > 0
    return {
        f"hr_at_{k}": float(hr.mean()),
        f"ndcg_at_{k}": float((dcg / ideal).mean()),
        f"map_at_{k}": float(average_precision.mean()),
        "auc": float(auc[has_negatives].mean()) if has_negatives.any() else 0.0,
        "users": int(n_users),
    }


def ranking_set(
    users: np.ndarray,
    items: np.ndarray,
    excluded_indptr: np.ndarray,
    excluded: np.ndarray,
    n_items: int,
) -> RankingSet:
    """The users of relevant (user, item) pairs, with their relevant and excluded items.

    Args:
        users, items: relevant pairs (user and item indices).
        excluded_indptr, excluded: items excluded per user index (over all users), e.g. their
            training interactions; a relevant pair that is also excluded is dropped.
        n_items: items in the catalog.
    """
    excluded_codes = (
        np.repeat(np.arange(len(excluded_indptr) - 1), np.diff(excluded_indptr)) * (1 << 32)
        + excluded
    )
    codes = np.unique(users.astype(np.int64) * (1 << 32) + items.astype(np.int64))
    codes = codes[~np.isin(codes, excluded_codes)]
    pair_users, pair_items = codes >> 32, codes & 0xFFFFFFFF
    evaluated, counts = np.unique(pair_users, return_counts=True)
    relevant_indptr = np.concatenate([[0], np.cumsum(counts)])
    lengths = excluded_indptr[evaluated + 1] - excluded_indptr[evaluated]
    starts = excluded_indptr[evaluated]
    excluded_rows = (
        np.concatenate([np.arange(s, s + n) for s, n in zip(starts, lengths, strict=True)])
        if len(evaluated)
        else np.zeros(0, dtype=np.int64)
    )
    return RankingSet(
        users=evaluated.astype(np.int64),
        relevant_indptr=relevant_indptr.astype(np.int64),
        relevant=pair_items.astype(np.int64),
        excluded_indptr=np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
        excluded=excluded[excluded_rows.astype(np.int64)].astype(np.int64),
        n_items=n_items,
    )

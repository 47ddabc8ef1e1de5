"""Ranking metrics checked by hand on tiny cases."""

from __future__ import annotations

import math

import numpy as np
import pytest

from trainforge.evaluation.ranking import (
    Ranks,
    rank_relevant,
    ranking_metrics,
    ranking_set,
    tie_order,
)


def ranks(per_user: list[list[int]], candidates: list[int]) -> Ranks:
    indptr = np.concatenate([[0], np.cumsum([len(r) for r in per_user])])
    flat = np.array([r for user in per_user for r in sorted(user)], dtype=np.int64)
    return Ranks(indptr, flat, np.array(candidates))


def test_one_relevant_item_at_rank_three() -> None:
    metrics = ranking_metrics(ranks([[3]], [5]), k=10)
    assert metrics["hr_at_10"] == 1.0
    assert metrics["ndcg_at_10"] == pytest.approx(1 / math.log2(4))
    assert metrics["map_at_10"] == pytest.approx(1 / 3)
    # Two of the four other candidates rank above it.
    assert metrics["auc"] == pytest.approx(2 / 4)


def test_two_relevant_items_and_a_miss() -> None:
    # User 0: relevant at ranks 1 and 4 of 6 candidates; user 1: relevant at rank 12 of 20.
    metrics = ranking_metrics(ranks([[1, 4], [12]], [6, 20]), k=10)
    ndcg_0 = (1 + 1 / math.log2(5)) / (1 + 1 / math.log2(3))
    assert metrics["hr_at_10"] == pytest.approx(0.5)
    assert metrics["ndcg_at_10"] == pytest.approx(ndcg_0 / 2)
    assert metrics["map_at_10"] == pytest.approx(((1 / 1 + 2 / 4) / 2) / 2)
    # User 0: 4 negatives; item at 1 beats all, item at 4 beats 2 of 4 -> (1 + 0.5) / 2.
    # User 1: 19 negatives, 11 above -> 8 / 19.
    assert metrics["auc"] == pytest.approx((0.75 + 8 / 19) / 2)
    assert metrics["users"] == 2


def test_rank_relevant_excludes_items_and_breaks_ties_by_a_fixed_order() -> None:
    scores = np.array([[0.9, 0.8, 0.7, 0.1, 0.5]])
    # Relevant: item 3; excluded: item 0 (seen in training), so 4 candidates.
    truth = ranking_set(np.array([0]), np.array([3]), np.array([0, 1]), np.array([0]), 5)
    result = rank_relevant(truth, lambda users: scores[users], tie_order(5))
    assert result.candidates.tolist() == [4]
    assert result.ranks.tolist() == [4]  # below 0.8, 0.7 and 0.5
    # A constant scorer: the rank is the item's place in the tie order among candidates.
    ties = np.array([4, 3, 2, 1, 0])
    flat = rank_relevant(truth, lambda users: np.zeros((len(users), 5)), ties)
    assert flat.ranks.tolist() == [2]  # item 4 first, then item 3


def test_ranking_set_drops_relevant_items_already_seen() -> None:
    truth = ranking_set(
        np.array([0, 0, 1]), np.array([1, 2, 2]), np.array([0, 1, 2]), np.array([1, 2]), 4
    )
    # User 0's item 1 was seen: only item 2 stays relevant; user 1 had item 2 seen: dropped.
    assert truth.users.tolist() == [0]
    assert truth.relevant.tolist() == [2]
    assert truth.excluded.tolist() == [1]

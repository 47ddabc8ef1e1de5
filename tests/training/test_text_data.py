"""Token batches: length-grouped sampling (exact resumes), padding, and token noise."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from trainforge.config import AugmentConfig
from trainforge.training.text_data import LengthGroupedBatchSampler, noisy_tokens, pad_batch

CLS, SEP, PAD = 101, 102, 0
SPECIAL = frozenset({CLS, SEP, PAD})


def _skewed_lengths(n: int = 2000, seed: int = 0) -> list[int]:
    """Mostly short texts with a long tail, like real corpora."""
    rng = np.random.default_rng(seed)
    return [int(x) for x in np.clip(rng.lognormal(3.0, 0.8, size=n), 3, 512)]


def _epoch(lengths: list[int], epoch: int, seed: int = 13, batch_size: int = 16) -> list:
    sampler = LengthGroupedBatchSampler(lengths, batch_size, seed)
    # Lightning calls set_epoch on `batch_sampler.sampler` before each epoch.
    sampler.sampler.set_epoch(epoch)
    return list(sampler)


def _padding(batches: list[list[int]], lengths: list[int]) -> int:
    return sum(max(lengths[i] for i in b) * len(b) - sum(lengths[i] for i in b) for b in batches)


# --- LengthGroupedBatchSampler ------------------------------------------------------------


@pytest.mark.parametrize("n", [1, 15, 16, 1001, 2000])
def test_every_index_exactly_once_per_epoch(n: int) -> None:
    lengths = _skewed_lengths(n)
    sampler = LengthGroupedBatchSampler(lengths, 16, seed=3)
    for epoch in (0, 1):
        sampler.sampler.set_epoch(epoch)
        batches = list(sampler)
        flat = [i for batch in batches for i in batch]
        assert sorted(flat) == list(range(n))
        assert len(batches) == len(sampler)
        assert all(1 <= len(b) <= 16 for b in batches)


def test_same_seed_and_epoch_give_the_same_batches_even_from_a_fresh_sampler() -> None:
    lengths = _skewed_lengths()
    sampler = LengthGroupedBatchSampler(lengths, 16, seed=13)
    for epoch in range(3):
        sampler.sampler.set_epoch(epoch)
        first = list(sampler)
        assert list(sampler) == first  # iterating again within the epoch changes nothing
        # A resumed run builds a new sampler and only sets the epoch: it must see the same order.
        assert _epoch(lengths, epoch) == first


def test_order_changes_across_epochs_and_seeds() -> None:
    lengths = _skewed_lengths()
    epoch0, epoch1 = _epoch(lengths, 0), _epoch(lengths, 1)
    assert epoch0 != epoch1
    assert {tuple(sorted(b)) for b in epoch0} != {tuple(sorted(b)) for b in epoch1}
    assert _epoch(lengths, 0, seed=14) != epoch0


def test_length_grouping_needs_much_less_padding_than_random_batches() -> None:
    lengths = _skewed_lengths()
    grouped = _epoch(lengths, 0)
    order = list(range(len(lengths)))
    random.Random(0).shuffle(order)
    shuffled = [order[i : i + 16] for i in range(0, len(order), 16)]
    assert _padding(grouped, lengths) < 0.25 * _padding(shuffled, lengths)


def test_batches_come_in_random_order_not_longest_first() -> None:
    lengths = _skewed_lengths()
    longest = [max(lengths[i] for i in b) for b in _epoch(lengths, 0)]
    assert longest != sorted(longest, reverse=True)
    assert longest != sorted(longest)


# --- pad_batch ----------------------------------------------------------------------------


def test_pad_batch_pads_to_the_longest_with_the_pad_id_and_zero_masks() -> None:
    rows = [
        {"input_ids": [CLS, 5, 6, SEP], "attention_mask": [1] * 4, "token_type_ids": [0] * 4,
         "labels": 1},
        {"input_ids": [CLS, 7, SEP], "attention_mask": [1] * 3, "token_type_ids": [0, 0, 1],
         "labels": 0},
        {"input_ids": [CLS, 8, 9, 10, 11, SEP], "attention_mask": [1] * 6,
         "token_type_ids": [0, 0, 0, 1, 1, 1], "labels": 1},
    ]  # fmt: skip
    batch = pad_batch(rows, pad_id=7)

    assert set(batch) == {"input_ids", "attention_mask", "token_type_ids", "labels"}
    assert all(t.dtype == torch.long for t in batch.values())
    assert batch["input_ids"].tolist() == [
        [CLS, 5, 6, SEP, 7, 7],
        [CLS, 7, SEP, 7, 7, 7],
        [CLS, 8, 9, 10, 11, SEP],
    ]
    assert batch["attention_mask"].tolist() == [[1] * 4 + [0] * 2, [1] * 3 + [0] * 3, [1] * 6]
    assert batch["token_type_ids"].tolist() == [
        [0, 0, 0, 0, 0, 0],
        [0, 0, 1, 0, 0, 0],
        [0, 0, 0, 1, 1, 1],
    ]
    assert batch["labels"].tolist() == [1, 0, 1]


def test_pad_batch_stacks_multi_label_rows_as_floats_and_skips_absent_keys() -> None:
    rows = [
        {"input_ids": [CLS, SEP], "attention_mask": [1, 1], "labels": [1.0, 0.0, 1.0]},
        {"input_ids": [CLS, 5, SEP], "attention_mask": [1, 1, 1], "labels": [0.0, 0.0, 1.0]},
    ]
    batch = pad_batch(rows, pad_id=0)
    assert "token_type_ids" not in batch
    assert batch["labels"].dtype == torch.float32
    assert batch["labels"].shape == (2, 3)
    assert "labels" not in pad_batch([{"input_ids": [1], "attention_mask": [1]}], 0)


# --- noisy_tokens -------------------------------------------------------------------------


def _pair_row() -> dict:
    ids = [CLS, *range(1000, 1012), SEP, *range(2000, 2008), SEP]
    types = [0] * 14 + [1] * 9
    return {"input_ids": ids, "attention_mask": [1] * len(ids), "token_type_ids": types,
            "labels": 1}  # fmt: skip


def test_noise_is_a_no_op_at_zero_deletion_and_swap() -> None:
    row = _pair_row()
    torch.manual_seed(0)
    assert noisy_tokens(row, AugmentConfig(deletion=0.0, swap=0.0), SPECIAL) == row


@pytest.mark.parametrize("seed", range(20))
def test_noise_never_drops_or_moves_special_tokens(seed: int) -> None:
    row = _pair_row()
    torch.manual_seed(seed)
    out = noisy_tokens(row, AugmentConfig(deletion=0.4, swap=0.4), SPECIAL)

    ids = out["input_ids"]
    assert [t for t in ids if t in SPECIAL] == [CLS, SEP, SEP]
    assert ids[0] == CLS and ids[-1] == SEP
    # Words stay in their segment: swaps never cross [SEP], deletions only drop words.
    middle = ids.index(SEP)
    assert set(ids[1:middle]) <= set(range(1000, 1012))
    assert set(ids[middle + 1 : -1]) <= set(range(2000, 2008))
    words = [t for t in ids if t not in SPECIAL]
    assert len(set(words)) == len(words)  # no word duplicated
    # Every per-token column follows its token.
    assert len(out["attention_mask"]) == len(out["token_type_ids"]) == len(ids)
    assert out["token_type_ids"] == [0] * (middle + 1) + [1] * (len(ids) - middle - 1)
    assert out["labels"] == 1


def test_noise_changes_the_words_and_keeps_at_least_one() -> None:
    row = {"input_ids": [CLS, 1000, 1001, SEP], "attention_mask": [1, 1, 1, 1]}
    changed = False
    for seed in range(30):
        torch.manual_seed(seed)
        out = noisy_tokens(row, AugmentConfig(deletion=0.49, swap=0.49), SPECIAL)
        words = [t for t in out["input_ids"] if t not in SPECIAL]
        assert words, "every word was deleted"
        changed |= out["input_ids"] != row["input_ids"]
    assert changed

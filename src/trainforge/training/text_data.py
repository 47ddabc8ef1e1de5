"""Batches for token sequences: length-grouped (half the padding), padded per batch only."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import Any

import torch
from torch.utils.data import DataLoader

from trainforge.training.callbacks import EpochShuffleSampler

TOKEN_KEYS = ("input_ids", "attention_mask", "token_type_ids")


class LengthGroupedBatchSampler:
    """Batches of similar length, in a random order that depends only on (seed, epoch).

    As the transformers Trainer's `group_by_length`: shuffle, cut into mega-batches of
    `mega` batches, sort each by length, cut into batches; then shuffle the batches.

    Args:
        lengths: token count of every example.
        batch_size: examples per batch.
        seed: shuffling seed.
        mega: batches per sorted group (larger: less padding, less randomness).
    """

    def __init__(self, lengths: Sequence[int], batch_size: int, seed: int, mega: int = 50) -> None:
        self.lengths = lengths
        self.batch_size = batch_size
        self.mega = mega
        # Lightning calls set_epoch on `batch_sampler.sampler` before each epoch.
        self.sampler = EpochShuffleSampler(len(lengths), seed)

    def __iter__(self) -> Iterator[list[int]]:
        order = list(self.sampler)
        size = self.batch_size * self.mega
        batches = []
        for start in range(0, len(order), size):
            group = sorted(order[start : start + size], key=lambda i: -self.lengths[i])
            batches += [group[i : i + self.batch_size] for i in range(0, len(group), self.batch_size)]
        generator = torch.Generator().manual_seed(self.sampler.seed * 7919 + self.sampler.epoch)
        permutation = torch.randperm(len(batches), generator=generator).tolist()
        return iter([batches[i] for i in permutation])

    def __len__(self) -> int:
        return math.ceil(len(self.lengths) / self.batch_size)


def pad_batch(rows: list[dict[str, Any]], pad_id: int) -> dict[str, torch.Tensor]:
    """Pad token lists to the longest in the batch; stack labels."""
    longest = max(len(row["input_ids"]) for row in rows)
    batch: dict[str, torch.Tensor] = {}
    for key in TOKEN_KEYS:
        if key not in rows[0]:
            continue
        fill = pad_id if key == "input_ids" else 0
        tensor = torch.full((len(rows), longest), fill, dtype=torch.long)
        for i, row in enumerate(rows):
            tensor[i, : len(row[key])] = torch.as_tensor(row[key])
        batch[key] = tensor
    if "labels" in rows[0]:
        batch["labels"] = torch.as_tensor([row["labels"] for row in rows])
    return batch


def token_loader(
    dataset: Any,
    batch_size: int,
    pad_id: int,
    *,
    shuffle_seed: int | None = None,
    group_by_length: bool = True,
) -> DataLoader:
    """A DataLoader over a tokenised `datasets.Dataset` (columns input_ids, ..., labels)."""
    collate = _Collate(pad_id)
    lengths = [int(n) for n in dataset["length"]] if shuffle_seed is not None else []
    columns = [c for c in (*TOKEN_KEYS, "labels") if c in dataset.column_names]
    dataset = dataset.with_format(None, columns=columns)
    generator = torch.Generator().manual_seed(shuffle_seed or 0)
    if shuffle_seed is None:
        return DataLoader(dataset, batch_size=batch_size, collate_fn=collate, generator=generator)
    if group_by_length:
        sampler = LengthGroupedBatchSampler(lengths, batch_size, shuffle_seed)
        return DataLoader(dataset, batch_sampler=sampler, collate_fn=collate, generator=generator)
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=EpochShuffleSampler(len(dataset), shuffle_seed),
        collate_fn=collate,
        generator=generator,
    )


class _Collate:
    """Picklable collate function (DataLoader workers need one)."""

    def __init__(self, pad_id: int) -> None:
        self.pad_id = pad_id

    def __call__(self, rows: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        return pad_batch(rows, self.pad_id)

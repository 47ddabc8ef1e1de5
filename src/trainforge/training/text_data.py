"""Batches for token sequences: length-grouped (half the padding), padded per batch only."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import Any

import torch
from torch.utils.data import DataLoader

from trainforge.training.callbacks import EpochShuffleSampler

TOKEN_KEYS = ("input_ids", "attention_mask", "token_type_ids")
IGNORE = -100  # label of positions the loss skips


class LengthGroupedBatchSampler:
    """Batches of similar length, in a random order that depends only on (seed, epoch).

    As the transformers Trainer's `group_by_length`: shuffle, cut into mega-batches of
    `mega` batches, sort each by length, cut into batches; then shuffle the batches.

    With several processes (`sharded`), the batches are cut `world` times larger and each
    process takes every `world`-th example of each: together they make the same batches as one
    process with `batch_size × world` examples.

    Args:
        lengths: token count of every example.
        batch_size: examples per batch (per process).
        seed: shuffling seed.
        mega: batches per sorted group (larger: less padding, less randomness).
        rank: this process's rank, when sharded.
        world: the number of processes.
    """

    def __init__(
        self,
        lengths: Sequence[int],
        batch_size: int,
        seed: int,
        mega: int = 50,
        rank: int = 0,
        world: int = 1,
    ) -> None:
        self.lengths = lengths
        self.batch_size = batch_size
        self.mega = mega
        self.rank, self.world = rank, world
        # Lightning calls set_epoch on `batch_sampler.sampler` before each epoch.
        self.sampler = EpochShuffleSampler(len(lengths), seed)

    def sharded(self, rank: int, world: int) -> LengthGroupedBatchSampler:
        """This process's share of the batches (see `trainforge.training.distributed`)."""
        return LengthGroupedBatchSampler(
            self.lengths, self.batch_size, self.sampler.seed, self.mega, rank, world
        )

    def resized(self, batch_size: int) -> LengthGroupedBatchSampler:
        """The same sampler with another batch size (the batch size finder)."""
        return LengthGroupedBatchSampler(
            self.lengths, batch_size, self.sampler.seed, self.mega, self.rank, self.world
        )

    def __iter__(self) -> Iterator[list[int]]:
        from trainforge.training.distributed import pad_to_multiple

        order = list(self.sampler)
        step = self.batch_size * self.world
        size = step * self.mega
        batches = []
        for start in range(0, len(order), size):
            group = sorted(order[start : start + size], key=lambda i: -self.lengths[i])
            batches += [group[i : i + step] for i in range(0, len(group), step)]
        generator = torch.Generator().manual_seed(self.sampler.seed * 7919 + self.sampler.epoch)
        permutation = torch.randperm(len(batches), generator=generator).tolist()
        if self.world == 1:
            return iter([batches[i] for i in permutation])
        shares = [pad_to_multiple(batches[i], self.world) for i in permutation]
        return iter([share[self.rank :: self.world] for share in shares])

    def __len__(self) -> int:
        return math.ceil(len(self.lengths) / (self.batch_size * self.world))


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
    if "labels" in rows[0] and isinstance(rows[0]["labels"], list) and rows[0]["labels"]:
        # One label per token (token classification): padding is ignored by the loss.
        first = rows[0]["labels"][0]
        if isinstance(first, int):
            labels = torch.full((len(rows), longest), IGNORE, dtype=torch.long)
            for i, row in enumerate(rows):
                labels[i, : len(row["labels"])] = torch.as_tensor(row["labels"])
            batch["labels"] = labels
            return batch
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
    augment: Any = None,
    special_ids: Sequence[int] = (),
) -> DataLoader:
    """A DataLoader over a tokenised `datasets.Dataset` (columns input_ids, ..., labels).

    Args:
        dataset: tokenised examples with a "length" column.
        batch_size: examples per batch.
        pad_id: the tokenizer's padding id.
        shuffle_seed: shuffle per epoch from this seed (training); None keeps the order.
        group_by_length: batch examples of similar length (training).
        augment: an `AugmentConfig` for token deletion/swap noise (training), or None.
        special_ids: token ids augmentation never touches ([CLS], [SEP], ...).
    """
    noisy = augment is not None and (augment.deletion > 0 or augment.swap > 0)
    collate = _Collate(pad_id, augment if noisy else None, frozenset(special_ids))
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

    def __init__(self, pad_id: int, augment: Any = None, special: frozenset[int] = frozenset()):
        self.pad_id = pad_id
        self.augment = augment
        self.special = special

    def __call__(self, rows: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        if self.augment is not None:
            rows = [noisy_tokens(row, self.augment, self.special) for row in rows]
        return pad_batch(rows, self.pad_id)


def noisy_tokens(row: dict[str, Any], augment: Any, special: frozenset[int]) -> dict[str, Any]:
    """Randomly delete and swap non-special tokens (the global RNG is seeded per epoch)."""
    ids = list(row["input_ids"])
    order = list(range(len(ids)))
    for i in range(len(order) - 1):
        a, b = order[i], order[i + 1]
        if ids[a] not in special and ids[b] not in special and torch.rand(1).item() < augment.swap:
            order[i], order[i + 1] = b, a
    keep = [i for i in order if ids[i] in special or torch.rand(1).item() >= augment.deletion]
    if all(ids[i] in special for i in keep):
        keep = order  # never delete every word
    out = dict(row)
    for key in TOKEN_KEYS:
        if key in row:
            values = list(row[key])
            out[key] = [values[i] for i in keep]
    return out

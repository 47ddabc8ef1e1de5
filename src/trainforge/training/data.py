"""DataLoaders of dict batches for in-memory arrays (tabular features)."""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from trainforge.training.callbacks import EpochShuffleSampler


class ArrayDataset(Dataset[dict[str, torch.Tensor]]):
    """Rows of a feature matrix with their labels, as {"features", "labels"} dicts."""

    def __init__(self, features: np.ndarray, labels: np.ndarray) -> None:
        self.features = torch.tensor(features, dtype=torch.float32)
        self.labels = torch.tensor(np.asarray(labels))

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {"features": self.features[index], "labels": self.labels[index]}


def tensor_loader(
    features: np.ndarray, labels: np.ndarray, batch_size: int, shuffle_seed: int | None = None
) -> DataLoader:
    """Batches in order, or shuffled per epoch from `shuffle_seed` (reproducible on resume)."""
    dataset = ArrayDataset(features, labels)
    sampler = EpochShuffleSampler(len(dataset), shuffle_seed) if shuffle_seed is not None else None
    # A loader-owned generator: otherwise creating each epoch's iterator draws from the global
    # RNG, and dropout masks after a resume would differ from an uninterrupted run.
    generator = torch.Generator().manual_seed(shuffle_seed or 0)
    return DataLoader(dataset, batch_size=batch_size, sampler=sampler, generator=generator)

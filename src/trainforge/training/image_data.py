"""DataLoaders of image batches: uint8 images in memory, normalised (and augmented) per batch.

The images stay uint8 (a quarter of float32's memory); each batch is gathered by index,
scaled to 0-1, augmented when training, then normalised, in one collate call.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader

from trainforge.config import AugmentConfig
from trainforge.data.image_augment import augment_active, augment_images
from trainforge.data.image_inputs import ImageInputs
from trainforge.training.callbacks import EpochShuffleSampler


class _Collate:
    """Indices of a batch → {"images": normalised float tensor, "labels"}."""

    def __init__(
        self,
        pixels: np.ndarray,
        labels: np.ndarray,
        inputs: ImageInputs,
        augment: AugmentConfig | None,
    ) -> None:
        self.pixels = torch.from_numpy(np.ascontiguousarray(pixels))
        self.labels = torch.from_numpy(np.asarray(labels, dtype=np.int64))
        self.inputs = inputs
        self.augment = augment if augment is not None and augment_active(augment) else None

    def __call__(self, index: list[int]) -> dict[str, Any]:
        rows = torch.as_tensor(index, dtype=torch.long)
        images = self.pixels[rows].float().div_(255.0)
        if self.augment is not None:
            images = augment_images(images, self.augment)
        return {"images": self.inputs.normalise(images), "labels": self.labels[rows]}


def image_loader(
    pixels: np.ndarray,
    labels: np.ndarray,
    inputs: ImageInputs,
    batch_size: int,
    *,
    shuffle_seed: int | None = None,
    augment: AugmentConfig | None = None,
) -> DataLoader:
    """Batches in order, or shuffled per epoch from `shuffle_seed` (reproducible on resume).

    Args:
        pixels: (n, c, h, w) uint8.
        labels: (n,) encoded labels.
        inputs: the model's normalisation.
        batch_size: images per batch.
        shuffle_seed: shuffle every epoch with a seed from (seed, epoch); None keeps the order.
        augment: `data.augment` for training batches; None for evaluation.
    """
    sampler = EpochShuffleSampler(len(pixels), shuffle_seed) if shuffle_seed is not None else None
    generator = torch.Generator().manual_seed(shuffle_seed or 0)
    # Batch norm cannot train on a batch of one image once the maps are 1x1 (MobileNetV2 at
    # 32 pixels): a lone last training image waits for the next epoch's shuffle instead.
    lone = shuffle_seed is not None and len(pixels) % batch_size == 1 and len(pixels) > 1
    return DataLoader(
        range(len(pixels)),  # type: ignore[arg-type]
        batch_size=batch_size,
        sampler=sampler,
        generator=generator,
        collate_fn=_Collate(pixels, labels, inputs, augment),
        drop_last=lone,
    )


def embed_all(network: Any, inputs: ImageInputs, pixels: np.ndarray, batch_size: int) -> np.ndarray:
    """Backbone features (n, d) of every image, computed once in eval mode (linear probes)."""
    network.eval()
    chunks = []
    with torch.inference_mode():
        for start in range(0, len(pixels), batch_size):
            chunks.append(network.embed(inputs.tensor(pixels[start : start + batch_size])).numpy())
    return np.concatenate(chunks).astype(np.float32)

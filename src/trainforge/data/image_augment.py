"""Augmentation of training images, a whole batch at a time with torch ops.

Applied on the fly to training batches only (never to validation, test or predictions), on
images scaled to 0-1 before normalisation. Randomness comes from torch's global generator,
which the training loop re-seeds at every epoch start from (seed, epoch): runs are
reproducible, and a resumed run draws what the uninterrupted one drew.
"""

from __future__ import annotations

import math

import torch
from torch.nn import functional

from trainforge.config import AugmentConfig


def augment_active(augment: AugmentConfig) -> bool:
    """True when any image augmentation is switched on."""
    return bool(
        augment.random_crop
        or augment.flip
        or augment.rotate
        or augment.color_jitter
        or augment.noise
    )


def augment_images(images: torch.Tensor, augment: AugmentConfig) -> torch.Tensor:
    """Randomly shifted (pad and crop), rotated, mirrored, jittered and noised copies.

    Args:
        images: (n, c, h, w) floats on a 0-1 scale.
        augment: `data.augment`: random_crop (pixels of padding), flip, rotate (max degrees),
            color_jitter (brightness and contrast scaled by 1±x), noise (Gaussian std).
    """
    if augment.random_crop or augment.rotate:
        images = _affine(images, augment.random_crop, augment.rotate)
    n = len(images)
    if augment.flip:
        mirrored = torch.rand(n) < 0.5
        images = torch.where(mirrored.view(-1, 1, 1, 1), images.flip(-1), images)
    if augment.color_jitter:
        low, high = 1 - augment.color_jitter, 1 + augment.color_jitter
        brightness = torch.empty(n, 1, 1, 1).uniform_(low, high)
        contrast = torch.empty(n, 1, 1, 1).uniform_(low, high)
        mean = images.mean(dim=(1, 2, 3), keepdim=True)
        images = ((images * brightness - mean) * contrast + mean).clamp_(0.0, 1.0)
    if augment.noise:
        images = (images + torch.randn_like(images) * augment.noise).clamp_(0.0, 1.0)
    return images


def _affine(images: torch.Tensor, shift: int, degrees: float) -> torch.Tensor:
    """Shift each image by up to `shift` whole pixels and rotate it by up to `degrees`; the
    uncovered border is black, as after padding and cropping."""
    n, _, height, width = images.shape
    angle = (torch.rand(n) * 2 - 1) * math.radians(degrees)
    dx = torch.randint(-shift, shift + 1, (n,)).float() if shift else torch.zeros(n)
    dy = torch.randint(-shift, shift + 1, (n,)).float() if shift else torch.zeros(n)
    cos, sin = torch.cos(angle), torch.sin(angle)
    # The grid is in -1..1 units along each axis; scale sin by the aspect ratio so that a
    # rotation of a non-square image stays a rotation.
    theta = torch.stack(
        [
            torch.stack([cos, -sin * height / width, 2 * dx / width], dim=1),
            torch.stack([sin * width / height, cos, 2 * dy / height], dim=1),
        ],
        dim=1,
    )
    grid = functional.affine_grid(theta, list(images.shape), align_corners=False)
    return functional.grid_sample(images, grid, mode="bilinear", align_corners=False)

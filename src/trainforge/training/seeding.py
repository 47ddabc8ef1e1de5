"""Seeding every random generator a run draws from before any weight is initialised."""

from __future__ import annotations

import numpy as np


def seed_all(seed: int) -> None:
    """Seed Python, NumPy and torch (Lightning itself is imported only once training starts)."""
    import random

    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)

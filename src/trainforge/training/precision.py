"""Lightning's precision plugins for `train.precision` (bf16 with clipping and fused AdamW)."""

from __future__ import annotations

from typing import Any

from lightning.pytorch.plugins import MixedPrecision, Precision
from lightning.pytorch.utilities import GradClipAlgorithmType

from trainforge.config import TrainConfig
from trainforge.training.distributed import on_gpu


def precision_plugins(cfg: TrainConfig) -> list[MixedPrecision]:
    """Lightning's precision plugin for `train.precision`; none for full precision.

    bfloat16 needs no loss scaling, so gradient clipping works with the fused AdamW; Lightning's
    own plugin refuses that pair whatever the precision.
    """
    if cfg.precision not in ("bf16-mixed", "16-mixed"):
        return []  # "32", or "auto" that nothing resolved: full precision
    plugin = _BF16Mixed if cfg.precision == "bf16-mixed" else MixedPrecision
    return [plugin(cfg.precision, "cuda" if on_gpu(cfg) else "cpu")]


class _BF16Mixed(MixedPrecision):
    def clip_gradients(
        self,
        optimizer: Any,
        clip_val: float = 0.0,
        gradient_clip_algorithm: GradClipAlgorithmType = GradClipAlgorithmType.NORM,
    ) -> None:
        # No scaler, so the gradients are true gradients whichever optimiser steps.
        Precision.clip_gradients(self, optimizer, clip_val, gradient_clip_algorithm)

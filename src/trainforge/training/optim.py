"""Optimisers and learning-rate schedules, built from the `train` config section."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from trainforge.config import TrainConfig


def parameter_groups(model: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """Weight decay on weight matrices only: decaying biases and norm scales hurts (BERT recipe)."""
    decay, no_decay = [], []
    for param in model.parameters():
        if param.requires_grad:
            (decay if param.ndim >= 2 else no_decay).append(param)
    groups = [{"params": decay, "weight_decay": weight_decay}]
    if no_decay:
        groups.append({"params": no_decay, "weight_decay": 0.0})
    return groups


def build_optimizer(
    groups: list[dict[str, Any]], cfg: TrainConfig, device: torch.device
) -> torch.optim.Optimizer:
    """The configured optimiser over parameter groups (see `parameter_groups`)."""
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov)
    if cfg.optimizer == "rmsprop":
        return torch.optim.RMSprop(groups, lr=cfg.lr, momentum=cfg.momentum)
    # Fused Adam(W) is what the transformers Trainer uses; ~12% faster than the plain loop.
    fused = device.type in ("cpu", "cuda")
    if cfg.optimizer == "adam":
        return torch.optim.Adam(groups, lr=cfg.lr, fused=fused)
    return torch.optim.AdamW(groups, lr=cfg.lr, fused=fused)


def build_scheduler(
    optimizer: torch.optim.Optimizer, cfg: TrainConfig, total_steps: int, monitor: str
) -> dict[str, Any] | None:
    """A Lightning lr_scheduler config for `train.scheduler`, or None."""
    name = cfg.scheduler
    if name == "none":
        return None
    if name == "step":
        scheduler: Any = torch.optim.lr_scheduler.StepLR(optimizer, cfg.step_size, cfg.gamma)
        return {"scheduler": scheduler, "interval": "epoch"}
    if name == "reduce_on_plateau":
        mode = "min" if monitor.endswith(("loss", "rmse", "mae")) else "max"
        patience = max(1, (cfg.early_stopping.patience if cfg.early_stopping else 4) // 2)
        scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, mode=mode, factor=cfg.gamma, patience=patience
        )
        return {"scheduler": scheduler, "interval": "epoch", "monitor": monitor}
    warmup = int(total_steps * cfg.warmup_ratio)
    decay = _cosine if name == "cosine" else _linear
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: _warmup_then(decay, step, warmup, total_steps)
    )
    return {"scheduler": scheduler, "interval": "step"}


def _warmup_then(decay: Any, step: int, warmup: int, total: int) -> float:
    if step < warmup:
        return (step + 1) / (warmup + 1)
    progress = (step - warmup) / max(1, total - warmup)
    return decay(min(1.0, progress))


def _linear(progress: float) -> float:
    return max(0.0, 1.0 - progress)


def _cosine(progress: float) -> float:
    return 0.5 * (1.0 + math.cos(math.pi * progress))

"""Optimisers and learning-rate schedules, built from the `train` config section."""

from __future__ import annotations

import math
import re
from typing import Any, Literal

import torch
from torch import nn

from trainforge.config import TrainConfig


def parameter_groups(
    model: nn.Module, weight_decay: float, lr: float, layer_decay: float | None = None
) -> list[dict[str, Any]]:
    """Trainable parameters in groups of (weight decay, learning rate).

    Weight decay goes on weight matrices only: decaying biases and norm scales hurts (BERT
    recipe). With `layer_decay`, layer i of L transformer layers gets lr * decay^(L + 1 - i)
    (embeddings i = 0; heads i = L + 1), so lower, more general layers move less.
    """
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    depth = {n: 0 for n, _ in named}
    top = 0
    if layer_decay is not None:
        layers = {n: _layer_index(n) for n, _ in named}
        top = max((i for i in layers.values() if i is not None), default=0) + 1
        depth = {n: (top if i is None else i) for n, i in layers.items()}
    groups: dict[tuple[int, bool], dict[str, Any]] = {}
    for name, param in named:
        decays = param.ndim >= 2
        scale = layer_decay ** (top - depth[name]) if layer_decay is not None else 1.0
        group = groups.setdefault(
            (depth[name], decays),
            {"params": [], "weight_decay": weight_decay if decays else 0.0, "lr": lr * scale},
        )
        group["params"].append(param)
    return list(groups.values())


def _layer_index(name: str) -> int | None:
    """1 + the transformer layer a parameter belongs to; 0 for embeddings; None for heads."""
    match = re.search(r"\.layers?\.(\d+)\.", name)
    if match:
        return int(match.group(1)) + 1
    return 0 if "embeddings" in name else None


def build_optimizer(
    groups: list[dict[str, Any]], cfg: TrainConfig, device: torch.device
) -> torch.optim.Optimizer:
    """The configured optimiser over parameter groups (see `parameter_groups`)."""
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov)
    if cfg.optimizer == "rmsprop":
        return torch.optim.RMSprop(groups, lr=cfg.lr, momentum=cfg.momentum)
    # Fused Adam(W) is what the transformers Trainer uses; ~12% faster than the plain loop.
    # Lightning cannot clip the gradients of a fused optimiser under float16 loss scaling.
    fused = device.type in ("cpu", "cuda") and not (
        cfg.precision == "16-mixed" and cfg.gradient_clip
    )
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
        mode: Literal["min", "max"] = "min" if monitor.endswith(("loss", "rmse", "mae")) else "max"
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

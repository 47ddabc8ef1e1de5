"""Bottleneck adapters (Houlsby et al., 2019), a small module of our own.

The `adapters` library pins transformers 4.x, so it cannot be used with transformers 5. An
adapter is a down-projection, a non-linearity and an up-projection added after the attention
output and the feed-forward output of every layer, before the residual connection and layer
norm; the backbone stays frozen. The up-projection starts at zero, so training starts from the
pretrained function exactly.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from trainforge.errors import ConfigError


class Bottleneck(nn.Module):
    """x + up(gelu(down(x)))."""

    def __init__(self, hidden: int, size: int) -> None:
        super().__init__()
        self.down = nn.Linear(hidden, size)
        self.up = nn.Linear(size, hidden)
        nn.init.zeros_(self.up.weight)
        nn.init.zeros_(self.up.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.up(nn.functional.gelu(self.down(x)))


def add_adapters(encoder: nn.Module, size: int, targets: list[str]) -> nn.ModuleDict:
    """Attach an adapter to every Linear whose name ends with one of `targets`.

    Returns the adapters (to be registered on the model so they train and save); the
    forward hooks that apply them live on the target modules.
    """
    adapters = nn.ModuleDict()
    for name, module in encoder.named_modules():
        if isinstance(module, nn.Linear) and name.endswith(tuple(targets)):
            adapter = Bottleneck(module.out_features, size)
            adapters[name.replace(".", "__")] = adapter
            module.register_forward_hook(_apply(adapter))
    if not adapters:
        raise ConfigError(
            f"no layer of the backbone matches model.adapter.target_modules {targets}",
            where="model.adapter.target_modules",
            fix="Name the attention-output and feed-forward-output Linear layers of your "
            "backbone (BERT: output.dense)",
        )
    return adapters


def _apply(adapter: Bottleneck) -> Any:
    def hook(module: nn.Module, inputs: Any, output: torch.Tensor) -> torch.Tensor:
        return adapter(output)

    return hook

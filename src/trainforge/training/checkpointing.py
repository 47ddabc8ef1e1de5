"""Activation (gradient) checkpointing: `train.gradient_checkpointing`.

The transformers models inside a network recompute each layer's forward pass during the
backward pass instead of keeping its activations. The non-reentrant torch implementation is
used: it needs no input that requires gradients, so it works with frozen embeddings (LoRA).
"""

from __future__ import annotations

from typing import Any

from torch import nn


def checkpoint_activations(net: nn.Module) -> bool:
    """Turn checkpointing on in the outermost transformers model of `net`; False if none.

    Example:
        >>> checkpoint_activations(network)  # before training, after peft wrapped it
    """
    settings = {"use_reentrant": False}
    module: Any
    for module in net.modules():
        if not getattr(module, "supports_gradient_checkpointing", False):
            continue
        if hasattr(module, "activation_checkpointing_enable"):  # transformers >= 5.x
            module.activation_checkpointing_enable(activation_checkpointing_kwargs=settings)
        else:
            module.gradient_checkpointing_enable(gradient_checkpointing_kwargs=settings)
        return True
    return False

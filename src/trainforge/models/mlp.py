"""Feed-forward networks for tabular features: MLP, and `linear` as an MLP with no hidden layer."""

from __future__ import annotations

import torch
from torch import nn

from trainforge.config import ModelConfig

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "gelu": nn.GELU,
    "tanh": nn.Tanh,
    "silu": nn.SiLU,
}


class MLP(nn.Module):
    """Linear → [BatchNorm] → activation → dropout, per hidden layer, then a linear head.

    Args:
        in_features: width of the input.
        out_features: logits (classes) or 1 (regression / binary BCE).
        hidden_sizes: widths of the hidden layers; empty gives a linear model.
        dropout: dropout after each hidden activation.
        activation: "relu", "gelu", "tanh" or "silu".
        batch_norm: add BatchNorm1d after each hidden linear layer.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        hidden_sizes: list[int] | tuple[int, ...] = (64, 32),
        dropout: float = 0.1,
        activation: str = "relu",
        batch_norm: bool = False,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = in_features
        for size in hidden_sizes:
            layers.append(nn.Linear(width, size))
            if batch_norm:
                layers.append(nn.BatchNorm1d(size))
            layers += [ACTIVATIONS[activation](), nn.Dropout(dropout)]
            width = size
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(width, out_features)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(features))


def build_mlp(model: ModelConfig, in_features: int, out_features: int) -> MLP:
    """The network for `model.type` mlp or linear."""
    hidden = model.hidden_sizes if model.type == "mlp" else []
    return MLP(in_features, out_features, hidden, model.dropout, model.activation, model.batch_norm)

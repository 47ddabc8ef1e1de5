"""Models: torch networks (mlp, linear) and classical scikit-learn estimators."""

from __future__ import annotations

from typing import Any

from trainforge.config import SKLEARN_MODELS, ModelConfig


def is_classical(model: ModelConfig) -> bool:
    """True for scikit-learn estimators, which fit without the Lightning loop."""
    return model.type in SKLEARN_MODELS


def build_network(model: ModelConfig, in_features: int, out_features: int) -> Any:
    """The torch network for `model.type`, sized for the data."""
    from trainforge.models.mlp import build_mlp

    return build_mlp(model, in_features, out_features)

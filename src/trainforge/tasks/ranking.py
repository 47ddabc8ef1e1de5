"""The recommendation target: a pairwise loss on sampled negatives, ranking metrics on outputs.

Training batches hold (user, relevant item, sampled item); the network outputs the score
difference and the loss is BPR's -log sigmoid(difference) (Rendle et al., 2009). The
validation metric logged per epoch is the share of those pairs ordered correctly (a sampled
AUC); the ranking metrics over whole catalogs come from `evaluation.ranking` after training.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch.nn import functional
from torchmetrics import MeanMetric, MetricCollection

from trainforge.evaluation.ranking import K, RankingSet, Ranks, ranking_metrics


class RankingTarget:
    """What a recommender adds on the target side: loss, validation metric and ranking metrics.

    Args:
        threshold: ratings at or above it are relevant (None: every interaction is).
        split_kind: "time" or "random", recorded with the metrics.
    """

    kind = "recommendation"
    n_outputs = 1

    def __init__(self, threshold: float | None = None, split_kind: str = "random") -> None:
        self.threshold = threshold
        self.split_kind = split_kind

    def state_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "threshold": self.threshold, "split_kind": self.split_kind}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> RankingTarget:
        return cls(state.get("threshold"), state.get("split_kind", "random"))

    def display_labels(self) -> None:
        return None

    def loss_fn(self) -> Any:
        def bpr(difference: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
            return functional.softplus(-difference).mean()

        return bpr

    def metric_collection(self) -> MetricCollection:
        return MetricCollection({"pair_accuracy": MeanMetric()})

    def probabilities(self, difference: torch.Tensor) -> torch.Tensor:
        """1 where the relevant item outscored the sampled one, 0.5 on a tie."""
        return (torch.sign(difference) + 1) / 2

    def metric_target(self, labels: torch.Tensor) -> torch.Tensor:
        return labels

    def rescale_metric(self, name: str, value: float) -> float:
        return value

    def metrics(self, truth: RankingSet, output: dict[str, Ranks]) -> dict[str, Any]:
        """The model's ranking metrics and, under "popularity", the baseline's."""
        model = ranking_metrics(output["model"], K)
        baseline = ranking_metrics(output["popularity"], K)
        users = model.pop("users")
        baseline.pop("users")
        return {
            **{name: round(value, 6) for name, value in model.items()},
            "users": users,
            "candidates_per_user": round(float(np.mean(output["model"].candidates)), 1)
            if users
            else 0.0,
            "split": self.split_kind,
            "popularity": {name: round(value, 6) for name, value in baseline.items()},
        }

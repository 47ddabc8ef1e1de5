"""Loss terms that hold an update close to the model it starts from.

- EWC (Kirkpatrick et al., 2017): lambda/2 * sum_i F_i (theta_i - theta*_i)^2, with F the
  diagonal Fisher information of the old model on its kept training rows.
- LwF (Li and Hoiem, 2016): alpha * T^2 * KL(old model || new model) on the old labels'
  outputs at temperature T, for every training batch.

Both act through `TrainingModule.penalty`, set by `PenaltyCallback` when the fit starts, once
the new network and its label order exist. Output rows of the old labels are matched by name.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import lightning as L
import pandas as pd
import torch
import torch.nn.functional as F


class PenaltyCallback(L.Callback):
    """Attaches a penalty, built from the module being trained, for the length of the fit."""

    def __init__(self, build: Callable[[Any], Callable[..., torch.Tensor]]) -> None:
        self.build = build

    def on_fit_start(self, trainer: L.Trainer, pl_module: Any) -> None:
        pl_module.penalty = self.build(pl_module)

    def on_fit_end(self, trainer: L.Trainer, pl_module: Any) -> None:
        pl_module.penalty = None


def label_rows(old_labels: list[str], new_labels: list[str]) -> tuple[list[int], list[int]]:
    """(rows in the new output, matching rows in the old output) of the labels both know."""
    known = {label: i for i, label in enumerate(old_labels)}
    pairs = [(i, known[label]) for i, label in enumerate(new_labels) if label in known]
    return [new for new, _ in pairs], [old for _, old in pairs]


def fisher_diagonal(old: Any, frame: pd.DataFrame, batch_size: int = 16) -> dict[str, torch.Tensor]:
    """Diagonal empirical Fisher of the old network on labelled rows (squared batch gradients
    of the log-likelihood, weighted by batch size: the usual inexpensive estimate)."""
    network = old.network
    network.eval()  # no dropout: the Fisher of the model as it predicts
    labels = torch.as_tensor(old.target.encode(frame))
    params = {n: p for n, p in network.named_parameters()}
    for p in params.values():
        p.requires_grad_(True)
    fisher = {n: torch.zeros_like(p) for n, p in params.items()}
    total = 0
    for rows, batch in old.input_batches(frame, batch_size):
        network.zero_grad(set_to_none=True)
        logits = network(**batch)
        loss = F.cross_entropy(logits, labels[torch.as_tensor(rows)])
        loss.backward()
        for name, p in params.items():
            if p.grad is not None:
                fisher[name] += p.grad.detach() ** 2 * len(rows)
        total += len(rows)
    network.zero_grad(set_to_none=True)
    return {name: value / max(total, 1) for name, value in fisher.items()}


def ewc(old: Any, frame: pd.DataFrame, strength: float) -> Callable[[Any], Callable[..., Any]]:
    """The EWC penalty builder: the Fisher is computed now, on the old model and kept rows."""
    fisher = fisher_diagonal(old, frame)
    anchor = {n: p.detach().clone() for n, p in old.network.named_parameters()}
    old_labels = list(old.target.labels_)

    def build(module: Any) -> Callable[..., torch.Tensor]:
        new_rows, old_rows = label_rows(old_labels, list(module.target.labels_))
        terms: list[tuple[torch.Tensor, torch.Tensor | None, torch.Tensor, torch.Tensor]] = []
        for name, param in module.net.named_parameters():
            if name not in anchor or not param.requires_grad:
                continue
            weight, centre = fisher[name], anchor[name]
            if param.shape != centre.shape:  # an output layer that grew: the old rows only
                terms.append((param, torch.as_tensor(new_rows), weight[old_rows], centre[old_rows]))
            else:
                terms.append((param, None, weight, centre))

        def penalty(net: Any, batch: Any, output: torch.Tensor) -> torch.Tensor:
            total = output.new_zeros(())
            for param, rows, weight, centre in terms:
                value = param if rows is None else param[rows]
                shift = value - centre.to(value.device)
                total = total + (weight.to(value.device) * shift**2).sum()
            return strength / 2 * total

        return penalty

    return build


def lwf(old: Any, alpha: float, temperature: float) -> Callable[[Any], Callable[..., Any]]:
    """The distillation penalty builder: the old network scores every training batch."""
    network = old.network
    network.eval()
    for p in network.parameters():
        p.requires_grad_(False)
    old_labels = list(old.target.labels_)

    def build(module: Any) -> Callable[..., torch.Tensor]:
        new_rows, old_rows = label_rows(old_labels, list(module.target.labels_))
        new_index, old_index = torch.as_tensor(new_rows), torch.as_tensor(old_rows)

        def penalty(net: Any, batch: Any, output: torch.Tensor) -> torch.Tensor:
            inputs = {k: v for k, v in batch.items() if k != "labels"}
            network.to(output.device)
            with torch.no_grad():
                teacher = network(**inputs)[:, old_index.to(output.device)] / temperature
            student = output[:, new_index.to(output.device)] / temperature
            distance = F.kl_div(
                F.log_softmax(student, dim=-1),
                F.log_softmax(teacher, dim=-1),
                reduction="batchmean",
                log_target=True,
            )
            return alpha * temperature**2 * distance

        return penalty

    return build

"""Direct preference optimisation (`model.objective: dpo`): the loss, the rewards and their
metrics, the network that scores a batch of pairs, and the batches.

TRL's DPOTrainer (loss_type 'sigmoid') is the reference. For a pair,

    logits = (π_c − π_r) − (ref_c − ref_r)
    loss   = −(1 − ε)·log σ(β·logits) − ε·log σ(−β·logits)

with π and ref the summed log-probabilities of the chosen (c) and rejected (r) answer's tokens
under the model in training and under the starting model (the reference), β `model.dpo.beta`
and ε `model.dpo.label_smoothing`. An answer's reward is β·(π − ref); the reward accuracy is
the share of pairs whose chosen reward is above the rejected one, the margin their difference
(TRL's rewards/accuracies, rewards/margins, rewards/chosen, rewards/rejected).

The reference log-probabilities are computed once, before the first step, by the starting
model (with LoRA, the base: the adapters start at zero) and travel with the pairs as their
"labels", so no second model is held in memory and the Lightning loop runs unchanged: the
network gives (pairs, 2) log-probabilities, the loss compares them with the labels.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any, cast

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset
from torchmetrics import MeanMetric

from trainforge.data.chat_tokens import IGNORE
from trainforge.models.causal_lm import CausalLM, answer_logps
from trainforge.tasks.generation.target import GenerationTarget
from trainforge.training.callbacks import EpochShuffleSampler
from trainforge.training.text_data import LengthGroupedBatchSampler

# (tokens, labels) of a pair's chosen conversation, then of its rejected one.
Sequences = tuple[list[int], list[int]]
Pair = tuple[Sequences, Sequences]
STATISTICS = ("reward_accuracy", "reward_margin", "chosen_reward", "rejected_reward")


def dpo_loss(
    policy: torch.Tensor, reference: torch.Tensor, beta: float, label_smoothing: float = 0.0
) -> torch.Tensor:
    """The mean DPO loss of pairs (see the module docstring).

    Args:
        policy: (pairs, 2) log-probabilities of the chosen and rejected answers.
        reference: the same under the starting model.
        beta: `model.dpo.beta`.
        label_smoothing: `model.dpo.label_smoothing` (0: the original loss).
    """
    logits = (policy[:, 0] - policy[:, 1]) - (reference[:, 0] - reference[:, 1])
    losses = -nn.functional.logsigmoid(beta * logits) * (1 - label_smoothing)
    losses = losses - nn.functional.logsigmoid(-beta * logits) * label_smoothing
    return losses.mean()


def reward_statistics(
    policy: torch.Tensor, reference: torch.Tensor, beta: float
) -> dict[str, torch.Tensor]:
    """Per pair: whether the chosen reward is above the rejected one, their margin, and each
    reward (β·(π − ref)); `STATISTICS` names them."""
    rewards = beta * (policy - reference).detach()
    chosen, rejected = rewards[:, 0], rewards[:, 1]
    return {
        "reward_accuracy": (chosen > rejected).float(),
        "reward_margin": chosen - rejected,
        "chosen_reward": chosen,
        "rejected_reward": rejected,
    }


class RewardMean(MeanMetric):
    """The mean over pairs of one of `STATISTICS`, updated with (policy, reference)."""

    def __init__(self, statistic: str, beta: float) -> None:
        super().__init__(nan_strategy=float("nan"))
        self.statistic = statistic
        self.beta = beta

    # (policy, reference) where MeanMetric takes (value, weight): how TrainingModule calls it.
    def update(self, policy: torch.Tensor, reference: torch.Tensor) -> None:  # type: ignore[override]
        super().update(reward_statistics(policy, reference, self.beta)[self.statistic])


class PairScorer(nn.Module):
    """The log-probability of each answer of a batch of pairs, in one forward pass.

    A batch holds its pairs' chosen conversations, then their rejected ones, padded to the
    longest; `answer_labels` marks the answers' tokens (the prompt's are IGNORE), and only
    those positions go through the output layer (`CausalLM` with labels).

    Args:
        lm: the `CausalLM` that trains (its weights are updated in place).
    """

    def __init__(self, lm: CausalLM) -> None:
        super().__init__()
        self.lm = lm

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, answer_labels: torch.Tensor
    ) -> torch.Tensor:
        """(pairs, 2): the summed log-probabilities of each pair's chosen and rejected answer."""
        logps = answer_logps(self.lm, input_ids, attention_mask, answer_labels)
        return logps.view(2, -1).T


def score_pairs(
    scorer: PairScorer, pairs: Sequence[Pair], batch_size: int, pad: int, precision: str = "32"
) -> np.ndarray:
    """(pairs, 2) log-probabilities of the chosen and rejected answers, without gradients.

    `precision` is the training's (`resolve_precision`): the reference and the final scores
    are computed as training computes the policy's, so that before the first step the policy
    equals the reference exactly (a float32 reference against a bf16 policy would start every
    pair with a margin that is only rounding).
    """
    scorer.eval()
    device = next(scorer.parameters()).device
    half = {"bf16-mixed": torch.bfloat16, "16-mixed": torch.float16}.get(precision)
    autocast = torch.autocast(device.type, dtype=half or torch.float32, enabled=half is not None)
    scores = []
    with torch.inference_mode(), autocast:
        for batch in pair_loader(pairs, None, batch_size, pad):
            del batch["labels"]
            scores.append(scorer(**{k: v.to(device) for k, v in batch.items()}).cpu())
    return torch.cat(scores).numpy() if scores else np.zeros((0, 2), dtype=np.float32)


def pair_loader(
    pairs: Sequence[Pair],
    reference: np.ndarray | None,
    batch_size: int,
    pad: int,
    *,
    shuffle_seed: int | None = None,
    group_by_length: bool = True,
) -> DataLoader:
    """Batches of `batch_size` pairs (2 × batch_size sequences), right-padded; "labels" holds
    the pairs' reference log-probabilities (zeros without `reference`).

    Training (`shuffle_seed`) groups pairs of similar length as SFT's batches
    (`LengthGroupedBatchSampler`); otherwise the pairs keep their order.
    """
    references = reference if reference is not None else np.zeros((len(pairs), 2))
    # A list indexes as a map-style dataset does.
    rows = cast(
        "Dataset[Any]",
        [(pair, [float(v) for v in ref]) for pair, ref in zip(pairs, references, strict=True)],
    )
    collate = _PairCollate(pad)
    generator = torch.Generator().manual_seed(shuffle_seed or 0)
    if shuffle_seed is None:
        return DataLoader(rows, batch_size=batch_size, collate_fn=collate, generator=generator)
    if group_by_length:
        lengths = [max(len(chosen[0]), len(rejected[0])) for chosen, rejected in pairs]
        sampler = LengthGroupedBatchSampler(lengths, batch_size, shuffle_seed)
        return DataLoader(rows, batch_sampler=sampler, collate_fn=collate, generator=generator)
    return DataLoader(
        rows,
        batch_size=batch_size,
        sampler=EpochShuffleSampler(len(pairs), shuffle_seed),
        collate_fn=collate,
        generator=generator,
    )


class _PairCollate:
    """Picklable collate function (DataLoader workers need one)."""

    def __init__(self, pad: int) -> None:
        self.pad = pad

    def __call__(self, rows: list[tuple[Pair, list[float]]]) -> dict[str, torch.Tensor]:
        sequences = [pair[0] for pair, _ in rows] + [pair[1] for pair, _ in rows]
        width = max(len(ids) for ids, _ in sequences)
        ids = torch.full((len(sequences), width), self.pad, dtype=torch.long)
        mask = torch.zeros((len(sequences), width), dtype=torch.long)
        labels = torch.full((len(sequences), width), IGNORE, dtype=torch.long)
        for i, (tokens, trained) in enumerate(sequences):
            ids[i, : len(tokens)] = torch.tensor(tokens)
            mask[i, : len(tokens)] = 1
            labels[i, : len(trained)] = torch.tensor(trained)
        reference = torch.tensor([ref for _, ref in rows], dtype=torch.float32)
        return {
            "input_ids": ids,
            "attention_mask": mask,
            "answer_labels": labels,
            "labels": reference,
        }


class PreferenceTarget(GenerationTarget):
    """What a DPO run trains on and scores: the preference loss and the rewards.

    Its state is a `GenerationTarget`'s, so the package is SFT's: it loads as one and answers
    prompts the same way. `metrics` scores preference rows (those `prepare` evaluates) and, as
    its parent, rows of answers (`model.evaluate` on prompt/response rows).

    Args:
        beta: `model.dpo.beta`.
        label_smoothing: `model.dpo.label_smoothing`.
        label_set: see `GenerationTarget`.
    """

    def __init__(
        self, beta: float = 0.1, label_smoothing: float = 0.0, label_set: list[str] | None = None
    ) -> None:
        super().__init__(label_set)
        self.beta = beta
        self.label_smoothing = label_smoothing

    def loss_fn(self) -> Any:
        return functools.partial(dpo_loss, beta=self.beta, label_smoothing=self.label_smoothing)

    def metric_collection(self) -> Any:
        from torchmetrics import MetricCollection

        # No compute groups: at the start every statistic is 0, and torchmetrics would merge
        # metrics whose states are equal after the first update.
        return MetricCollection(
            {name: RewardMean(name, self.beta) for name in STATISTICS}, compute_groups=False
        )

    def probabilities(self, output: Any) -> Any:
        """The policy's (pairs, 2) log-probabilities, as the metrics read them."""
        return output.float()

    def metric_target(self, labels: Any) -> Any:
        """The reference log-probabilities (the batch's labels)."""
        return labels.float()

    def metrics(self, y_true: np.ndarray, output: np.ndarray) -> dict[str, Any]:
        """DPO loss, reward accuracy, margin and rewards, and the mean log-probabilities.

        Args:
            y_true: the chosen answers.
            output: per pair {"chosen", "rejected": log-probabilities, "reference": those of
                the starting model, "generated": the model's answer or None}.
        """
        rows = list(output)
        if not rows or "reference" not in rows[0]:
            return super().metrics(y_true, output)
        policy = torch.tensor([[r["chosen"], r["rejected"]] for r in rows], dtype=torch.float64)
        reference = torch.tensor([r["reference"] for r in rows], dtype=torch.float64)
        loss = dpo_loss(policy, reference, self.beta, self.label_smoothing)
        statistics = reward_statistics(policy, reference, self.beta)
        return {
            "loss": float(loss),
            **{name: float(values.mean()) for name, values in statistics.items()},
            "chosen_logp": float(policy[:, 0].mean()),
            "rejected_logp": float(policy[:, 1].mean()),
            "pairs": len(rows),
        }

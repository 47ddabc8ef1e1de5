"""The LightningModule: what to compute (loss, metrics, optimiser); the Trainer runs it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import lightning as L
import torch
from torch import nn
from torchmetrics import MeanMetric

from trainforge.config import TrainConfig
from trainforge.training.optim import build_optimizer, build_scheduler, parameter_groups

FROZEN_KEY = "frozen_parameters"


class TrainingModule(L.LightningModule):
    """Wraps any network whose forward takes the batch's inputs as keyword arguments.

    Batches are dicts; the key "labels" holds targets and every other key is passed to the
    network. The target handler supplies the loss, the metrics and the output transform.

    Args:
        net: the network (MLP, transformer classifier, ...).
        target: a fitted target handler from `trainforge.tasks`.
        cfg: the `train` config section.
        monitor: the metric a plateau schedule watches.
    """

    def __init__(
        self, net: nn.Module, target: Any, cfg: TrainConfig, monitor: str = "val_loss"
    ) -> None:
        super().__init__()
        self.monitor = monitor
        self.net = net
        self.target = target
        self.cfg = cfg
        if cfg.gradient_checkpointing:
            from trainforge.training.checkpointing import checkpoint_activations

            checkpoint_activations(net)
        self.loss_fn = target.loss_fn()
        self.val_metrics = target.metric_collection()
        # A torchmetrics mean: with several processes, compute() weighs every row once
        # (Lightning's sync_dist would average the per-process means). NaN stays NaN, so
        # early stopping sees a diverged run ("disable" would also drop the weights).
        self.val_loss = MeanMetric(nan_strategy=float("nan"))
        # An extra loss term (net, batch, output) -> scalar, set by a callback: the EWC or
        # distillation penalty of a continual update.
        self.penalty: Callable[[nn.Module, dict[str, torch.Tensor], torch.Tensor], Any] | None
        self.penalty = None

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        # A network that `reads_labels` computes only what the loss reads (a language model's
        # logits where the next token is labelled); the others never see the labels.
        if getattr(self.net, "reads_labels", False):
            return self.net(**batch)
        return self.net(**{k: v for k, v in batch.items() if k != "labels"})

    # Checkpoints leave out frozen parameters: they never change, and a LoRA run of a 135 M
    # language model otherwise wrote ~540 MB per checkpoint to keep ~2 MB of trained weights.
    strict_loading = False

    def frozen_names(self) -> set[str]:
        """State-dict names of the parameters that training does not change."""
        return {
            name for name, p in self.named_parameters(remove_duplicate=False) if not p.requires_grad
        }

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        frozen = self.frozen_names()
        state = checkpoint["state_dict"]
        checkpoint["state_dict"] = {k: v for k, v in state.items() if k not in frozen}
        checkpoint[FROZEN_KEY] = sorted(frozen & set(state))

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self.check_complete(checkpoint)

    def check_complete(self, checkpoint: dict[str, Any]) -> None:
        """Raise unless the checkpoint holds every weight but those it left out as frozen,
        and those are frozen here too (so they still hold their starting values)."""
        saved, frozen = set(checkpoint["state_dict"]), set(checkpoint.get(FROZEN_KEY, ()))
        missing = set(self.state_dict()) - saved - (frozen & self.frozen_names())
        unexpected = saved - set(self.state_dict())
        if missing or unexpected:
            raise RuntimeError(
                f"the checkpoint does not fit this network: {len(missing)} weight(s) missing "
                f"(e.g. {sorted(missing)[:3]}), {len(unexpected)} unexpected "
                f"(e.g. {sorted(unexpected)[:3]})"
            )

    def load_checkpoint_weights(self, checkpoint: dict[str, Any]) -> None:
        """Load a checkpoint's weights (the frozen ones stay as they are)."""
        self.check_complete(checkpoint)
        self.load_state_dict(checkpoint["state_dict"], strict=False)

    def on_train_epoch_start(self) -> None:
        # Lightning restores each sub-module's own mode; a backbone loaded in eval mode would
        # keep dropout off for the whole run without this.
        self.net.train()

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        output = self(batch)
        loss = self.loss_fn(output, batch["labels"])
        if self.penalty is not None:
            loss = loss + self.penalty(self.net, batch, output)
        if self.cfg.l1 > 0:
            loss = loss + self.cfg.l1 * sum(
                p.abs().sum() for p in self.net.parameters() if p.requires_grad and p.ndim >= 2
            )
        # Every process trains on equally many rows, so the mean of their means is exact.
        n = len(batch["labels"])
        self.log("train_loss", loss, on_step=False, on_epoch=True, batch_size=n, sync_dist=True)
        return loss

    def on_validation_epoch_start(self) -> None:
        # Validation follows an optimiser step; the gradients are dead weight until the next
        # backward pass (as large as the model), so free them before the forward passes.
        self.net.zero_grad(set_to_none=True)

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        output = self(batch)
        loss = self.loss_fn(output, batch["labels"])
        self.val_loss.update(loss.detach(), weight=len(batch["labels"]))
        labels = self.target.metric_target(batch["labels"])
        self.val_metrics.update(self.target.probabilities(output), labels)

    def on_validation_epoch_end(self) -> None:
        # compute() gathers the states of every process first: scores of all rows, never an
        # average of per-process F1s.
        self.log("val_loss", self.val_loss.compute())
        for name, value in self.val_metrics.compute().items():
            self.log(f"val_{name}", self.target.rescale_metric(name, float(value)))
        self.val_loss.reset()
        self.val_metrics.reset()

    def configure_optimizers(self) -> Any:
        groups = parameter_groups(
            self.net, self.cfg.weight_decay, self.cfg.lr, self.cfg.layer_decay
        )
        optimizer = build_optimizer(groups, self.cfg, self.device)
        total = int(self.trainer.estimated_stepping_batches)
        scheduler = build_scheduler(optimizer, self.cfg, total, self.monitor)
        if scheduler is None:
            return optimizer
        return {"optimizer": optimizer, "lr_scheduler": scheduler}

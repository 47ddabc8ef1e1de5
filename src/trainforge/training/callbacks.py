"""Small callbacks with named hooks; each carries its state into checkpoints for exact resumes."""

from __future__ import annotations

import math
import time
from typing import Any

import lightning as L
import torch
from torch.utils.data import Sampler


class EpochShuffleSampler(Sampler[int]):
    """Shuffles with a seed derived from (seed, epoch), so a resumed run sees the same order.

    Lightning calls `set_epoch` before every training epoch.
    """

    def __init__(self, n: int, seed: int) -> None:
        self.n, self.seed, self.epoch = n, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Any:
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        return iter(torch.randperm(self.n, generator=generator).tolist())

    def __len__(self) -> int:
        return self.n


class EpochSeeder(L.Callback):
    """Re-seeds torch at each epoch start: dropout masks then depend only on (seed, epoch)."""

    def __init__(self, seed: int) -> None:
        self.seed = seed

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        torch.manual_seed(self.seed * 1_000_003 + trainer.current_epoch)


class ThroughputMonitor(L.Callback):
    """Training samples per second of training time (validation excluded) and fit wall time."""

    def __init__(self) -> None:
        self.samples = 0
        self.train_seconds = 0.0
        self.fit_seconds = 0.0
        self._last = 0.0
        self._mark = 0.0

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._mark = time.perf_counter()

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._last = time.perf_counter()

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, idx: int
    ) -> None:
        now = time.perf_counter()
        self.train_seconds += now - self._last
        self._last = now
        self.samples += len(batch["labels"])

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._add_fit_time()

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._add_fit_time()

    def _add_fit_time(self) -> None:
        now = time.perf_counter()
        self.fit_seconds += now - self._mark
        self._mark = now

    @property
    def samples_per_second(self) -> float:
        return self.samples / self.train_seconds if self.train_seconds > 0 else 0.0

    def state_dict(self) -> dict[str, Any]:
        return {
            "samples": self.samples,
            "train_seconds": self.train_seconds,
            "fit_seconds": self.fit_seconds,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.samples = state["samples"]
        self.train_seconds = state["train_seconds"]
        self.fit_seconds = state["fit_seconds"]


class HistoryRecorder(L.Callback):
    """One row of logged metrics per epoch (the learning curves of the report)."""

    def __init__(self) -> None:
        self.history: list[dict[str, float]] = []

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        row = {"epoch": float(trainer.current_epoch + 1)}
        for name, value in trainer.callback_metrics.items():
            number = float(value)
            if math.isfinite(number) and name.startswith(("train_", "val_")):
                row[name] = number
        row["lr"] = float(trainer.optimizers[0].param_groups[0]["lr"])
        self.history.append(row)

    def state_dict(self) -> dict[str, Any]:
        return {"history": self.history}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.history = list(state["history"])

"""Checkpoints keep the weights training changes and leave the frozen ones out (a LoRA run of a
language model would otherwise write the whole base model at every epoch), and a checkpoint
that does not fit the network is refused instead of half-loaded."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from trainforge.config import TrainConfig
from trainforge.training.module import TrainingModule


class _Target:
    def loss_fn(self) -> nn.Module:
        return nn.CrossEntropyLoss()

    def metric_collection(self) -> nn.Module:
        from torchmetrics import MetricCollection

        return MetricCollection({})


def _module(seed: int) -> TrainingModule:
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.Linear(8, 2))
    net[0].requires_grad_(False)  # the "backbone"
    return TrainingModule(net, _Target(), TrainConfig())


def test_a_checkpoint_leaves_frozen_weights_out_and_reloads_the_rest(tmp_path: Path) -> None:
    trained = _module(seed=0)
    with torch.no_grad():
        trained.net[2].weight.add_(1.0)
        trained.net[1].running_mean.add_(3.0)  # buffers change in training: they are kept
    checkpoint = {"state_dict": trained.state_dict()}
    trained.on_save_checkpoint(checkpoint)
    assert checkpoint["frozen_parameters"] == ["net.0.bias", "net.0.weight"]
    assert not {"net.0.weight", "net.0.bias"} & set(checkpoint["state_dict"])
    torch.save(checkpoint, tmp_path / "last.ckpt")

    # A run resumed in a new process starts from the same frozen backbone.
    fresh = _module(seed=1)
    fresh.net[0].load_state_dict(trained.net[0].state_dict())
    fresh.load_checkpoint_weights(torch.load(tmp_path / "last.ckpt", weights_only=True))
    for name, value in trained.state_dict().items():
        assert torch.equal(fresh.state_dict()[name], value), name


def test_a_checkpoint_missing_trained_weights_is_refused() -> None:
    trained = _module(seed=0)
    checkpoint = {"state_dict": trained.state_dict()}
    trained.on_save_checkpoint(checkpoint)
    other = _module(seed=0)
    other.net[0].requires_grad_(True)  # trained here: its starting value is not enough
    with pytest.raises(RuntimeError, match=r"2 weight\(s\) missing .*net\.0\."):
        other.load_checkpoint_weights(checkpoint)
    del checkpoint["state_dict"]["net.2.weight"]
    with pytest.raises(RuntimeError, match=r"1 weight\(s\) missing .*net\.2\.weight"):
        _module(seed=0).load_checkpoint_weights(checkpoint)

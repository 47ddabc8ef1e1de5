"""`trainforge plan CONFIG`: parameters, memory and a batch size, before any training.

The network is built as training builds it (with `model.finetune` applied, so LoRA or a frozen
backbone shows in the trainable count) but no data set is read beyond what sizes the network
(a tabular file, for its feature columns). Activation memory is measured, not modelled: one
forward pass on a probe batch of `PROBE_ROWS` rows records every tensor autograd keeps for the
backward pass (`torch.autograd.graph.saved_tensors_hooks`), under the configured precision.

Example:
    >>> print(trainforge.plan("examples/sst2.yaml").text())
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from trainforge.config import ExperimentConfig, load_config
from trainforge.tasks.family import PROBE_ROWS

SAFETY = 0.8  # plan to use at most this share of the free memory
# The batch size finder's ceiling too (training/batch_size.py).
MAX_SUGGESTED = 1024
# Optimiser state per trainable parameter, in parameter-sized values.
OPTIMIZER_VALUES = {"adam": 2, "adamw": 2, "sgd": 1, "rmsprop": 2}


@dataclass
class Plan:
    """Sizes in bytes, per device; `peak_bytes` = weights + gradients + optimizer + activations.

    Attributes:
        model: what was built.
        parameters: all parameters.
        trainable: parameters that training updates.
        activation_bytes_per_row: kept for the backward pass, per example.
        batch_size: the configured batch size per device.
        weights_bytes, gradient_bytes, optimizer_bytes, activation_bytes: per device.
        runtime_bytes: the process itself (libraries, interpreter), measured now (CPU only).
        peak_bytes: expected peak of model memory per device.
        device: where training would run.
        available_bytes: free memory there now.
        suggested_batch_size: largest power of two that fits in SAFETY × available.
        notes: assumptions made.
    """

    model: str
    parameters: int
    trainable: int
    activation_bytes_per_row: float
    batch_size: int
    weights_bytes: int
    gradient_bytes: int
    optimizer_bytes: int
    activation_bytes: int
    runtime_bytes: int
    peak_bytes: int
    device: str
    available_bytes: int
    suggested_batch_size: int
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    def text(self) -> str:
        """The plan as the CLI prints it."""
        if self.parameters == 0:  # a scikit-learn estimator: nothing to size
            return "\n".join(
                [f"Model:              {self.model}", f"Device:             {self.device}"]
                + [f"Note: {note}" for note in self.notes]
            )
        share = self.trainable / self.parameters if self.parameters else 0.0
        runtime = f" (+ {_size(self.runtime_bytes)} for the process)" if self.runtime_bytes else ""
        lines = [
            f"Model:              {self.model}",
            f"Parameters:         {self.parameters:,}",
            f"Trainable:          {self.trainable:,} ({share:.2%})",
            f"Activations:        {_size(self.activation_bytes_per_row)} per example "
            f"(measured on a probe batch)",
            f"Per device, batch {self.batch_size}:",
            f"  weights           {_size(self.weights_bytes)}",
            f"  gradients         {_size(self.gradient_bytes)}",
            f"  optimizer state   {_size(self.optimizer_bytes)}",
            f"  activations       {_size(self.activation_bytes)}",
            f"  expected peak     {_size(self.peak_bytes)}{runtime}",
            f"Device:             {self.device}, {_size(self.available_bytes)} free",
            f"Suggested batch size: {self.suggested_batch_size} (largest power of two within "
            f"{SAFETY:.0%} of the free memory, at most {MAX_SUGGESTED})",
        ]
        lines += [f"Note: {note}" for note in self.notes]
        return "\n".join(lines)


def plan(
    config: str | Path | dict[str, Any] | ExperimentConfig,
    overrides: list[str] | tuple[str, ...] = (),
) -> Plan:
    """Estimate the memory of training `config` on this machine's device, without training.

    Args:
        config: a YAML path, a dict, or a validated ExperimentConfig.
        overrides: "dotted.key=value" strings applied on top of the config.
    """
    cfg = config if isinstance(config, ExperimentConfig) else load_config(config, overrides)
    from trainforge.tasks.registry import family_of

    notes: list[str] = []
    network, probe, name = family_of(cfg).plan_network(cfg, notes)
    runtime = _runtime_bytes(network)
    train = cfg.train
    if network is None:
        return _classical_plan(cfg, name, runtime, notes)
    if train.gradient_checkpointing:
        from trainforge.training.checkpointing import checkpoint_activations

        if checkpoint_activations(network):
            notes.append("gradient checkpointing: activations of one layer at a time are kept")
    parameters = sum(p.numel() for p in network.parameters())
    trainable = sum(p.numel() for p in network.parameters() if p.requires_grad)
    weights = sum(p.numel() * p.element_size() for p in network.parameters())
    weights += sum(b.numel() * b.element_size() for b in network.buffers())
    grads = sum(p.numel() * p.element_size() for p in network.parameters() if p.requires_grad)
    values = OPTIMIZER_VALUES[train.optimizer]
    if train.optimizer == "sgd" and train.momentum == 0:
        values = 0
    if train.optimizer == "rmsprop" and train.momentum == 0:
        values = 1
    optimizer = values * grads
    from trainforge.training.distributed import resolve_precision, world_size

    precision = resolve_precision(train, network)
    per_row = _saved_bytes(network, probe, precision) / PROBE_ROWS

    world = world_size(train)
    if world > 1 and train.strategy == "fsdp":
        weights, grads, optimizer = weights // world, grads // world, optimizer // world
        notes.append(f"fsdp: weights, gradients and optimizer state divided over {world} devices")
    elif world > 1:
        grads *= 2  # DDP keeps a second copy of the gradients in its all-reduce buckets
        notes.append(f"ddp over {world} processes: each holds the whole model")
    fixed = weights + grads + optimizer
    device, available = _device(train)
    if device.startswith("cuda"):
        runtime = 0  # the CUDA context is outside mem_get_info's free memory already
    batch = train.batch_size
    activations = int(per_row * batch)
    budget = SAFETY * available - fixed - runtime
    suggested = 1
    while suggested * 2 <= MAX_SUGGESTED and per_row * suggested * 2 <= budget:
        suggested *= 2
    if budget < per_row:
        notes.append("even one example per batch may not fit; free memory or use a smaller model")
    if precision != "32":
        chosen = " (precision auto)" if train.precision == "auto" else ""
        notes.append(f"activations measured under {precision} autocast on the CPU{chosen}")
    return Plan(
        model=name,
        parameters=parameters,
        trainable=trainable,
        activation_bytes_per_row=round(per_row, 1),
        batch_size=batch,
        weights_bytes=weights,
        gradient_bytes=grads,
        optimizer_bytes=optimizer,
        activation_bytes=activations,
        runtime_bytes=runtime,
        peak_bytes=fixed + activations,
        device=device,
        available_bytes=available,
        suggested_batch_size=suggested,
        notes=notes,
    )


def _saved_bytes(network: Any, probe: dict[str, Any], precision: str) -> int:
    """Bytes autograd keeps for the backward pass in one forward pass on `probe`."""
    import contextlib

    import torch

    network.train()
    params = {p.untyped_storage().data_ptr() for p in network.parameters()}
    kept: dict[int, int] = {}

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in params:
            kept[storage.data_ptr()] = storage.nbytes()
        return tensor

    autocast: Any = contextlib.nullcontext()
    if precision != "32":
        dtype = torch.bfloat16 if precision == "bf16-mixed" else torch.float16
        autocast = torch.autocast("cpu", dtype=dtype)
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t), autocast:
        output = network(**probe)
    kept[-1] = output.numel() * output.element_size()
    return sum(kept.values())


def _device(train: Any) -> tuple[str, int]:
    """Where training would run and its free memory now, in bytes."""
    import torch

    from trainforge.training.distributed import on_gpu

    if on_gpu(train):
        free, _ = torch.cuda.mem_get_info(0)
        return f"cuda:0 ({torch.cuda.get_device_name(0)})", int(free)
    import psutil

    return "cpu", int(psutil.virtual_memory().available)


def _runtime_bytes(network: Any) -> int:
    """What a training process holds besides the model: this one's memory with the training
    libraries imported, less the weights just built."""
    import lightning  # noqa: F401  (imported by training; part of its footprint)
    import psutil

    rss = int(psutil.Process().memory_info().rss)
    if network is not None:
        rss -= sum(p.numel() * p.element_size() for p in network.parameters())
    return max(0, rss)


def _classical_plan(cfg: ExperimentConfig, name: str, runtime: int, notes: list[str]) -> Plan:
    device, available = _device(cfg.train)
    notes.append("scikit-learn estimators train on the whole table at once; no batches")
    return Plan(
        model=name,
        parameters=0,
        trainable=0,
        activation_bytes_per_row=0.0,
        batch_size=cfg.train.batch_size,
        weights_bytes=0,
        gradient_bytes=0,
        optimizer_bytes=0,
        activation_bytes=0,
        runtime_bytes=runtime,
        peak_bytes=0,
        device=device,
        available_bytes=available,
        suggested_batch_size=cfg.train.batch_size,
        notes=notes,
    )


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if abs(n) < 1024 or unit == "GB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    return f"{n:.1f} GB"

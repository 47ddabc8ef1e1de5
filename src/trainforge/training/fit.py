"""How to run training: assemble Lightning's Trainer with our callbacks and fit a module."""

from __future__ import annotations

import gc
import logging
import os
import shutil
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO
from torch.utils.data import DataLoader

from trainforge.config import TrainConfig
from trainforge.errors import ConfigError
from trainforge.training.callbacks import EpochSeeder, HistoryRecorder, ThroughputMonitor
from trainforge.training.distributed import (
    check_hardware,
    on_gpu,
    resolve_precision,
    shard_loader,
    topology,
    world_size,
)
from trainforge.training.module import TrainingModule
from trainforge.training.options import FitOptions, Fitted
from trainforge.training.precision import precision_plugins

CHECKPOINTS = "checkpoints"


@dataclass(frozen=True)
class FitResult:
    """What training produced besides the weights (left in the module)."""

    history: list[dict[str, float]]
    train_time_s: float
    samples_per_second: float
    epochs_run: int
    best_epoch: int | None
    batch_size: int | None = None  # chosen by the batch size finder (`batch_size: auto`)


def quiet_lightning() -> None:
    """Keep Lightning's banner lines and hardware tips out of the user's console."""
    for name in ("lightning.pytorch", "lightning.fabric", "lightning"):
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    warnings.filterwarnings("ignore", message=".*LeafSpec.*")
    warnings.filterwarnings("ignore", message=".*exists and is not empty.*")
    # We put the network in train mode ourselves at each epoch start (see TrainingModule).
    warnings.filterwarnings("ignore", message=".*module\\(s\\) in eval mode.*")
    warnings.filterwarnings("ignore", message=".*is smaller than the logging interval.*")
    # Validation metrics are torchmetrics (synced by compute) or gathered: equal on every rank.
    warnings.filterwarnings("ignore", message=".*when logging on epoch level in distributed.*")


def fit(
    module: TrainingModule,
    train_loader: DataLoader,
    val_loader: DataLoader | None,
    cfg: TrainConfig,
    run_dir: Path,
    options: FitOptions | None = None,
    extra_callbacks: Sequence[L.Callback] = (),
) -> FitResult:
    """Train `module`; checkpoints go to `run_dir/checkpoints`, CSV logs to `run_dir/logs`.

    Args:
        module: the LightningModule to train (its weights are updated in place).
        train_loader: training batches (dicts with "labels").
        val_loader: validation batches, or None to train without validation.
        cfg: the `train` config section.
        run_dir: the run folder.
        options: resume, progress bar, and callbacks and loggers from outside the task.
        extra_callbacks: the task's own callbacks.
    """
    quiet_lightning()
    options = options or FitOptions()
    resume, progress = options.resume, options.progress
    checkpoint_dir = run_dir / CHECKPOINTS
    throughput, history = ThroughputMonitor(), HistoryRecorder()
    callbacks: list[L.Callback] = [EpochSeeder(cfg.seed), throughput, history]
    callbacks += [*extra_callbacks, *options.callbacks]
    monitor, mode = module.monitor, "min"
    if cfg.early_stopping is not None and val_loader is not None:
        mode = cfg.early_stopping.resolved_mode
        callbacks.append(
            L.pytorch.callbacks.EarlyStopping(
                monitor=monitor,
                patience=cfg.early_stopping.patience,
                mode=mode,
                min_delta=cfg.early_stopping.min_delta,
                check_on_train_epoch_end=False,
            )
        )
    # Two checkpoints: the full training state of the last epoch (for --resume), and the
    # weights alone of the best epoch (half the size and write time of a full one).
    best = L.pytorch.callbacks.ModelCheckpoint(
        dirpath=checkpoint_dir,
        filename="best",
        monitor=monitor,
        mode=mode,
        save_top_k=1,
        save_weights_only=True,
        save_on_train_epoch_end=val_loader is None,
        enable_version_counter=False,
    )
    last = L.pytorch.callbacks.ModelCheckpoint(
        dirpath=checkpoint_dir,
        filename="last",
        save_on_train_epoch_end=True,
        enable_version_counter=False,
    )
    callbacks += [best, last]
    if progress:
        callbacks.append(_EpochBar())
    check_hardware(cfg, torch.cuda.is_available())
    topo, world = topology(cfg), world_size(cfg)
    chosen = None
    if cfg.auto_batch_size:
        from trainforge.training.batch_size import find_batch_size
        from trainforge.training.distributed import with_batch_size

        if world > 1:
            raise ConfigError(
                f"batch_size 'auto' runs on one process, and this run has {world}",
                where="train.batch_size",
                fix="Find the batch size with one process (or `trainforge plan`), then set it",
            )
        chosen = find_batch_size(module, (train_loader, val_loader), cfg, checkpoint_dir)
        train_loader = with_batch_size(train_loader, chosen)
    # Training shards have the same length on every rank: rank 0's tells the steps per epoch.
    steps = len(shard_loader(train_loader, 0, world, train=True))
    # With max_steps inside the first epoch, validate when training stops, not at epoch end.
    batches = cfg.max_steps * cfg.accumulate_grad_batches if cfg.max_steps else steps
    val_every = min(steps, batches)
    trainer = L.Trainer(
        max_epochs=cfg.epochs,
        max_steps=cfg.max_steps or -1,
        accelerator=cfg.accelerator,
        devices=topo.devices,
        num_nodes=topo.num_nodes,
        strategy=_strategy(cfg.strategy, world),
        accumulate_grad_batches=cfg.accumulate_grad_batches,
        # Our samplers shard by rank themselves (training/distributed.py); Lightning's
        # DistributedSampler would re-shuffle them and repeat validation rows.
        use_distributed_sampler=False,
        gradient_clip_val=cfg.gradient_clip,
        deterministic=True if cfg.accelerator == "cpu" else "warn",
        callbacks=callbacks,
        # A new logs/version_N per session: a resumed run keeps the earlier session's rows.
        logger=[L.pytorch.loggers.CSVLogger(run_dir, name="logs"), *options.loggers],
        num_sanity_val_steps=0,
        enable_model_summary=False,
        enable_progress_bar=progress,
        log_every_n_steps=max(1, min(50, steps)),
        plugins=[_DiskCheckpointIO(), *precision_plugins(cfg)],
        limit_val_batches=1.0 if val_loader is not None else 0,
        val_check_interval=val_every if val_loader is not None else None,
    )
    rank = trainer.global_rank
    train_loader = shard_loader(train_loader, rank, world, train=True)
    if val_loader is not None:
        val_loader = shard_loader(val_loader, rank, world, train=False)
    last_file = checkpoint_dir / "last.ckpt"
    trainer.fit(
        module,
        train_dataloaders=train_loader,
        val_dataloaders=val_loader,
        ckpt_path=str(last_file) if resume and last_file.is_file() else None,
    )
    best_epoch = None
    # Training is over (last.ckpt holds the state for a resume): drop the optimiser state and
    # gradients (three times the weights) before the best weights are read back in.
    for optimizer in trainer.optimizers:
        optimizer.state.clear()
    module.zero_grad(set_to_none=True)
    # Only the primary process evaluates; the others need not read the file (on another node
    # it may not even be there).
    if cfg.restore_best and best.best_model_path and trainer.is_global_zero:
        # weights_only: a checkpoint is data, never code.
        state = torch.load(best.best_model_path, map_location="cpu", weights_only=True)
        module.load_checkpoint_weights(state)
        best_epoch = int(state["epoch"]) + 1
    return FitResult(
        history=history.history,
        train_time_s=throughput.fit_seconds,
        # Each process counts its own rows; they all step at the same pace.
        samples_per_second=throughput.samples_per_second * world,
        epochs_run=trainer.current_epoch,
        best_epoch=best_epoch,
        batch_size=chosen,
    )


def _strategy(name: str, world: int) -> Any:
    """Lightning's strategy for `train.strategy`.

    DDP gets `static_graph`: a trainable parameter that no forward pass uses (the pretrained
    pooler under mean pooling) would otherwise stop the first backward pass, and the graph of
    our models never changes between steps.
    """
    if name == "ddp" or (name == "auto" and world > 1):
        from lightning.pytorch.strategies import DDPStrategy

        return DDPStrategy(static_graph=True)
    return name


class _DiskCheckpointIO(TorchCheckpointIO):
    """Saves straight to a temporary file, then renames it into place.

    Lightning's default serialises the whole checkpoint into memory first (weights and
    optimiser state, twice over), which raised the peak memory of a text run by ~80 MB.
    """

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: Any, storage_options: Any = None
    ) -> None:
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.tmp")
        torch.save(checkpoint, tmp)
        os.replace(tmp, target)


def cap_onednn_cache(capacity: int = 64) -> None:
    """Keep oneDNN's cache of compiled kernels small for bfloat16 text training on the CPU.

    Every batch length makes new bfloat16 matrix-product kernels; the default cache keeps
    1,024 of them, ~250 MB more peak memory on SST-2 than 64, which were as fast there.
    oneDNN reads the setting once, at its first kernel: later calls (or a user's own
    ONEDNN_PRIMITIVE_CACHE_CAPACITY) leave it as it is.
    """
    os.environ.setdefault("ONEDNN_PRIMITIVE_CACHE_CAPACITY", str(capacity))


def tune_malloc(arenas: int = 2, mmap_threshold: int = 2 << 20) -> None:
    """Make glibc give freed memory back: few arenas, large blocks mapped on their own.

    Tensors of ever-changing shapes (variable-length text batches) fragment the heap: freed
    activations stay in the process, and glibc's adaptive mmap threshold soon moves even
    multi-MB blocks onto the heap. Capping arenas at 2 (as MALLOC_ARENA_MAX=2) lowered peak
    memory of a text run by ~100 MB; a fixed 2 MB mmap threshold (blocks above it are unmapped
    when freed) by another ~120 MB, at about 3% of speed (1 MB cost 13%). Environment
    settings (MALLOC_ARENA_MAX, MALLOC_MMAP_THRESHOLD_) win; a no-op where glibc is absent.
    """
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    if name is None:
        return
    try:
        libc = ctypes.CDLL(name)
        if not os.environ.get("MALLOC_ARENA_MAX"):
            libc.mallopt(-8, arenas)  # M_ARENA_MAX
        if not os.environ.get("MALLOC_MMAP_THRESHOLD_"):
            libc.mallopt(-3, mmap_threshold)  # M_MMAP_THRESHOLD
    except (OSError, AttributeError):
        return


class _EpochBar(L.pytorch.callbacks.TQDMProgressBar):
    """One progress line for training; validation bars would double the noise for no news."""

    def init_validation_tqdm(self) -> Any:
        bar = super().init_validation_tqdm()
        bar.disable = True
        return bar


def remove_checkpoints(run_dir: Path) -> None:
    """Drop the checkpoints of a finished run: the package holds the weights."""
    shutil.rmtree(run_dir / CHECKPOINTS, ignore_errors=True)


def monitor_for(cfg: TrainConfig, has_validation: bool) -> str:
    """The metric that picks the best epoch and drives plateau schedules."""
    if not has_validation:
        return "train_loss"
    return cfg.early_stopping.monitor if cfg.early_stopping is not None else "val_loss"


def fit_network(
    network: torch.nn.Module,
    target: Any,
    cfg: TrainConfig,
    loaders: tuple[DataLoader, DataLoader | None],
    run_dir: Path,
    options: FitOptions,
    *,
    callbacks: Sequence[L.Callback] = (),
) -> Fitted:
    """Train a torch network with the Lightning loop; returns history and throughput."""
    train_loader, val_loader = loaders
    precision = resolve_precision(cfg, network)
    if precision == "bf16-mixed" and not on_gpu(cfg):
        cap_onednn_cache()
    cfg = cfg.model_copy(update={"precision": precision})
    module = TrainingModule(network, target, cfg, monitor=monitor_for(cfg, val_loader is not None))
    result = fit(
        module,
        train_loader,
        val_loader,
        cfg,
        run_dir,
        options,
        extra_callbacks=callbacks,
    )
    network.cpu().eval()
    # Free gradients and optimiser state (twice the weights) before evaluation and packaging;
    # the Trainer and the module hold each other, so only the cycle collector frees them.
    network.zero_grad(set_to_none=True)
    del module
    gc.collect()
    return Fitted(
        history=result.history,
        train_time_s=result.train_time_s,
        samples_per_second=result.samples_per_second,
        extra={
            "epochs_run": result.epochs_run,
            "best_epoch": result.best_epoch,
            "batch_size": result.batch_size,
            "precision": precision,
        },
    )


def fit_head(
    head: torch.nn.Module,
    target: Any,
    cfg: TrainConfig,
    features: Mapping[str, Any],
    labels: Mapping[str, Any],
    run_dir: Path,
    options: FitOptions,
) -> Fitted:
    """Train a head on features computed once by a frozen backbone ("train", "validation")."""
    from trainforge.training.data import tensor_loader

    train = tensor_loader(features["train"], labels["train"], cfg.batch_size, shuffle_seed=cfg.seed)
    val = (
        tensor_loader(features["validation"], labels["validation"], cfg.eval_batch_size)
        if "validation" in features
        else None
    )
    return fit_network(head, target, cfg, (train, val), run_dir, options)

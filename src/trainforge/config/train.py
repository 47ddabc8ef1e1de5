"""The `train:` section: optimisation, schedule, early stopping, scaling and reproducibility."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from trainforge.config.scaling import check_scaling, scaling_input
from trainforge.config.section import Section


class EarlyStoppingConfig(Section):
    """Stop when the monitored metric has not improved for `patience` epochs."""

    monitor: str = "val_loss"
    patience: int = Field(default=5, ge=1)
    mode: Literal["auto", "min", "max"] = Field(
        default="auto", description="'auto': min for losses and errors, max for scores."
    )
    min_delta: float = Field(default=0.0, ge=0.0)

    @property
    def resolved_mode(self) -> Literal["min", "max"]:
        if self.mode != "auto":
            return self.mode
        lower_is_better = ("loss", "rmse", "mse", "mae")
        return "min" if self.monitor.endswith(lower_is_better) else "max"


class TrainConfig(Section):
    """How to fit: optimisation, regularisation, schedule, stopping, reproducibility."""

    epochs: int = Field(default=50, ge=1)
    max_steps: int | None = Field(
        default=None, ge=1, description="Stop after this many optimiser steps."
    )
    batch_size: int = Field(default=32, ge=1, description="Rows per step on each device.")
    optimizer: Literal["sgd", "adam", "adamw", "rmsprop"] = "adamw"
    lr: float = Field(default=1e-3, gt=0.0)
    momentum: float = Field(default=0.9, ge=0.0, lt=1.0, description="For sgd and rmsprop.")
    nesterov: bool = Field(default=False, description="Nesterov momentum for sgd.")
    weight_decay: float = Field(
        default=0.0, ge=0.0, description="L2 penalty (decoupled for adamw)."
    )
    l1: float = Field(default=0.0, ge=0.0, description="L1 penalty on weights, added to the loss.")
    loss: Literal["auto", "cross_entropy", "bce", "mse", "mae", "huber"] = Field(
        default="auto", description="'auto': cross_entropy for classification, mse for regression."
    )
    label_smoothing: float = Field(default=0.0, ge=0.0, lt=1.0)
    class_weight: Literal["none", "balanced"] = "none"
    scheduler: Literal["none", "cosine", "linear_warmup", "step", "reduce_on_plateau"] = "none"
    warmup_ratio: float = Field(default=0.1, ge=0.0, lt=1.0, description="For linear_warmup.")
    step_size: int = Field(default=10, ge=1, description="Epochs between decays, for step.")
    gamma: float = Field(default=0.1, gt=0.0, le=1.0, description="Decay factor for step/plateau.")
    early_stopping: EarlyStoppingConfig | None = EarlyStoppingConfig()
    restore_best: bool = Field(
        default=True, description="Evaluate and package the best epoch's weights."
    )
    keep_checkpoints: bool = Field(
        default=False,
        description="Keep RUN_DIR/checkpoints after a finished run (the package suffices).",
    )
    gradient_clip: float | None = Field(default=1.0, gt=0.0)
    max_length: int = Field(
        default=128,
        ge=8,
        description="Tokens per text; longer texts are truncated (token_classification: split "
        "into overlapping windows).",
    )
    stride: int | None = Field(
        default=None,
        ge=0,
        description="token_classification: tokens shared by consecutive windows of a sentence "
        "longer than max_length; default a quarter of max_length, at most 32.",
    )
    layer_decay: float | None = Field(
        default=None,
        gt=0.0,
        le=1.0,
        description="Layer-wise lr decay for full fine-tuning (e.g. 0.9).",
    )
    group_by_length: bool = Field(
        default=True, description="Batch texts of similar length together."
    )
    eval_batch_size: int = Field(
        default=64, ge=1, description="Rows per forward pass when evaluating and predicting."
    )
    accelerator: Literal["auto", "cpu", "gpu"] = "auto"
    devices: int | Literal["auto"] = Field(
        default=1,
        description="Devices (processes) per node; under torchrun or srun, 1 and 'auto' follow "
        "the launcher. 'auto' alone: every GPU, or one CPU process.",
    )
    strategy: Literal["auto", "ddp", "fsdp"] = Field(
        default="auto", description="How several devices share the work (Lightning strategy)."
    )
    precision: Literal["auto", "32", "bf16-mixed", "16-mixed"] = Field(
        default="auto",
        description="Float precision. 'auto': bf16-mixed when a pretrained transformer is "
        "trained on hardware with native bfloat16 (CPUs with AVX512-BF16 or AMX, recent GPUs), "
        "else 32; 16-mixed needs a GPU.",
    )
    gradient_checkpointing: bool = Field(
        default=False,
        description="Recompute each transformer layer's activations in the backward pass "
        "instead of keeping them: activation memory falls to about one layer's worth, a step "
        "takes about a third longer. Text tasks (pretrained transformers) only.",
    )
    accumulate_grad_batches: int = Field(
        default=1, ge=1, description="Batches whose gradients are summed per optimiser step."
    )
    auto_batch_size: bool = Field(
        default=False,
        description="Let Lightning's batch size finder choose batch_size before training, "
        "doubling from batch_size; `batch_size: auto` sets this.",
    )
    seed: int = 42

    @model_validator(mode="before")
    @classmethod
    def _scaling_input(cls, raw: Any) -> Any:
        return scaling_input(raw)

    @model_validator(mode="after")
    def _scaling_fits(self) -> TrainConfig:
        check_scaling(self)
        return self

    @property
    def window_stride(self) -> int:
        """`stride` with its default resolved."""
        return self.stride if self.stride is not None else min(32, self.max_length // 4)

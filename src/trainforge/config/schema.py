"""The experiment schema: one YAML file describes a run; validated once, here, at the boundary.

Everything downstream receives frozen, typed config objects and never re-checks them.
"""

from __future__ import annotations

import copy
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from trainforge.config.continual import ContinualConfig
from trainforge.config.image import IMAGE_TASKS, check_image_settings, image_defaults, model_types
from trainforge.config.recommendation import (
    RECOMMENDATION_TASKS,
    check_recommendation_settings,
    recommendation_defaults,
)
from trainforge.config.scaling import check_scaling, scaling_input
from trainforge.config.track import TrackConfig
from trainforge.config.tune import TuneConfig, key_error
from trainforge.errors import did_you_mean, format_choices

Task = Literal[
    "tabular_classification",
    "tabular_regression",
    "text_classification",
    "token_classification",
    "image_classification",
    "recommendation",
]
CLASSIFICATION_TASKS = frozenset(
    {"tabular_classification", "text_classification", "token_classification"} | IMAGE_TASKS
)
TEXT_TASKS = frozenset({"text_classification", "token_classification"})
# Ways to fit that use the backbone as a sentence-embedding model (mean pooling).
SENTENCE_METHODS = frozenset({"frozen", "zero_shot", "setfit"})
SKLEARN_MODELS = frozenset({"logistic_regression", "random_forest", "hist_gradient_boosting"})


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SplitConfig(_Section):
    """How to carve validation and test sets out of `data.train` when they are not given."""

    validation: float = Field(
        default=0.1, ge=0.0, lt=1.0, description="Fraction of rows for validation."
    )
    test: float = Field(default=0.2, ge=0.0, lt=1.0, description="Fraction of rows for test.")
    stratify: bool = Field(default=True, description="Keep class proportions in every split.")
    seed: int | None = Field(
        default=None,
        description="Seed of the split; train.seed by default. Fix it to "
        "compare runs of several training seeds on the same validation and test rows.",
    )

    @model_validator(mode="after")
    def _fractions_leave_training_rows(self) -> SplitConfig:
        if self.validation + self.test >= 0.9:
            raise ValueError(
                f"validation ({self.validation}) + test ({self.test}) must be below 0.9 so that "
                "enough rows remain for training"
            )
        return self


class AugmentConfig(_Section):
    """Noise on training batches (off by default): token noise for text, transforms for images."""

    deletion: float = Field(default=0.0, ge=0.0, lt=0.5, description="Chance to drop each token.")
    swap: float = Field(
        default=0.0, ge=0.0, lt=0.5, description="Chance to swap a token with the next."
    )
    random_crop: int = Field(
        default=0, ge=0, description="Images: pad by this many pixels, crop back at random."
    )
    flip: bool = Field(default=False, description="Images: mirror left-right half of the time.")
    rotate: float = Field(
        default=0.0, ge=0.0, le=180.0, description="Images: rotate by up to this many degrees."
    )
    color_jitter: float = Field(
        default=0.0, ge=0.0, lt=1.0, description="Images: scale brightness and contrast by 1±x."
    )
    noise: float = Field(
        default=0.0, ge=0.0, lt=1.0, description="Images: Gaussian pixel noise, std on a 0-1 scale."
    )


class DataConfig(_Section):
    """Where the data is and which columns mean what."""

    train: str = Field(
        description="Training data: a .csv/.tsv/.jsonl/.parquet file or 'sklearn:NAME'; "
        "token_classification: a CoNLL column file or JSONL."
    )
    validation: str | None = Field(
        default=None, description="Validation data; split from train if absent."
    )
    test: str | None = Field(default=None, description="Test data; split from train if absent.")
    label_column: str = Field(default="label", description="Column holding the target.")
    text_column: str = Field(default="text", description="Column holding the text (text tasks).")
    text_pair_column: str | None = Field(
        default=None, description="Optional second text column, for sentence-pair classification."
    )
    multi_label: bool = Field(
        default=False, description="Each row holds several labels (a list in JSONL, or delimited)."
    )
    label_delimiter: str = Field(
        default="|", min_length=1, description="Separates labels in one cell."
    )
    augment: AugmentConfig = AugmentConfig()
    shots: int | None = Field(
        default=None,
        ge=1,
        description="Train on this many rows per class, sampled (seeded) from data.train.",
    )
    labels: str | None = Field(
        default=None, description="image_classification: IDX label file beside IDX images."
    )
    image_column: str = Field(
        default="path", description="image_classification: column of image paths in a table."
    )
    image_size: int | tuple[int, int] | None = Field(
        default=None, description="image_classification: resize to this (or [height, width])."
    )
    channels: Literal[1, 3] | None = Field(
        default=None, description="image_classification: 1 grey, 3 RGB; inferred when absent."
    )
    on_bad_image: Literal["error", "skip"] = Field(
        default="error", description="image_classification: a corrupt image stops or is skipped."
    )
    format: Literal["auto", "conll", "jsonl"] = Field(
        default="auto",
        description="token_classification: file format; 'auto' goes by the suffix "
        "(.jsonl/.json: JSONL, anything else: CoNLL columns).",
    )
    tag_scheme: Literal["auto", "iob1", "iob2", "bioes"] = Field(
        default="auto",
        description="token_classification: tag scheme of the files; 'auto' detects it. "
        "Training uses IOB2; predicted tags come back in this scheme.",
    )
    token_column: int = Field(default=0, description="CoNLL: column of the word.")
    tag_column: int = Field(
        default=-1, description="CoNLL: column of the tag (negative counts from the end)."
    )
    label_all_tokens: bool = Field(
        default=False,
        description="token_classification: train on every sub-word token, not only the first "
        "of each word.",
    )
    encoding: str = Field(default="utf-8", description="Text encoding of csv/tsv/jsonl files.")
    feature_columns: list[str] | None = Field(
        default=None, description="Input columns; all columns but the label by default."
    )
    split: SplitConfig = SplitConfig()
    missing: Literal["impute", "error"] = Field(
        default="impute",
        description="Missing feature values: fill (median / most frequent) or refuse.",
    )
    unknown_category: Literal["error", "ignore"] = Field(
        default="error",
        description="A category unseen in training at predict time: refuse or encode as 0.",
    )
    user_column: str = Field(default="user", description="recommendation: column of user ids.")
    item_column: str = Field(
        default="item", description="recommendation: column of item ids (also in data.items)."
    )
    rating_column: str | None = Field(
        default=None,
        description="recommendation: column of ratings; absent: every row is a positive "
        "interaction (a click).",
    )
    time_column: str | None = Field(
        default=None,
        description="recommendation: column of times (numbers or dates); with it, each user's "
        "last interactions are the validation and test ones, else a seeded per-user hold-out.",
    )
    items: str | None = Field(
        default=None,
        description="recommendation: the item file, joined on data.item_column; its other "
        "columns become item features (text, categorical or numeric, inferred).",
    )
    item_features: list[str] | None = Field(
        default=None,
        description="recommendation: columns of data.items used as item features; all but the "
        "item column by default.",
    )
    positive_threshold: float | None = Field(
        default=None,
        description="recommendation: ratings at or above this count as relevant (trained on as "
        "positives, scored as hits); default: the median training rating.",
    )


class PeftConfig(_Section):
    """Settings of the parameter-efficient methods (lora, adalora, ia3)."""

    r: int = Field(default=8, ge=1, description="LoRA rank (initial rank for adalora).")
    alpha: float = Field(default=16.0, gt=0.0, description="LoRA scaling numerator.")
    dropout: float = Field(default=0.1, ge=0.0, lt=1.0)
    target_modules: list[str] | None = Field(
        default=None,
        description="Layers to adapt; peft's default for the architecture when absent.",
    )
    adapter_only: bool = Field(
        default=False, description="Package the small adapter instead of merged weights."
    )


class AdapterConfig(_Section):
    """Bottleneck adapters (Houlsby et al., 2019)."""

    size: int = Field(default=64, ge=1, description="Bottleneck width.")
    target_modules: list[str] = Field(
        default=["output.dense"],
        description="Linear layers after which adapters go (name suffixes).",
    )


class AbstainConfig(_Section):
    """Answer "unknown" (label null) when the top class's probability is under a threshold."""

    precision: float | None = Field(
        default=None,
        gt=0.0,
        le=1.0,
        description="Set the threshold on validation data: the lowest one whose answered rows "
        "reach this precision.",
    )
    threshold: float | None = Field(
        default=None, ge=0.0, le=1.0, description="A fixed threshold instead."
    )

    @model_validator(mode="after")
    def _one_way(self) -> AbstainConfig:
        if self.precision is not None and self.threshold is not None:
            raise ValueError("give abstain.precision or abstain.threshold, not both")
        return self


class ModelConfig(_Section):
    """Which model to fit."""

    type: Literal[
        "mlp",
        "linear",
        "logistic_regression",
        "random_forest",
        "hist_gradient_boosting",
        "transformer",
        "cnn",
        "resnet",
        "mobilenet_v2",
        "recommender",
    ] = Field(
        default="mlp",
        description="'transformer' for text tasks, 'cnn', 'resnet' or 'mobilenet_v2' for "
        "images (the defaults there: transformer, cnn).",
    )
    backbone: str = Field(
        default="minilm",
        description="Text backbone: 'minilm' (embedded all-MiniLM-L6-v2), a local folder in "
        "the transformers format, or a hub name.",
    )
    finetune: Literal[
        "full", "frozen", "lora", "adalora", "ia3", "adapter", "zero_shot", "setfit", "prompt_lm"
    ] = Field(
        default="full",
        description="Which weights train (text tasks); 'zero_shot' trains nothing (similarity "
        "of sentence embeddings to label prompts), 'setfit' is contrastive few-shot tuning.",
    )
    labels: dict[str, str] | list[str] | None = Field(
        default=None,
        description="zero_shot: the labels, as names or {label: description}; the training "
        "data's labels by default.",
    )
    template: str = Field(
        default="This text is about {label}.",
        description="zero_shot: the prompt each label (or its description) is put into.",
    )
    pairs: int = Field(
        default=20,
        ge=1,
        description="setfit: contrastive pairs per training text and direction (positive and "
        "negative), so pairs grow linearly with the data.",
    )
    max_pairs: int | None = Field(
        default=20_000,
        ge=1,
        description="setfit: at most this many pairs in all (large training sets); null for "
        "no cap.",
    )
    context_examples: int = Field(
        default=0,
        ge=0,
        description="prompt_lm: labelled training examples shown in the prompt (balanced "
        "across labels); 0 asks with the instruction alone.",
    )
    abstain: AbstainConfig = AbstainConfig()
    pooling: Literal["auto", "cls", "mean"] = Field(
        default="auto", description="'auto': mean for finetune frozen, cls otherwise."
    )
    peft: PeftConfig = PeftConfig()
    adapter: AdapterConfig = AdapterConfig()
    hidden_sizes: list[int] = Field(
        default=[64, 32], description="Widths of the MLP's hidden layers."
    )
    embedding_dim: int = Field(
        default=32, ge=1, description="recommender: width of user, item and feature embeddings."
    )
    dropout: float = Field(default=0.1, ge=0.0, lt=1.0)
    activation: Literal["relu", "gelu", "tanh", "silu"] = "relu"
    batch_norm: bool = False
    channels: list[int] | None = Field(
        default=None,
        description="Image models: conv widths per block (cnn, default [32, 64, 128]) or per "
        "stage (resnet).",
    )
    depth: int = Field(default=14, description="resnet: 8, 14, 18 (ResNet-18), 20, 26 or 32.")
    freeze: list[str] = Field(
        default=[],
        description="Image models: parameter groups not to train, by name prefix "
        "(e.g. [stem, layer1], or [features] for mobilenet_v2).",
    )
    params: dict[str, Any] = Field(
        default={},
        description="Keyword arguments for scikit-learn estimators (model.type classical).",
    )
    init_from: str | None = Field(
        default=None,
        description="Start from the weights, labels and preprocessing of this model package "
        "(a model folder's current version); new labels get new head rows. Set by "
        "`trainforge update`.",
    )

    @model_validator(mode="after")
    def _positive_sizes(self) -> ModelConfig:
        if any(size < 1 for size in self.hidden_sizes):
            raise ValueError(f"hidden_sizes must all be >= 1, got {self.hidden_sizes}")
        if "{label}" not in self.template:
            raise ValueError(
                f"template {self.template!r} has no {{label}} placeholder; write e.g. "
                "'This text is about {label}.'"
            )
        if isinstance(self.labels, dict):
            empty = [name for name, text in self.labels.items() if not str(text).strip()]
            if empty:
                raise ValueError(
                    f"labels: the description of {', '.join(map(repr, empty))} is empty; "
                    "describe each label, or list the names alone"
                )
        if self.labels is not None and len(set(self.labels)) < 2:
            raise ValueError("labels: a classifier needs at least two distinct labels")
        return self

    @property
    def label_prompts(self) -> dict[str, str] | None:
        """label -> the text its prompt is made of (description, else the name as words)."""
        if self.labels is None:
            return None
        if isinstance(self.labels, dict):
            return {str(k): str(v) for k, v in self.labels.items()}
        return {str(name): label_words(str(name)) for name in self.labels}


class EarlyStoppingConfig(_Section):
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


class TrainConfig(_Section):
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


class ExperimentConfig(_Section):
    """A whole experiment: task, data, model and training."""

    task: Task
    name: str | None = Field(
        default=None, description="Run name; the config file's stem by default."
    )
    data: DataConfig
    model: ModelConfig = ModelConfig()
    train: TrainConfig = TrainConfig()
    track: TrackConfig = TrackConfig()
    continual: ContinualConfig = ContinualConfig()
    tune: TuneConfig | None = Field(
        default=None, description="Hyper-parameter search space and settings (trainforge tune)."
    )

    @property
    def is_classification(self) -> bool:
        return self.task in CLASSIFICATION_TASKS

    @property
    def loss(self) -> str:
        if self.train.loss != "auto":
            return self.train.loss
        return "cross_entropy" if self.is_classification else "mse"

    @model_validator(mode="before")
    @classmethod
    def _task_defaults(cls, raw: Any) -> Any:
        """Defaults that differ by task, filled in only where the user gave no value."""
        if isinstance(raw, dict) and raw.get("task") in IMAGE_TASKS:
            return image_defaults(raw)
        if isinstance(raw, dict) and raw.get("task") in RECOMMENDATION_TASKS:
            return recommendation_defaults(raw)
        if not isinstance(raw, dict) or raw.get("task") not in TEXT_TASKS:
            return raw
        raw = dict(raw)
        model = dict(raw.get("model") or {})
        model.setdefault("type", "transformer")
        train = dict(raw.get("train") or {})
        defaults = TEXT_TRAIN_DEFAULTS
        if raw.get("task") == "token_classification":
            defaults = TOKEN_TRAIN_DEFAULTS
        if model.get("finetune") == "setfit":
            defaults = SETFIT_TRAIN_DEFAULTS
        if model.get("finetune") == "frozen":
            defaults = FROZEN_TRAIN_DEFAULTS
            if raw.get("task") == "token_classification":
                defaults = TOKEN_FROZEN_TRAIN_DEFAULTS
        if model.get("backbone") == "smollm2" and model.get("finetune") == "lora":
            train.setdefault("lr", 2e-4)  # LoRA on a causal language model
        for key, value in defaults.items():
            train.setdefault(key, value)
        raw["model"], raw["train"] = model, train
        return raw

    @property
    def split_seed(self) -> int:
        """The seed that carves validation/test from train and samples `data.shots`."""
        seed = self.data.split.seed
        return self.train.seed if seed is None else seed

    @property
    def is_text(self) -> bool:
        return self.task in TEXT_TASKS

    @property
    def is_token(self) -> bool:
        return self.task == "token_classification"

    @property
    def is_image(self) -> bool:
        return self.task in IMAGE_TASKS

    @property
    def is_recommendation(self) -> bool:
        return self.task in RECOMMENDATION_TASKS

    @property
    def pooling(self) -> str:
        if self.is_token:
            return "cls"  # the backbone's own token-classification head
        if self.model.pooling != "auto":
            return self.model.pooling
        return "mean" if self.model.finetune in SENTENCE_METHODS else "cls"

    @model_validator(mode="after")
    def _consistent(self) -> ExperimentConfig:
        classification_losses = {"cross_entropy", "bce"}
        if self.train.loss != "auto" and (self.loss in classification_losses) != (
            self.is_classification
        ):
            allowed = classification_losses if self.is_classification else {"mse", "mae", "huber"}
            raise ValueError(
                f"train.loss {self.train.loss!r} does not fit task {self.task!r}; "
                f"use one of {format_choices(sorted(allowed))} or 'auto'"
            )
        fitting = model_types(self.task)
        if self.model.type not in fitting:
            raise ValueError(
                f"model.type {self.model.type!r} does not fit task {self.task!r}; use one of "
                f"{format_choices(fitting)}"
            )
        check_image_settings(self)
        check_recommendation_settings(self)
        if self.is_token:
            self._check_token_task()
        if self.model.finetune in ("zero_shot", "setfit") and self.model.pooling == "cls":
            raise ValueError(
                f"model.finetune {self.model.finetune!r} compares mean-pooled sentence "
                "embeddings; set model.pooling to 'mean' or 'auto'"
            )
        if self.model.finetune in ("zero_shot", "setfit", "prompt_lm") and (
            self.task != "text_classification" or self.data.multi_label
        ):
            raise ValueError(
                f"model.finetune {self.model.finetune!r} is for single-label text_classification"
            )
        if self.model.finetune == "frozen" and self.model.pooling == "cls":
            raise ValueError(
                "model.finetune 'frozen' trains a head on cached mean-pooled sentence embeddings; "
                "set model.pooling to 'mean' or 'auto'"
            )
        if self.model.peft.adapter_only and self.model.finetune not in ("lora", "adalora", "ia3"):
            raise ValueError(
                "model.peft.adapter_only (--adapter-only) needs model.finetune lora, adalora or "
                f"ia3; got {self.model.finetune!r}"
            )
        if self.data.multi_label and not self.is_text:
            raise ValueError(
                f"data.multi_label is for text tasks; task {self.task!r} predicts one label per row"
            )
        if self.data.multi_label and self.train.loss not in ("auto", "bce"):
            raise ValueError("data.multi_label trains with train.loss 'bce'; set it to 'auto'")
        if self.model.type == "logistic_regression" and not self.is_classification:
            raise ValueError(
                "model.type 'logistic_regression' is a classifier; for task "
                f"{self.task!r} use 'linear', 'mlp', 'random_forest' or 'hist_gradient_boosting'"
            )
        if self.tune is not None:
            self._check_search()
        if self.train.early_stopping is not None:
            metrics = monitorable_metrics(self.task)
            monitor = self.train.early_stopping.monitor
            if monitor not in metrics:
                raise ValueError(
                    f"train.early_stopping.monitor {monitor!r} is not a logged metric; "
                    f"use one of {format_choices(metrics)}.{did_you_mean(monitor, metrics)}"
                )
        return self

    @property
    def tune_metric(self) -> str:
        """The metric a search optimises: `tune.metric`, else the early-stopping monitor."""
        if self.tune is not None and self.tune.metric is not None:
            return self.tune.metric
        stopping = self.train.early_stopping
        return stopping.monitor if stopping is not None else "val_loss"

    def _check_search(self) -> None:
        assert self.tune is not None
        metrics = [m for m in monitorable_metrics(self.task) if m.startswith("val_")]
        if self.tune_metric not in metrics:
            raise ValueError(
                f"tune.metric {self.tune_metric!r} is not a validation metric of task "
                f"{self.task!r}; use one of {format_choices(metrics)}."
                f"{did_you_mean(self.tune_metric, metrics)}"
            )
        if self.model.type in SKLEARN_MODELS and self.tune_metric == "val_loss":
            raise ValueError(
                f"tune.metric 'val_loss' is logged per epoch by neural models only; for "
                f"model.type {self.model.type!r} use one of "
                f"{format_choices([m for m in metrics if m != 'val_loss'])}"
            )
        base = self.model_dump(mode="json", exclude={"tune"})
        for key, param in self.tune.space.items():
            problem = key_error(key, ExperimentConfig)
            if problem is not None:
                raise ValueError(f"tune.space: {problem}")
            for value in param.extremes():
                _check_value(base, key, value)

    def _check_token_task(self) -> None:
        unsupported = {
            "data.multi_label": self.data.multi_label,
            "data.text_pair_column": self.data.text_pair_column is not None,
            "data.augment": self.data.augment.deletion > 0 or self.data.augment.swap > 0,
            "model.pooling": self.model.pooling != "auto",
            "train.loss": self.train.loss not in ("auto", "cross_entropy"),
        }
        for key, used in unsupported.items():
            if used:
                raise ValueError(
                    f"{key} does not apply to task 'token_classification' (one tag per word, "
                    "from the backbone's token head); remove it"
                )
        if self.train.window_stride > self.train.max_length // 2:
            raise ValueError(
                f"train.stride ({self.train.stride}) must be at most half of train.max_length "
                f"({self.train.max_length}) so that windows move forward"
            )


def label_words(name: str) -> str:
    """A label name as words: "card_arrival" -> "card arrival", "lostCard" -> "lost card"."""
    import re

    spaced = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", name)
    return re.sub(r"[_\-.]+", " ", spaced).strip().lower() or name


def _check_value(base: dict[str, Any], key: str, value: Any) -> None:
    """Raise when setting `key` to `value` (a bound of its search range) breaks the config."""
    from pydantic import ValidationError

    from trainforge.config.loading import set_key

    raw = copy.deepcopy(base)
    set_key(raw, key, value)
    try:
        ExperimentConfig.model_validate(raw)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(p) for p in error["loc"])
        reason = error["msg"].removeprefix("Value error, ")
        raise ValueError(
            f"tune.space.{key}: the value {value!r} makes the config invalid "
            f"({where + ': ' if where else ''}{reason}); narrow the range or the choices"
        ) from None


TEXT_TRAIN_DEFAULTS: dict[str, Any] = {
    "epochs": 3,
    "lr": 5e-5,
    "scheduler": "linear_warmup",
    "weight_decay": 0.01,
    "early_stopping": {"monitor": "val_loss", "patience": 2},
}

# Entity-level F1 is what NER users read; the best epoch is chosen by it.
TOKEN_TRAIN_DEFAULTS: dict[str, Any] = {
    **TEXT_TRAIN_DEFAULTS,
    "early_stopping": {"monitor": "val_f1", "patience": 2},
}


# A linear probe on cached embeddings: many cheap epochs at a head-sized learning rate.
FROZEN_TRAIN_DEFAULTS: dict[str, Any] = {
    "epochs": 100,
    "lr": 1e-3,
    "scheduler": "none",
    "weight_decay": 0.0,
    "early_stopping": {"monitor": "val_loss", "patience": 10},
}

# SetFit's own defaults: one pass over the pairs at a small learning rate for the body.
SETFIT_TRAIN_DEFAULTS: dict[str, Any] = {
    "epochs": 1,
    "lr": 2e-5,
    "batch_size": 16,
    "early_stopping": None,
}

# The head of a frozen tagger trains on one cached feature per word: many more, cheaper rows.
TOKEN_FROZEN_TRAIN_DEFAULTS: dict[str, Any] = {
    **FROZEN_TRAIN_DEFAULTS,
    "epochs": 30,
    "batch_size": 256,
    "early_stopping": {"monitor": "val_loss", "patience": 3},
}


def monitorable_metrics(task: str) -> list[str]:
    """Metrics logged every epoch, which early stopping and tuning can watch."""
    if task == "token_classification":
        return ["val_loss", "val_f1", "val_precision", "val_recall", "val_accuracy", "train_loss"]
    if task in CLASSIFICATION_TASKS:
        return ["val_loss", "val_accuracy", "val_f1_macro", "train_loss"]
    if task in RECOMMENDATION_TASKS:
        return ["val_loss", "val_pair_accuracy", "train_loss"]
    return ["val_loss", "val_rmse", "val_mae", "val_r2", "train_loss"]

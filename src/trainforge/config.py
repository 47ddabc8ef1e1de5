"""The experiment schema: one YAML file describes a run; validated once, here, at the boundary.

Everything downstream receives frozen, typed config objects and never re-checks them.
"""

from __future__ import annotations

import copy
import re
import types
import typing
from pathlib import Path
from typing import Any, Literal, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from trainforge.errors import ConfigError, did_you_mean, format_choices

Task = Literal["tabular_classification", "tabular_regression", "text_classification"]
CLASSIFICATION_TASKS = frozenset({"tabular_classification", "text_classification"})
TEXT_TASKS = frozenset({"text_classification"})
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

    @model_validator(mode="after")
    def _fractions_leave_training_rows(self) -> SplitConfig:
        if self.validation + self.test >= 0.9:
            raise ValueError(
                f"validation ({self.validation}) + test ({self.test}) must be below 0.9 so that "
                "enough rows remain for training"
            )
        return self


class AugmentConfig(_Section):
    """Token-level noise on training text (off by default)."""

    deletion: float = Field(default=0.0, ge=0.0, lt=0.5, description="Chance to drop each token.")
    swap: float = Field(
        default=0.0, ge=0.0, lt=0.5, description="Chance to swap a token with the next."
    )


class DataConfig(_Section):
    """Where the data is and which columns mean what."""

    train: str = Field(
        description="Training data: a .csv/.tsv/.jsonl/.parquet file or 'sklearn:NAME'."
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


class ModelConfig(_Section):
    """Which model to fit."""

    type: Literal[
        "mlp",
        "linear",
        "logistic_regression",
        "random_forest",
        "hist_gradient_boosting",
        "transformer",
    ] = Field(default="mlp", description="'transformer' for text tasks (the default there).")
    backbone: str = Field(
        default="minilm",
        description="Text backbone: 'minilm' (embedded all-MiniLM-L6-v2), a local folder in "
        "the transformers format, or a hub name.",
    )
    finetune: Literal["full", "frozen", "lora", "adalora", "ia3", "adapter"] = Field(
        default="full", description="Which weights train (text tasks)."
    )
    pooling: Literal["auto", "cls", "mean"] = Field(
        default="auto", description="'auto': mean for finetune frozen, cls otherwise."
    )
    peft: PeftConfig = PeftConfig()
    adapter: AdapterConfig = AdapterConfig()
    hidden_sizes: list[int] = Field(
        default=[64, 32], description="Widths of the MLP's hidden layers."
    )
    dropout: float = Field(default=0.1, ge=0.0, lt=1.0)
    activation: Literal["relu", "gelu", "tanh", "silu"] = "relu"
    batch_norm: bool = False
    params: dict[str, Any] = Field(
        default={},
        description="Keyword arguments for scikit-learn estimators (model.type classical).",
    )

    @model_validator(mode="after")
    def _positive_sizes(self) -> ModelConfig:
        if any(size < 1 for size in self.hidden_sizes):
            raise ValueError(f"hidden_sizes must all be >= 1, got {self.hidden_sizes}")
        return self


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
    batch_size: int = Field(default=32, ge=1)
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
        default=128, ge=8, description="Tokens per text; longer texts are truncated."
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
    seed: int = 42


class ExperimentConfig(_Section):
    """A whole experiment: task, data, model and training."""

    task: Task
    name: str | None = Field(
        default=None, description="Run name; the config file's stem by default."
    )
    data: DataConfig
    model: ModelConfig = ModelConfig()
    train: TrainConfig = TrainConfig()

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
        if not isinstance(raw, dict) or raw.get("task") not in TEXT_TASKS:
            return raw
        raw = dict(raw)
        model = dict(raw.get("model") or {})
        model.setdefault("type", "transformer")
        train = dict(raw.get("train") or {})
        defaults = TEXT_TRAIN_DEFAULTS
        if model.get("finetune") == "frozen":
            defaults = FROZEN_TRAIN_DEFAULTS
        for key, value in defaults.items():
            train.setdefault(key, value)
        raw["model"], raw["train"] = model, train
        return raw

    @property
    def is_text(self) -> bool:
        return self.task in TEXT_TASKS

    @property
    def pooling(self) -> str:
        if self.model.pooling != "auto":
            return self.model.pooling
        return "mean" if self.model.finetune == "frozen" else "cls"

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
        if self.is_text != (self.model.type == "transformer"):
            raise ValueError(
                f"model.type {self.model.type!r} does not fit task {self.task!r}; text tasks use "
                "'transformer' (the default), tabular tasks any other type"
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
        if self.train.early_stopping is not None:
            metrics = monitorable_metrics(self.task)
            monitor = self.train.early_stopping.monitor
            if monitor not in metrics:
                raise ValueError(
                    f"train.early_stopping.monitor {monitor!r} is not a logged metric; "
                    f"use one of {format_choices(metrics)}.{did_you_mean(monitor, metrics)}"
                )
        return self


TEXT_TRAIN_DEFAULTS: dict[str, Any] = {
    "epochs": 3,
    "lr": 5e-5,
    "scheduler": "linear_warmup",
    "weight_decay": 0.01,
    "early_stopping": {"monitor": "val_loss", "patience": 2},
}


# A linear probe on cached embeddings: many cheap epochs at a head-sized learning rate.
FROZEN_TRAIN_DEFAULTS: dict[str, Any] = {
    "epochs": 100,
    "lr": 1e-3,
    "scheduler": "none",
    "weight_decay": 0.0,
    "early_stopping": {"monitor": "val_loss", "patience": 10},
}


def monitorable_metrics(task: str) -> list[str]:
    """Metrics logged every epoch, which early stopping and tuning can watch."""
    if task in CLASSIFICATION_TASKS:
        return ["val_loss", "val_accuracy", "val_f1_macro", "train_loss"]
    return ["val_loss", "val_rmse", "val_mae", "val_r2", "train_loss"]


# --- loading ---------------------------------------------------------------------------------


def load_config(
    source: str | Path | dict[str, Any], overrides: list[str] | tuple[str, ...] = ()
) -> ExperimentConfig:
    """Read, override and validate an experiment config.

    Args:
        source: a YAML file path, or a dict with the same content.
        overrides: "dotted.key=value" strings (values parsed as YAML), applied in order.

    Example:
        >>> load_config("exp.yaml", ["train.epochs=5"]).train.epochs
        5
    """
    if isinstance(source, dict):
        # A deep copy: overrides must not change the caller's nested dicts.
        raw, text, where = copy.deepcopy(source), None, "config"
    else:
        path = Path(source)
        if not path.is_file():
            raise ConfigError(
                "config file not found",
                where=str(path),
                fix="Check the path; example configs are in the examples/ folder",
            )
        where = str(path)
        data = path.read_bytes()
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            bad_line = data[: exc.start].count(b"\n") + 1
            raise ConfigError(
                f"is not UTF-8 text ({exc.reason})",
                where=f"{where} line {bad_line}",
                fix="Re-save the config as UTF-8",
            ) from None
        try:
            raw = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            line = f" line {mark.line + 1}" if mark is not None else ""
            raise ConfigError(
                f"not valid YAML ({getattr(exc, 'problem', exc)})",
                where=f"{where}{line}",
                fix="Fix the YAML syntax (indentation, ':' after keys, quotes)",
            ) from None
        if raw is None:
            raw = {}
        if not isinstance(raw, dict):
            raise ConfigError(
                "expected a mapping of sections (task, data, model, train), "
                f"got {type(raw).__name__}",
                where=where,
                fix="Start from an example in the examples/ folder",
            )
    for override in overrides:
        _apply_override(raw, override)
    try:
        return ExperimentConfig.model_validate(raw)
    except ValidationError as exc:
        raise _config_error(exc, where, text) from None


def _apply_override(raw: dict[str, Any], override: str) -> None:
    key, sep, value = override.partition("=")
    if not sep or not key.strip():
        raise ConfigError(
            f"override {override!r} is not of the form key=value",
            where="--set",
            fix="Write it like --set train.epochs=5",
        )
    node = raw
    parts = key.strip().split(".")
    for depth, part in enumerate(parts[:-1]):
        if node.get(part) is None:  # absent, or an empty section such as a bare `train:`
            node[part] = {}
        child = node[part]
        if not isinstance(child, dict):
            section = ".".join(parts[: depth + 1])
            raise ConfigError(
                f"cannot set {key!r}: {section!r} holds a value, not a section",
                where="--set",
                fix=f"Override the whole value instead, e.g. --set {section}=...",
            )
        node = child
    try:
        node[parts[-1]] = yaml.safe_load(value) if value.strip() else None
    except yaml.YAMLError as exc:
        raise ConfigError(
            f"the value {value!r} of {key.strip()!r} is not valid YAML "
            f"({getattr(exc, 'problem', exc)})",
            where="--set",
            fix="Close brackets and quotes, e.g. --set model.hidden_sizes=[8,4] or "
            "--set name='my run'",
        ) from None


def _config_error(exc: ValidationError, where: str, text: str | None) -> ConfigError:
    lines = []
    for err in exc.errors():
        loc = [str(p) for p in err["loc"] if not str(p).startswith(("function-after", "literal"))]
        line = _line_of(text, loc) if text and loc else None
        place = f"{where} line {line}" if line else where
        if loc:
            place += f", field '{'.'.join(loc)}'"
        if err["type"] == "extra_forbidden":
            siblings = _field_names(loc[:-1])
            hint = did_you_mean(loc[-1], siblings)
            lines.append(
                f"{place}: unknown key '{loc[-1]}'.{hint} "
                f"Allowed keys here: {format_choices(siblings, limit=30)}."
            )
        elif err["type"] == "missing":
            lines.append(f"{place}: required key is missing. Add it to the config.")
        else:
            received = err.get("input")
            msg = err["msg"].removeprefix("Value error, ").rstrip(".")
            hint = ""
            if err["type"] == "literal_error" and isinstance(received, str):
                expected = err.get("ctx", {}).get("expected", "")
                hint = did_you_mean(received, re.findall(r"'([^']*)'", expected))
            shown = "" if isinstance(received, dict) else f" Got {received!r}."
            msg = msg if msg.endswith(("?", ".")) else msg + "."
            lines.append(f"{place}: {msg}{shown}{hint}")
    head = "Invalid config" + (f" ({len(lines)} problems)" if len(lines) > 1 else "")
    return ConfigError(
        head + ":\n  " + "\n  ".join(lines),
        fix="\nRun `trainforge schema` to see every key and its allowed values",
    )


def _field_names(loc: list[str]) -> list[str]:
    """Names of the keys allowed under the config section at `loc`."""
    model: Any = ExperimentConfig
    for part in loc:
        field = model.model_fields.get(part)
        if field is None:
            return []
        model = _model_in(field.annotation)
        if model is None:
            return []
    return list(model.model_fields)


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if typing.get_origin(annotation) in (Union, types.UnionType):
        for arg in typing.get_args(annotation):
            found = _model_in(arg)
            if found is not None:
                return found
    return None


def _line_of(text: str, loc: list[str]) -> int | None:
    """1-based line of the key at `loc` in the YAML text (the deepest one found)."""
    try:
        node = yaml.compose(text)
    except yaml.YAMLError:
        return None
    line = None
    for part in loc:
        if not isinstance(node, yaml.MappingNode):
            break
        for key, value in node.value:
            if key.value == part:
                line, node = key.start_mark.line + 1, value
                break
        else:
            break
    return line


def config_to_yaml(config: ExperimentConfig) -> str:
    """The resolved config (defaults filled in) as YAML, as saved with every run."""
    return yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False)


def json_schema() -> dict[str, Any]:
    """The JSON schema of the experiment config (`trainforge schema`)."""
    return ExperimentConfig.model_json_schema()

"""Text and token tasks: their train defaults, and the checks of the text fine-tuning methods.

Parametrised by the task's spec, so that another task reading text through a tokenizer reuses
them by naming them in its `TaskSpec` line.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, get_args

from trainforge.errors import format_choices

if TYPE_CHECKING:
    from trainforge.config.experiment import ExperimentConfig
    from trainforge.config.tasks import TaskSpec

TEXT_MODELS = ("transformer",)
# Ways to fit that use the backbone as a sentence-embedding model (mean pooling).
SENTENCE_METHODS = frozenset({"frozen", "zero_shot", "setfit"})
# Ways to fit that build a single-label classifier from label names or pairs of texts.
SINGLE_LABEL_METHODS = ("zero_shot", "setfit", "prompt_lm")
PEFT_METHODS = ("lora", "adalora", "ia3")

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


def text_defaults(raw: dict[str, Any], spec: TaskSpec) -> dict[str, Any]:
    """Fill model and train defaults of a text task where the user gave no value."""
    raw = dict(raw)
    model = dict(raw.get("model") or {})
    model.setdefault("type", spec.model_types[0])
    train = dict(raw.get("train") or {})
    tagging = spec.target == "tagging"
    defaults = TOKEN_TRAIN_DEFAULTS if tagging else TEXT_TRAIN_DEFAULTS
    if model.get("finetune") == "setfit":
        defaults = SETFIT_TRAIN_DEFAULTS
    if model.get("finetune") == "frozen":
        defaults = TOKEN_FROZEN_TRAIN_DEFAULTS if tagging else FROZEN_TRAIN_DEFAULTS
    if model.get("backbone") == "smollm2" and model.get("finetune") == "lora":
        train.setdefault("lr", 2e-4)  # LoRA on a causal language model
    for key, value in defaults.items():
        train.setdefault(key, value)
    raw["model"], raw["train"] = model, train
    return raw


def check_text_settings(cfg: ExperimentConfig) -> None:
    """Raise ValueError for text settings that do not fit the task or one another.

    Called for every config: the fine-tuning methods and `data.multi_label` are refused on
    tasks that do not read text the way they need.
    """
    spec, model, data = cfg.spec, cfg.model, cfg.data
    if spec.text and spec.target == "tagging":
        _check_tagging(cfg)
    if model.finetune in ("zero_shot", "setfit") and model.pooling == "cls":
        raise ValueError(
            f"model.finetune {model.finetune!r} compares mean-pooled sentence "
            "embeddings; set model.pooling to 'mean' or 'auto'"
        )
    # They build their classifier from label names (or pairs of texts), one label per text.
    if model.finetune in SINGLE_LABEL_METHODS and (
        cfg.task != "text_classification" or data.multi_label
    ):
        methods = get_args(type(model).model_fields["finetune"].annotation)
        fitting = [m for m in methods if m not in SINGLE_LABEL_METHODS]
        task = f"task {cfg.task!r}" + (" with data.multi_label" if data.multi_label else "")
        raise ValueError(
            f"model.finetune {model.finetune!r} is for single-label text_classification; "
            f"{task} trains with {format_choices(fitting)}"
        )
    if model.finetune == "frozen" and model.pooling == "cls":
        raise ValueError(
            "model.finetune 'frozen' trains a head on cached mean-pooled sentence embeddings; "
            "set model.pooling to 'mean' or 'auto'"
        )
    if model.peft.adapter_only and model.finetune not in PEFT_METHODS:
        raise ValueError(
            "model.peft.adapter_only (--adapter-only) needs model.finetune lora, adalora or "
            f"ia3; got {model.finetune!r}"
        )
    if data.multi_label and not (spec.text and spec.classification):
        raise ValueError(
            f"data.multi_label is for text tasks; task {cfg.task!r} predicts one label per row"
        )
    if data.multi_label and cfg.train.loss not in ("auto", "bce"):
        raise ValueError("data.multi_label trains with train.loss 'bce'; set it to 'auto'")


def _check_tagging(cfg: ExperimentConfig) -> None:
    """A tagger labels words through the backbone's token head: text-classifier keys are out."""
    unsupported = {
        "data.multi_label": cfg.data.multi_label,
        "data.text_pair_column": cfg.data.text_pair_column is not None,
        "data.augment": cfg.data.augment.deletion > 0 or cfg.data.augment.swap > 0,
        "model.pooling": cfg.model.pooling != "auto",
        "train.loss": cfg.train.loss not in ("auto", "cross_entropy"),
    }
    for key, used in unsupported.items():
        if used:
            raise ValueError(
                f"{key} does not apply to task {cfg.task!r} (one tag per word, "
                "from the backbone's token head); remove it"
            )
    train = cfg.train
    if train.window_stride > train.max_length // 2:
        raise ValueError(
            f"train.stride ({train.stride}) must be at most half of train.max_length "
            f"({train.max_length}) so that windows move forward"
        )

"""Text generation settings: the `generation:` section (decoding), the task's defaults, and the
checks that span config sections.

The task's `TaskSpec` (config/tasks.py) names these hooks; the data fields live in `data:`
(`data.format`, `data.prompt_column`, `data.train_on_inputs`, ...) and the way to fit in
`model:` (`model.objective`, `model.finetune`, `model.dpo`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import Field

from trainforge.config.model import DPOConfig
from trainforge.config.section import Section
from trainforge.errors import format_choices

if TYPE_CHECKING:
    from trainforge.config.experiment import ExperimentConfig
    from trainforge.config.tasks import TaskSpec

GENERATION_FAMILY = "trainforge.tasks.generation"
GENERATION_MODELS = ("transformer",)
# Logged every epoch by model.objective sft, and by dpo (TRL's rewards/accuracies,
# rewards/margins, rewards/chosen and rewards/rejected); val_loss is each objective's loss.
SFT_METRICS = ("val_perplexity",)
DPO_METRICS = (
    "val_reward_accuracy",
    "val_reward_margin",
    "val_chosen_reward",
    "val_rejected_reward",
)
GENERATION_METRICS = ("val_loss", "train_loss", *SFT_METRICS, *DPO_METRICS)
DEFAULT_LM = "smollm2"
# The ways to fit a generative model so far; the other text methods come later.
GENERATION_METHODS = ("full", "lora")
OBJECTIVES = ("sft", "dpo", "causal_lm")
LATER_OBJECTIVES = ("masked_lm",)
# data.format values that describe conversations (the rest are token_classification's).
CONVERSATION_FORMATS = ("prompt_response", "alpaca", "chat")
# Keys of `data` that only a generation task reads.
GENERATION_DATA_FIELDS = (
    "prompt_column",
    "response_column",
    "messages_column",
    "chosen_column",
    "rejected_column",
    "train_on_inputs",
    "too_long",
)
# Keys of `data` that only model.objective dpo reads, and those it does not read.
PREFERENCE_DATA_FIELDS = ("chosen_column", "rejected_column")
SFT_DATA_FIELDS = ("response_column", "messages_column", "train_on_inputs")
# A few epochs over short conversations; LoRA on a small LM learns at 2e-4, full at 2e-5.
GENERATION_TRAIN_DEFAULTS: dict[str, Any] = {
    "epochs": 3,
    "batch_size": 8,
    "eval_batch_size": 16,
    "max_length": 512,
    "scheduler": "linear_warmup",
    "weight_decay": 0.0,
    "early_stopping": {"monitor": "val_loss", "patience": 2},
}


class GenerationConfig(Section):
    """How a generative model decodes: for the test split's answers, `predict` and `generate`."""

    max_new_tokens: int = Field(default=256, ge=1, description="Tokens generated at most.")
    temperature: float = Field(
        default=0.0, ge=0.0, description="0: greedy decoding; above 0: sampling at it."
    )
    top_p: float = Field(
        default=1.0, gt=0.0, le=1.0, description="Sampling: nucleus probability mass kept."
    )
    stop: list[str] = Field(
        default=[], description="Strings that end a generation (not included in the text)."
    )
    seed: int | None = Field(
        default=None, description="Seed of sampling, for reproducible samples; none by default."
    )


def generation_defaults(raw: dict[str, Any], spec: TaskSpec) -> dict[str, Any]:
    """Fill model and train defaults of a generation task where the user gave no value."""
    raw = dict(raw)
    model = dict(raw.get("model") or {})
    model.setdefault("type", spec.model_types[0])
    model.setdefault("backbone", DEFAULT_LM)
    model.setdefault("finetune", "lora")
    train = dict(raw.get("train") or {})
    train.setdefault("lr", 2e-4 if model["finetune"] == "lora" else 2e-5)
    for key, value in GENERATION_TRAIN_DEFAULTS.items():
        train.setdefault(key, value)
    raw["model"], raw["train"] = model, train
    return raw


def check_generation_settings(cfg: ExperimentConfig) -> None:
    """Raise ValueError for settings that do not fit the task: generation keys on other tasks,
    and on a generation task the ways to fit and the keys that it does not read (yet)."""
    data, model = cfg.data, cfg.model
    fields = type(data).model_fields
    changed = [
        name
        for name in GENERATION_DATA_FIELDS
        if getattr(data, name) != fields[name].get_default(call_default_factory=True)
    ]
    if cfg.spec.family != GENERATION_FAMILY:
        if changed:
            keys = ", ".join(f"data.{name}" for name in changed)
            raise ValueError(
                f"{keys} {'does' if len(changed) == 1 else 'do'} not apply to task "
                f"{cfg.task!r} (text_generation settings); remove "
                f"{'it' if len(changed) == 1 else 'them'}"
            )
        if data.format in CONVERSATION_FORMATS:
            raise ValueError(
                f"data.format {data.format!r} describes conversations for task "
                f"'text_generation'; task {cfg.task!r} takes 'auto', 'conll' or 'jsonl'"
            )
        if model.objective != "sft":
            raise ValueError(
                f"model.objective is for task 'text_generation'; remove it from task {cfg.task!r}"
            )
        if model.dpo != DPOConfig():
            raise ValueError(
                f"model.dpo is for task 'text_generation' (model.objective 'dpo'); remove it "
                f"from task {cfg.task!r}"
            )
        if cfg.generation != GenerationConfig():
            raise ValueError(
                f"the generation section is for task 'text_generation'; remove it from task "
                f"{cfg.task!r}"
            )
        return
    if data.format in ("conll", "jsonl"):
        raise ValueError(
            f"data.format {data.format!r} is token_classification's; text_generation takes "
            f"{format_choices(('auto', *CONVERSATION_FORMATS))}"
        )
    if model.objective in LATER_OBJECTIVES:
        raise ValueError(
            f"model.objective {model.objective!r} is not supported yet; text_generation trains "
            f"with {format_choices(OBJECTIVES)} (supervised fine-tuning on conversations, "
            "preference tuning, continued pre-training of a causal LM on text) for now"
        )
    _check_objective(cfg, changed)
    if model.finetune not in GENERATION_METHODS:
        raise ValueError(
            f"model.finetune {model.finetune!r} is not supported for text_generation yet; use "
            f"{format_choices(GENERATION_METHODS)}"
        )
    unused = {
        "data.multi_label": data.multi_label,
        "data.shots": data.shots is not None,
        "data.text_pair_column": data.text_pair_column is not None,
        "data.augment": data.augment.deletion > 0 or data.augment.swap > 0,
        "model.labels": model.labels is not None,
        "model.init_from": model.init_from is not None,
        "train.class_weight": cfg.train.class_weight != "none",
        "train.label_smoothing": cfg.train.label_smoothing > 0,
        "train.loss": cfg.train.loss != "auto",
    }
    for key, used in unused.items():
        if used:
            raise ValueError(
                f"{key} does not apply to task 'text_generation' (yet): the loss is the "
                "cross-entropy of the answer's tokens; remove it"
            )


def _check_objective(cfg: ExperimentConfig, changed: list[str]) -> None:
    """Raise ValueError for the keys and monitored metrics of the other objective."""
    data, model, objective = cfg.data, cfg.model, cfg.model.objective
    if objective == "causal_lm":
        for name in changed:
            raise ValueError(
                f"data.{name} does not apply to model.objective 'causal_lm', which reads "
                "unlabelled text (a .txt file, or data.text_column of a table); remove it"
            )
        if data.format != "auto":
            raise ValueError(
                f"data.format {data.format!r} is a layout of conversations; model.objective "
                "'causal_lm' reads unlabelled text: leave data.format 'auto'"
            )
    others = SFT_DATA_FIELDS if objective == "dpo" else PREFERENCE_DATA_FIELDS
    reader = "'sft' (conversations)" if objective == "dpo" else "'dpo' (preference rows)"
    for name in changed:
        if name in others:
            raise ValueError(
                f"data.{name} does not apply to model.objective {objective!r}; model.objective "
                f"{reader} reads it; remove it"
            )
    if objective == "dpo" and data.format != "auto":
        raise ValueError(
            f"data.format {data.format!r} is a layout of model.objective 'sft'; 'dpo' reads "
            "preference rows (data.prompt_column, data.chosen_column, data.rejected_column): "
            "leave data.format 'auto'"
        )
    if objective != "dpo" and model.dpo != DPOConfig():
        raise ValueError(
            f"model.dpo does not apply to model.objective {objective!r}; remove it, or set "
            "model.objective: dpo"
        )
    logged = DPO_METRICS if objective == "dpo" else SFT_METRICS
    watched = {
        "train.early_stopping.monitor": cfg.train.early_stopping
        and cfg.train.early_stopping.monitor,
        "tune.metric": cfg.tune and cfg.tune.metric,
    }
    for key, metric in watched.items():
        if metric in (*SFT_METRICS, *DPO_METRICS) and metric not in logged:
            raise ValueError(
                f"{key} {metric!r} is not logged by model.objective {objective!r}; use one of "
                f"{format_choices(['val_loss', *logged])}"
            )

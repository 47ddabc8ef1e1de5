"""The `model:` section: which model to fit, its fine-tuning method and their settings."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field, model_validator

from trainforge.config.section import Section


class PeftConfig(Section):
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


class DPOConfig(Section):
    """Direct preference optimisation (Rafailov et al., 2023), as TRL's DPOTrainer defines it.

    The loss of a pair is -log σ(β·((π_c − ref_c) − (π_r − ref_r))), with π and ref the summed
    log-probabilities of the chosen (c) and rejected (r) answers under the model in training
    and under the starting model; label smoothing (cDPO) mixes in the flipped preference.
    """

    beta: float = Field(
        default=0.1,
        gt=0.0,
        description="How far the model may move from the starting one: larger keeps it closer "
        "(TRL's default 0.1; typically 0.1 to 0.5).",
    )
    label_smoothing: float = Field(
        default=0.0,
        ge=0.0,
        lt=0.5,
        description="The assumed share of pairs whose preference is flipped (conservative "
        "DPO); 0 is the original loss.",
    )


class AdapterConfig(Section):
    """Bottleneck adapters (Houlsby et al., 2019)."""

    size: int = Field(default=64, ge=1, description="Bottleneck width.")
    target_modules: list[str] = Field(
        default=["output.dense"],
        description="Linear layers after which adapters go (name suffixes).",
    )


class AbstainConfig(Section):
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


class ModelConfig(Section):
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
        default="auto",
        description="Text backbone (text_generation: 'smollm2' by default, or a local folder "
        "of a causal language model): 'auto' (by the training text's script: 'minilm' for "
        "Latin script, 'multilingual-e5-small' otherwise), 'minilm' (embedded "
        "all-MiniLM-L6-v2, English), 'multilingual-e5-small' (embedded, Chinese and about 100 "
        "other languages), a local folder in the transformers format, or a hub name.",
    )
    max_unknown_share: float = Field(
        default=0.05,
        ge=0.0,
        le=1.0,
        description="Stop before training when the backbone's tokenizer reads more than this "
        "share of the training text's tokens as unknown (1 turns the check off).",
    )
    trim_vocab: bool = Field(
        default=False,
        description="Keep only the vocabulary pieces the training text uses (plus "
        "trim_reserve): a smaller, faster backbone and package. Unigram and WordPiece "
        "tokenizers.",
    )
    trim_reserve: int = Field(
        default=5000,
        ge=0,
        description="trim_vocab: also keep this many of the most frequent pieces of the "
        "training text's scripts, for words the training text does not hold.",
    )
    finetune: Literal[
        "full", "frozen", "lora", "adalora", "ia3", "adapter", "zero_shot", "setfit", "prompt_lm"
    ] = Field(
        default="full",
        description="Which weights train (text tasks; text_generation: lora by default, or "
        "full); 'zero_shot' trains nothing (similarity "
        "of sentence embeddings to label prompts), 'setfit' is contrastive few-shot tuning.",
    )
    objective: Literal["sft", "dpo", "causal_lm", "masked_lm"] = Field(
        default="sft",
        description="text_generation: what training optimises; 'sft' (supervised fine-tuning "
        "on conversations, the loss on the assistant's tokens) or 'dpo' (direct preference "
        "optimisation on prompt/chosen/rejected rows, settings in model.dpo) or 'causal_lm' "
        "(continued pre-training on unlabelled text: every token carries loss; the package "
        "is a model.backbone for later runs). 'masked_lm' is not supported yet.",
    )
    dpo: DPOConfig = DPOConfig()
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


def label_words(name: str) -> str:
    """A label name as words: "card_arrival" -> "card arrival", "lostCard" -> "lost card"."""
    spaced = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", name)
    return re.sub(r"[_\-.]+", " ", spaced).strip().lower() or name

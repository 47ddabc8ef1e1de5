"""Ways to fit a text backbone: full, frozen, lora / adalora / ia3 (peft), bottleneck adapters.

Each method turns a freshly loaded `TextClassifier` (or a `CausalLM`, which has the same
`encoder` and `head` attributes) into the one to train; a classifier's head is always
trainable (peft's `modules_to_save` keeps the classifier and pooler trained and saved: reloaded
LoRA classifiers otherwise predict at random, peft issues #310 and #577).
"""

from __future__ import annotations

import warnings
from typing import Any

import lightning as L
from torch import nn

from trainforge.config import ModelConfig
from trainforge.models.adapters import add_adapters
from trainforge.models.causal_lm import CausalLM
from trainforge.models.transformer import TextClassifier

PEFT_METHODS = ("lora", "adalora", "ia3")
HEAD_MODULES = ("classifier", "pooler", "score")


Network = TextClassifier | CausalLM


def prepare(net: Network, model: ModelConfig, total_steps: int) -> Network:
    """Freeze, wrap or extend `net` for `model.finetune`; returns it."""
    method = model.finetune
    if method == "frozen":
        # A token classifier's head lives inside the transformers model; it alone trains.
        keep_head = token_level(net.encoder)
        for name, param in net.encoder.named_parameters():
            param.requires_grad = keep_head and name.split(".")[0] == "classifier"
    elif method == "adapter":
        # Houlsby et al. train the adapters, the layer norms and the head; the rest is frozen.
        for name, param in net.encoder.named_parameters():
            param.requires_grad = "LayerNorm" in name or _is_head(name)
        net.adapters = add_adapters(
            net.encoder, model.adapter.size, list(model.adapter.target_modules)
        )
    elif method in PEFT_METHODS:
        net.encoder = _peft_wrap(net, model, total_steps)
    return net


def _peft_wrap(net: Network, model: ModelConfig, total_steps: int) -> Any:
    import peft

    head_modules = [
        name for name in HEAD_MODULES if net.head is None and _has_child(net.encoder, name)
    ]
    if model.finetune == "ia3":
        # peft cannot merge IA3 with a pooler in modules_to_save (peft PR #3213); the pooler
        # keeps its pretrained weights there.
        head_modules = [name for name in head_modules if name != "pooler"]
    task_type = "SEQ_CLS" if net.head is None else "FEATURE_EXTRACTION"
    if token_level(net.encoder):
        task_type = "TOKEN_CLS"
    if causal_lm(net.encoder):
        # A language model's head is its output embedding, trained (or not) as the rest.
        task_type, head_modules = "CAUSAL_LM", []
    options = model.peft
    targets = list(options.target_modules) if options.target_modules else None
    if model.finetune == "lora":
        config: Any = peft.LoraConfig(
            task_type=task_type,
            r=options.r,
            lora_alpha=options.alpha,  # type: ignore[arg-type]  # peft annotates int, takes float
            lora_dropout=options.dropout,
            target_modules=targets,
            modules_to_save=head_modules or None,
        )
    elif model.finetune == "adalora":
        config = peft.AdaLoraConfig(
            task_type=task_type,
            init_r=options.r,
            target_r=max(1, options.r // 2),
            lora_alpha=options.alpha,  # type: ignore[arg-type]  # peft annotates int, takes float
            lora_dropout=options.dropout,
            target_modules=targets,
            modules_to_save=head_modules or None,
            total_step=max(total_steps, 10),
            tinit=max(1, total_steps // 10),
            tfinal=max(1, total_steps // 5),
        )
    else:
        config = peft.IA3Config(
            task_type=task_type,
            target_modules=targets,
            feedforward_modules=[t for t in targets if "output" in t] if targets else None,
            modules_to_save=head_modules or None,
        )
    try:
        with warnings.catch_warnings():
            # peft reads transformers' deprecated `is_gradient_checkpointing` when it wraps.
            warnings.filterwarnings("ignore", "`is_gradient_checkpointing`", FutureWarning)
            return peft.get_peft_model(net.encoder, config)
    except ValueError as exc:
        from trainforge.errors import ConfigError

        raise ConfigError(
            str(exc).splitlines()[0],
            where="model.peft.target_modules",
            fix="Name Linear layers of the backbone (BERT: query, key, value, dense)",
        ) from None


def token_level(encoder: nn.Module) -> bool:
    """A transformers model that gives logits per token (NER), not per text."""
    return type(encoder).__name__.endswith("ForTokenClassification")


def causal_lm(model: nn.Module) -> bool:
    """A transformers model that predicts the next token (text generation)."""
    return type(model).__name__.endswith("ForCausalLM")


def _is_head(name: str) -> bool:
    return name.split(".")[0] in HEAD_MODULES or ".pooler." in f".{name}"


def _has_child(module: nn.Module, name: str) -> bool:
    return any(n.split(".")[-1] == name for n, _ in module.named_modules())


def fit_callbacks(model: ModelConfig) -> list[L.Callback]:
    """Callbacks the way to fit needs during training (AdaLoRA's rank schedule)."""
    return [AdaLoraSchedule()] if model.finetune == "adalora" else []


class AdaLoraSchedule(L.Callback):
    """AdaLoRA re-allocates ranks after every optimiser step (peft's update_and_allocate).

    peft's loop is backward, step, `update_and_allocate`, zero_grad: the rank importance is
    read from the gradients of the step just taken. Lightning zeroes gradients at the start of
    the next step's closure, so the end of the training batch is that place; with gradient
    accumulation only batches that stepped the optimiser count (`on_before_zero_grad`, used
    before, also ran ahead of the first backward, when no gradient exists yet).
    """

    def __init__(self) -> None:
        self._seen_step = -1

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: Any, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        if trainer.global_step == self._seen_step:
            return  # an accumulation batch: the optimiser did not step
        self._seen_step = trainer.global_step
        pl_module.net.encoder.base_model.update_and_allocate(trainer.global_step)


def merge(net: Network) -> Network:
    """Fold peft weights into the backbone so the model predicts without peft."""
    if hasattr(net.encoder, "merge_and_unload"):
        net.encoder = net.encoder.merge_and_unload()  # type: ignore[operator]
    return net


def trainable_fraction(net: nn.Module) -> tuple[int, int]:
    """(trainable parameters, all parameters)."""
    total = sum(p.numel() for p in net.parameters())
    trainable = sum(p.numel() for p in net.parameters() if p.requires_grad)
    return trainable, total

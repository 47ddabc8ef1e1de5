"""The loss mask on SmolLM2's own chat template: the tokens that carry loss decode to exactly
the assistant's answers, each with its end-of-turn token, and nothing else."""

from __future__ import annotations

from typing import Any

import pytest

from trainforge.data.chat_tokens import (
    IGNORE,
    PLAIN_TEMPLATE,
    encode,
    end_ids,
    ensure_template,
    fit_length,
    prompt_ids,
)
from trainforge.errors import ConfigError, DataError

CHAT = [
    {"role": "system", "content": "Answer in one sentence."},
    {"role": "user", "content": "Where is my parcel?"},
    {"role": "assistant", "content": "It left our depot this morning."},
    {"role": "user", "content": "And when will it arrive?"},
    {"role": "assistant", "content": "  Tomorrow,\n  before noon."},  # leading spaces, newline
]


@pytest.fixture(scope="module")
def tokenizer() -> Any:
    from transformers import AutoTokenizer

    from trainforge.models.prompt_lm import SMOLLM2, resolve_lm

    return AutoTokenizer.from_pretrained(str(resolve_lm(SMOLLM2)))


def _trained_spans(ids: list[int], labels: list[int]) -> list[list[int]]:
    """The runs of consecutive tokens that carry loss."""
    spans: list[list[int]] = []
    previous = False
    for token, label in zip(ids, labels, strict=True):
        trained = label != IGNORE
        if trained:
            assert label == token
            if not previous:
                spans.append([])
            spans[-1].append(token)
        previous = trained
    return spans


def test_only_the_answers_and_their_end_of_turn_carry_loss(tokenizer: Any) -> None:
    ids, labels = encode(tokenizer, CHAT, "chat.jsonl line 1", ends=end_ids(tokenizer))
    spans = [tokenizer.decode(span) for span in _trained_spans(ids, labels)]
    assert spans == [
        "It left our depot this morning.<|im_end|>",
        "  Tomorrow,\n  before noon.<|im_end|>",
    ]
    # The tokens are the whole rendered conversation, nothing lost or added.
    rendered = tokenizer.apply_chat_template(CHAT, tokenize=False)
    assert tokenizer.decode(ids) == rendered


def test_the_prompt_of_each_answer_is_what_generation_is_given(tokenizer: Any) -> None:
    ids, labels = encode(tokenizer, CHAT, "here", ends=end_ids(tokenizer))
    asked = prompt_ids(tokenizer, CHAT[: 3 + 1])
    # The second answer's first token follows exactly the tokens `generate` would be given.
    first_trained = [i for i, label in enumerate(labels) if label != IGNORE]
    second_start = next(i for i in first_trained if i > len(asked) - 1)
    assert ids[:second_start] == asked


def test_train_on_inputs_puts_loss_on_every_token(tokenizer: Any) -> None:
    ids, labels = encode(tokenizer, CHAT, "here", ends=end_ids(tokenizer), train_on_inputs=True)
    assert labels == ids


def test_long_conversations_are_cut_or_dropped() -> None:
    ids = list(range(10))
    labels = [IGNORE] * 6 + [6, 7, 8, 9]
    assert fit_length(ids, labels, 10, "truncate").status == "kept"
    cut = fit_length(ids, labels, 8, "truncate")
    assert (cut.status, cut.input_ids, cut.labels) == ("truncated", ids[:8], labels[:8])
    assert fit_length(ids, labels, 8, "drop").status == "dropped"
    # Cut before the answer: nothing left to learn, so dropped.
    assert fit_length(ids, labels, 6, "truncate").status == "dropped"


class _NoTemplate:
    chat_template = None
    eos_token = "</s>"


def test_a_backbone_without_chat_template_refuses_chat_data() -> None:
    with pytest.raises(ConfigError, match=r"model.backbone: the backbone 'base' has no chat templ"):
        ensure_template(_NoTemplate(), "base", "chat")


def test_a_backbone_without_chat_template_gets_the_plain_one_for_prompts() -> None:
    tokenizer = _NoTemplate()
    ensure_template(tokenizer, "base", "prompt_response")
    assert tokenizer.chat_template == PLAIN_TEMPLATE


def test_a_template_that_rewrites_earlier_turns_is_refused(tokenizer: Any) -> None:
    import copy

    rewriting = copy.copy(tokenizer)
    # Like templates that drop the reasoning of earlier turns: the last message is rendered
    # in full, earlier ones shortened.
    rewriting.chat_template = (
        "{% for m in messages %}{% if loop.last %}{{ m['content'] }}{% else %}"
        "{{ m['content'][:2] }}{% endif %}|{% endfor %}"
    )
    with pytest.raises(DataError, match=r"chat.jsonl line 4: the backbone's chat template renders"):
        encode(rewriting, CHAT[1:], "chat.jsonl line 4", ends=end_ids(tokenizer))


def test_a_template_that_raises_names_the_conversation(tokenizer: Any) -> None:
    import copy

    strict = copy.copy(tokenizer)
    strict.chat_template = "{{ raise_exception('roles must alternate') }}"
    with pytest.raises(
        DataError, match=r"chat.jsonl line 2: .*cannot render.*roles must alternate"
    ):
        encode(strict, CHAT, "chat.jsonl line 2", ends=end_ids(tokenizer))

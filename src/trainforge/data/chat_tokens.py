"""Conversations -> token ids and loss labels, rendered by the backbone's own chat template.

The loss covers the assistant's tokens only (unless `data.train_on_inputs`): its answer and the
end-of-turn token that stops generation. Which tokens those are is found by rendering, not by
searching for marker strings: for each assistant turn the template renders the conversation up
to that turn with the generation prompt (what the model is shown when it answers) and then
through the turn; the text between the two is the answer. Each such piece is tokenised on its
own, so the prompt's tokens are exactly those `generate` is given and the answer's exactly
those the model has to write after them. A template that renders earlier turns differently
once later turns follow cannot be split this way, and is refused with the conversation's place.

After the end-of-turn token a template may add a separator (SmolLM2: a newline); generation
stops at the end-of-turn token, so the separator carries no loss.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from trainforge.errors import ConfigError, DataError

IGNORE = -100  # label of tokens the loss skips (as torch's cross_entropy ignore_index)
# For backbones without a chat template (base models) trained on prompt/response rows: the
# prompt, a blank line, then the answer and the end-of-sequence token.
PLAIN_TEMPLATE = (
    "{% for message in messages %}{% if message['role'] == 'assistant' %}"
    "{{ message['content'] + eos_token }}{% else %}{{ message['content'] + '\n\n' }}"
    "{% endif %}{% endfor %}"
)
Status = Literal["kept", "truncated", "dropped"]


@dataclass(frozen=True)
class Encoded:
    """One conversation as training reads it.

    Attributes:
        input_ids: its tokens (at most train.max_length).
        labels: the token where it carries loss, else IGNORE.
        status: 'kept' whole, 'truncated' at max_length, or 'dropped' (too long).
    """

    input_ids: list[int]
    labels: list[int]
    status: Status


def ensure_template(tokenizer: Any, backbone: str, layout: str) -> None:
    """Give a tokenizer without a chat template the plain one for prompt/response rows; refuse
    chat transcripts, whose roles only a real chat template renders."""
    if getattr(tokenizer, "chat_template", None):
        return
    if layout == "chat":
        raise ConfigError(
            f"the backbone {backbone!r} has no chat template, so its tokenizer cannot render "
            "chat transcripts (data.format 'chat')",
            where="model.backbone",
            fix="Use an instruction-tuned backbone with a chat template (e.g. 'smollm2'), add "
            "one to the folder's tokenizer_config.json ('chat_template'), or give the data as "
            "prompt/response rows",
        )
    if getattr(tokenizer, "eos_token", None) is None:
        raise ConfigError(
            f"the backbone {backbone!r} has neither a chat template nor an end-of-sequence "
            "token, so an answer's end cannot be learnt",
            where="model.backbone",
            fix="Use a backbone with a chat template (e.g. 'smollm2')",
        )
    tokenizer.chat_template = PLAIN_TEMPLATE


def end_ids(tokenizer: Any, generation_config: Any = None) -> list[int]:
    """The tokens that end an answer: the tokenizer's end of sequence and the model's
    generation `eos_token_id`s."""
    ids = [tokenizer.eos_token_id] if tokenizer.eos_token_id is not None else []
    configured = getattr(generation_config, "eos_token_id", None)
    if isinstance(configured, int):
        configured = [configured]
    return list(dict.fromkeys([*ids, *(configured or [])]))


def render(tokenizer: Any, turns: list[dict[str, str]], place: str, prompt: bool) -> str:
    """The template's text of `turns` (with the generation prompt when `prompt`)."""
    try:
        return str(
            tokenizer.apply_chat_template(turns, tokenize=False, add_generation_prompt=prompt)
        )
    except Exception as exc:  # jinja2 raises TemplateError and its own exceptions
        raise DataError(
            f"the backbone's chat template cannot render this conversation "
            f"({type(exc).__name__}: {exc})",
            where=place,
            fix="Reorder or merge the turns as the template expects, or drop the row",
        ) from None


def prompt_ids(tokenizer: Any, turns: list[dict[str, str]], place: str = "prompt") -> list[int]:
    """The tokens a model is given to answer `turns` (ending with the user's turn)."""
    return _tokens(tokenizer, render(tokenizer, turns, place, prompt=True))


def encode(
    tokenizer: Any,
    turns: list[dict[str, str]],
    place: str,
    *,
    ends: list[int],
    train_on_inputs: bool = False,
    answers_from: int = 0,
) -> tuple[list[int], list[int]]:
    """(tokens, labels) of a whole conversation; see the module docstring.

    Args:
        tokenizer: the backbone's tokenizer, with a chat template.
        turns: the conversation, checked (`trainforge.data.conversations.check_messages`).
        place: where it comes from, for errors.
        ends: the tokens that end an answer (`end_ids`).
        train_on_inputs: every token carries loss, not only the assistant's.
        answers_from: only assistant turns from this index on carry loss; the earlier ones
            are read as prompt (a preference pair's answer after a multi-turn prompt).
    """
    if train_on_inputs:  # every token carries loss: no need to tell the answers apart
        every = _tokens(tokenizer, render(tokenizer, turns, place, prompt=False))
        return every, list(every)
    ids: list[int] = []
    labels: list[int] = []

    def add(pieces: list[int], trained: bool) -> None:
        ids.extend(pieces)
        labels.extend(pieces if trained else [IGNORE] * len(pieces))

    done = ""
    for k, turn in enumerate(turns):
        if turn["role"] != "assistant" or k < answers_from:
            continue
        asked = render(tokenizer, turns[:k], place, prompt=True)
        answered = render(tokenizer, turns[: k + 1], place, prompt=False)
        _follows(done, asked, place)
        _follows(asked, answered, place)
        add(_tokens(tokenizer, asked[len(done) :]), trained=False)
        answer = _tokens(tokenizer, answered[len(asked) :])
        last_end = max((i for i, t in enumerate(answer) if t in ends), default=len(answer) - 1)
        add(answer[: last_end + 1], trained=True)
        add(answer[last_end + 1 :], trained=False)  # the separator after the end of turn
        done = answered
    whole = render(tokenizer, turns, place, prompt=False)
    _follows(done, whole, place)
    add(_tokens(tokenizer, whole[len(done) :]), trained=False)
    return ids, labels


def fit_length(ids: list[int], labels: list[int], max_length: int, too_long: str) -> Encoded:
    """The conversation cut to `max_length` tokens (`too_long: truncate`), or dropped: with
    `too_long: drop`, or when no token that carries loss is left."""
    if len(ids) <= max_length:
        return Encoded(ids, labels, "kept")
    if too_long == "drop":
        return Encoded([], [], "dropped")
    ids, labels = ids[:max_length], labels[:max_length]
    # The first token is predicted by nothing: it cannot carry loss.
    if all(label == IGNORE for label in labels[1:]):
        return Encoded([], [], "dropped")
    return Encoded(ids, labels, "truncated")


def _tokens(tokenizer: Any, text: str) -> list[int]:
    if not text:
        return []
    # The template writes the special tokens itself (a BOS too, where the model has one).
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def _follows(before: str, after: str, place: str) -> None:
    if not after.startswith(before):
        raise DataError(
            "the backbone's chat template renders the earlier turns of this conversation "
            "differently once later turns follow, so the assistant's tokens cannot be told "
            "from the prompt's",
            where=place,
            fix="Train on single-turn rows (or set data.train_on_inputs: true), or use a "
            "backbone whose template renders turns one after another (e.g. 'smollm2')",
        )

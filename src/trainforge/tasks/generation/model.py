"""`GenerationModel`: a `Model` that answers prompts and conversations with generated text.

Rows are prompts (strings, a .txt file of one prompt per line) or rows in any of the training
layouts (prompt/response, alpaca, chat); a row that holds an answer is asked what that answer
answers. `predict` gives {"text": answer} per row; `generate` and `chat` are the direct ways in,
`stream` writes one answer piece by piece.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from trainforge.config import GenerationConfig
from trainforge.data.conversations import (
    Conversations,
    Messages,
    chat_turns,
    check_messages,
    conversations_of,
    prompt_turns,
)
from trainforge.errors import ConfigError, DataError
from trainforge.tasks.model import Model, Rows, as_frame

if TYPE_CHECKING:
    from trainforge.models.causal_lm import Completion
    from trainforge.models.causal_lm_stream import TextStream


class GenerationModel(Model):
    """A fine-tuned causal language model with its tokenizer and chat template.

    Args:
        config: the resolved experiment config (`generation:` holds the decoding defaults).
        tokenizer: the backbone's tokenizer, with a chat template.
        target: the fitted `GenerationTarget`.
        network: the `CausalLM`.
        ends: the token ids that end an answer.
    """

    def __init__(
        self, config: Any, tokenizer: Any, target: Any, network: Any, ends: list[int]
    ) -> None:
        super().__init__(config, tokenizer, target, network=network)
        self.ends = ends
        self.decoding: GenerationConfig = config.generation

    @property
    def tokenizer(self) -> Any:
        return self.inputs

    @property
    def input_columns(self) -> list[str]:
        data = self.config.data
        if data.format == "chat":
            return [data.messages_column]
        return ["instruction", "input"] if data.format == "alpaca" else [data.prompt_column]

    def with_decoding(self, **options: Any) -> GenerationModel:
        """This model with other decoding defaults (those of the `generation:` section).

        Example:
            >>> model.with_decoding(temperature=0.7, seed=1).generate("Write a haiku")
        """
        fields = GenerationConfig.model_fields
        unknown = [k for k in options if k not in fields]
        if unknown:
            raise ConfigError(
                f"unknown decoding option {unknown[0]!r}",
                where="generation",
                fix=f"Use {', '.join(fields)}",
            )
        self.decoding = GenerationConfig.model_validate({**self.decoding.model_dump(), **options})
        return self

    def frame(self, rows: Rows) -> Any:
        data = self.config.data
        return as_frame(rows, data.encoding, data.prompt_column)

    def output(self, frame: Any) -> np.ndarray:
        """The generated answer of every row (object array of strings)."""
        asked, places = self.asked(frame)
        return np.asarray(self.answer(asked, places), dtype=object)

    def asked(self, frame: pd.DataFrame) -> tuple[list[Messages], list[str]]:
        """(the conversation each row asks the model to answer, the rows' places)."""
        conversations = self.conversations(frame)
        return [prompt_turns(turns)[0] for turns in conversations.messages], conversations.places

    def conversations(self, frame: pd.DataFrame, answers: bool = False) -> Conversations:
        """The rows as checked conversations, in whichever layout their columns show."""
        data = self.config.data.model_copy(update={"format": "auto"})
        return conversations_of(frame, data, answers)

    def answer(
        self, conversations: list[Messages], places: list[str] | None = None, **options: Any
    ) -> list[str]:
        """The generated answer to each conversation (each ending with the user's turn)."""
        return [c.text for c in self.complete(conversations, places, **options)]

    def complete(
        self, conversations: list[Messages], places: list[str] | None = None, **options: Any
    ) -> list[Completion]:
        """The answer to each conversation with its token counts and why it ended.

        Args:
            conversations: checked conversations, each ending with the user's turn.
            places: where each comes from, for errors (default: "conversation N").
            options: decoding settings for this call (see `generate`).
        """
        from trainforge.models.causal_lm import generate_answers

        places = places or [f"conversation {i + 1}" for i in range(len(conversations))]
        prompts = [
            self.prompt_ids(turns, place)
            for turns, place in zip(conversations, places, strict=True)
        ]
        batch = self.config.train.eval_batch_size
        decoding = self._decoding(options)
        return generate_answers(self.network, self.tokenizer, prompts, decoding, batch, self.ends)

    def prompt_ids(self, turns: Messages, place: str = "prompt") -> list[int]:
        """The tokens the model is shown to answer `turns`; refused past the model's context."""
        from trainforge.data.chat_tokens import prompt_ids
        from trainforge.models.causal_lm import context_size

        ids = prompt_ids(self.tokenizer, turns, place)
        context = context_size(self.network)
        if context is not None and len(ids) >= context:
            raise DataError(
                f"the prompt is {len(ids)} tokens, and the model reads at most {context} "
                "(its context), the answer included",
                where=place,
                fix="Shorten the conversation, e.g. drop its earliest turns",
            )
        return ids

    def generate(self, prompts: str | list[str], **options: Any) -> str | list[str]:
        """Answer prompts (each the user's turn); one string in, one out.

        Args:
            prompts: a prompt or a list of them.
            options: decoding settings for this call (max_new_tokens, temperature, top_p,
                stop, seed); the package's `generation:` section otherwise.

        Example:
            >>> model.generate("How do I reset my card PIN?")
        """
        texts = [prompts] if isinstance(prompts, str) else list(prompts)
        conversations = [self.conversation(text, f"prompt {i + 1}") for i, text in enumerate(texts)]
        answers = self.answer(conversations, **options)
        return answers[0] if isinstance(prompts, str) else answers

    def chat(self, messages: list[Any], **options: Any) -> str | list[str]:
        """The assistant's next turn of a conversation ([{role, content}, ...]), or of each of
        a list of conversations.

        Example:
            >>> model.chat([{"role": "system", "content": "Answer briefly."},
            ...             {"role": "user", "content": "Where is my parcel?"}])
        """
        single = bool(messages) and isinstance(messages[0], dict)
        batch = [messages] if single else messages
        conversations = [
            self.conversation(turns, f"conversation {i + 1}") for i, turns in enumerate(batch)
        ]
        answers = self.answer(conversations, **options)
        return answers[0] if single else answers

    def stream(self, prompt_or_messages: str | list[Any], **options: Any) -> TextStream:
        """The answer to a prompt or a conversation, piece by piece as it is written.

        The pieces joined are what `generate` or `chat` answer (greedy decoding); the
        stream's `completion_tokens` and `finish_reason` are set once it is done.

        Example:
            >>> for piece in model.stream("How do I reset my card PIN?"):
            ...     print(piece, end="", flush=True)
        """
        from trainforge.models.causal_lm_stream import TextStream

        place = "prompt" if isinstance(prompt_or_messages, str) else "conversation"
        turns = self.conversation(prompt_or_messages, place)
        ids = self.prompt_ids(turns, place)
        decoding = self._decoding(options)
        return TextStream(self.network, self.tokenizer, ids, decoding, self.ends)

    def conversation(self, prompt_or_messages: str | list[Any], place: str) -> Messages:
        """A prompt (the user's turn) or a list of {role, content}, checked to be answerable."""
        if isinstance(prompt_or_messages, str):
            turns = [{"role": "user", "content": prompt_or_messages}]
        else:
            turns = chat_turns(prompt_or_messages, "messages", place)
        check_messages(turns, place, answers=False)
        if turns[-1]["role"] != "user":
            raise DataError(
                "the conversation must end with the user's turn for the assistant to answer",
                where=place,
                fix="End the list with a user turn",
            )
        return turns

    def _decoding(self, options: dict[str, Any]) -> GenerationConfig:
        if not options:
            return self.decoding
        return GenerationConfig.model_validate({**self.decoding.model_dump(), **options})

    def evaluate(self, rows: Rows) -> dict[str, Any]:
        """Scores on rows with answers: loss and perplexity of the answers, and exact match,
        ROUGE-L and BLEU (and accuracy and macro-F1 over a label set) of generated ones."""
        from trainforge.data.chat_tokens import encode
        from trainforge.models.causal_lm import answer_nll

        conversations = self.conversations(self.frame(rows), answers=True)
        asked, references = zip(
            *(prompt_turns(turns) for turns in conversations.messages), strict=True
        )
        tokens = [
            encode(self.tokenizer, turns, place, ends=self.ends)
            for turns, place in zip(conversations.messages, conversations.places, strict=True)
        ]
        scores = answer_nll(self.network, tokens, self.config.train.eval_batch_size, self.pad_id)
        generated = self.answer(list(asked), conversations.places)
        output = np.asarray(
            [
                {"nll": nll, "tokens": n, "generated": text}
                for (nll, n), text in zip(scores, generated, strict=True)
            ],
            dtype=object,
        )
        return self.target.metrics(np.asarray(references, dtype=object), output)

    @property
    def pad_id(self) -> int:
        pad = self.tokenizer.pad_token_id
        return int(pad) if pad is not None else self.ends[0]

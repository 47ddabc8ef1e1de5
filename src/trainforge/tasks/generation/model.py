"""`GenerationModel`: a `Model` that answers prompts and conversations with generated text.

Rows are prompts (strings, a .txt file of one prompt per line) or rows in any of the training
layouts (prompt/response, alpaca, chat); a row that holds an answer is asked what that answer
answers. `predict` gives {"text": answer} per row; `generate` and `chat` are the direct ways in.
"""

from __future__ import annotations

from typing import Any

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
        conversations = self.conversations(frame)
        asked = [prompt_turns(turns)[0] for turns in conversations.messages]
        return np.asarray(self.answer(asked, conversations.places), dtype=object)

    def conversations(self, frame: pd.DataFrame, answers: bool = False) -> Conversations:
        """The rows as checked conversations, in whichever layout their columns show."""
        data = self.config.data.model_copy(update={"format": "auto"})
        return conversations_of(frame, data, answers)

    def answer(
        self, conversations: list[Messages], places: list[str] | None = None, **options: Any
    ) -> list[str]:
        """The generated answer to each conversation (each ending with the user's turn)."""
        from trainforge.data.chat_tokens import prompt_ids
        from trainforge.models.causal_lm import generate_texts

        places = places or [f"conversation {i + 1}" for i in range(len(conversations))]
        decoding = (
            GenerationConfig.model_validate({**self.decoding.model_dump(), **options})
            if options
            else self.decoding
        )
        prompts = [
            prompt_ids(self.tokenizer, turns, place)
            for turns, place in zip(conversations, places, strict=True)
        ]
        batch = self.config.train.eval_batch_size
        return generate_texts(self.network, self.tokenizer, prompts, decoding, batch, self.ends)

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
        conversations = [[{"role": "user", "content": str(text)}] for text in texts]
        for i, turns in enumerate(conversations):
            check_messages(turns, f"prompt {i + 1}", answers=False)
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
        conversations = []
        for i, turns in enumerate(batch):
            place = f"conversation {i + 1}"
            parsed = chat_turns(turns, "messages", place)
            check_messages(parsed, place, answers=False)
            if parsed[-1]["role"] != "user":
                raise DataError(
                    "the conversation must end with the user's turn for the assistant to answer",
                    where=place,
                    fix="End the list with a user turn",
                )
            conversations.append(parsed)
        answers = self.answer(conversations, **options)
        return answers[0] if single else answers

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

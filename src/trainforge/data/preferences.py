"""Preference rows for direct preference optimisation: a prompt, the answer preferred (chosen)
and the one preferred less (rejected), in TRL's standard and conversational layouts.

    standard        data.prompt_column, data.chosen_column, data.rejected_column hold text:
                    the user's turn and two answers to it
    conversational  the prompt is a list of turns [{role, content}] ending with the user's
                    (a system turn and earlier turns allowed); chosen and rejected are the
                    assistant's turn, as one {role, content} or a list of turns

Cells of turns are JSON text in CSV and TSV files. Every error names the file and line (row,
for Parquet) and says how to fix the row: empty answers, unknown roles, turn orders a chat
template cannot render, and a chosen answer identical to the rejected one.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from trainforge.config import DataConfig
from trainforge.data.conversations import ROLES, Messages, chat_turns, check_messages
from trainforge.data.readers import read_table, row_place
from trainforge.errors import DataError, did_you_mean, format_choices

LAYOUT = "preference"


@dataclass(frozen=True)
class Preferences:
    """The preference pairs of one file, with the place of each in the file.

    Attributes:
        source: the file.
        layout: 'preference'.
        prompts: the turns each row asks (ending with the user's turn).
        chosen: the preferred answer's turns of each row.
        rejected: the other answer's turns of each row.
        places: "train.jsonl line 3" per row (for errors found later, at tokenisation).
    """

    source: str
    layout: str
    prompts: list[Messages]
    chosen: list[Messages]
    rejected: list[Messages]
    places: list[str]

    def __len__(self) -> int:
        return len(self.prompts)

    def subset(self, index: Sequence[int]) -> Preferences:
        """The rows at `index`, in that order."""
        return Preferences(
            self.source,
            self.layout,
            [self.prompts[i] for i in index],
            [self.chosen[i] for i in index],
            [self.rejected[i] for i in index],
            [self.places[i] for i in index],
        )

    def conversations(self, side: str) -> list[Messages]:
        """Each row's prompt followed by its 'chosen' or 'rejected' answer."""
        answers = self.chosen if side == "chosen" else self.rejected
        return [prompt + answer for prompt, answer in zip(self.prompts, answers, strict=True)]


def read_preferences(spec: str, data: DataConfig) -> Preferences:
    """Read and check a file of preference rows (see the module docstring for the layouts).

    Args:
        spec: the file (.csv, .tsv, .jsonl, .parquet).
        data: the `data` config section (column names, encoding).

    Example:
        >>> pairs = read_preferences("pairs.jsonl", cfg.data)
        >>> pairs.chosen[0]
        [{'role': 'assistant', 'content': 'Sure: open Orders, then Returns.'}]
    """
    return preferences_of(read_table(spec, encoding=data.encoding, text=True), data)


def preferences_of(frame: pd.DataFrame, data: DataConfig) -> Preferences:
    """The checked pairs of a frame read by `read_table` (its attrs name the source)."""
    source = str(frame.attrs.get("source", "input"))
    columns = (data.prompt_column, data.chosen_column, data.rejected_column)
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        found = [str(c) for c in frame.columns]
        raise DataError(
            f"preference rows need a {missing[0]!r} column (columns: {format_choices(found)})."
            f"{did_you_mean(missing[0], found)}",
            where=source,
            fix=f"Give {format_choices(columns)} columns (model.objective dpo); other names: set "
            "data.prompt_column, data.chosen_column and data.rejected_column",
        )
    prompts, chosen, rejected, places = [], [], [], []
    for row, record in zip(frame.index, frame.to_dict("records"), strict=True):
        place = row_place(frame, row)
        prompt = _turns(record[data.prompt_column], data.prompt_column, place, role="user")
        _check_prompt(prompt, data.prompt_column, place)
        answers = []
        for column in (data.chosen_column, data.rejected_column):
            answer = _turns(record[column], column, place, role="assistant")
            _check_answer(prompt, answer, column, place)
            answers.append(answer)
        if _same(*answers):
            raise DataError(
                f"the {data.chosen_column!r} and {data.rejected_column!r} answers are "
                f"identical ({_shown(answers[0][-1]['content'])}), so the pair prefers neither",
                where=place,
                fix="Give the row a rejected answer that differs from the chosen one, or drop "
                "the row",
            )
        prompts.append(prompt)
        chosen.append(answers[0])
        rejected.append(answers[1])
        places.append(place)
    return Preferences(source, LAYOUT, prompts, chosen, rejected, places)


def _turns(value: Any, column: str, place: str, *, role: str) -> Messages:
    """A cell as turns: text is one turn of `role`; a list (or JSON list) of turns as is."""
    if isinstance(value, str):
        value = _json_turns(value)
    if isinstance(value, dict):
        value = [value]
    if isinstance(value, (list, np.ndarray)):
        if len(value) == 0:
            raise _empty(column, place)
        return chat_turns(value, column, place)
    if value is None or (isinstance(value, float) and np.isnan(value)):
        raise _empty(column, place)
    if not isinstance(value, str):
        raise DataError(
            f"column {column!r} holds {type(value).__name__} {_shown(value)}, not text or turns",
            where=place,
            fix=f"Write the {column!r} cell as a string, or as a list of "
            '{"role": ..., "content": ...} turns',
        )
    if not value.strip():
        raise _empty(column, place)
    return [{"role": role, "content": value}]


def _json_turns(text: str) -> Any:
    """The turns a CSV cell writes as JSON; any other text (even "[sic] ...") stays text."""
    if not text.lstrip().startswith(("[", "{")):
        return text
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return text
    items = value if isinstance(value, list) else [value]
    return value if items and all(isinstance(item, dict) for item in items) else text


def _check_prompt(turns: Messages, column: str, place: str) -> None:
    _named(f"column {column!r}", lambda: check_messages(turns, place, answers=False))
    if turns[-1]["role"] != "user":
        raise DataError(
            f"column {column!r}: the prompt ends with a {turns[-1]['role']} turn; it must end "
            "with the user's turn that the chosen and rejected answers answer",
            where=place,
            fix="End the prompt with the user's turn, and put the assistant's answers in the "
            "chosen and rejected columns",
        )


def _check_answer(prompt: Messages, answer: Messages, column: str, place: str) -> None:
    for number, turn in enumerate(answer, start=1):
        role = turn["role"]
        if role not in ROLES:
            raise DataError(
                f"column {column!r}, turn {number} has the unknown role {role!r}."
                f"{did_you_mean(role, ROLES)}",
                where=place,
                fix="Use 'assistant' for the answer's turns ('user' for a reply between them)",
            )
    if answer[0]["role"] != "assistant":
        raise DataError(
            f"column {column!r} starts with a {answer[0]['role']} turn; the answer starts with "
            "the assistant's turn",
            where=place,
            fix="Put the user's turns in the prompt column, the assistant's answer here",
        )
    # The rest (empty turns, turns taking turns, the assistant last) as for any conversation;
    # its turns are counted from the prompt's first.
    conversation = f"the prompt followed by column {column!r}"
    _named(conversation, lambda: check_messages(prompt + answer, place))


def _named(part: str, check: Callable[[], None]) -> None:
    """Run `check`, naming the part of the row in the DataError it raises."""
    try:
        check()
    except DataError as exc:
        raise DataError(f"{part}: {exc.what}", where=exc.where, fix=exc.fix) from None


def _same(chosen: Messages, rejected: Messages) -> bool:
    """Whether two answers are the same turns, leading and trailing spaces aside."""

    def key(turns: Messages) -> list[tuple[str, str]]:
        return [(t["role"], t["content"].strip()) for t in turns]

    return key(chosen) == key(rejected)


def _empty(column: str, place: str) -> DataError:
    return DataError(
        f"column {column!r} is empty",
        where=place,
        fix="Write the text (a preference row needs a prompt and two different answers), or "
        "drop the row",
    )


def _shown(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"

"""Conversations for generative models: prompt/response rows, alpaca rows and chat transcripts
read into one shape, lists of {"role", "content"} turns, and checked turn by turn.

Layouts (`data.format`, or 'auto' by the columns):

    prompt_response   data.prompt_column and data.response_column: one user turn, one answer
    alpaca            instruction, input (optional), output: the instruction and input are the
                      user's turn, output the answer
    chat              data.messages_column: [{"role": "system" | "user" | "assistant",
                      "content": "..."}, ...], multi-turn, an optional system turn first

Every error names the file and line (row, for Parquet) and says how to fix the row.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from trainforge.config import DataConfig
from trainforge.data.readers import read_table, row_place
from trainforge.errors import DataError, did_you_mean, format_choices

ROLES = ("system", "user", "assistant")
ALPACA = ("instruction", "input", "output")
Messages = list[dict[str, str]]


@dataclass(frozen=True)
class Conversations:
    """The conversations of one file, with the place of each in the file.

    Attributes:
        source: the file.
        layout: 'prompt_response', 'alpaca' or 'chat'.
        messages: one list of turns per row.
        places: "train.jsonl line 3" per row (for errors found later, at tokenisation).
    """

    source: str
    layout: str
    messages: list[Messages]
    places: list[str]

    def __len__(self) -> int:
        return len(self.messages)

    def subset(self, index: Sequence[int]) -> Conversations:
        """The rows at `index`, in that order."""
        return Conversations(
            self.source,
            self.layout,
            [self.messages[i] for i in index],
            [self.places[i] for i in index],
        )


def read_conversations(spec: str, data: DataConfig, *, answers: bool = True) -> Conversations:
    """Read and check a file of conversations (see the module docstring for the layouts).

    Args:
        spec: the file (.csv, .tsv, .jsonl, .parquet).
        data: the `data` config section (layout, column names, encoding).
        answers: rows must end with an answer (training and evaluation); False for prompts
            to answer (predict), where the answer is optional (and not what is answered).
    """
    return conversations_of(read_table(spec, encoding=data.encoding, text=True), data, answers)


def conversations_of(frame: pd.DataFrame, data: DataConfig, answers: bool = True) -> Conversations:
    """The checked conversations of a frame read by `read_table` (its attrs name the source)."""
    source = str(frame.attrs.get("source", "input"))
    layout = detect_layout(list(frame.columns), data, source, answers)
    messages, places = [], []
    for row, record in zip(frame.index, frame.to_dict("records"), strict=True):
        place = row_place(frame, row)
        turns = row_messages(record, layout, data, place, answers)
        check_messages(turns, place, answers)
        messages.append(turns)
        places.append(place)
    return Conversations(source, layout, messages, places)


def detect_layout(columns: list[str], data: DataConfig, source: str, answers: bool = True) -> str:
    """The layout `data.format` names, else the one the columns show."""
    needs = {
        "chat": [data.messages_column],
        "alpaca": ["instruction", *(["output"] if answers else [])],
        "prompt_response": [data.prompt_column, *([data.response_column] if answers else [])],
    }
    if data.format in needs:
        missing = [c for c in needs[data.format] if c not in columns]
        if missing:
            wanted = missing[0]
            raise DataError(
                f"data.format is {data.format!r} but column {wanted!r} is missing (columns: "
                f"{format_choices(columns)}).{did_you_mean(wanted, columns)}",
                where=source,
                fix=_layout_fix(data),
            )
        return data.format
    for layout in ("chat", "alpaca", "prompt_response"):
        if all(c in columns for c in needs[layout]):
            return layout
    raise DataError(
        f"cannot tell the layout of the rows from their columns ({format_choices(columns)})",
        where=source,
        fix=_layout_fix(data),
    )


def _layout_fix(data: DataConfig) -> str:
    return (
        f"Give a {data.messages_column!r} column of chat turns, 'instruction' and 'output' "
        f"columns (alpaca), or {data.prompt_column!r} and {data.response_column!r} columns; "
        "other names: set data.messages_column, or data.prompt_column and data.response_column"
    )


def row_messages(
    record: dict[str, Any], layout: str, data: DataConfig, place: str, answers: bool = True
) -> Messages:
    """One row as a list of turns."""
    if layout == "chat":
        return chat_turns(record[data.messages_column], data.messages_column, place)
    if layout == "alpaca":
        instruction = _cell(record, "instruction", place)
        extra = _cell(record, "input", place) if "input" in record else ""
        prompt = f"{instruction}\n\n{extra}" if extra.strip() else instruction
        answer_column = "output"
    else:
        prompt = _cell(record, data.prompt_column, place)
        answer_column = data.response_column
    turns = [{"role": "user", "content": prompt}]
    if answer_column in record and (answers or _cell(record, answer_column, place).strip()):
        turns.append({"role": "assistant", "content": _cell(record, answer_column, place)})
    return turns


def prompt_turns(turns: Messages) -> tuple[Messages, str | None]:
    """(the turns a model answers, the reference answer or None): a conversation that ends
    with the assistant's turn is asked what that turn answers."""
    if turns[-1]["role"] == "assistant":
        return turns[:-1], turns[-1]["content"]
    return turns, None


def _cell(record: dict[str, Any], column: str, place: str) -> str:
    value = record.get(column)
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    if not isinstance(value, str):
        raise DataError(
            f"column {column!r} holds {type(value).__name__} {value!r}, not text",
            where=place,
            fix=f"Write the {column!r} cell as a string",
        )
    return value


def chat_turns(value: Any, column: str, place: str) -> Messages:
    """A cell of chat turns: a list of {role, content} (JSON text in CSV files)."""
    if isinstance(value, str):
        try:
            value = json.loads(value) if value.strip() else []
        except json.JSONDecodeError as exc:
            raise DataError(
                f"column {column!r} is not valid JSON ({exc.msg} at column {exc.colno})",
                where=place,
                fix='Write the turns as a JSON list: [{"role": "user", "content": "..."}, ...]',
            ) from None
    if isinstance(value, np.ndarray):  # Parquet lists
        value = list(value)
    if not isinstance(value, list) or not value:
        raise DataError(
            f"column {column!r} must be a non-empty list of turns, got {_shown(value)}",
            where=place,
            fix='Write the turns as [{"role": "user", "content": "..."}, '
            '{"role": "assistant", "content": "..."}]',
        )
    turns = []
    for number, turn in enumerate(value, start=1):
        if not isinstance(turn, dict) or "role" not in turn or "content" not in turn:
            raise DataError(
                f"turn {number} is {_shown(turn)}, not an object with 'role' and 'content'",
                where=place,
                fix='Write each turn as {"role": "user", "content": "..."}',
            )
        role, content = turn["role"], turn["content"]
        if not isinstance(content, str):
            raise DataError(
                f"turn {number}: content is {_shown(content)}, not text",
                where=place,
                fix="Write each turn's content as a string",
            )
        turns.append({"role": str(role), "content": content})
    return turns


def check_messages(turns: Messages, place: str, answers: bool = True) -> None:
    """Raise a DataError naming the turn where a conversation cannot be trained on.

    What is checked: known roles; a system turn only first; user and assistant turns taking
    turns, the user first; no empty turn; the last turn the assistant's (with `answers`, else
    the user's, to be answered).
    """
    for number, turn in enumerate(turns, start=1):
        role = turn["role"]
        if role not in ROLES:
            raise DataError(
                f"turn {number} has the unknown role {role!r}.{did_you_mean(role, ROLES)}",
                where=place,
                fix=f"Use one of {format_choices(ROLES)}",
            )
        if not turn["content"].strip() and role != "system":
            raise DataError(
                f"turn {number} ({role}) is empty",
                where=place,
                fix="Write the turn's text, or drop the row",
            )
        if role == "system" and number > 1:
            raise DataError(
                f"turn {number} is a system turn; only the first turn can be",
                where=place,
                fix="Move the system message to the start of the conversation",
            )
    dialogue = turns[1:] if turns[0]["role"] == "system" else turns
    if not dialogue:
        raise DataError(
            "the conversation holds a system turn only",
            where=place,
            fix="Add the user's turn and the assistant's answer",
        )
    if answers and all(turn["role"] != "assistant" for turn in dialogue):
        raise DataError(
            "the conversation has no assistant turn, so there is no answer to learn",
            where=place,
            fix="Add the assistant's answer, or drop the row",
        )
    offset = len(turns) - len(dialogue)
    for i, turn in enumerate(dialogue):
        expected = "user" if i % 2 == 0 else "assistant"
        if turn["role"] != expected:
            raise DataError(
                f"turn {i + offset + 1} ({turn['role']}) comes where the {expected}'s turn was "
                "due; chat templates render user and assistant turns taking turns, the user "
                "first",
                where=place,
                fix="Merge consecutive turns of one role, or put the user's turn first",
            )
    last = dialogue[-1]["role"]
    if answers and last != "assistant":
        raise DataError(
            "the conversation ends with a user turn that no assistant turn answers",
            where=place,
            fix="Add the answer, or drop the last user turn",
        )


def _shown(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"

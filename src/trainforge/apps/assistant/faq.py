"""The FAQ file: one JSON object per line mapping an intent to its answer.

    {"intent": "card_arrival", "answer": "New cards arrive within ...", "questions": ["..."]}

`questions` is optional; its texts are what the retrieval fallback searches. The file is
checked whole before anything starts: every error names the file and the line.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from trainforge.errors import DataError, did_you_mean, format_choices

REQUIRED = ("intent", "answer")
OPTIONAL = ("questions",)
FIX = (
    'Each line is a JSON object: {"intent": "NAME", "answer": "TEXT", "questions": ["TEXT", ...]}'
    " (questions optional)"
)


@dataclass(frozen=True)
class FaqEntry:
    """One FAQ line: the intent, its answer, example questions, and where it came from."""

    intent: str
    answer: str
    questions: tuple[str, ...]
    line: int


@dataclass(frozen=True)
class Faq:
    """The entries of an FAQ file, by intent.

    Args:
        source: the file read.
        entries: the entries in file order.
    """

    source: str
    entries: tuple[FaqEntry, ...]

    def answer(self, intent: str) -> FaqEntry | None:
        """The entry answering `intent`, or None when the FAQ has no answer for it."""
        return self._by_intent.get(intent)

    @cached_property
    def _by_intent(self) -> dict[str, FaqEntry]:
        return {entry.intent: entry for entry in self.entries}

    @property
    def intents(self) -> list[str]:
        return [entry.intent for entry in self.entries]

    def questions(self) -> list[tuple[str, FaqEntry]]:
        """Every example question with its entry, for the retrieval index."""
        return [(q, entry) for entry in self.entries for q in entry.questions]

    def unknown_intents(self, labels: Sequence[str]) -> list[str]:
        """Messages naming each line whose intent the model does not know."""
        known = set(labels)
        return [
            f"{self.source} line {e.line}: intent {e.intent!r} is not one of the model's labels, "
            f"so only its questions can be matched (by retrieval).{did_you_mean(e.intent, labels)}"
            for e in self.entries
            if e.intent not in known
        ]


def read_faq(path: str | Path) -> Faq:
    """Read and check an FAQ file (JSON lines); raise `DataError` naming the line on any fault.

    Blank lines are skipped; an intent may appear on one line only.

    Example:
        >>> faq = read_faq("examples/assistant/demo_faq.jsonl")
        >>> faq.answer("card_lost").answer
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(
            "FAQ file not found",
            where=str(path),
            fix="Check the path given to --faq",
        )
    entries: list[FaqEntry] = []
    seen: dict[str, int] = {}
    with path.open(encoding="utf-8") as lines:
        for number, text in enumerate(lines, start=1):
            if not text.strip():
                continue
            entry = _entry(_object(text, path, number), path, number)
            if entry.intent in seen:
                raise DataError(
                    f"intent {entry.intent!r} already has an answer on line {seen[entry.intent]}",
                    where=f"{path} line {number}",
                    fix="Keep one line per intent; put extra wordings in its 'questions'",
                )
            seen[entry.intent] = number
            entries.append(entry)
    if not entries:
        raise DataError("the FAQ file is empty", where=str(path), fix=FIX)
    return Faq(str(path), tuple(entries))


def _object(text: str, path: Path, number: int) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(
            f"not valid JSON ({exc.msg} at column {exc.colno})",
            where=f"{path} line {number}",
            fix=FIX,
        ) from None
    if not isinstance(value, dict):
        raise DataError(
            f"expected a JSON object, got {type(value).__name__}",
            where=f"{path} line {number}",
            fix=FIX,
        )
    return value


def _entry(value: dict[str, Any], path: Path, number: int) -> FaqEntry:
    where = f"{path} line {number}"
    for key in value:
        if key not in REQUIRED + OPTIONAL:
            raise DataError(
                f"unknown key {key!r}.{did_you_mean(key, REQUIRED + OPTIONAL)}",
                where=where,
                fix=f"Allowed keys: {format_choices(REQUIRED + OPTIONAL)}",
            )
    for key in REQUIRED:
        if key not in value:
            raise DataError(f"missing key {key!r}", where=where, fix=FIX)
        if not isinstance(value[key], str) or not value[key].strip():
            raise DataError(
                f"{key!r} must be a non-empty string, got {value[key]!r}", where=where, fix=FIX
            )
    questions = value.get("questions", [])
    if not isinstance(questions, list) or not all(
        isinstance(q, str) and q.strip() for q in questions
    ):
        raise DataError(
            f"'questions' must be a list of non-empty strings, got {questions!r}",
            where=where,
            fix=FIX,
        )
    return FaqEntry(
        intent=value["intent"].strip(),
        answer=value["answer"].strip(),
        questions=tuple(q.strip() for q in questions),
        line=number,
    )

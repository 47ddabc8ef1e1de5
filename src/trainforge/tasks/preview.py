"""What `trainforge preview` shows before any training: a few examples as the model will read
them, with the tokens that carry loss marked, and the counts of what was cut or dropped.

Silent loss-mask mistakes (the answer not trained, or the prompt trained as well) are the
commonest failure of supervised fine-tuning; the preview makes them visible in seconds.
"""

from __future__ import annotations

import html
import json
from dataclasses import asdict, dataclass, field
from typing import Any

# Marks around the tokens that carry loss where colour cannot show them (logs, files).
OPEN, CLOSE = "⟦", "⟧"


@dataclass(frozen=True)
class Piece:
    """A run of consecutive tokens that all carry loss (`trained`) or none does."""

    text: str
    trained: bool


@dataclass(frozen=True)
class PreviewExample:
    """One example as training reads it.

    Attributes:
        place: file and line (or row) it came from.
        pieces: its text, cut where the loss starts and stops.
        tokens: its token count (after cutting to max_length).
        trained_tokens: how many of them carry loss.
        status: 'kept', 'truncated' or 'dropped'.
    """

    place: str
    pieces: list[Piece]
    tokens: int
    trained_tokens: int
    status: str


@dataclass
class Preview:
    """The preview of a config's training data.

    Attributes:
        task: the config's task.
        max_length: train.max_length.
        examples: the first few training examples.
        counts: per split, how many examples are kept whole, truncated and dropped.
        stats: token statistics of the kept training examples (lengths, padding, packing).
        notes: what a reader should know about the numbers.
    """

    task: str
    max_length: int
    examples: list[PreviewExample]
    counts: dict[str, dict[str, int]]
    stats: dict[str, float]
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, ensure_ascii=False)

    def text(self, colour: bool = False) -> str:
        """A plain-text page: the loss-carrying tokens between ⟦ ⟧ (or in colour)."""
        lines = [f"Preview of {self.task} (train.max_length {self.max_length})", ""]
        for example in self.examples:
            lines.append(
                f"── {example.place}: {example.tokens} tokens, {example.trained_tokens} carry "
                f"loss ({example.status})"
            )
            lines.append("".join(_mark(piece, colour) for piece in example.pieces))
            lines.append("")
        lines.append("Examples per split (kept / truncated / dropped):")
        for split, count in self.counts.items():
            lines.append(
                f"  {split}: {count.get('kept', 0)} / {count.get('truncated', 0)} / "
                f"{count.get('dropped', 0)}"
            )
        lines.append("Tokens of the kept training examples:")
        lines += [
            f"  {key.replace('_', ' ')}: {_number(value)}" for key, value in self.stats.items()
        ]
        lines += [f"Note: {note}" for note in self.notes]
        legend = "in colour" if colour else f"between {OPEN} {CLOSE}"
        lines.append(f"The tokens that carry loss are {legend}.")
        return "\n".join(lines) + "\n"

    def html(self) -> str:
        """A self-contained page: the loss-carrying tokens highlighted."""
        blocks = []
        for example in self.examples:
            body = "".join(
                f"<mark>{html.escape(p.text)}</mark>" if p.trained else html.escape(p.text)
                for p in example.pieces
            )
            blocks.append(
                f"<h3>{html.escape(example.place)}</h3><p>{example.tokens} tokens, "
                f"{example.trained_tokens} carry loss ({example.status})</p><pre>{body}</pre>"
            )
        rows = "".join(
            f"<tr><td>{html.escape(split)}</td><td>{c.get('kept', 0)}</td>"
            f"<td>{c.get('truncated', 0)}</td><td>{c.get('dropped', 0)}</td></tr>"
            for split, c in self.counts.items()
        )
        stats = "".join(
            f"<tr><td>{html.escape(k.replace('_', ' '))}</td><td>{_number(v)}</td></tr>"
            for k, v in self.stats.items()
        )
        notes = "".join(f"<p>{html.escape(n)}</p>" for n in self.notes)
        return (
            "<!doctype html><html><head><meta charset='utf-8'>"
            f"<title>Preview: {html.escape(self.task)}</title><style>"
            "body{font-family:sans-serif;max-width:60em;margin:2em auto}"
            "pre{white-space:pre-wrap;background:#f6f6f6;padding:.8em}"
            "mark{background:#b7f0c0}td,th{padding:.2em .8em;text-align:right}"
            "</style></head><body>"
            f"<h1>Preview: {html.escape(self.task)}</h1>"
            f"<p>train.max_length {self.max_length}. Highlighted: the tokens that carry loss."
            f"</p>{''.join(blocks)}<h2>Examples per split</h2><table><tr><th>split</th>"
            f"<th>kept</th><th>truncated</th><th>dropped</th></tr>{rows}</table>"
            f"<h2>Tokens of the kept training examples</h2><table>{stats}</table>{notes}"
            "</body></html>"
        )


def _mark(piece: Piece, colour: bool) -> str:
    if not piece.trained:
        return piece.text
    if colour:
        return f"\x1b[1;32m{piece.text}\x1b[0m"
    return f"{OPEN}{piece.text}{CLOSE}"


def _number(value: Any) -> str:
    if isinstance(value, float) and not value.is_integer():
        return f"{value:.3f}"
    return f"{int(value):,}"

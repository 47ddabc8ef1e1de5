"""Which writing system a text is in: the script of its letters, counted per character.

Enough to tell what a tokenizer must cover (a Latin-script vocabulary turns Chinese into
unknown tokens) without a language-identification model: scripts come from Unicode ranges,
and a script names a language only where one script is one language (Hangul, Kana).
"""

from __future__ import annotations

import bisect
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from trainforge.messages import CATALOGUES, text

# (first code point, last code point, script), for the letters a tokenizer has to cover.
_RANGES = (
    (0x0041, 0x005A, "Latin"),
    (0x0061, 0x007A, "Latin"),
    (0x00AA, 0x00AA, "Latin"),
    (0x00BA, 0x00BA, "Latin"),
    (0x00C0, 0x024F, "Latin"),
    (0x0370, 0x03FF, "Greek"),
    (0x0400, 0x052F, "Cyrillic"),
    (0x0590, 0x05FF, "Hebrew"),
    (0x0600, 0x06FF, "Arabic"),
    (0x0750, 0x077F, "Arabic"),
    (0x0900, 0x097F, "Devanagari"),
    (0x0E00, 0x0E7F, "Thai"),
    (0x1100, 0x11FF, "Hangul"),
    (0x1E00, 0x1EFF, "Latin"),
    (0x3040, 0x30FF, "Kana"),
    (0x3130, 0x318F, "Hangul"),
    (0x3400, 0x4DBF, "Han"),
    (0x4E00, 0x9FFF, "Han"),
    (0xAC00, 0xD7AF, "Hangul"),
    (0xF900, 0xFAFF, "Han"),
    (0x20000, 0x2FA1F, "Han"),
)


_STARTS = [first for first, _, _ in _RANGES]


def script_of(char: str) -> str | None:
    """The script of one character, 'Other' for letters outside the table, None for
    digits, punctuation, spaces and symbols."""
    if not char.isalpha():
        return None
    code = ord(char)
    k = bisect.bisect_right(_STARTS, code) - 1
    if k >= 0 and code <= _RANGES[k][1]:
        return _RANGES[k][2]
    return "Other"


@dataclass(frozen=True)
class Scripts:
    """Letters per script in a body of text.

    Attributes:
        counts: letters per script, most frequent first.
        letters: all letters counted.
    """

    counts: dict[str, int]
    letters: int

    @property
    def main(self) -> str | None:
        """The script of most letters (None for text without letters)."""
        return next(iter(self.counts), None)

    def share(self, script: str) -> float:
        return self.counts.get(script, 0) / self.letters if self.letters else 0.0

    @property
    def latin(self) -> bool:
        """Mostly Latin letters (or no letters at all)."""
        return self.main in (None, "Latin")

    def describe(self) -> str:
        """'Han script (Chinese), 93% of letters', in the user's language."""
        if self.main is None:
            return text("script.none")
        key = f"script.{self.main}"
        name = text(key) if key in CATALOGUES["en"] else text("script.other", script=self.main)
        return text("script.share", name=name, share=self.share(self.main))


SCRIPT_SAMPLE = 5000  # texts enough to tell a file's scripts (spread over the file)


def count_scripts(texts: Iterable[str], limit: int = 2_000_000) -> Scripts:
    """The scripts of `texts`, reading at most `limit` characters."""
    chars: Counter[str] = Counter()
    seen = 0
    for one in texts:
        chars.update(one)
        seen += len(one)
        if seen >= limit:
            break
    counts: Counter[str] = Counter()
    for char, n in chars.items():
        script = script_of(char)
        if script is not None:
            counts[script] += n
    return Scripts(dict(counts.most_common()), sum(counts.values()))

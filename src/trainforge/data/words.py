"""Raw text to words with character offsets, and character-offset entities to word tags.

Shared by the JSONL text+entities reader and by prediction on raw strings, so the words a
model was trained on and the words it predicts are cut the same way.
"""

from __future__ import annotations

import bisect
import re
import unicodedata
from functools import cache
from itertools import pairwise
from typing import Any

from trainforge.errors import DataError


def split_words(text: str) -> list[tuple[str, int, int]]:
    """Words of raw text with character offsets, such that `text[start:end] == word`.

    A word is a run of letters, digits and underscores (with any combining marks, so Hindi and
    decomposed accents stay whole); each Chinese/Japanese character is a word of its own, as
    those NER sets are labelled per character; any other non-space character is a word alone
    (with its marks, skin tone or zero-width-joined emoji). Apostrophes split words, so
    "Germany's" leaves "Germany" free to be an entity.

    Example:
        >>> [w for w, _, _ in split_words("Reuters' U.S. office")]
        ['Reuters', "'", 'U', '.', 'S', '.', 'office']
    """
    return [(m.group(), m.start(), m.end()) for m in _word_pattern().finditer(text)]


def checked_entities(value: Any, length: int, where: str) -> list[tuple[int, int, str, int]]:
    """Checked entities as (start, end, type, index in the list), by start."""
    fix = 'Entities look like {"start": 10, "end": 18, "type": "ORG"}; offsets count characters'
    if not isinstance(value, list):
        what = f"'entities' must be a list, got {type(value).__name__}"
        raise DataError(what, where=where, fix=fix)
    found = []
    for n, entity in enumerate(value):
        entity = entity if isinstance(entity, dict) else {}
        start, end = entity.get("start"), entity.get("end")
        kind = entity.get("type", entity.get("label"))
        if type(start) is not int or type(end) is not int:  # bool is no offset either
            what = f"entity {n} needs whole-number 'start' and 'end', got {start!r}, {end!r}"
            raise DataError(what, where=where, fix=fix)
        if not isinstance(kind, str) or not kind.strip():
            what = f"entity {n} needs a 'type' (or 'label') string"
            raise DataError(what, where=where, fix=fix)
        if start >= end:
            what = f"entity {n} starts at {start} but ends at {end}"
            raise DataError(what, where=where, fix=fix)
        if start < 0 or end > length:
            what = f"entity {n} ({start}-{end}) lies outside the text ({length} characters)"
            raise DataError(what, where=where, fix=fix)
        found.append((start, end, kind, n))
    found.sort()
    for a, b in pairwise(found):
        if b[0] < a[1]:
            raise DataError(
                f"entities {a[3]} ({a[0]}-{a[1]}) and {b[3]} ({b[0]}-{b[1]}) overlap",
                where=where,
                fix="Keep one of them: a word can have only one tag",
            )
    return found


def cut_at(words: list[tuple[str, int, int]], cuts: list[int]) -> list[tuple[int, int]]:
    """Word spans, with each word split at any cut point inside it (entity boundaries)."""
    spans = []
    for _, start, end in words:
        k = bisect.bisect_right(cuts, start)
        while k < len(cuts) and cuts[k] < end:
            spans.append((start, cuts[k]))
            start = cuts[k]
            k += 1
        spans.append((start, end))
    return spans


# Hiragana, katakana, CJK ideographs (extension A, unified, compatibility, extensions B on).
_CJK = r"\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff66-\uff9f\U00020000-\U0003134f"


@cache
def _word_pattern() -> re.Pattern[str]:
    # Python's \w leaves out combining marks (Devanagari vowel signs, decomposed accents), so
    # they are added here; with ZWNJ/ZWJ (Persian, Indic) and emoji skin tones.
    marks = [c for c in range(0x20000) if unicodedata.category(chr(c)).startswith("M")]
    ranges, begin = [], marks[0]
    for a, b in pairwise([*marks, -1]):
        if b != a + 1:
            ranges.append(f"\\U{begin:08x}-\\U{a:08x}")
            begin = b
    mark = "[" + "".join(ranges) + r"\u200c\u200d\U0001f3fb-\U0001f3ff\U000e0100-\U000e01ef]"
    word = rf"(?:[^\W{_CJK}]|{mark})+"
    cjk = rf"[{_CJK}]{mark}*"
    # A symbol with its marks, and more symbols joined by ZWJ (one emoji such as a family).
    other = rf"\S{mark}*(?:(?<=\u200d)\S{mark}*)*"
    return re.compile(f"{word}|{cjk}|{other}")

"""Token-classification (NER) data: CoNLL column files and JSONL, read into `Sentences`.

Three forms are read:
- CoNLL columns: one word per line, whitespace-separated columns, a blank line between
  sentences, `-DOCSTART-` lines skipped;
- JSONL with a `tokens` list and a `tags` list (or `ner_tags`) per line;
- JSONL with a raw `text` and character-offset `entities`, tagged here in IOB2.

Tags are kept as written (any scheme); conversion happens elsewhere. Every sentence remembers the
file line it starts on, so later stages can name it in errors (`Sentences.place`).
"""

from __future__ import annotations

import bisect
import codecs
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import chain
from pathlib import Path
from typing import Any

from trainforge.data.readers import _encoding_error, _unknown_encoding, checked_file
from trainforge.data.words import checked_entities, cut_at, split_words
from trainforge.errors import ConfigError, DataError, closest, did_you_mean, format_choices

FORMATS = ("conll", "jsonl")
JSONL_SUFFIXES = (".jsonl", ".ndjson", ".json")  # format "auto": these are JSONL, others CoNLL
_JSONL_FIX = (
    'Each line needs "tokens" (a list of words) with "tags" (one per word), '
    'or "text" (a string) with "entities" ([{"start": 0, "end": 5, "type": "PER"}, ...])'
)


@dataclass
class Sentences:
    """Sentences of words, with tags (absent for unlabelled input) and where each came from.

    Args:
        tokens: the words of each sentence.
        tags: the tag of each word, raw as in the file; None for unlabelled input.
        source: the file as the user named it.
        lines: 1-based file line where each sentence starts (for errors).
        texts: the raw texts, only for JSONL text+entities and raw text input.
        offsets: (start, end) character offsets of each word in `texts[i]`.

    Example:
        >>> s = sentences_from_texts(["Hi Bob"])
        >>> s.tokens, s.offsets, s.place(0)
        ([['Hi', 'Bob']], [[(0, 2), (3, 6)]], 'input line 1')
    """

    tokens: list[list[str]]
    tags: list[list[str]] | None
    source: str
    lines: list[int]
    texts: list[str] | None = None
    offsets: list[list[tuple[int, int]]] | None = None

    def __len__(self) -> int:
        return len(self.tokens)

    def place(self, i: int) -> str:
        """Where sentence `i` starts, e.g. "train.txt line 123"."""
        return f"{self.source} line {self.lines[i]}"

    def subset(self, rows: Iterable[int]) -> Sentences:
        """The sentences at `rows`, in that order."""
        pick = [int(i) for i in rows]

        def take(values: list[Any] | None) -> list[Any] | None:
            return [values[i] for i in pick] if values is not None else None

        return Sentences(
            tokens=[self.tokens[i] for i in pick],
            tags=take(self.tags),
            source=self.source,
            lines=[self.lines[i] for i in pick],
            texts=take(self.texts),
            offsets=take(self.offsets),
        )

    def head(self, n: int) -> Sentences:
        """The first `n` sentences."""
        return self.subset(range(min(n, len(self))))


def read_sentences(
    spec: str,
    *,
    format: str = "auto",
    token_column: int = 0,
    tag_column: int = -1,
    encoding: str = "utf-8",
    need_tags: bool = True,
) -> Sentences:
    """Read a CoNLL column file or a JSONL file of sentences.

    Args:
        spec: the file path.
        format: "auto" (default: .jsonl/.ndjson/.json are JSONL, any other name CoNLL),
            "conll" or "jsonl".
        token_column: CoNLL: 0-based column of the word (default 0).
        tag_column: CoNLL: column of the tag; negative counts from the end (default -1).
        encoding: text encoding of the file (default "utf-8").
        need_tags: False for unlabelled input (prediction): tags may then be absent, and are
            None unless every sentence has them.

    Example:
        >>> s = read_sentences("data/conll2003/train.txt")  # doctest: +SKIP
        >>> len(s), s.tokens[0][:2], s.tags[0][:2], s.place(0)  # doctest: +SKIP
        (14041, ['EU', 'rejects'], ['B-ORG', 'O'], 'data/conll2003/train.txt line 3')
    """
    if format not in ("auto", *FORMATS):
        raise ConfigError(
            f"unknown format {format!r}",
            where="data.format",
            fix=f"Use one of {format_choices(('auto', *FORMATS))}.{did_you_mean(format, FORMATS)}",
        )
    try:
        codecs.lookup(encoding)
    except LookupError:
        raise _unknown_encoding(encoding) from None
    # Any file name is fine (eng.train, ner.iob); only its existence is checked here.
    path, suffix = checked_file(spec, (Path(spec).suffix.lower(),))
    if format == "auto":
        format = "jsonl" if suffix in JSONL_SUFFIXES else "conll"
    try:
        with path.open(encoding=encoding) as handle:
            if format == "conll":
                sentences = _read_conll(_lines(handle), spec, token_column, tag_column, need_tags)
            else:
                sentences = _read_jsonl(_lines(handle), spec, need_tags)
    except UnicodeDecodeError as exc:
        raise _encoding_error(path, encoding, exc) from None
    if not sentences.tokens:
        example = "one word per line, a blank line between sentences"
        raise DataError(
            "no sentences",
            where=spec,
            fix=f"The file must hold {example if format == 'conll' else 'one JSON object a line'}",
        )
    return sentences


def sentences_from_texts(texts: Sequence[str], source: str = "input") -> Sentences:
    """Unlabelled Sentences from raw strings (for prediction), words by `split_words`.

    Text `i` is "line i+1" of `source` in errors; texts and offsets are filled so predicted
    tags map back onto the strings.

    Example:
        >>> sentences_from_texts(["Paris, France"]).tokens
        [['Paris', ',', 'France']]
    """
    tokens, offsets = [], []
    for i, text in enumerate(texts):
        words = split_words(text)
        if not words:
            raise DataError(
                "empty sentence", where=f"{source} line {i + 1}", fix="Remove the empty text"
            )
        tokens.append([word for word, _, _ in words])
        offsets.append([(start, end) for _, start, end in words])
    lines = list(range(1, len(tokens) + 1))
    return Sentences(tokens, None, source, lines, texts=list(texts), offsets=offsets)


# --- CoNLL -----------------------------------------------------------------------------------


def _lines(handle: Iterable[str]) -> Iterator[tuple[int, str]]:
    """(1-based number, text) of each line, without a UTF-8 byte-order mark."""
    for number, line in enumerate(handle, start=1):
        # Windows editors start UTF-8 files with a BOM; it would end up glued to the first word.
        yield number, (line.lstrip("\ufeff") if number == 1 else line)


def _read_conll(
    lines: Iterable[tuple[int, str]], spec: str, token_column: int, tag_column: int, need: bool
) -> Sentences:
    tokens: list[list[str]] = []
    tags: list[list[str]] = []
    starts: list[int] = []
    words: list[str] = []
    word_tags: list[str] = []
    width = first = start = 0
    word_at, tag_at = 0, None
    # A blank line after the last closes the last sentence.
    for number, line in chain(lines, [(0, "")]):
        fields = line.split()
        if not fields or fields[0] == "-DOCSTART-":
            if words:
                tokens.append(words)
                tags.append(word_tags)
                starts.append(start)
                words, word_tags = [], []
            continue
        if not width:
            width, first = len(fields), number
            word_at, tag_at = _columns(
                width, token_column, tag_column, need, f"{spec} line {first}"
            )
        elif len(fields) != width:
            raise DataError(
                f"expected {width} columns as on line {first}, found {len(fields)}",
                where=f"{spec} line {number}",
                fix="Every word line needs the same whitespace-separated columns; look for a "
                "word with a space inside, or a missing tag",
            )
        if not words:
            start = number
        words.append(fields[word_at])
        if tag_at is not None:
            word_tags.append(fields[tag_at])
    return Sentences(tokens, tags if tag_at is not None else None, spec, starts)


def _columns(
    width: int, token_column: int, tag_column: int, need: bool, where: str
) -> tuple[int, int | None]:
    """(word index, tag index or None) in lines of `width` columns, checked against the file."""
    valid = f"valid: 0 to {width - 1}, or -{width} to -1"
    if not -width <= token_column < width:
        raise DataError(
            f"data.token_column is {token_column}, but the file has {width} columns ({valid})",
            where=where,
            fix="Set data.token_column to the word's column, e.g. --set data.token_column=0",
        )
    word_at = token_column % width
    tag_at = tag_column % width if -width <= tag_column < width else None
    if tag_at is not None and tag_at != word_at:
        return word_at, tag_at
    if not need:  # prediction input: the tags are optional
        return word_at, None
    if width == 1:
        raise DataError(
            "found 1 column, so no tags",
            where=where,
            fix="Training and evaluation need a word and a tag on each line, e.g. 'Paris B-LOC'",
        )
    what = f"is {tag_column}, but the file has {width} columns ({valid})"
    if tag_at == word_at:
        what = f"and data.token_column both point at column {word_at}"
    raise DataError(
        f"data.tag_column {what}",
        where=where,
        fix="Set data.tag_column to the tag's column, e.g. --set data.tag_column=-1 (the last)",
    )


# --- JSONL -----------------------------------------------------------------------------------


def _read_jsonl(lines: Iterable[tuple[int, str]], spec: str, need: bool) -> Sentences:
    tokens: list[list[str]] = []
    tags: list[list[str] | None] = []
    starts: list[int] = []
    texts: list[str] = []
    offsets: list[list[tuple[int, int]]] = []
    form, form_line = "", 0
    for number, line in lines:
        if not line.strip():
            continue
        where = f"{spec} line {number}"
        record = _json_object(line, where)
        if "tokens" in record:
            kind = "tokens"
            words, word_tags = _token_record(record, where, need)
        elif "text" in record:
            kind = "text"
            text, spans, word_tags = _text_record(record, where, need)
            words = [text[s:e] for s, e in spans]
            texts.append(text)
            offsets.append(spans)
        else:
            raise _neither_error(record, where)
        if form and kind != form:
            raise DataError(
                f"has {kind!r} but line {form_line} has {form!r}",
                where=where,
                fix="Use one form for the whole file: tokens with tags, or text with entities",
            )
        form, form_line = kind, form_line or number
        tokens.append(words)
        tags.append(word_tags)
        starts.append(number)
    # Tags that only some sentences have (unlabelled input) are no use to anyone.
    full = [t for t in tags if t is not None]
    has_text = form == "text"
    return Sentences(
        tokens,
        full if tags and len(full) == len(tags) else None,
        spec,
        starts,
        texts=texts if has_text else None,
        offsets=offsets if has_text else None,
    )


def _json_object(line: str, where: str) -> dict[str, Any]:
    try:
        # Without its newline, so the column of an error is on this line.
        record = json.loads(line.rstrip("\r\n"))
    except json.JSONDecodeError as exc:
        raise DataError(
            f"not valid JSON ({exc.msg} at column {exc.colno})",
            where=where,
            fix="Each line must hold one JSON object (a file holding one JSON array is not JSONL)",
        ) from None
    if not isinstance(record, dict):
        raise DataError(
            f"expected a JSON object, got {type(record).__name__}", where=where, fix=_JSONL_FIX
        )
    return record


def _neither_error(record: dict[str, Any], where: str) -> DataError:
    keys = [str(key) for key in record]
    found = f"found keys {format_choices(keys)}" if keys else "found an empty object"
    hints = [
        f"'{near}' to '{want}'" for want in ("tokens", "text") if (near := closest(want, keys))
    ]
    rename = f". Rename {hints[0]}?" if hints else ""
    return DataError(
        f"has neither 'tokens' nor 'text' ({found})", where=where, fix=_JSONL_FIX + rename
    )


def _token_record(
    record: dict[str, Any], where: str, need: bool
) -> tuple[list[str], list[str] | None]:
    words = record["tokens"]
    _check_strings(words, "tokens", "token", where)
    if not words:
        raise DataError("empty sentence", where=where, fix="Remove the line, or give it words")
    key = "tags" if "tags" in record else "ner_tags" if "ner_tags" in record else None
    if key is None:
        if need:
            raise DataError("has 'tokens' but no 'tags'", where=where, fix=_JSONL_FIX)
        return words, None
    tags = record[key]
    if isinstance(tags, list) and any(isinstance(t, int) for t in tags):
        raise DataError(
            f"'{key}' holds numbers (class ids), not tag names",
            where=where,
            fix="Write the tag names, e.g. 'B-PER' or 'O' (map the ids through the data set's "
            "label list)",
        )
    _check_strings(tags, key, "tag", where)
    if len(tags) != len(words):
        raise DataError(
            f"{len(words)} tokens but {len(tags)} tags",
            where=where,
            fix="Give exactly one tag per token",
        )
    return words, tags


def _check_strings(value: Any, key: str, item: str, where: str) -> None:
    """A DataError unless `value` is a list of non-blank strings."""
    if not isinstance(value, list):
        raise DataError(
            f"'{key}' must be a list of strings, got {type(value).__name__}",
            where=where,
            fix=_JSONL_FIX,
        )
    for i, element in enumerate(value):
        if not isinstance(element, str) or not element.strip():
            raise DataError(
                f"{item} {i} is {element!r}",
                where=where,
                fix=f"Every {item} must be a non-blank string",
            )


def _text_record(
    record: dict[str, Any], where: str, need: bool
) -> tuple[str, list[tuple[int, int]], list[str] | None]:
    """(text, word spans, IOB2 tags or None) of a text+entities record."""
    text = record["text"]
    if not isinstance(text, str):
        what = f"'text' must be a string, got {type(text).__name__}"
        raise DataError(what, where=where, fix=_JSONL_FIX)
    if not text.strip():
        raise DataError("empty sentence", where=where, fix="Remove the line, or give it text")
    if "entities" not in record:
        if need:
            raise DataError(
                "has 'text' but no 'entities'",
                where=where,
                fix=_JSONL_FIX + ' ("entities": [] when the text names none)',
            )
        return text, [(s, e) for _, s, e in split_words(text)], None
    entities = checked_entities(record["entities"], len(text), where)
    cuts = sorted({point for start, end, _, _ in entities for point in (start, end)})
    spans = cut_at(split_words(text), cuts)
    tags = ["O"] * len(spans)
    starts = [s for s, _ in spans]
    for start, end, kind, n in entities:
        i = bisect.bisect_left(starts, start)
        if i == len(spans) or spans[i][1] > end:
            raise DataError(
                f"entity {n} ({start}-{end}, {kind!r}) covers no word, only {text[start:end]!r}",
                where=where,
                fix="Check the entity's offsets",
            )
        tags[i] = f"B-{kind}"
        for j in range(i + 1, len(spans)):
            if spans[j][1] > end:
                break
            tags[j] = f"I-{kind}"
    return text, spans, tags

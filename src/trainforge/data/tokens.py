"""Words to sub-word windows and back: label alignment, overlapping windows, merging.

A sentence's words are tokenised once, without special tokens; each word's first sub-token
carries its tag (the others are ignored by the loss, or labelled too with `label_all`). A
sentence longer than the model's window is cut into windows of `max_length` tokens that share
`stride` tokens, never truncated: every word gets a prediction, taken from the window where
it has the most context on both sides.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from trainforge.data.conll import Sentences, read_sentences, sentences_from_texts
from trainforge.errors import DataError

IGNORE = -100  # label of positions the loss skips (cross-entropy's ignore_index)
_EDGE = 1 << 30  # context of a word at the real start or end of its sentence


@dataclass
class Windows:
    """Model inputs for a set of sentences, with the way back from positions to words.

    Attributes:
        rows: one dict per window: input_ids, attention_mask (token_type_ids), and labels
            when tags were given.
        sentence: the sentence index of every window.
        positions: per window, the input positions that predict a word (first sub-tokens).
        words: per window, the word index predicted at each of `positions`.
        context: per window, how many tokens of context each of those words has in it.
        n_words: words per sentence.
    """

    rows: list[dict[str, list[int]]] = field(default_factory=list)
    sentence: list[int] = field(default_factory=list)
    positions: list[list[int]] = field(default_factory=list)
    words: list[list[int]] = field(default_factory=list)
    context: list[list[int]] = field(default_factory=list)
    n_words: list[int] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.rows)

    def dataset(self) -> Any:
        """The windows as a `datasets.Dataset` with a "length" column (for batching)."""
        from datasets import Dataset

        columns: dict[str, list[Any]] = {
            key: [row[key] for row in self.rows] for key in self.rows[0]
        }
        columns["length"] = [len(row["input_ids"]) for row in self.rows]
        return Dataset.from_dict(columns)


class WordTokenizer:
    """Turns sentences of words into `Windows` for a fast transformers tokenizer.

    Args:
        tokenizer: a fast tokenizer (it must report `word_ids`).
        max_length: tokens per window, special tokens included.
        stride: tokens shared by consecutive windows of a long sentence.
    """

    def __init__(self, tokenizer: Any, max_length: int, stride: int) -> None:
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.stride = stride
        self.prefix, self.suffix = _special_tokens(tokenizer)
        self.content = max_length - len(self.prefix) - len(self.suffix)
        self.with_types = "token_type_ids" in tokenizer.model_input_names
        self.pieces = _piece_ids(tokenizer)

    def windows(
        self,
        sentences: Sequence[Sequence[str]],
        tags: Sequence[Sequence[int]] | Sequence[np.ndarray] | None = None,
        continuation: dict[int, int] | None = None,
        batch_size: int = 1000,
    ) -> Windows:
        """Tokenise, align tags to sub-words and cut windows.

        Args:
            sentences: words of every sentence.
            tags: tag index of every word, or None (prediction).
            continuation: tag of a word's later sub-tokens given its first one (B-X -> I-X),
                to label every sub-token; None labels only the first sub-token of each word.
            batch_size: sentences per tokenizer call.
        """
        out = Windows()
        for start in range(0, len(sentences), batch_size):
            chunk = [list(words) for words in sentences[start : start + batch_size]]
            for offset, (ids, word_ids) in enumerate(self._subwords(chunk)):
                index = start + offset
                sentence_tags = tags[index] if tags is not None else None
                self._cut(out, index, ids, word_ids, sentence_tags, continuation)
                out.n_words.append(len(chunk[offset]))
        return out

    def subword_ids(
        self, sentences: Sequence[Sequence[str]], batch_size: int = 1000
    ) -> list[list[int]]:
        """The sub-word ids of every sentence, as `windows` cuts them (no special tokens)."""
        ids: list[list[int]] = []
        for start in range(0, len(sentences), batch_size):
            chunk = [list(words) for words in sentences[start : start + batch_size]]
            ids.extend(row for row, _ in self._subwords(chunk))
        return ids

    def _subwords(self, sentences: list[list[str]]) -> Iterator[tuple[list[int], list[int]]]:
        encoded = self.tokenizer(sentences, is_split_into_words=True, add_special_tokens=False)
        for i, words in enumerate(sentences):
            ids, word_ids = encoded["input_ids"][i], encoded.word_ids(i)
            if len(set(word_ids)) < len(words):
                # A word the tokenizer drops entirely (control or zero-width characters) would
                # get no prediction: stand the unknown token in for it.
                seen = set(word_ids)
                unknown = self.tokenizer.unk_token or "?"
                patched = [w if j in seen else unknown for j, w in enumerate(words)]
                again = self.tokenizer(
                    [patched], is_split_into_words=True, add_special_tokens=False
                )
                ids, word_ids = again["input_ids"][0], again.word_ids(0)
            word_ids = [int(w) for w in word_ids]
            if self.pieces is not None:
                ids, word_ids = _unspaced(ids, word_ids, words, self.pieces)
            yield ids, word_ids

    def _cut(
        self,
        out: Windows,
        index: int,
        ids: list[int],
        word_ids: list[int],
        tags: Sequence[int] | np.ndarray | None,
        continuation: dict[int, int] | None,
    ) -> None:
        n = len(ids)
        first = [p == 0 or word_ids[p] != word_ids[p - 1] for p in range(n)]
        step = self.content - self.stride
        start = 0
        while True:
            end = min(start + self.content, n)
            labels: list[int] = []
            positions, words, context = [], [], []
            for p in range(start, end):
                word = word_ids[p]
                if first[p]:
                    positions.append(len(self.prefix) + p - start)
                    words.append(word)
                    before = p - start if start > 0 else _EDGE
                    after = end - 1 - p if end < n else _EDGE
                    context.append(min(before, after))
                if tags is not None:
                    tag = int(tags[word])
                    if not first[p]:
                        tag = continuation.get(tag, tag) if continuation is not None else IGNORE
                    labels.append(tag)
            row = {"input_ids": self.prefix + ids[start:end] + self.suffix}
            row["attention_mask"] = [1] * len(row["input_ids"])
            if self.with_types:
                row["token_type_ids"] = [0] * len(row["input_ids"])
            if tags is not None:
                row["labels"] = [IGNORE] * len(self.prefix) + labels + [IGNORE] * len(self.suffix)
            out.rows.append(row)
            out.sentence.append(index)
            out.positions.append(positions)
            out.words.append(words)
            out.context.append(context)
            if end >= n:
                return
            start += step


def merge_windows(
    windows: Windows, window_outputs: Iterator[tuple[int, np.ndarray]]
) -> list[np.ndarray]:
    """Per-word outputs of every sentence from per-position outputs of its windows.

    Args:
        windows: the windows the outputs belong to.
        window_outputs: (window index, (positions, k) array) in any order.

    Returns:
        One (n_words, k) array per sentence; each word's row comes from the window where the
        word has the most context.
    """
    merged: list[np.ndarray | None] = [None] * len(windows.n_words)
    best: list[np.ndarray | None] = [None] * len(windows.n_words)
    for w, values in window_outputs:
        s = windows.sentence[w]
        if merged[s] is None:
            merged[s] = np.zeros((windows.n_words[s], values.shape[-1]), dtype=np.float64)
            best[s] = np.full(windows.n_words[s], -1, dtype=np.int64)
        target, context = merged[s], best[s]
        assert target is not None and context is not None
        for position, word, ctx in zip(
            windows.positions[w], windows.words[w], windows.context[w], strict=True
        ):
            if ctx > context[word]:
                context[word] = ctx
                target[word] = values[position]
    missing = [s for s, m in enumerate(merged) if m is None]
    assert not missing, f"sentences without output: {missing[:5]}"
    return [m for m in merged if m is not None]


def _piece_ids(tokenizer: Any) -> Callable[[str], list[int]] | None:
    """word -> its pieces without a word-start mark, for SentencePiece (Unigram) tokenizers
    that mark word starts with "▁"; None for others (WordPiece has no such mark)."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None or type(backend.model).__name__ != "Unigram":
        return None
    if tokenizer.convert_tokens_to_ids("\u2581") in (None, tokenizer.unk_token_id):
        return None
    model, normalizer = backend.model, backend.normalizer
    known: dict[str, list[int]] = {}

    def pieces(word: str) -> list[int]:
        if word not in known:
            text = normalizer.normalize_str(word) if normalizer is not None else word
            known[word] = [token.id for token in model.tokenize(text.lstrip("\u2581"))]
        return known[word]

    return pieces


def _unspaced(
    ids: list[int], word_ids: list[int], words: list[str], pieces: Callable[[str], list[int]]
) -> tuple[list[int], list[int]]:
    """Chinese and Japanese words cut as in running text, without SentencePiece's word start.

    Given as separate words (one character each, as CJK NER files are), every character
    would get the word-start mark ("▁" alone, or "▁X" where that is a piece); in the running
    text these models were pretrained on, the scripts have no spaces and the character stands
    alone. Each such word takes the pieces of its own characters, so it keeps a first
    sub-token; other words stay as they were.
    """
    out_ids: list[int] = []
    out_words: list[int] = []
    k, n = 0, len(ids)
    while k < n:
        word = word_ids[k]
        end = k
        while end < n and word_ids[end] == word:
            end += 1
        own = pieces(words[word]) if _unspaced_script(words[word]) else []
        if own:
            out_ids += own
            out_words += [word] * len(own)
        else:
            out_ids += ids[k:end]
            out_words += word_ids[k:end]
        k = end
    return out_ids, out_words


def _unspaced_script(word: str) -> bool:
    from trainforge.data.language import script_of

    return all(script_of(char) in ("Han", "Kana") for char in word)


def _special_tokens(tokenizer: Any) -> tuple[list[int], list[int]]:
    """The ids the tokenizer puts before and after a single sequence ([CLS] ... [SEP])."""
    bare = tokenizer("a", add_special_tokens=False)["input_ids"]
    full = tokenizer("a", add_special_tokens=True)["input_ids"]
    for i in range(len(full) - len(bare) + 1):
        if full[i : i + len(bare)] == bare:
            return list(full[:i]), list(full[i + len(bare) :])
    return [], []


class TokenInputs:
    """Inference-time inputs of a token-classification model: sentences to windows.

    Args:
        tokenizer: the model's fast tokenizer.
        cfg: the experiment config (window size and stride, how files are read).
    """

    def __init__(self, tokenizer: Any, cfg: Any) -> None:
        self.tokenizer = tokenizer
        self.words = WordTokenizer(tokenizer, cfg.train.max_length, cfg.train.window_stride)
        self.data = cfg.data

    def read(self, rows: Any) -> Sentences:
        """Sentences from raw strings, lists of words, dicts with "text" or "tokens" (and
        "tags"), or a CoNLL / JSONL file."""
        from pathlib import Path

        if isinstance(rows, Sentences):
            return rows
        if isinstance(rows, (str, Path)):
            data = self.data
            try:
                return read_sentences(
                    str(rows),
                    format="auto",  # by suffix: the training files' format need not apply
                    token_column=data.token_column,
                    tag_column=data.tag_column,
                    encoding=data.encoding,
                    need_tags=False,
                )
            except DataError as exc:
                if "columns as on line" not in exc.what:
                    raise
                # Most likely raw sentences, one per line, read as CoNLL columns.
                raise DataError(
                    exc.what,
                    where=exc.where,
                    fix=f"{(exc.fix or '').rstrip('.')}. A token-classification model reads "
                    ".txt files as CoNLL columns (one word per line); for raw text, write JSONL "
                    'lines {"text": ...}',
                ) from None
        if isinstance(rows, dict):
            rows = [rows]
        if isinstance(rows, list) and rows and all(isinstance(r, str) for r in rows):
            return sentences_from_texts(rows)
        if isinstance(rows, list) and rows and all(isinstance(r, dict) for r in rows):
            if all("text" in r for r in rows):
                return sentences_from_texts([r["text"] for r in rows])
            if all("tokens" in r for r in rows):
                tags = [r["tags"] for r in rows] if all("tags" in r for r in rows) else None
                return _given_words([r["tokens"] for r in rows], tags)
        if isinstance(rows, list) and rows and all(isinstance(r, (list, tuple)) for r in rows):
            return _given_words(rows, None)
        raise DataError(
            f"cannot predict on {type(rows).__name__} {str(rows)[:60]!r}",
            where="predict(rows)",
            fix="Pass raw texts (a list of strings), pre-tokenised sentences (a list of lists "
            "of words), dicts with 'text' or 'tokens', or a CoNLL / JSONL file",
        )

    def windows(self, sentences: Sentences) -> Windows:
        return self.words.windows(sentences.tokens)

    def batches(self, windows: Windows, batch_size: int) -> Iterator[tuple[list[int], Any]]:
        """(window indices, padded tensors), longest windows first (less padding)."""
        import torch

        order = sorted(range(len(windows)), key=lambda w: -len(windows.rows[w]["input_ids"]))
        pad = self.tokenizer.pad_token_id or 0
        for start in range(0, len(order), batch_size):
            chosen = order[start : start + batch_size]
            rows = [windows.rows[w] for w in chosen]
            longest = len(rows[0]["input_ids"])
            batch = {}
            for key in ("input_ids", "attention_mask", "token_type_ids"):
                if key in rows[0]:
                    fill = pad if key == "input_ids" else 0
                    values = np.full((len(rows), longest), fill, dtype=np.int64)
                    for i, row in enumerate(rows):
                        values[i, : len(row[key])] = row[key]
                    batch[key] = torch.from_numpy(values)
            yield chosen, batch

    def state_dict(self) -> dict[str, Any]:
        return {"max_length": self.words.max_length, "stride": self.words.stride}


def _given_words(tokens: Sequence[Any], tags: Sequence[Any] | None) -> Sentences:
    for i, words in enumerate(tokens):
        if not words or not all(isinstance(w, str) and w.strip() for w in words):
            raise DataError(
                "a sentence must be a non-empty list of non-blank words",
                where=f"input sentence {i}",
                fix="Send each sentence as a list of words, e.g. ['EU', 'rejects', 'German']",
            )
        if tags is not None and len(tags[i]) != len(words):
            raise DataError(
                f"{len(words)} words but {len(tags[i])} tags",
                where=f"input sentence {i}",
                fix="Give one tag per word",
            )
    return Sentences(
        tokens=[list(words) for words in tokens],
        tags=[list(t) for t in tags] if tags is not None else None,
        source="input",
        lines=list(range(1, len(tokens) + 1)),
    )

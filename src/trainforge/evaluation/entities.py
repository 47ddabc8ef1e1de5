"""Entity-level NER evaluation and tag-scheme conversion (IOB1, IOB2, BIOES, BMES).

The scores are exactly those of ``seqeval`` in its default, conlleval-compatible mode
(``seqeval.metrics.f1_score`` / ``classification_report`` with default arguments), computed in
plain Python so the product does not depend on seqeval. Reading is lenient, as conlleval's is:
an ``I-X`` after ``O`` or after another type starts a new entity instead of being an error.

Tags are ``O`` or ``PREFIX-TYPE`` with prefix ``B``, ``I``, ``E`` or ``S``; the type may itself
contain ``-`` (``B-DATE-TIME`` has type ``DATE-TIME``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

SCHEMES: tuple[str, ...] = ("iob1", "iob2", "bioes", "bmes")

# BMES (Chinese corpora such as MSRA) is BIOES with M- for the inside tokens.
_PREFIXES = ("B", "I", "M", "E", "S")


def split_tag(tag: str) -> tuple[str, str]:
    """Split a tag into its prefix and entity type.

    Args:
        tag: ``"O"`` or ``"B-X"``, ``"I-X"``, ``"M-X"``, ``"E-X"``, ``"S-X"``; only the first ``-``
            separates, so the type may contain ``-``.

    Returns:
        ``(prefix, type)``; ``("O", "")`` for ``"O"``.

    Raises:
        ValueError: for anything else (``"B"``, ``"X-PER"``, ``"B-"``, ``"PER"``).

    Example:
        >>> split_tag("B-PER"), split_tag("O"), split_tag("I-DATE-TIME")
        (('B', 'PER'), ('O', ''), ('I', 'DATE-TIME'))
    """
    if tag == "O":
        return "O", ""
    prefix, sep, type_ = tag.partition("-")
    if prefix not in _PREFIXES or not sep or not type_:
        raise ValueError(
            f"NER tag {tag!r} is not valid: expected 'O' or PREFIX-TYPE with PREFIX one of "
            f"{', '.join(_PREFIXES)} (e.g. 'B-PER'). Fix the label column or the label list."
        )
    return prefix, type_


def _starts(prev_prefix: str, prev_type: str, prefix: str, type_: str) -> bool:
    """Whether the current tag starts a new entity, by seqeval's ``start_of_chunk`` rules."""
    if prefix == "O":
        return False
    if prefix in ("B", "S"):
        return True
    # An I-/E- continues only an open B-/I- entity of the same type; after O, or after E-/S-
    # (which close their entity), it opens a new one -- the lenient conlleval reading.
    if prev_prefix in ("O", "E", "S"):
        return True
    return prev_type != type_


def _parse(tags: Sequence[str], where: str) -> list[tuple[str, str]]:
    """``split_tag`` over one sentence, with the sentence and position in the error."""
    parsed = []
    for i, tag in enumerate(tags):
        try:
            parsed.append(split_tag(tag))
        except ValueError as err:
            raise ValueError(f"{where}, token {i}: {err}") from None
    return parsed


def _check_scheme(scheme: str, name: str) -> None:
    """Raise ValueError naming ``name`` when ``scheme`` is not one of SCHEMES."""
    if scheme not in SCHEMES:
        raise ValueError(
            f"{name}: unknown tag scheme {scheme!r}; expected one of {', '.join(SCHEMES)}."
        )


def _spans(parsed: Sequence[tuple[str, str]]) -> list[tuple[str, int, int]]:
    """Entity spans ``(type, start, end_exclusive)`` of already split tags."""
    spans: list[tuple[str, int, int]] = []
    open_type: str | None = None
    begin = 0
    prev_prefix, prev_type = "O", ""
    for i, (prefix, type_) in enumerate(parsed):
        starts = _starts(prev_prefix, prev_type, prefix, type_)
        # An O or a new start closes the open entity; seqeval never ends one any other way
        # (an entity closed by E-/S- is followed by an O or by a start).
        if (prefix == "O" or starts) and open_type is not None:
            spans.append((open_type, begin, i))
            open_type = None
        if starts:
            open_type, begin = type_, i
        prev_prefix, prev_type = prefix, type_
    if open_type is not None:
        spans.append((open_type, begin, len(parsed)))
    return spans


def entities(tags: Sequence[str]) -> list[tuple[str, int, int]]:
    """Entity spans of one sentence, read as seqeval's default ``get_entities`` reads them.

    Args:
        tags: one sentence of IOB2 tags (E-/S- tags are read as seqeval reads them).

    Returns:
        ``(type, start, end_exclusive)`` per entity, in order.

    Example:
        >>> entities(["B-PER", "I-PER", "O", "I-LOC", "B-LOC"])
        [('PER', 0, 2), ('LOC', 3, 4), ('LOC', 4, 5)]
    """
    return _spans(_parse(tags, "entities()"))


def detect_scheme(sentences: Iterable[Sequence[str]]) -> str:
    """Guess the tag scheme of a corpus.

    ``'bmes'`` if any M- tag occurs; ``'bioes'`` if any E-/S- tag does; else ``'iob1'`` if an
    ``I-X`` ever starts an entity (at sentence start, after ``O`` or after another type); else
    ``'iob2'``.

    Args:
        sentences: the tags of each sentence (read once, so a generator is fine).

    Example:
        >>> detect_scheme([["I-PER", "I-PER", "O"], ["B-LOC"]])
        'iob1'
    """
    i_starts = ends = False
    for index, tags in enumerate(sentences):
        prev_prefix, prev_type = "O", ""
        for prefix, type_ in _parse(tags, f"sentence {index}"):
            if prefix == "M":
                return "bmes"
            ends = ends or prefix in ("E", "S")
            if prefix == "I" and _starts(prev_prefix, prev_type, prefix, type_):
                i_starts = True
            prev_prefix, prev_type = prefix, type_
    return "bioes" if ends else "iob1" if i_starts else "iob2"


def to_iob2(tags: Sequence[str], scheme: str) -> list[str]:
    """Convert one sentence's tags from ``scheme`` to IOB2.

    Every token that starts an entity becomes ``B-X`` and every other entity token ``I-X``,
    so an ``I-X`` that starts an entity (IOB1, or invalid IOB2) becomes ``B-X`` -- the entities
    are those that seqeval's default mode reads from the input.

    Args:
        tags: one sentence's tags.
        scheme: one of SCHEMES, the scheme of ``tags``.

    Raises:
        ValueError: on an unknown scheme, an invalid tag, or an E-/S- tag outside ``'bioes'``.

    Example:
        >>> to_iob2(["I-PER", "I-PER", "B-PER", "O"], "iob1")
        ['B-PER', 'I-PER', 'B-PER', 'O']
        >>> to_iob2(["S-LOC", "B-PER", "E-PER"], "bioes")
        ['B-LOC', 'B-PER', 'I-PER']
    """
    _check_scheme(scheme, "to_iob2()")
    parsed = _parse(tags, "to_iob2()")
    out = []
    prev_prefix, prev_type = "O", ""
    for i, (prefix, type_) in enumerate(parsed):
        if prefix in ("E", "S") and scheme not in ("bioes", "bmes"):
            raise ValueError(
                f"to_iob2(), token {i}: tag {tags[i]!r} is not valid in scheme {scheme!r}; "
                "E-/S- tags belong to 'bioes' or 'bmes' (use detect_scheme() to find the "
                "scheme)."
            )
        if prefix == "M" and scheme != "bmes":
            raise ValueError(
                f"to_iob2(), token {i}: tag {tags[i]!r} is not valid in scheme {scheme!r}; "
                "M- tags belong to 'bmes' (use detect_scheme() to find the scheme)."
            )
        if prefix == "O":
            out.append("O")
        elif _starts(prev_prefix, prev_type, prefix, type_):
            out.append(f"B-{type_}")
        else:
            out.append(f"I-{type_}")
        prev_prefix, prev_type = prefix, type_
    return out


def from_iob2(tags: Sequence[str], scheme: str) -> list[str]:
    """Convert one sentence's IOB2 tags to ``scheme``.

    The entities are read as ``entities`` reads them and written in the target scheme, so the
    output is always valid in it (for valid IOB2 and ``'iob2'`` that is a plain copy).
    IOB1 uses ``B-X`` only for an entity right after another of the same type; BIOES writes
    ``S-X`` for one-token entities and ends longer ones with ``E-X``; BMES does the same with
    ``M-X`` inside.

    Args:
        tags: one sentence of IOB2 tags.
        scheme: one of SCHEMES, the scheme to write.

    Example:
        >>> from_iob2(["B-PER", "B-PER", "I-PER", "O", "B-LOC"], "iob1")
        ['I-PER', 'B-PER', 'I-PER', 'O', 'I-LOC']
        >>> from_iob2(["B-PER", "B-PER", "I-PER", "O", "B-LOC"], "bioes")
        ['S-PER', 'B-PER', 'E-PER', 'O', 'S-LOC']
    """
    _check_scheme(scheme, "from_iob2()")
    out = ["O"] * len(tags)
    prev_end, prev_type = -1, ""
    for type_, start, end in _spans(_parse(tags, "from_iob2()")):
        out[start:end] = [f"I-{type_}"] * (end - start)
        if scheme == "iob2":
            out[start] = f"B-{type_}"
        elif scheme == "iob1":
            if prev_end == start and prev_type == type_:
                out[start] = f"B-{type_}"
        elif end - start == 1:
            out[start] = f"S-{type_}"
        else:
            if scheme == "bmes":
                out[start + 1 : end - 1] = [f"M-{type_}"] * (end - start - 2)
            out[start], out[end - 1] = f"B-{type_}", f"E-{type_}"
        prev_end, prev_type = end, type_
    return out


def _check_pairs(true: Sequence[Sequence[str]], pred: Sequence[Sequence[str]], name: str) -> None:
    """Raise ValueError when ``true`` and ``pred`` do not pair up sentence by sentence."""
    if len(true) != len(pred):
        raise ValueError(
            f"{name}: 'true' has {len(true)} sentences but 'pred' has {len(pred)}; "
            "pass the predictions for the same sentences, in the same order."
        )
    for index, (t, p) in enumerate(zip(true, pred, strict=True)):
        if len(t) != len(p):
            raise ValueError(
                f"{name}: sentence {index} has {len(t)} true tags but {len(p)} predicted tags; "
                "predict one tag per token (check tokenization and sub-word alignment)."
            )


def _divide(numerator: int, denominator: int) -> float:
    """``numerator / denominator``, or 0.0 for a zero denominator (seqeval's default)."""
    return numerator / denominator if denominator else 0.0


def _prf(correct: int, n_pred: int, n_true: int) -> tuple[float, float, float]:
    """Precision, recall and F1, with seqeval's exact arithmetic (so scores match bit for bit)."""
    precision = _divide(correct, n_pred)
    recall = _divide(correct, n_true)
    denom = precision + recall
    f1 = 2 * precision * recall / denom if denom else 0.0
    return precision, recall, f1


def entity_metrics(true: Sequence[Sequence[str]], pred: Sequence[Sequence[str]]) -> dict[str, Any]:
    """Entity-level precision, recall and F1 over sentences of IOB2 tags, as seqeval computes.

    An entity counts as correct only when its type, start and end all match. Entities never
    cross sentence boundaries. A zero division gives 0.0, as in seqeval by default.

    Args:
        true: the gold tags, one sequence per sentence.
        pred: the predicted tags, same shape as ``true``.

    Returns:
        A JSON-ready dict: ``precision``, ``recall``, ``f1`` (micro over all entities),
        ``f1_macro`` (mean per-type F1 over types in ``true`` or ``pred``), ``accuracy``
        (token-level tag accuracy), ``support`` (number of true entities) and ``per_type``:
        ``{type: {"precision", "recall", "f1", "support"}}`` sorted by type.

    Raises:
        ValueError: when the sentence counts or a sentence's lengths differ, or a tag is invalid.

    Example:
        >>> m = entity_metrics([["B-PER", "I-PER", "O"]], [["B-PER", "O", "O"]])
        >>> m["f1"], m["accuracy"]
        (0.0, 0.6666666666666666)
    """
    _check_pairs(true, pred, "entity_metrics()")
    true_spans: dict[str, set[tuple[int, int, int]]] = {}
    pred_spans: dict[str, set[tuple[int, int, int]]] = {}
    n_tokens = n_equal = 0
    for index, (t, p) in enumerate(zip(true, pred, strict=True)):
        where = f"entity_metrics(), sentence {index}"
        for spans, tags in ((true_spans, t), (pred_spans, p)):
            for type_, start, end in _spans(_parse(tags, where)):
                spans.setdefault(type_, set()).add((index, start, end))
        n_tokens += len(t)
        n_equal += sum(a == b for a, b in zip(t, p, strict=True))

    per_type: dict[str, dict[str, float | int]] = {}
    for type_ in sorted(true_spans.keys() | pred_spans.keys()):
        gold, guess = true_spans.get(type_, set()), pred_spans.get(type_, set())
        precision, recall, f1 = _prf(len(gold & guess), len(guess), len(gold))
        per_type[type_] = {"precision": precision, "recall": recall, "f1": f1, "support": len(gold)}

    correct = sum(len(s & pred_spans.get(k, set())) for k, s in true_spans.items())
    n_true = sum(len(s) for s in true_spans.values())
    n_pred = sum(len(s) for s in pred_spans.values())
    precision, recall, f1 = _prf(correct, n_pred, n_true)
    # np.mean, not sum()/n: seqeval averages with numpy, and the summation order matters in
    # the last bit.
    f1s = [scores["f1"] for scores in per_type.values()]
    f1_macro = float(np.mean(f1s)) if f1s else 0.0
    return {
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "f1_macro": f1_macro,
        "accuracy": _divide(n_equal, n_tokens),
        "support": n_true,
        "per_type": per_type,
    }


def type_confusion(
    true: Sequence[Sequence[str]], pred: Sequence[Sequence[str]]
) -> tuple[list[str], np.ndarray]:
    """Token-level confusion of entity types (prefixes dropped), for a chart.

    Args:
        true: the gold tags, one sequence per sentence.
        pred: the predicted tags, same shape as ``true``.

    Returns:
        ``(labels, matrix)``: ``labels`` are the sorted types then ``"O"``; ``matrix[i, j]``
        counts tokens of true type ``labels[i]`` predicted as ``labels[j]`` (int64).

    Example:
        >>> labels, m = type_confusion([["B-PER", "I-PER", "O"]], [["B-PER", "B-LOC", "O"]])
        >>> labels, m.tolist()
        (['LOC', 'PER', 'O'], [[0, 0, 0], [1, 1, 0], [0, 0, 1]])
    """
    _check_pairs(true, pred, "type_confusion()")
    pairs: list[tuple[str, str]] = []
    for index, (t, p) in enumerate(zip(true, pred, strict=True)):
        where = f"type_confusion(), sentence {index}"
        pairs.extend(
            (a or "O", b or "O")
            for (_, a), (_, b) in zip(_parse(t, where), _parse(p, where), strict=True)
        )
    types = sorted({name for pair in pairs for name in pair if name != "O"})
    labels = [*types, "O"]
    position = {name: i for i, name in enumerate(labels)}
    matrix = np.zeros((len(labels), len(labels)), dtype=np.int64)
    for a, b in pairs:
        matrix[position[a], position[b]] += 1
    return labels, matrix

"""A backbone's vocabulary against the training text: unknown tokens, and trimming to the
pieces the text uses (`model.trim_vocab`).

A multilingual encoder carries most of its parameters in its embedding table
(multilingual-e5-small: 96 M of 118 M, 250,037 pieces x 384). Text in one or two languages
uses a few thousand of those pieces; `trim_backbone` keeps them (plus a reserve of the most
frequent pieces of the text's scripts, so unseen words still split into known pieces) and
writes a smaller backbone folder: embedding rows and tokenizer renumbered together. Pieces
that are gone are never looked up: the tokenizer splits a word into the pieces it still has,
or, for a character it has none for, into its unknown token.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from trainforge.data.language import Scripts, script_of
from trainforge.errors import ConfigError
from trainforge.models.cache import converted

# (tokenizer, at most this many texts or None for all) -> the token ids (no special tokens)
# of the training text, as the task cuts it; a sample is spread over the data.
Encode = Callable[[Any, int | None], Iterable[Sequence[int]]]
CHECKED = 2000  # texts the trimmed tokenizer must cut exactly as the original


def unknown_share(tokenizer: Any, ids: Iterable[Sequence[int]]) -> float:
    """Share of tokens that are the tokenizer's unknown token."""
    unk = tokenizer.unk_token_id
    total = unknown = 0
    for row in ids:
        total += len(row)
        unknown += sum(1 for i in row if i == unk) if unk is not None else 0
    return unknown / total if total else 0.0


def trim_backbone(
    folder: str, tokenizer: Any, encode: Encode, reserve: int, scripts: Scripts
) -> tuple[str, dict[str, Any]]:
    """A copy of the backbone in `folder` that keeps only the pieces the training text uses,
    the special tokens and `reserve` frequent pieces of its scripts; (folder, statistics).

    The copy is cached by its pieces: a second run on the same data reuses it."""
    state = json.loads(tokenizer.backend_tokenizer.to_str())
    kind = state["model"]["type"]
    if kind not in ("Unigram", "WordPiece"):
        raise ConfigError(
            f"model.trim_vocab works on Unigram and WordPiece tokenizers; this backbone's "
            f"tokenizer is {kind}",
            where="model.trim_vocab",
            fix="Set model.trim_vocab: false for this backbone",
        )
    used: Counter[int] = Counter()
    for row in encode(tokenizer, None):
        used.update(row)
    keep = set(used) | set(tokenizer.all_special_ids)
    keep |= {token["id"] for token in state.get("added_tokens", [])}
    keep |= set(_reserve(state, reserve, scripts, keep))
    kept = np.array(sorted(keep), dtype=np.int64)
    size = len(tokenizer)
    digest = hashlib.sha1(kept.tobytes() + str(Path(folder).resolve()).encode()).hexdigest()
    name = f"trimmed/{Path(folder).name}-{len(kept)}-{digest[:12]}"

    def build(work: Path) -> None:
        _write_trimmed(folder, state, kept, work)
        _check_same_tokens(tokenizer, str(work), kept, encode)

    trimmed = converted(name, build)
    stats = {
        "pieces_before": size,
        "pieces_after": len(kept),
        "pieces_used_by_training_text": len(used),
        "reserve": reserve,
    }
    return str(trimmed), stats


def _reserve(state: dict[str, Any], n: int, scripts: Scripts, keep: set[int]) -> list[int]:
    """The `n` most frequent pieces (not yet kept) whose letters are in the text's scripts.

    Unigram pieces come with their log-probability; WordPiece vocabularies are listed roughly
    by frequency, so there the lowest ids count as the most frequent."""
    if n <= 0:
        return []
    wanted = {s for s, count in scripts.counts.items() if count >= 0.01 * scripts.letters}
    model = state["model"]
    if model["type"] == "Unigram":
        order = sorted(range(len(model["vocab"])), key=lambda i: -model["vocab"][i][1])
        pieces = {i: model["vocab"][i][0] for i in order}
    else:
        pieces = {i: piece for piece, i in sorted(model["vocab"].items(), key=lambda p: p[1])}
        order = list(pieces)
    chosen = []
    for i in order:
        if i in keep:
            continue
        letters = {script_of(c) for c in pieces[i]} - {None}
        if letters and letters <= wanted:
            chosen.append(i)
            if len(chosen) == n:
                break
    return chosen


def _write_trimmed(source: str, state: dict[str, Any], kept: np.ndarray, work: Path) -> None:
    from transformers import AutoModel

    new_id = {int(old): new for new, old in enumerate(kept)}
    model = state["model"]
    if model["type"] == "Unigram":
        model["vocab"] = [model["vocab"][old] for old in kept]
        if model.get("unk_id") is not None:
            model["unk_id"] = new_id[model["unk_id"]]
    else:
        model["vocab"] = {piece: new_id[i] for piece, i in model["vocab"].items() if i in new_id}
    for token in state.get("added_tokens", []):
        token["id"] = new_id[token["id"]]
    _renumber(state.get("post_processor"), new_id)
    if state.get("padding"):
        state["padding"]["pad_id"] = new_id.get(state["padding"]["pad_id"], 0)

    from transformers.utils import logging

    verbosity = logging.get_verbosity()
    logging.set_verbosity_error()  # a backbone without its pooler reports it missing: fine
    try:
        encoder = AutoModel.from_pretrained(source)
    finally:
        logging.set_verbosity(verbosity)
    old = encoder.get_input_embeddings()
    embedding = type(old)(len(kept), old.embedding_dim, padding_idx=None)
    embedding.weight.data = old.weight.data[kept].clone()
    encoder.set_input_embeddings(embedding)
    config = encoder.config
    config.vocab_size = len(kept)
    for key in ("pad_token_id", "bos_token_id", "eos_token_id", "sep_token_id", "cls_token_id"):
        value = getattr(config, key, None)
        if isinstance(value, int) and value in new_id:
            setattr(config, key, new_id[value])
    if config.pad_token_id is not None:
        embedding.padding_idx = config.pad_token_id
    encoder.save_pretrained(work)

    (work / "tokenizer.json").write_text(json.dumps(state, ensure_ascii=False), encoding="utf-8")
    for name in ("tokenizer_config.json", "special_tokens_map.json", "NOTICE", "LICENSE"):
        if (Path(source) / name).is_file():
            shutil.copyfile(Path(source) / name, work / name)
    config_file = work / "tokenizer_config.json"
    if config_file.is_file():  # its id-keyed table of added tokens would point at old ids
        settings = json.loads(config_file.read_text(encoding="utf-8"))
        settings.pop("added_tokens_decoder", None)
        config_file.write_text(json.dumps(settings, indent=2), encoding="utf-8")
    (work / "README.md").write_text(
        f"# {Path(source).name}, vocabulary trimmed to {len(kept)} pieces\n\n"
        "Made by trainforge (`model.trim_vocab`): the embedding rows and tokenizer pieces that "
        "the training text uses, plus a reserve of frequent pieces of its scripts.\n",
        encoding="utf-8",
    )


def _renumber(node: Any, new_id: dict[int, int]) -> None:
    """Special-token ids inside a post-processor (template, RoBERTa/BERT style, sequence)."""
    if isinstance(node, list):
        for child in node:
            _renumber(child, new_id)
    elif isinstance(node, dict):
        for key, value in node.items():
            if key == "ids" and isinstance(value, list):
                node[key] = [new_id[i] for i in value]
            elif key in ("sep", "cls") and isinstance(value, list) and len(value) == 2:
                node[key] = [value[0], new_id[value[1]]]
            else:
                _renumber(value, new_id)


def _check_same_tokens(original: Any, folder: str, kept: np.ndarray, encode: Encode) -> None:
    """The trimmed tokenizer must cut the training text exactly as the original did."""
    from transformers import AutoTokenizer

    trimmed = AutoTokenizer.from_pretrained(folder, use_fast=True)
    for token in ("pad_token", "unk_token", "cls_token", "sep_token"):
        before, after = getattr(original, f"{token}_id", None), getattr(trimmed, f"{token}_id")
        if before is not None and int(kept[after]) != before:
            raise ConfigError(
                f"trimming renumbered the tokenizer's {token} inconsistently",
                where="model.trim_vocab",
                fix="Set model.trim_vocab: false for this backbone",
            )
    pairs = zip(encode(original, CHECKED), encode(trimmed, CHECKED), strict=True)
    for n, (a, b) in enumerate(pairs):
        if [int(i) for i in kept[list(b)]] != list(a):
            raise ConfigError(
                f"the trimmed tokenizer cuts training text {n} differently from the original",
                where="model.trim_vocab",
                fix="Set model.trim_vocab: false for this backbone",
            )

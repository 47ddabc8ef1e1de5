"""`trainforge preview` for text generation: conversations rendered by the backbone's chat
template, the tokens that carry loss marked, the counts cut to train.max_length, and how much
of the compute the length-grouped batches spend on padding (against packing the examples
into full sequences). With model.objective dpo an example is a preference pair, shown as its
chosen and its rejected sequence with the answer's tokens (those scored) marked."""

from __future__ import annotations

from typing import Any

from trainforge.config import ExperimentConfig
from trainforge.data.chat_tokens import IGNORE, Encoded, end_ids, ensure_template
from trainforge.tasks.preview import Piece, Preview, PreviewExample


def preview(cfg: ExperimentConfig, rows: int) -> Preview:
    """The first `rows` training conversations (or pairs) as training reads them (no weights
    loaded)."""
    from trainforge.data.conversations import read_conversations
    from trainforge.models.causal_lm import load_tokenizer
    from trainforge.tasks.generation.prepare import encode_splits, read_splits, status_counts

    if cfg.model.objective == "dpo":
        return _pairs(cfg, rows)
    if cfg.model.objective == "causal_lm":
        return _blocks(cfg, rows)
    sources = read_splits(cfg, read_conversations)
    tokenizer, generation = load_tokenizer(cfg.model.backbone)
    ensure_template(tokenizer, cfg.model.backbone, sources["train"].layout)
    encoded = encode_splits(tokenizer, sources, cfg, end_ids(tokenizer, generation))
    train = encoded["train"]
    examples = [
        _example(tokenizer, place, e)
        for place, e in zip(sources["train"].places[:rows], train[:rows], strict=True)
    ]
    counts = status_counts({split: [e.status for e in items] for split, items in encoded.items()})
    kept = [[e] for e in train if e.status != "dropped"]
    stats, notes = _token_stats(kept, cfg)
    return Preview(cfg.task, cfg.train.max_length, examples, counts, stats, notes)


def _pairs(cfg: ExperimentConfig, rows: int) -> Preview:
    """The first `rows` training pairs, each as its chosen and its rejected sequence."""
    from trainforge.data.preferences import read_preferences
    from trainforge.models.causal_lm import load_tokenizer
    from trainforge.tasks.generation.prepare import read_splits, status_counts
    from trainforge.tasks.generation.prepare_dpo import encode_pairs, pair_status, template_layout

    sources = read_splits(cfg, read_preferences)
    tokenizer, generation = load_tokenizer(cfg.model.backbone)
    ensure_template(tokenizer, cfg.model.backbone, template_layout(sources["train"]))
    encoded = encode_pairs(tokenizer, sources, cfg, end_ids(tokenizer, generation))
    train = encoded["train"]
    examples = [
        _example(tokenizer, f"{place} ({side})", e)
        for place, pair in zip(sources["train"].places[:rows], train[:rows], strict=True)
        for side, e in zip(("chosen", "rejected"), pair, strict=True)
    ]
    counts = status_counts(
        {split: [pair_status(p) for p in pairs] for split, pairs in encoded.items()}
    )
    kept = [list(pair) for pair in train if pair_status(pair) != "dropped"]
    stats, notes = _token_stats(kept, cfg)
    notes.append(
        "model.objective dpo: an example is a pair; its chosen and rejected sequences share a "
        "batch, and the marked tokens are the answer's, whose log-probability the loss compares"
    )
    return Preview(cfg.task, cfg.train.max_length, examples, counts, stats, notes)


def _blocks(cfg: ExperimentConfig, rows: int) -> Preview:
    """The first `rows` training blocks of continued pre-training (every token carries loss)."""
    from trainforge.data.corpus import read_corpus
    from trainforge.models.causal_lm import load_tokenizer
    from trainforge.tasks.generation.prepare import read_splits
    from trainforge.tasks.generation.pretrain import separator, text_blocks

    sources = read_splits(cfg, read_corpus)
    tokenizer, generation = load_tokenizer(cfg.model.backbone)
    between = separator(tokenizer, end_ids(tokenizer, generation))
    blocks = {
        split: [
            Encoded(ids, labels, "kept")
            for ids, labels in text_blocks(tokenizer, corpus, cfg.train.max_length, between)
        ]
        for split, corpus in sources.items()
    }
    source = sources["train"].source
    examples = [
        _example(tokenizer, f"{source} block {n}", block)
        for n, block in enumerate(blocks["train"][:rows], start=1)
    ]
    counts = {
        split: {"kept": len(items), "truncated": 0, "dropped": 0} for split, items in blocks.items()
    }
    stats, notes = _token_stats([[block] for block in blocks["train"]], cfg)
    documents = {split: len(corpus) for split, corpus in sources.items()}
    notes.append(
        "model.objective causal_lm: the documents (train "
        f"{documents['train']:,}) are joined, {tokenizer.decode([between])!r} between them, and "
        f"cut into blocks of {cfg.train.max_length} tokens; the counts are blocks"
    )
    return Preview(cfg.task, cfg.train.max_length, examples, counts, stats, notes)


def _example(tokenizer: Any, place: str, encoded: Encoded) -> PreviewExample:
    """The example cut into runs of tokens that all carry loss or none does."""
    pieces: list[Piece] = []
    run: list[int] = []
    trained = False
    # The first token is predicted by nothing: it never carries loss.
    flags = [False] + [label != IGNORE for label in encoded.labels[1:]]
    for token, flag in zip(encoded.input_ids, flags, strict=True):
        if run and flag != trained:
            pieces.append(Piece(tokenizer.decode(run), trained))
            run = []
        run.append(token)
        trained = flag
    if run:
        pieces.append(Piece(tokenizer.decode(run), trained))
    return PreviewExample(
        place=place,
        pieces=pieces,
        tokens=len(encoded.input_ids),
        trained_tokens=sum(flags),
        status=encoded.status,
    )


def _token_stats(
    examples: list[list[Encoded]], cfg: ExperimentConfig
) -> tuple[dict[str, float], list[str]]:
    """Lengths, the share of tokens that carry loss, and the padding of one epoch's batches
    as training cuts them against packing into train.max_length sequences.

    Each example is its sequences (one conversation, or a pair's two), batched together and
    padded to the batch's longest.
    """
    import numpy as np

    from trainforge.training.text_data import LengthGroupedBatchSampler

    if not examples:
        return {}, ["no training example is kept"]
    batch, max_length = cfg.train.batch_size, cfg.train.max_length
    sequences = [e for example in examples for e in example]
    lengths = [len(e.input_ids) for e in sequences]
    widths = [max(len(e.input_ids) for e in example) for example in examples]
    if cfg.train.group_by_length:
        batches = list(LengthGroupedBatchSampler(widths, batch, cfg.train.seed))
    else:
        order = np.random.default_rng(cfg.train.seed).permutation(len(widths))
        batches = [order[i : i + batch].tolist() for i in range(0, len(order), batch)]
    real = sum(lengths)
    computed = sum(max(widths[i] for i in b) * sum(len(examples[i]) for i in b) for b in batches)
    trained = sum(sum(label != IGNORE for label in e.labels[1:]) for e in sequences)
    packed = -(-real // max_length)
    stats: dict[str, float] = {
        "examples": len(examples),
        "tokens": real,
        "tokens_with_loss": trained,
        "share_with_loss": trained / real,
        "length_mean": real / len(lengths),
        "length_max": max(lengths),
        "padding_share": 1 - real / computed,
        "packed_sequences": packed,
    }
    grouping = "length-grouped" if cfg.train.group_by_length else "shuffled"
    notes = [
        f"{grouping} batches of {batch} compute {computed:,} token positions for {real:,} real "
        f"tokens ({stats['padding_share']:.1%} padding); packed into {packed:,} sequences of "
        f"{max_length} tokens they would compute no padding, but attention over "
        f"{max_length}-token sequences costs more per token than over the "
        f"{stats['length_mean']:.0f}-token examples"
    ]
    return stats, notes

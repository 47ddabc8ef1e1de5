"""Continued pre-training of a causal language model on unlabelled text
(`model.objective: causal_lm`): domain adaptation before fine-tuning.

The documents (`trainforge.data.corpus`) are split by document (no document is in two
splits), tokenised, joined with the end-of-text token between them and cut into blocks of
train.max_length tokens, as the transformers `run_clm` recipe does: every block is full, so
no compute is spent on padding, and every token carries loss. Training runs in the Lightning
loop with `model.finetune` full or lora; validation and test report loss and perplexity. The
package is an ordinary generation package (merged weights in `hf/`), and a valid
`model.backbone` for a later run: `text_generation` with `sft` or `dpo` on the adapted model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from trainforge.config import ExperimentConfig
from trainforge.data.corpus import Corpus, read_corpus
from trainforge.errors import DataError
from trainforge.tasks.family import FitOptions, Fitted, LoadPackage, Prepared
from trainforge.tasks.generation.model import GenerationModel
from trainforge.tasks.generation.target import GenerationTarget

Block = tuple[list[int], list[int]]


def prepare(cfg: ExperimentConfig, load_package: LoadPackage) -> Prepared:
    """Read the documents, load the backbone, cut the token stream of each split into blocks."""
    from trainforge.data.chat_tokens import end_ids
    from trainforge.models import finetune
    from trainforge.models.causal_lm import load_causal_lm, save_causal_lm
    from trainforge.tasks.generation.prepare import package_manifest, read_splits, training_steps
    from trainforge.training.seeding import seed_all

    sources = read_splits(cfg, read_corpus)
    tokenizer, net = load_causal_lm(cfg.model.backbone)
    ends = end_ids(tokenizer, net.encoder.generation_config)
    between = separator(tokenizer, ends)
    blocks = {
        split: text_blocks(tokenizer, corpus, cfg.train.max_length, between)
        for split, corpus in sources.items()
    }
    blocks = {split: rows for split, rows in blocks.items() if rows}
    if "train" not in blocks:
        raise DataError(
            "the training documents give fewer than 2 tokens",
            where=sources["train"].source,
            fix="Give more text to train on",
        )
    target = GenerationTarget()
    seed_all(cfg.train.seed)
    finetune.prepare(net, cfg.model, training_steps(len(blocks["train"]), cfg))
    model = GenerationModel(cfg, tokenizer, target, net, ends)
    tokens = {split: sum(len(ids) for ids, _ in rows) for split, rows in blocks.items()}

    def fit(run_dir: Path, options: FitOptions) -> Fitted:
        from trainforge.tasks.generation.prepare import batch_loader
        from trainforge.training.fit import fit_network

        loaders = (
            batch_loader(blocks["train"], cfg, model.pad_id, train=True),
            batch_loader(blocks["validation"], cfg, model.pad_id, train=False)
            if "validation" in blocks
            else None,
        )
        fitted = fit_network(
            net,
            target,
            cfg.train,
            loaders,
            run_dir,
            options,
            callbacks=finetune.fit_callbacks(cfg.model),
        )
        fitted.extra |= {f"{split}_tokens": n for split, n in tokens.items()}
        return fitted

    def evaluate(split: str) -> tuple[np.ndarray, np.ndarray]:
        from trainforge.models.causal_lm import answer_nll

        scores = answer_nll(net, blocks[split], cfg.train.eval_batch_size, model.pad_id)
        output = [{"nll": nll, "tokens": n, "generated": None} for nll, n in scores]
        return np.asarray([""] * len(output), dtype=object), np.asarray(output, dtype=object)

    def write_files(folder: Path) -> None:
        if not cfg.model.peft.adapter_only:
            finetune.merge(net)
        save_causal_lm(folder, net, tokenizer, ends, cfg.model.peft.adapter_only)

    manifest = package_manifest(cfg, net, sources["train"].layout, {})
    manifest["examples"] = {
        split: {"documents": len(sources[split]), "blocks": len(rows), "tokens": tokens[split]}
        for split, rows in blocks.items()
    }
    return Prepared(
        model=model,
        rows={split: len(rows) for split, rows in blocks.items()},
        fit=fit,
        evaluate=evaluate,
        manifest=manifest,
        write_files=write_files,
    )


def text_blocks(tokenizer: Any, corpus: Corpus, length: int, separator: int) -> list[Block]:
    """The corpus's documents as one token stream, `separator` after each, cut into blocks of
    `length` tokens (the last one shorter); labels are the tokens themselves.

    Example:
        >>> text_blocks(tokenizer, corpus, 256, tokenizer.eos_token_id)[0][0][:3]
        [4083, 5250, 2422]
    """
    stream: list[int] = []
    for text in corpus.texts:
        stream += tokenizer(text, add_special_tokens=False)["input_ids"]
        stream.append(separator)
    blocks = [stream[start : start + length] for start in range(0, len(stream), length)]
    # A block of one token predicts nothing.
    return [(block, list(block)) for block in blocks if len(block) > 1]


def separator(tokenizer: Any, ends: list[int]) -> int:
    """The token between documents: the tokenizer's end of text, else the model's first end."""
    for name in ("eos_token_id", "bos_token_id"):
        value = getattr(tokenizer, name, None)
        if isinstance(value, int):
            return value
    return ends[0]

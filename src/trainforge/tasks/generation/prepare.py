"""Supervised fine-tuning of a causal language model on conversations (`model.objective: sft`).

Rows are read and checked in any layout (`trainforge.data.conversations`), split, rendered by
the backbone's chat template with the loss on the assistant's tokens
(`trainforge.data.chat_tokens`), batched by length and trained in the Lightning loop with
`model.finetune` full or lora. Validation reports loss and perplexity each epoch; the test
split is also answered (greedy by default) and the answers scored.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from trainforge.config import DataConfig, ExperimentConfig
from trainforge.data.chat_tokens import Encoded, encode, end_ids, ensure_template, fit_length
from trainforge.data.conversations import Conversations, prompt_turns, read_conversations
from trainforge.data.corpus import Corpus
from trainforge.data.preferences import Preferences
from trainforge.errors import DataError
from trainforge.tasks.family import FitOptions, Fitted, LoadPackage, Prepared
from trainforge.tasks.generation.model import GenerationModel
from trainforge.tasks.generation.target import GenerationTarget

log = logging.getLogger(__name__)
# The rows of a split: conversations (sft), preference pairs (dpo) or documents (causal_lm).
Rows = TypeVar("Rows", Conversations, Preferences, Corpus)


def prepare(cfg: ExperimentConfig, load_package: LoadPackage) -> Prepared:
    """Read and check the conversations, load the backbone, tokenise with its template."""
    from trainforge.models import finetune
    from trainforge.models.causal_lm import load_causal_lm, save_causal_lm
    from trainforge.training.seeding import seed_all

    sources = read_splits(cfg, read_conversations)
    tokenizer, net = load_causal_lm(cfg.model.backbone)
    ensure_template(tokenizer, cfg.model.backbone, sources["train"].layout)
    ends = end_ids(tokenizer, net.encoder.generation_config)
    encoded = encode_splits(tokenizer, sources, cfg, ends)
    statuses = {split: [e.status for e in rows] for split, rows in encoded.items()}
    counts = cut_counts(statuses, cfg)
    kept = kept_rows(statuses, cfg, sources["train"].source)
    references = {
        split: [prompt_turns(sources[split].messages[i])[1] or "" for i in rows]
        for split, rows in kept.items()
    }
    target = GenerationTarget().fit(references["train"])
    seed_all(cfg.train.seed)
    finetune.prepare(net, cfg.model, training_steps(len(kept["train"]), cfg))
    model = GenerationModel(cfg, tokenizer, target, net, ends)
    adapter_only = cfg.model.peft.adapter_only

    def rows(split: str) -> list[tuple[list[int], list[int]]]:
        return [(encoded[split][i].input_ids, encoded[split][i].labels) for i in kept[split]]

    # The starting model's answers to the test prompts the report shows, beside the tuned ones.
    starting: list[str] = []

    def fit(run_dir: Path, options: FitOptions) -> Fitted:
        from trainforge.tasks.generation.report import MAX_SHOWN
        from trainforge.training.fit import fit_network

        if "test" in kept:
            shown = sources["test"].subset(kept["test"][:MAX_SHOWN])
            asked = [prompt_turns(turns)[0] for turns in shown.messages]
            starting[:] = model.answer(asked, shown.places)

        loaders = (
            batch_loader(rows("train"), cfg, model.pad_id, train=True),
            batch_loader(rows("validation"), cfg, model.pad_id, train=False)
            if kept.get("validation")
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
        fitted.extra |= {key: value for key, value in counts.items() if value}
        return fitted

    def evaluate(split: str) -> tuple[np.ndarray, np.ndarray]:
        from trainforge.models.causal_lm import answer_nll

        scores = answer_nll(net, rows(split), cfg.train.eval_batch_size, model.pad_id)
        generated: list[str | None] = [None] * len(scores)
        if split == "test":  # validation is scored by its loss: generating is slow
            conversations = sources[split].subset(kept[split])
            asked = [prompt_turns(turns)[0] for turns in conversations.messages]
            generated = list(model.answer(asked, conversations.places))
        output = [
            {"nll": nll, "tokens": n, "generated": text}
            for (nll, n), text in zip(scores, generated, strict=True)
        ]
        return np.asarray(references[split], dtype=object), np.asarray(output, dtype=object)

    def write_files(folder: Path) -> None:
        if not adapter_only:
            finetune.merge(net)
        save_causal_lm(folder, net, tokenizer, ends, adapter_only)

    def report_sections(plots_dir: Path, results: list[Any]) -> list[str]:
        from trainforge.tasks.generation.report import sample_sections

        def prompts(split: str) -> list[Any]:
            return [prompt_turns(sources[split].messages[i])[0] for i in kept[split]]

        return sample_sections(prompts, results, starting)

    return Prepared(
        model=model,
        rows={split: len(r) for split, r in kept.items()},
        fit=fit,
        evaluate=evaluate,
        manifest=package_manifest(cfg, net, sources["train"].layout, statuses),
        write_files=write_files,
        report_sections=report_sections,
    )


def package_manifest(
    cfg: ExperimentConfig, net: Any, layout: str, statuses: Mapping[str, Sequence[str]]
) -> dict[str, Any]:
    """The task's entries of the package manifest (the same for every objective)."""
    from trainforge.models import finetune

    trainable, total = finetune.trainable_fraction(net)
    return {
        "network": {"kind": "causal_lm", "adapter_only": cfg.model.peft.adapter_only},
        "backbone": cfg.model.backbone,
        "finetune": cfg.model.finetune,
        "objective": cfg.model.objective,
        "layout": layout,
        "trainable_parameters": trainable,
        "total_parameters": total,
        "examples": status_counts(statuses),
    }


def training_steps(examples: int, cfg: ExperimentConfig) -> int:
    """Optimiser steps of the whole run (LoRA's and the schedules' horizon)."""
    batches = -(-examples // cfg.train.batch_size)
    return min(batches * cfg.train.epochs, cfg.train.max_steps or batches * cfg.train.epochs)


def read_splits(cfg: ExperimentConfig, read: Callable[[str, DataConfig], Rows]) -> dict[str, Rows]:
    """The rows of every split as `read` reads and checks them (`read_conversations` or
    `read_preferences`); validation and test carved out of train where the config gives no
    file for them."""
    data = cfg.data
    sources = {"train": read(data.train, data)}
    for split in ("validation", "test"):
        spec = getattr(data, split)
        if spec is not None:
            sources[split] = read(spec, data)
    _split_missing(cfg, sources)
    return sources


def encode_splits(
    tokenizer: Any, sources: dict[str, Conversations], cfg: ExperimentConfig, ends: list[int]
) -> dict[str, list[Encoded]]:
    """Every conversation's tokens and labels, cut to train.max_length or dropped."""
    data, length = cfg.data, cfg.train.max_length
    encoded = {}
    for split, conversations in sources.items():
        out = []
        for turns, place in zip(conversations.messages, conversations.places, strict=True):
            ids, labels = encode(
                tokenizer, turns, place, ends=ends, train_on_inputs=data.train_on_inputs
            )
            out.append(fit_length(ids, labels, length, data.too_long))
        encoded[split] = out
    return encoded


def status_counts(statuses: Mapping[str, Sequence[str]]) -> dict[str, dict[str, int]]:
    """Per split, the examples kept whole, truncated and dropped (the package manifest's)."""
    return {
        split: {s: rows.count(s) for s in ("kept", "truncated", "dropped")}
        for split, rows in statuses.items()
    }


def cut_counts(
    statuses: Mapping[str, Sequence[str]], cfg: ExperimentConfig, noun: str = "conversation"
) -> dict[str, int]:
    """Examples truncated and dropped over all splits (logged, and kept in the metrics)."""
    truncated = sum(rows.count("truncated") for rows in statuses.values())
    dropped = sum(rows.count("dropped") for rows in statuses.values())
    length = cfg.train.max_length
    if truncated:
        log.warning(
            "%d %s(s) longer than train.max_length (%d tokens) were truncated",
            truncated,
            noun,
            length,
        )
    if dropped:
        log.warning(
            "%d %s(s) longer than train.max_length (%d tokens) were dropped", dropped, noun, length
        )
    return {"truncated_examples": truncated, "dropped_examples": dropped}


def kept_rows(
    statuses: Mapping[str, Sequence[str]],
    cfg: ExperimentConfig,
    source: str,
    noun: str = "conversation",
) -> dict[str, list[int]]:
    """The rows of each split that are not dropped; a validation or test split with none left
    is not scored (with a warning), a training split with none is an error."""
    kept = {
        split: [i for i, status in enumerate(rows) if status != "dropped"]
        for split, rows in statuses.items()
    }
    for split in ("validation", "test"):
        if split in kept and not kept[split]:
            log.warning(
                "every %s %s is longer than train.max_length (%d tokens): the %s split is not "
                "scored",
                split,
                noun,
                cfg.train.max_length,
                split,
            )
            del kept[split]
    if not kept["train"]:
        raise DataError(
            f"every training {noun} is longer than train.max_length "
            f"({cfg.train.max_length} tokens) and was dropped",
            where=source,
            fix="Raise train.max_length, or set data.too_long: truncate",
        )
    return kept


def _split_missing(cfg: ExperimentConfig, sources: dict[str, Rows]) -> None:
    """Carve validation / test rows out of train when those files are not given."""
    from trainforge.data.text import split_off

    split = cfg.data.split
    whole = 1.0
    for name, fraction in (("test", split.test), ("validation", split.validation)):
        if name in sources or fraction <= 0:
            continue
        train = sources["train"]
        kept, taken = split_off(len(train), fraction / whole, None, cfg.split_seed, train.source)
        sources[name] = train.subset(taken.tolist())
        sources["train"] = train.subset(kept.tolist())
        whole -= fraction


def batch_loader(
    rows: list[tuple[list[int], list[int]]], cfg: ExperimentConfig, pad: int, *, train: bool
) -> Any:
    """Batches of similar length (training) or in order, padded on the right."""
    from datasets import Dataset

    from trainforge.training.text_data import token_loader

    dataset = Dataset.from_dict(
        {
            "input_ids": [ids for ids, _ in rows],
            "attention_mask": [[1] * len(ids) for ids, _ in rows],
            "labels": [labels for _, labels in rows],
            "length": [len(ids) for ids, _ in rows],
        }
    )
    return token_loader(
        dataset,
        cfg.train.batch_size if train else cfg.train.eval_batch_size,
        pad,
        shuffle_seed=cfg.train.seed if train else None,
        group_by_length=cfg.train.group_by_length,
    )

"""Direct preference optimisation of a causal language model (`model.objective: dpo`).

Preference rows (prompt, chosen, rejected; `trainforge.data.preferences`) are read, checked
and split as SFT's conversations are; each pair becomes two sequences, the prompt followed by
either answer, rendered by the backbone's chat template with labels on the answer's tokens
alone (`trainforge.data.chat_tokens.encode` with `answers_from`), and cut to train.max_length
or dropped as a pair (`data.too_long`). Before the first step the starting model scores every
pair once: those are the reference log-probabilities (`trainforge.tasks.generation.dpo`).
Training runs in the Lightning loop with `PairScorer` as the network and the DPO loss as the
target's; validation logs the loss and the rewards each epoch, the test split is also
answered for the report. The package is SFT's: merged weights or the adapter alone.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from trainforge.config import ExperimentConfig
from trainforge.data.chat_tokens import (
    Encoded,
    Status,
    encode,
    end_ids,
    ensure_template,
    fit_length,
)
from trainforge.data.preferences import Preferences, read_preferences
from trainforge.tasks.family import FitOptions, Fitted, LoadPackage, Prepared
from trainforge.tasks.generation.model import GenerationModel
from trainforge.tasks.generation.prepare import (
    cut_counts,
    kept_rows,
    package_manifest,
    read_splits,
    training_steps,
)

NOUN = "preference pair"


def prepare(cfg: ExperimentConfig, load_package: LoadPackage) -> Prepared:
    """Read and check the pairs, load the backbone, tokenise both answers of each pair."""
    from trainforge.models import finetune
    from trainforge.models.causal_lm import load_causal_lm, save_causal_lm
    from trainforge.tasks.generation.dpo import PairScorer, PreferenceTarget
    from trainforge.training.seeding import seed_all

    sources = read_splits(cfg, read_preferences)
    tokenizer, net = load_causal_lm(cfg.model.backbone)
    ensure_template(tokenizer, cfg.model.backbone, template_layout(sources["train"]))
    ends = end_ids(tokenizer, net.encoder.generation_config)
    encoded = encode_pairs(tokenizer, sources, cfg, ends)
    statuses = {split: [pair_status(pair) for pair in rows] for split, rows in encoded.items()}
    counts = cut_counts(statuses, cfg, NOUN)
    kept = kept_rows(statuses, cfg, sources["train"].source, NOUN)
    pairs = {split: sources[split].subset(rows) for split, rows in kept.items()}
    chosen = {split: [turns[-1]["content"] for turns in p.chosen] for split, p in pairs.items()}
    dpo = cfg.model.dpo
    target = PreferenceTarget(dpo.beta, dpo.label_smoothing).fit(chosen["train"])
    seed_all(cfg.train.seed)
    finetune.prepare(net, cfg.model, training_steps(len(kept["train"]), cfg))
    model = GenerationModel(cfg, tokenizer, target, net, ends)
    scorer = PairScorer(net)
    batch, eval_batch, pad = cfg.train.batch_size, cfg.train.eval_batch_size, model.pad_id

    def tokens(split: str) -> list[Any]:
        return [
            ((c.input_ids, c.labels), (r.input_ids, r.labels))
            for c, r in (encoded[split][i] for i in kept[split])
        ]

    # Filled by `fit` with the starting model: each split's reference log-probabilities, and
    # its answers to the test prompts the report shows beside the tuned ones.
    reference: dict[str, np.ndarray] = {}
    starting: list[str] = []
    precision = ["32"]  # the training's, decided by `fit`

    def fit(run_dir: Path, options: FitOptions) -> Fitted:
        from trainforge.tasks.generation.dpo import pair_loader, score_pairs
        from trainforge.tasks.generation.report import MAX_SHOWN
        from trainforge.training.distributed import resolve_precision
        from trainforge.training.fit import fit_network

        precision[0] = resolve_precision(cfg.train, scorer)
        for split in kept:
            reference[split] = score_pairs(scorer, tokens(split), eval_batch, pad, precision[0])
        if "test" in pairs:
            shown = pairs["test"].subset(range(min(MAX_SHOWN, len(pairs["test"]))))
            starting[:] = model.answer(shown.prompts, shown.places)
        train = pair_loader(
            tokens("train"),
            reference["train"],
            batch,
            pad,
            shuffle_seed=cfg.train.seed,
            group_by_length=cfg.train.group_by_length,
        )
        validation = (
            pair_loader(tokens("validation"), reference["validation"], eval_batch, pad)
            if "validation" in kept
            else None
        )
        fitted = fit_network(
            scorer,
            target,
            cfg.train,
            (train, validation),
            run_dir,
            options,
            callbacks=finetune.fit_callbacks(cfg.model),
        )
        fitted.extra |= {key: value for key, value in counts.items() if value}
        return fitted

    def evaluate(split: str) -> tuple[np.ndarray, np.ndarray]:
        from trainforge.tasks.generation.dpo import score_pairs

        policy = score_pairs(scorer, tokens(split), eval_batch, pad, precision[0])
        generated: list[str | None] = [None] * len(policy)
        if split == "test":  # validation is scored by its pairs: generating is slow
            generated = list(model.answer(pairs[split].prompts, pairs[split].places))
        output = [
            {
                "chosen": float(logps[0]),
                "rejected": float(logps[1]),
                "reference": [float(v) for v in ref],
                "generated": text,
            }
            for logps, ref, text in zip(policy, reference[split], generated, strict=True)
        ]
        return np.asarray(chosen[split], dtype=object), np.asarray(output, dtype=object)

    def write_files(folder: Path) -> None:
        if not cfg.model.peft.adapter_only:
            finetune.merge(net)
        save_causal_lm(folder, net, tokenizer, ends, cfg.model.peft.adapter_only)

    def report_sections(plots_dir: Path, results: list[Any]) -> list[str]:
        from trainforge.tasks.generation.report import sample_sections

        def rejected(split: str) -> list[str]:
            return [turns[-1]["content"] for turns in pairs[split].rejected]

        return sample_sections(lambda split: pairs[split].prompts, results, starting, rejected)

    return Prepared(
        model=model,
        rows={split: len(rows) for split, rows in kept.items()},
        fit=fit,
        evaluate=evaluate,
        manifest=package_manifest(cfg, net, sources["train"].layout, statuses),
        write_files=write_files,
        report_sections=report_sections,
    )


def encode_pairs(
    tokenizer: Any, sources: dict[str, Preferences], cfg: ExperimentConfig, ends: list[int]
) -> dict[str, list[tuple[Encoded, Encoded]]]:
    """Each pair's (chosen, rejected) tokens and labels, on the answers' tokens alone, each cut
    to train.max_length or dropped (`fit_length`)."""
    length, too_long = cfg.train.max_length, cfg.data.too_long
    encoded = {}
    for split, rows in sources.items():
        out = []
        for prompt, *answers, place in zip(
            rows.prompts, rows.chosen, rows.rejected, rows.places, strict=True
        ):
            sides = []
            for answer in answers:
                ids, labels = encode(
                    tokenizer, prompt + answer, place, ends=ends, answers_from=len(prompt)
                )
                sides.append(fit_length(ids, labels, length, too_long))
            out.append((sides[0], sides[1]))
        encoded[split] = out
    return encoded


def pair_status(pair: tuple[Encoded, Encoded]) -> Status:
    """A pair is dropped when either answer is, truncated when either is."""
    chosen, rejected = pair
    if "dropped" in (chosen.status, rejected.status):
        return "dropped"
    return "truncated" if "truncated" in (chosen.status, rejected.status) else "kept"


def template_layout(pairs: Preferences) -> str:
    """'chat' where a row holds more than a user's turn and an answer (a system turn, several
    turns), which only a real chat template renders; else 'prompt_response'."""
    longer = any(len(p) > 1 for p in pairs.prompts) or any(
        len(a) > 1 for a in (*pairs.chosen, *pairs.rejected)
    )
    return "chat" if longer else "prompt_response"

"""Token classification (NER) with a pretrained transformer backbone.

The same backbones and ways to fit as text classification; the network is the backbone's
own token-classification model, so the package's `hf/` folder loads with
`AutoModelForTokenClassification`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from trainforge.config import ExperimentConfig
from trainforge.data.conll import Sentences, read_sentences
from trainforge.data.text import split_off
from trainforge.data.tokens import IGNORE, TokenInputs, Windows
from trainforge.tasks.family import FitOptions, Fitted, LoadPackage, Prepared
from trainforge.tasks.tagging import TaggingTarget
from trainforge.tasks.token.model import TokenModel


def prepare(cfg: ExperimentConfig, load_package: LoadPackage) -> Prepared:
    """Read and check the sentences, encode tags, cut windows, and load the backbone."""
    from trainforge.models import finetune
    from trainforge.models.text_package import network_spec, save_text_model
    from trainforge.models.transformer import TextClassifier, load_encoder
    from trainforge.tasks.text.backbone import choose_backbone, load_backbone

    data = cfg.data
    sentences = {"train": _read(cfg, data.train)}
    for split in ("validation", "test"):
        spec = getattr(data, split)
        if spec is not None:
            sentences[split] = _read(cfg, spec)
    train = sentences["train"]
    assert train.tags is not None, "read with need_tags"
    target = TaggingTarget(data.tag_scheme, cfg.train.class_weight, cfg.train.label_smoothing)
    target.fit_tags(train.tags, train.place, train.source)
    tags = {split: target.encode_tags(s.tags or [], s.place) for split, s in sentences.items()}
    _split_missing(cfg, sentences, tags)

    cfg, scripts = choose_backbone(cfg, ("".join(words) for words in sentences["train"].tokens))

    def encode(tokenizer: Any, limit: int | None) -> Any:
        words = sentences["train"].tokens
        if limit is not None:
            words = words[:: max(1, len(words) // limit)][:limit]
        return TokenInputs(tokenizer, cfg).words.subword_ids(words)

    backbone, tokenizer, vocabulary = load_backbone(cfg, scripts, encode, train.source)
    inputs = TokenInputs(tokenizer, cfg)
    continuation = target.continuation() if data.label_all_tokens else None
    windows = {
        split: inputs.words.windows(s.tokens, tags[split], continuation)
        for split, s in sentences.items()
    }
    from trainforge.training.seeding import seed_all

    seed_all(cfg.train.seed)
    encoder = load_encoder(backbone, "cls", target.labels_, target.n_outputs, False, tokens=True)
    net = TextClassifier(encoder, "cls", target.n_outputs, cfg.model.dropout)
    batches = -(-len(windows["train"]) // cfg.train.batch_size)
    steps = min(batches * cfg.train.epochs, cfg.train.max_steps or batches * cfg.train.epochs)
    finetune.prepare(net, cfg.model, steps)
    model = TokenModel(cfg, inputs, target, network=net)
    spec = network_spec(net, cfg, target.n_outputs, head="token")

    def fit(run_dir: Path, options: FitOptions) -> Fitted:
        fitted = _fit(model, cfg, windows, run_dir, options)
        fitted.extra["train_windows"] = len(windows["train"])
        return fitted

    def evaluate(split: str) -> tuple[Any, Any]:
        return tags[split], model.word_outputs(windows[split])

    def write_files(folder: Path) -> None:
        if not cfg.model.peft.adapter_only:
            finetune.merge(net)
        save_text_model(folder, net, inputs, spec)  # type: ignore[arg-type]

    trainable, total = finetune.trainable_fraction(net)
    return Prepared(
        model=model,
        rows={split: len(s) for split, s in sentences.items()},
        fit=fit,
        evaluate=evaluate,
        manifest={
            "network": spec,
            "backbone": cfg.model.backbone,
            "finetune": cfg.model.finetune,
            "tag_scheme": target.scheme_,
            "entity_types": target.types,
            "trainable_parameters": trainable,
            "total_parameters": total,
            **vocabulary,
        },
        write_files=write_files,
        config=cfg,
    )


def _read(cfg: ExperimentConfig, spec: str) -> Sentences:
    data = cfg.data
    return read_sentences(
        spec,
        format=data.format,
        token_column=data.token_column,
        tag_column=data.tag_column,
        encoding=data.encoding,
    )


def _split_missing(
    cfg: ExperimentConfig, sentences: dict[str, Sentences], tags: dict[str, list[np.ndarray]]
) -> None:
    """Carve validation / test sentences out of train when those files are not given."""
    split = cfg.data.split
    whole = 1.0
    for name, fraction in (("test", split.test), ("validation", split.validation)):
        if name in sentences or fraction <= 0:
            continue
        train = sentences["train"]
        kept, taken = split_off(len(train), fraction / whole, None, cfg.split_seed, train.source)
        sentences[name], sentences["train"] = train.subset(taken), train.subset(kept)
        tags[name] = [tags["train"][i] for i in taken]
        tags["train"] = [tags["train"][i] for i in kept]
        whole -= fraction


def _loader(windows: Windows, cfg: ExperimentConfig, pad_id: int, *, shuffle: bool) -> Any:
    from trainforge.training.text_data import token_loader

    return token_loader(
        windows.dataset(),
        cfg.train.batch_size if shuffle else cfg.train.eval_batch_size,
        pad_id,
        shuffle_seed=cfg.train.seed if shuffle else None,
        group_by_length=cfg.train.group_by_length,
    )


def _fit(
    model: TokenModel,
    cfg: ExperimentConfig,
    windows: dict[str, Windows],
    run_dir: Path,
    options: FitOptions,
) -> Fitted:
    from trainforge.models import finetune
    from trainforge.training.fit import fit_network

    if cfg.model.finetune == "frozen":
        return _fit_frozen(model, cfg, windows, run_dir, options)
    pad = model.inputs.tokenizer.pad_token_id or 0
    train = _loader(windows["train"], cfg, pad, shuffle=True)
    val = (
        _loader(windows["validation"], cfg, pad, shuffle=False) if "validation" in windows else None
    )
    return fit_network(
        model.network,
        model.target,
        cfg.train,
        (train, val),
        run_dir,
        options,
        callbacks=finetune.fit_callbacks(cfg.model),
    )


def _fit_frozen(
    model: TokenModel,
    cfg: ExperimentConfig,
    windows: dict[str, Windows],
    run_dir: Path,
    options: FitOptions,
) -> Fitted:
    """Compute the frozen backbone's features of every labelled token once; train the head."""
    import time

    import torch

    from trainforge.models.transformer import HeadOnly
    from trainforge.training.fit import fit_head

    encoder = model.network.encoder
    encoder.eval()
    start = time.perf_counter()
    features: dict[str, Any] = {}
    labels: dict[str, Any] = {}
    with torch.inference_mode():
        for split in ("train", "validation"):
            if split not in windows:
                continue
            chunks, truth = [], []
            for rows, batch in model.inputs.batches(windows[split], cfg.train.eval_batch_size):
                hidden = encoder.base_model(**batch).last_hidden_state
                for r, w in enumerate(rows):
                    row_labels = torch.as_tensor(windows[split].rows[w]["labels"])
                    keep = row_labels != IGNORE
                    chunks.append(hidden[r, : len(row_labels)][keep].float())
                    truth.append(row_labels[keep])
            features[split] = torch.cat(chunks).numpy()
            labels[split] = torch.cat(truth).numpy()
    embed_seconds = time.perf_counter() - start
    fitted = fit_head(
        HeadOnly(encoder.classifier),
        model.target,
        cfg.train,
        features,
        labels,
        run_dir,
        options,
    )
    fitted.extra["embedding_time_s"] = round(embed_seconds, 3)
    return fitted

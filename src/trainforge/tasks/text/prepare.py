"""Text classification (single- and multi-label) with a pretrained transformer backbone."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from trainforge.config import ExperimentConfig
from trainforge.data.language import SCRIPT_SAMPLE, Scripts
from trainforge.data.text import (
    TextInputs,
    TextSource,
    check_text,
    column_values,
    read_text,
    split_off,
    tokenize,
)
from trainforge.errors import DataError
from trainforge.tasks import make_target
from trainforge.tasks.classification import ClassificationTarget
from trainforge.tasks.family import FitOptions, Fitted, LoadPackage, Prepared
from trainforge.tasks.multilabel import MultiLabelTarget
from trainforge.tasks.text.model import TextModel


def prepare(cfg: ExperimentConfig, load_package: LoadPackage) -> Prepared:
    """Read and check the text files, encode labels, tokenise, and load the backbone."""
    data = cfg.data
    sources = {"train": read_text(data.train, data.encoding)}
    for split in ("validation", "test"):
        spec = getattr(data, split)
        if spec is not None:
            sources[split] = read_text(spec, data.encoding)
    for source in sources.values():
        check_text(source, data)
    target = make_target(cfg)
    assert isinstance(target, (ClassificationTarget, MultiLabelTarget)), "text tasks classify"
    train_labels = column_values(sources["train"].dataset, data.label_column)
    from trainforge.tasks.start import copy_weights, load_start

    old = load_start(cfg, load_package)  # model.init_from: an update starts from this package
    known = [*(old.target.labels_ if old is not None else ()), *(cfg.model.labels or ())]
    _check_named_labels(cfg, train_labels, sources["train"].source)
    if isinstance(target, ClassificationTarget):
        target.fit_values(train_labels, sources["train"].source, known)
    else:
        target.fit_values(train_labels, sources["train"].source)
    labels = {
        split: target.encode_values(
            train_labels if split == "train" else column_values(s.dataset, data.label_column),
            s.place,
        )
        for split, s in sources.items()
    }
    datasets = {split: s.dataset for split, s in sources.items()}
    _split_missing(cfg, datasets, labels, sources["train"])
    if data.shots is not None:
        from trainforge.data.split import sample_shots

        chosen = sample_shots(
            labels["train"], data.shots, cfg.train.seed, target.labels_, sources["train"].source
        )
        datasets["train"], labels["train"] = (
            datasets["train"].select(chosen),
            labels["train"][chosen],
        )

    from trainforge.models.prompt_lm import is_causal_lm

    if cfg.model.finetune == "prompt_lm" or is_causal_lm(cfg.model.backbone):
        from trainforge.tasks.text.prompt import prepare_prompt

        return prepare_prompt(cfg, datasets, labels, target)
    cfg, scripts, (backbone, tokenizer, vocabulary) = text_backbone(
        cfg, datasets["train"], sources["train"]
    )
    from trainforge.models.multilingual import text_prefix

    prefix = text_prefix(cfg.model.backbone, cfg.model.finetune)
    encoded = {
        split: tokenize(ds, tokenizer, data, cfg.train.max_length, _label_encoder(target), prefix)
        for split, ds in datasets.items()
    }
    from trainforge.training.seeding import seed_all

    seed_all(cfg.train.seed)
    net = _build_network(cfg, backbone, target)
    if cfg.model.finetune == "zero_shot":
        from trainforge.models.sentence import init_zero_shot, label_prompts

        prompts = [prefix + prompt for prompt in label_prompts(cfg, target.labels_, scripts)]
        init_zero_shot(net, tokenizer, prompts, cfg.train.max_length)
    if old is not None:
        copy_weights(net, old, target.labels_)
        del old
    from trainforge.models import finetune

    batches = -(-len(encoded["train"]) // cfg.train.batch_size)
    steps = min(batches * cfg.train.epochs, cfg.train.max_steps or batches * cfg.train.epochs)
    finetune.prepare(net, cfg.model, steps)
    inputs = TextInputs(
        tokenizer, data.text_column, data.text_pair_column, cfg.train.max_length, prefix
    )
    model = TextModel(cfg, inputs, target, network=net)

    from trainforge.models.text_package import network_spec, save_text_model

    spec = network_spec(net, cfg, target.n_outputs)

    def fit(run_dir: Path, options: FitOptions) -> Fitted:
        if cfg.model.finetune == "zero_shot":
            return Fitted([], 0.0, 0.0, {"zero_shot_prompts": prompts})
        if cfg.model.finetune == "setfit":
            from trainforge.models.sentence import fit_setfit

            texts = [prefix + str(t) for t in column_values(datasets["train"], data.text_column)]
            return fit_setfit(net, backbone, texts, labels["train"], cfg, run_dir, options)
        return _fit(model, cfg, encoded, labels, tokenizer, run_dir, options)

    def evaluate(split: str) -> tuple[np.ndarray, np.ndarray]:
        loader = _loader(encoded[split], cfg, tokenizer, shuffle=False)
        return labels[split], model._forward(_positions(loader), len(encoded[split]))

    trainable, total = finetune.trainable_fraction(net)
    return Prepared(
        model=model,
        rows={split: len(ds) for split, ds in encoded.items()},
        fit=fit,
        evaluate=evaluate,
        manifest={
            "network": spec,
            "backbone": cfg.model.backbone,
            "finetune": cfg.model.finetune,
            "trainable_parameters": trainable,
            "total_parameters": total,
            **vocabulary,
        },
        write_files=lambda folder: save_text_model(folder, _final(model, cfg), inputs, spec),
        select_rows=lambda split, index: _select(datasets[split], index, cfg),
        labels=labels,
        config=cfg,
    )


def text_backbone(
    cfg: ExperimentConfig, train: Any, source: TextSource
) -> tuple[ExperimentConfig, Scripts, tuple[str, Any, dict[str, Any]]]:
    """(config, scripts of the text, (folder, tokenizer, manifest entries)) of the backbone
    for the training texts; the config names the backbone that `model.backbone: auto` chose."""
    from trainforge.tasks.text.backbone import choose_backbone, load_backbone

    data = cfg.data
    columns = [data.text_column, *([data.text_pair_column] if data.text_pair_column else [])]

    def chunks(limit: int | None) -> Iterator[list[str]]:
        """The training texts, 1,000 at a time: all, or `limit` spread over the file (a
        million-line file is never held whole)."""
        rows = len(train)
        index = range(rows) if limit is None else range(0, rows, max(1, rows // limit))[:limit]
        for start in range(0, len(index), 1000):
            part = index[start : start + 1000]
            batch = train[part.start : part.stop] if part.step == 1 else train.select(part)[:]
            for column in columns:
                yield [str(t) for t in batch[column]]

    cfg, scripts = choose_backbone(cfg, (t for chunk in chunks(SCRIPT_SAMPLE) for t in chunk))

    def encode(tokenizer: Any, limit: int | None) -> Iterator[list[int]]:
        for chunk in chunks(limit):
            yield from tokenizer(chunk, add_special_tokens=False, verbose=False)["input_ids"]

    return cfg, scripts, load_backbone(cfg, scripts, encode, source.source)


def _check_named_labels(cfg: ExperimentConfig, values: list[Any], source: str) -> None:
    """With `model.labels`, every label of the training data must be one of them."""
    if cfg.model.labels is None or cfg.data.multi_label:
        return
    named = {str(label) for label in cfg.model.labels}
    unnamed = sorted({str(v) for v in values} - named)
    if unnamed:
        raise DataError(
            f"the data holds label(s) {', '.join(map(repr, unnamed[:5]))} that model.labels "
            f"does not name (it names {', '.join(map(repr, sorted(named)[:8]))})",
            where=source,
            fix="Add them to model.labels, or fix the data's label column",
        )


def _select(dataset: Any, index: np.ndarray, cfg: ExperimentConfig) -> Any:
    """Rows `index` of a split: the text column(s) and the label column, as a DataFrame."""
    data = cfg.data
    columns = [data.text_column, data.text_pair_column, data.label_column]
    return dataset.select(index).select_columns([c for c in columns if c]).to_pandas()


def _split_missing(
    cfg: ExperimentConfig,
    datasets: dict[str, Any],
    labels: dict[str, np.ndarray],
    train: TextSource,
) -> None:
    split = cfg.data.split
    stratify = split.stratify and not cfg.data.multi_label
    carve = [(s, f) for s, f in (("test", split.test), ("validation", split.validation))]
    whole = 1.0
    for name, fraction in carve:
        if name in datasets or fraction <= 0:
            continue
        strata = [str(v) for v in labels["train"]] if stratify else None
        kept, taken = split_off(
            len(datasets["train"]), fraction / whole, strata, cfg.split_seed, train.source
        )
        datasets[name] = datasets["train"].select(taken)
        datasets["train"] = datasets["train"].select(kept)
        labels[name], labels["train"] = labels["train"][taken], labels["train"][kept]
        whole -= fraction


def _label_encoder(target: Any) -> Any:
    if target.kind == "multilabel":
        from trainforge.tasks.multilabel import parse_labels

        index = {label: i for i, label in enumerate(target.labels_)}
        k, delimiter = len(index), target.delimiter

        def multi(values: list[Any]) -> list[list[float]]:
            rows = []
            for value in values:
                row = [0.0] * k
                for label in parse_labels(value, delimiter):
                    row[index[label]] = 1.0
                rows.append(row)
            return rows

        return multi
    index = {label: i for i, label in enumerate(target.labels_)}
    return lambda values: [index[str(v)] for v in values]


def _build_network(cfg: ExperimentConfig, backbone: str, target: Any) -> Any:
    from trainforge.models.transformer import TextClassifier, load_encoder

    encoder = load_encoder(
        backbone, cfg.pooling, target.labels_, target.n_outputs, target.kind == "multilabel"
    )
    sentence = cfg.model.finetune in ("zero_shot", "setfit")
    return TextClassifier(
        encoder, cfg.pooling, target.n_outputs, cfg.model.dropout, normalize=sentence
    )


def _loader(dataset: Any, cfg: ExperimentConfig, tokenizer: Any, *, shuffle: bool) -> Any:
    from trainforge.training.text_data import token_loader

    return token_loader(
        dataset,
        cfg.train.batch_size if shuffle else cfg.train.eval_batch_size,
        tokenizer.pad_token_id or 0,
        shuffle_seed=cfg.train.seed if shuffle else None,
        group_by_length=cfg.train.group_by_length,
        augment=cfg.data.augment if shuffle else None,
        special_ids=tokenizer.all_special_ids,
    )


def _positions(loader: Any) -> Any:
    """(row positions, inputs) for an unshuffled loader."""
    start = 0
    for batch in loader:
        n = len(batch["input_ids"])
        yield np.arange(start, start + n), {k: v for k, v in batch.items() if k != "labels"}
        start += n


def _fit(
    model: TextModel,
    cfg: ExperimentConfig,
    encoded: dict[str, Any],
    labels: dict[str, np.ndarray],
    tokenizer: Any,
    run_dir: Path,
    options: FitOptions,
) -> Fitted:
    from trainforge.models import finetune
    from trainforge.training.fit import fit_network

    net = model.network
    has_val = "validation" in encoded
    if cfg.model.finetune == "frozen":
        return _fit_frozen(model, cfg, encoded, labels, tokenizer, run_dir, options)
    train_loader = _loader(encoded["train"], cfg, tokenizer, shuffle=True)
    val_loader = _loader(encoded["validation"], cfg, tokenizer, shuffle=False) if has_val else None
    return fit_network(
        net,
        model.target,
        cfg.train,
        (train_loader, val_loader),
        run_dir,
        options,
        callbacks=finetune.fit_callbacks(cfg.model),
    )


def _fit_frozen(
    model: TextModel,
    cfg: ExperimentConfig,
    encoded: dict[str, Any],
    labels: dict[str, np.ndarray],
    tokenizer: Any,
    run_dir: Path,
    options: FitOptions,
) -> Fitted:
    """Embed every text once with the frozen backbone, then train only the head on the cache."""
    import time

    import torch

    from trainforge.models.transformer import HeadOnly
    from trainforge.training.fit import fit_head

    net = model.network
    net.eval()
    start = time.perf_counter()
    features: dict[str, Any] = {}
    with torch.inference_mode():
        for split in ("train", "validation"):
            if split not in encoded:
                continue
            loader = _loader(encoded[split], cfg, tokenizer, shuffle=False)
            chunks = [net.embed(**batch).float() for _, batch in _positions(loader)]
            features[split] = torch.cat(chunks).numpy()
    embed_seconds = time.perf_counter() - start
    fitted = fit_head(
        HeadOnly(net.head),
        model.target,
        cfg.train,
        features,
        labels,
        run_dir,
        options,
    )
    fitted.extra["embedding_time_s"] = round(embed_seconds, 3)
    return fitted


def _final(model: TextModel, cfg: ExperimentConfig) -> Any:
    """The network as packaged: peft weights merged unless the adapter alone is kept."""
    from trainforge.models import finetune

    if not cfg.model.peft.adapter_only:
        finetune.merge(model.network)
    return model.network

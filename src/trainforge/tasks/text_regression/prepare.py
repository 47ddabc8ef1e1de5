"""Text regression with a pretrained transformer backbone.

The text classifier's network with one output, trained on the target standardised with the
training rows' mean and standard deviation (`RegressionTarget`); metrics and predictions are in
the target's own unit. Reading, checks, tokenisation, the loaders, both fits (the Lightning loop,
or the head on cached embeddings for `frozen`) and the package layout are the text family's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from trainforge.config import ExperimentConfig
from trainforge.data.text import (
    TextInputs,
    TextSource,
    check_text,
    column_values,
    read_text,
    split_off,
    tokenize,
)
from trainforge.errors import ConfigError
from trainforge.tasks import make_target
from trainforge.tasks.family import FitOptions, Fitted, LoadPackage, Prepared
from trainforge.tasks.regression import RegressionTarget
from trainforge.tasks.start import load_start
from trainforge.tasks.text.model import TextModel
from trainforge.tasks.text.prepare import _final, _fit, _loader, _positions, text_backbone


def prepare(cfg: ExperimentConfig, load_package: LoadPackage) -> Prepared:
    """Read and check the text files and their numbers, split, tokenise, load the backbone."""
    from trainforge.models import finetune
    from trainforge.models.text_package import network_spec, save_text_model
    from trainforge.models.transformer import TextClassifier, load_encoder
    from trainforge.training.seeding import seed_all

    _check_settings(cfg)
    load_start(cfg, load_package)  # model.init_from: refused, with the reason, for regression
    data = cfg.data
    sources = {"train": read_text(data.train, data.encoding)}
    for split in ("validation", "test"):
        spec = getattr(data, split)
        if spec is not None:
            sources[split] = read_text(spec, data.encoding)
    for source in sources.values():
        check_text(source, data)
    target = make_target(cfg)
    assert isinstance(target, RegressionTarget), "text_regression predicts a number"
    # Numbers first, so that a bad value is named by its file and line.
    values = {split: _numbers(target, s) for split, s in sources.items()}
    datasets = {split: s.dataset for split, s in sources.items()}
    _split_missing(cfg, datasets, values, sources["train"])
    # Scaled on the training rows only: the rows carved out for validation and test stay unseen.
    target.fit(_frame(target, values["train"]))
    labels = {split: target.encode(_frame(target, v)) for split, v in values.items()}

    cfg, _, (backbone, tokenizer, vocabulary) = text_backbone(
        cfg, datasets["train"], sources["train"]
    )
    from trainforge.models.multilingual import text_prefix

    prefix = text_prefix(cfg.model.backbone, cfg.model.finetune)

    def scaled(raw: list[Any]) -> list[float]:
        return [float(v) for v in target.encode(_frame(target, raw))]

    encoded = {
        split: tokenize(ds, tokenizer, data, cfg.train.max_length, scaled, prefix)
        for split, ds in datasets.items()
    }
    seed_all(cfg.train.seed)
    encoder = load_encoder(backbone, cfg.pooling, None, target.n_outputs, False)
    net = TextClassifier(encoder, cfg.pooling, target.n_outputs, cfg.model.dropout)
    batches = -(-len(encoded["train"]) // cfg.train.batch_size)
    steps = min(batches * cfg.train.epochs, cfg.train.max_steps or batches * cfg.train.epochs)
    finetune.prepare(net, cfg.model, steps)
    inputs = TextInputs(
        tokenizer, data.text_column, data.text_pair_column, cfg.train.max_length, prefix
    )
    model = TextModel(cfg, inputs, target, network=net)
    spec = network_spec(net, cfg, target.n_outputs)

    def fit(run_dir: Path, options: FitOptions) -> Fitted:
        return _fit(model, cfg, encoded, labels, tokenizer, run_dir, options)

    def evaluate(split: str) -> tuple[np.ndarray, np.ndarray]:
        loader = _loader(encoded[split], cfg, tokenizer, shuffle=False)
        return labels[split], model._forward(_positions(loader), len(encoded[split]))

    def report_sections(plots_dir: Path, results: list[Any]) -> list[str]:
        from trainforge.tasks.text_regression.report import residual_sections

        def texts(split: str) -> list[Any]:
            return column_values(datasets[split], data.text_column)

        return residual_sections(target, texts, plots_dir, results)

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
        report_sections=report_sections,
        config=cfg,
    )


def _check_settings(cfg: ExperimentConfig) -> None:
    """Refuse the settings that only mean something for classes, and causal LM backbones."""
    classes_only = {
        "data.shots": cfg.data.shots is not None,
        "model.labels": cfg.model.labels is not None,
        "model.abstain": cfg.model.abstain.precision is not None
        or cfg.model.abstain.threshold is not None,
        "train.class_weight": cfg.train.class_weight != "none",
        "train.label_smoothing": cfg.train.label_smoothing > 0,
    }
    for key, used in classes_only.items():
        if used:
            raise ConfigError(
                f"{key} is about classes and does not apply to task {cfg.task!r}, which "
                "predicts one number per text",
                where=key,
                fix="Remove it from the config",
            )
    from trainforge.models.prompt_lm import is_causal_lm

    if is_causal_lm(cfg.model.backbone):
        raise ConfigError(
            f"model.backbone {cfg.model.backbone!r} is a causal language model, which "
            "trainforge uses for prompting (text_classification with finetune: prompt_lm)",
            where="model.backbone",
            fix="Use an encoder backbone for text_regression, e.g. 'minilm'",
        )


def _numbers(target: RegressionTarget, source: TextSource) -> np.ndarray:
    """The target column of a file as floats; a DataError names the file and line of a value
    that is not a finite number."""
    frame = pd.DataFrame({target.column: column_values(source.dataset, target.column)})
    frame.attrs.update(source=source.source, first_line=source.first_line)
    return target._values(frame)


def _frame(target: RegressionTarget, values: Any) -> pd.DataFrame:
    return pd.DataFrame({target.column: values})


def _split_missing(
    cfg: ExperimentConfig,
    datasets: dict[str, Any],
    values: dict[str, np.ndarray],
    train: TextSource,
) -> None:
    """Carve validation / test rows out of train when those files are not given (seeded; a
    number has no classes to stratify by)."""
    split = cfg.data.split
    whole = 1.0
    for name, fraction in (("test", split.test), ("validation", split.validation)):
        if name in datasets or fraction <= 0:
            continue
        kept, taken = split_off(
            len(datasets["train"]), fraction / whole, None, cfg.split_seed, train.source
        )
        datasets[name] = datasets["train"].select(taken)
        datasets["train"] = datasets["train"].select(kept)
        values[name], values["train"] = values["train"][taken], values["train"][kept]
        whole -= fraction

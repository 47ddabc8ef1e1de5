"""Tabular tasks: read and split tables, preprocess features, fit an MLP or a classical model."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, cast

import numpy as np

from trainforge.config import ExperimentConfig
from trainforge.data.split import load_splits
from trainforge.data.tabular import TabularPreprocessor
from trainforge.errors import ConfigError
from trainforge.package import ESTIMATOR, WEIGHTS, write_json
from trainforge.tasks import make_target
from trainforge.tasks.classification import ClassificationTarget
from trainforge.tasks.family import FitOptions, Fitted, LoadPackage, Prepared
from trainforge.tasks.model import Model
from trainforge.tasks.regression import RegressionTarget


def prepare(cfg: ExperimentConfig, load_package: LoadPackage) -> Prepared:
    """Read, check and encode the data; build the (untrained) model."""
    from trainforge.tasks.start import copy_weights, load_start
    from trainforge.training.seeding import seed_all

    old = load_start(cfg, load_package)  # model.init_from: an update starts from this package
    splits = load_splits(cfg.data, stratify_labels=cfg.is_classification, seed=cfg.split_seed)
    # Tabular targets are fitted on the frame; multi-label targets (data.multi_label) are text-only.
    target = make_target(cfg)
    if old is not None:
        target = cast(ClassificationTarget, target).fit(splits.train, known=old.target.labels_)
    else:
        target = cast(ClassificationTarget | RegressionTarget, target).fit(splits.train)
    # An update keeps the package's preprocessing: its inputs must mean what they meant.
    prep = (
        old.inputs
        if old is not None
        else TabularPreprocessor(
            cfg.data.feature_columns,
            cfg.data.label_column,
            cfg.data.missing,
            cfg.data.unknown_category,
        ).fit(splits.train)
    )
    arrays = {
        split: (prep.transform(frame), target.encode(frame)) for split, frame in splits.items()
    }
    frames = dict(splits.items())
    seed_all(cfg.train.seed)  # before any weight is initialised
    n_features = arrays["train"][0].shape[1]
    model = _build_model(cfg, prep, target, n_features)
    if old is not None:
        copy_weights(model.network, old, cast(ClassificationTarget, target).labels_)

    def fit(run_dir: Path, options: FitOptions) -> Fitted:
        return _fit(model, cfg, arrays, run_dir, options)

    def evaluate(split: str) -> tuple[np.ndarray, np.ndarray]:
        return arrays[split][1], model.output(frames[split])

    manifest: dict[str, Any] = {"feature_columns": prep.columns_}
    if model.network is not None:
        manifest["network"] = {"in_features": n_features, "out_features": target.n_outputs}
    return Prepared(
        model=model,
        rows={split: len(frame) for split, frame in frames.items()},
        fit=fit,
        evaluate=evaluate,
        manifest=manifest,
        write_files=lambda folder: _write_files(model, folder),
        select_rows=lambda split, index: frames[split].iloc[index][
            [*prep.columns_, cfg.data.label_column]
        ],
        labels={split: pair[1] for split, pair in arrays.items()},
    )


def _build_model(
    cfg: ExperimentConfig, prep: TabularPreprocessor, target: Any, n_features: int
) -> Model:
    from trainforge.models import build_network, is_classical

    if is_classical(cfg.model):
        from trainforge.models.classical import build_estimator

        estimator = build_estimator(cfg.model.type, target.kind, cfg.model.params, cfg.train.seed)
        return Model(cfg, prep, target, estimator=estimator)
    if cfg.model.params:
        raise ConfigError(
            f"model.params is for scikit-learn estimators; model.type {cfg.model.type!r} "
            "takes its settings from model.hidden_sizes, model.dropout, ...",
            where="model.params",
            fix="Remove model.params",
        )
    return Model(cfg, prep, target, network=build_network(cfg.model, n_features, target.n_outputs))


def _fit(
    model: Model,
    cfg: ExperimentConfig,
    arrays: dict[str, tuple[np.ndarray, np.ndarray]],
    run_dir: Path,
    options: FitOptions,
) -> Fitted:
    features, labels = arrays["train"]
    if model.estimator is not None:
        start = time.perf_counter()
        model.estimator.fit(features, labels)
        seconds = time.perf_counter() - start
        return Fitted([], seconds, len(labels) / seconds if seconds > 0 else 0.0)
    from trainforge.training.data import tensor_loader
    from trainforge.training.fit import fit_network

    train_loader = tensor_loader(
        features, labels, cfg.train.batch_size, shuffle_seed=cfg.train.seed
    )
    val_loader = (
        tensor_loader(*arrays["validation"], cfg.train.eval_batch_size)
        if "validation" in arrays
        else None
    )
    return fit_network(
        model.network,
        model.target,
        cfg.train,
        (train_loader, val_loader),
        run_dir,
        options,
    )


def _write_files(model: Model, folder: Path) -> None:
    if model.estimator is not None:
        from trainforge.models.classical import save_estimator

        save_estimator(model.estimator, folder / ESTIMATOR)
    else:
        from safetensors.torch import save_file

        state = {k: v.contiguous() for k, v in model.network.state_dict().items()}
        save_file(state, folder / WEIGHTS)
    write_json(folder / "preprocessor.json", model.inputs.state_dict())

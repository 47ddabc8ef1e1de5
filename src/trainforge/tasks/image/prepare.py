"""Image classification: read and decode images, split them, build a CNN, ResNet or MobileNetV2.

Fitting is the shared Lightning loop (`fit_network`) on batches normalised and augmented on the
fly; `model.finetune: frozen` computes the backbone's features once and trains the head alone
on them (`fit_head`), as text models do.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from trainforge.config import ExperimentConfig
from trainforge.config.image import MIN_MOBILENET_SIZE
from trainforge.data.image_inputs import IMAGENET_MEAN, IMAGENET_STD, ImageInputs, fit_normalisation
from trainforge.data.images import ImageFormat, Images, decode, natural_format, read_source
from trainforge.errors import DataError
from trainforge.tasks.classification import ClassificationTarget
from trainforge.tasks.family import FitOptions, Fitted, LoadPackage, Prepared
from trainforge.tasks.image.model import ImageModel

SPLITS = ("train", "validation", "test")


def prepare(cfg: ExperimentConfig, load_package: LoadPackage) -> Prepared:
    """Read, check and decode the images; build the (untrained) network."""
    from trainforge.models.image_package import network_spec, save_image_model
    from trainforge.models.vision import build_image_network, start_from
    from trainforge.training.seeding import seed_all

    images = _read_splits(cfg)
    target = ClassificationTarget(
        cfg.data.label_column, cfg.loss, cfg.train.class_weight, cfg.train.label_smoothing
    ).fit_values(images["train"].labels, images["train"].source)  # type: ignore[arg-type]
    labels = {split: _encode(target, data) for split, data in images.items()}
    inputs = _fit_inputs(cfg, images["train"])
    seed_all(cfg.train.seed)  # before any weight is initialised
    network = build_image_network(
        cfg.model, inputs.format, target.n_outputs, pretrained=cfg.model.init_from is None
    )
    started = {}
    if cfg.model.init_from is not None:
        started = start_from(network, cfg.model.init_from, cfg.task, target.labels_, load_package)
    model = ImageModel(cfg, inputs, target, network=network)

    def fit(run_dir: Path, options: FitOptions) -> Fitted:
        fitted = _fit(model, cfg, images, labels, run_dir, options)
        fitted.extra.update(started)
        return fitted

    def report_sections(plots_dir: Path, results: list[Any]) -> list[str]:
        return _misclassified_sections(images, model.labels or [], plots_dir, results)

    return Prepared(
        model=model,
        rows={split: len(data) for split, data in images.items()},
        fit=fit,
        evaluate=lambda split: (labels[split], model.output(images[split])),
        manifest={
            "image": inputs.state_dict(),
            "network": network_spec(network, target.n_outputs),
        },
        write_files=lambda folder: save_image_model(folder, network, inputs),
        labels=labels,
        report_sections=report_sections,
    )


def _read_splits(cfg: ExperimentConfig) -> dict[str, Images]:
    """Decoded images per split; validation and test are carved from train when not given."""
    data = cfg.data
    train_source = read_source(
        data.train,
        labels_file=data.labels,
        label_column=data.label_column,
        image_column=data.image_column,
    )
    if train_source.labels is None:
        raise DataError(
            "the training images have no labels",
            where=data.train,
            fix="Use a folder with one sub-folder per class, a table with a "
            f"{data.label_column!r} column, or data.labels for IDX images",
        )
    fmt = _format(cfg, natural_format(train_source))
    images = {"train": decode(train_source, fmt, data.on_bad_image)}
    for split, spec in (("validation", data.validation), ("test", data.test)):
        if spec is not None:
            source = read_source(
                spec, label_column=data.label_column, image_column=data.image_column
            )
            if source.labels is None:
                raise DataError(
                    f"the {split} images have no labels",
                    where=spec,
                    fix="Give labelled images (class folders or a table with labels)",
                )
            images[split] = decode(source, fmt, data.on_bad_image)
    return _carve(images, cfg)


def _format(cfg: ExperimentConfig, natural: ImageFormat) -> ImageFormat:
    """`data.image_size` / `data.channels` where given, else what the images are; MobileNetV2
    takes RGB at 32 pixels a side or more."""
    size = cfg.data.image_size
    if size is None:
        height, width = natural.size
    else:
        height, width = (size, size) if isinstance(size, int) else size
    channels = cfg.data.channels or natural.channels
    if cfg.model.type == "mobilenet_v2":
        channels = 3
        if size is None:
            scale = max(1.0, MIN_MOBILENET_SIZE / min(height, width))
            height, width = round(height * scale), round(width * scale)
    return ImageFormat((int(height), int(width)), int(channels))


def _carve(images: dict[str, Images], cfg: ExperimentConfig) -> dict[str, Images]:
    """Split test, then validation, off train: seeded and stratified as tabular data is."""
    from trainforge.data.split import _split

    split = cfg.data.split
    stratify = split.stratify
    fractions = []
    if "test" not in images and split.test > 0:
        fractions.append(("test", split.test))
    if "validation" not in images and split.validation > 0:
        remaining = 1.0 - (split.test if cfg.data.test is None else 0.0)
        fractions.append(("validation", split.validation / remaining))
    rows = "in data.train"
    for name, fraction in fractions:
        train = images["train"]
        frame = pd.DataFrame({"label": train.labels, "position": np.arange(len(train))})
        frame.attrs["source"] = train.source
        kept, taken = _split(
            frame, fraction, "label", stratify, cfg.train.seed, purpose=name, rows=rows
        )
        images[name] = train.subset(taken["position"].to_numpy())
        images["train"] = train.subset(kept["position"].to_numpy())
        rows = "remain after the test split"
    return {name: images[name] for name in SPLITS if name in images}


def _encode(target: ClassificationTarget, images: Images) -> np.ndarray:
    assert images.labels is not None
    return target.encode_values(images.labels, lambda i: images.names[i])


def _fit_inputs(cfg: ExperimentConfig, train: Images) -> ImageInputs:
    """Normalisation: ImageNet's for a pretrained MobileNetV2 (what its weights expect), else
    the training images' own per-channel mean and deviation."""
    mean: tuple[float, ...]
    std: tuple[float, ...]
    if cfg.model.type == "mobilenet_v2":
        mean, std = IMAGENET_MEAN, IMAGENET_STD
    else:
        mean, std = fit_normalisation(train.pixels)
    fmt = ImageFormat(train.pixels.shape[2:4], train.pixels.shape[1])  # type: ignore[arg-type]
    return ImageInputs(fmt, mean, std, cfg.data.label_column, cfg.data.image_column)


def _fit(
    model: ImageModel,
    cfg: ExperimentConfig,
    images: dict[str, Images],
    labels: dict[str, np.ndarray],
    run_dir: Path,
    options: FitOptions,
) -> Fitted:
    from trainforge.training.fit import fit_head, fit_network
    from trainforge.training.image_data import embed_all, image_loader

    network, inputs, train_cfg = model.network, model.inputs, cfg.train
    if cfg.model.finetune == "frozen":
        features: dict[str, np.ndarray] = {
            split: embed_all(network, inputs, images[split].pixels, train_cfg.eval_batch_size)
            for split in ("train", "validation")
            if split in images
        }
        from trainforge.models.cnn import HeadOnly

        head = HeadOnly(network.head_module)
        return fit_head(head, model.target, train_cfg, features, labels, run_dir, options)
    train_loader = image_loader(
        images["train"].pixels,
        labels["train"],
        inputs,
        train_cfg.batch_size,
        shuffle_seed=train_cfg.seed,
        augment=cfg.data.augment,
    )
    val_loader = None
    if "validation" in images:
        val_loader = image_loader(
            images["validation"].pixels, labels["validation"], inputs, train_cfg.eval_batch_size
        )
    return fit_network(
        network, model.target, train_cfg, (train_loader, val_loader), run_dir, options
    )


def _misclassified_sections(
    images: dict[str, Images], labels: list[str], plots_dir: Path, results: list[Any]
) -> list[str]:
    """The report's grid of misclassified images, for the last evaluated split."""
    from trainforge.evaluation.html import esc, image
    from trainforge.evaluation.image_plots import plot_misclassified

    if not results:
        return []
    result = results[-1]
    path = plot_misclassified(
        images[result.name].pixels,
        result.y_true,
        result.output,
        labels,
        plots_dir / f"misclassified_{result.name}.png",
        title=f"Misclassified images ({result.name})",
    )
    parts = [f"<h2>Misclassified images ({esc(result.name)})</h2>"]
    if path is None:
        return [*parts, '<p class="muted">Every image was classified correctly.</p>']
    caption = f"The most confident mistakes on {result.name}: true and predicted label"
    return [*parts, image(path, caption)]

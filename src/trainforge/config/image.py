"""Image classification settings: defaults by model type, and checks that span config sections.

The task's `TaskSpec` (config/tasks.py) names these hooks; the fields themselves live in the
config sections (`data.image_size`, `model.depth`, ...).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from trainforge.errors import format_choices

if TYPE_CHECKING:
    from trainforge.config.experiment import ExperimentConfig
    from trainforge.config.tasks import TaskSpec

IMAGE_FAMILY = "trainforge.tasks.image"
IMAGE_MODELS = ("cnn", "resnet", "mobilenet_v2")
# Residual blocks per stage: 6n+2 layers in three stages (CIFAR-style), 18 as ResNet-18.
RESNET_STAGES: dict[int, tuple[int, ...]] = {
    8: (1, 1, 1),
    14: (2, 2, 2),
    18: (2, 2, 2, 2),
    20: (3, 3, 3),
    26: (4, 4, 4),
    32: (5, 5, 5),
}
TEXT_AUGMENT = ("deletion", "swap")
IMAGE_AUGMENT = ("random_crop", "flip", "rotate", "color_jitter", "noise")
IMAGE_DATA_FIELDS = ("labels", "image_size", "channels", "on_bad_image", "image_column")
PRETRAINED = "mobilenet_v2"  # model.backbone: the ImageNet weights of the pip package
MIN_MOBILENET_SIZE = 32

IMAGE_TRAIN_DEFAULTS: dict[str, Any] = {
    "epochs": 30,
    "batch_size": 64,
    "lr": 1e-3,
    "early_stopping": {"monitor": "val_loss", "patience": 5},
}
# A linear probe: a head-sized learning rate on features computed once.
IMAGE_FROZEN_TRAIN_DEFAULTS: dict[str, Any] = {
    "epochs": 100,
    "batch_size": 64,
    "lr": 1e-3,
    "early_stopping": {"monitor": "val_loss", "patience": 10},
}


def image_defaults(raw: dict[str, Any], spec: TaskSpec) -> dict[str, Any]:
    """Fill model and train defaults of an image task where the user gave no value.

    `model.backbone: mobilenet_v2` implies `model.type: mobilenet_v2`; a MobileNetV2 starts from
    the ImageNet weights unless `model.backbone: none`; every other image model from scratch.
    """
    raw = dict(raw)
    model = dict(raw.get("model") or {})
    pretrained = model.get("backbone") == PRETRAINED
    model.setdefault("type", "mobilenet_v2" if pretrained else spec.model_types[0])
    model.setdefault("backbone", PRETRAINED if model["type"] == "mobilenet_v2" else "none")
    model.setdefault("batch_norm", True)
    train = dict(raw.get("train") or {})
    frozen = model.get("finetune") == "frozen"
    for key, value in (IMAGE_FROZEN_TRAIN_DEFAULTS if frozen else IMAGE_TRAIN_DEFAULTS).items():
        train.setdefault(key, value)
    raw["model"], raw["train"] = model, train
    return raw


def _changed(section: Any) -> set[str]:
    """Names of the fields of a config section whose value is not the default."""
    fields = type(section).model_fields
    return {
        name
        for name, field in fields.items()
        if not field.is_required()
        and getattr(section, name) != field.get_default(call_default_factory=True)
    }


def check_image_settings(cfg: ExperimentConfig) -> None:
    """Raise ValueError for settings that do not fit the task (image keys elsewhere, text
    augmentation on images, a backbone the model type cannot load, ...)."""
    # Keys that differ from their defaults (a saved resolved config spells out every key).
    augment_set = _changed(cfg.data.augment)
    if cfg.spec.family != IMAGE_FAMILY:
        _refuse(
            [f"data.augment.{k}" for k in IMAGE_AUGMENT if k in augment_set]
            + [f"data.{k}" for k in IMAGE_DATA_FIELDS if k in _changed(cfg.data)]
            + [f"model.{k}" for k in ("freeze", "depth", "channels") if k in _changed(cfg.model)],
            cfg.task,
            "image_classification settings",
        )
        return
    _refuse([f"data.augment.{k}" for k in TEXT_AUGMENT if k in augment_set], cfg.task, "text noise")
    model, data = cfg.model, cfg.data
    if model.finetune not in ("full", "frozen"):
        raise ValueError(
            f"model.finetune {model.finetune!r} is for text models; image models take 'full' or "
            "'frozen' (a linear probe), and model.freeze for a part of the network"
        )
    backbone = model.backbone
    if backbone not in ("none", PRETRAINED) and not backbone.endswith(
        (".pth", ".pt", ".safetensors")
    ):
        raise ValueError(
            f"model.backbone {backbone!r} is not an image backbone; use 'mobilenet_v2' (ImageNet "
            "weights), 'none' (from scratch) or a .pth/.safetensors file of torchvision weights"
        )
    if backbone != "none" and model.type != "mobilenet_v2":
        raise ValueError(
            f"model.backbone {backbone!r} loads MobileNetV2 weights; set model.type to "
            f"'mobilenet_v2', or model.backbone to 'none' for a {model.type} from scratch"
        )
    if model.finetune == "frozen" and any(k in augment_set for k in IMAGE_AUGMENT):
        raise ValueError(
            "data.augment does not apply with model.finetune 'frozen' (a linear probe computes "
            "each image's features once); remove it, or use model.freeze to train the head "
            "alone on augmented images"
        )
    if model.type == "resnet" and model.depth not in RESNET_STAGES:
        raise ValueError(
            f"model.depth {model.depth} is not a ResNet depth here; use one of "
            f"{format_choices(sorted(RESNET_STAGES))}"
        )
    if data.image_size is not None and min(_pair(data.image_size)) < 1:
        raise ValueError(f"data.image_size must be positive; got {data.image_size}")
    if model.channels is not None and (not model.channels or min(model.channels) < 1):
        raise ValueError(f"model.channels must list widths >= 1; got {model.channels}")
    if model.type == "mobilenet_v2":
        if data.channels == 1:
            raise ValueError(
                "model.type 'mobilenet_v2' takes 3-channel images (greyscale is converted); "
                "remove data.channels or set it to 3"
            )
        if data.image_size is not None and min(_pair(data.image_size)) < MIN_MOBILENET_SIZE:
            raise ValueError(
                f"model.type 'mobilenet_v2' needs images of at least {MIN_MOBILENET_SIZE} "
                f"pixels a side; data.image_size is {data.image_size}"
            )


def _pair(size: int | tuple[int, int]) -> tuple[int, int]:
    return (size, size) if isinstance(size, int) else (size[0], size[1])


def _refuse(keys: list[str], task: str, what: str) -> None:
    if keys:
        raise ValueError(
            f"{', '.join(keys)} {'does' if len(keys) == 1 else 'do'} not apply to task "
            f"{task!r} ({what}); remove {'it' if len(keys) == 1 else 'them'}"
        )

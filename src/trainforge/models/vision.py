"""Building image networks from the config, freezing parts of them, and starting from weights.

`model.init_from` on an image task is transfer learning: the weights of an earlier trainforge
image package, or of a .safetensors/.pth state dict, go into the new network wherever the name
and shape match; rows of the output layer follow the labels by name where the package knows
them, and new labels start fresh.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from torch import nn

from trainforge.config import ModelConfig
from trainforge.config.image import RESNET_STAGES
from trainforge.data.images import ImageFormat
from trainforge.errors import ConfigError, format_choices
from trainforge.models.cnn import ImageNetwork, ResNet, SmallCNN

log = logging.getLogger(__name__)

DEFAULT_CNN_WIDTHS = (32, 64, 128)
DEFAULT_RESNET_WIDTHS = {3: (16, 32, 64), 4: (64, 128, 256, 512)}


def build_image_network(
    model: ModelConfig, fmt: ImageFormat, n_outputs: int, *, pretrained: bool = True
) -> ImageNetwork:
    """The network for `model.type`, sized for the images, with `model.freeze` applied.

    Args:
        model: the `model` config section.
        fmt: the images' size and channels.
        n_outputs: logits.
        pretrained: load `model.backbone` weights (False when the weights come from a package).
    """
    network: ImageNetwork
    if model.type == "cnn":
        widths = model.channels or list(DEFAULT_CNN_WIDTHS)
        network = SmallCNN(
            fmt.channels, n_outputs, widths, fmt.size, model.batch_norm, model.dropout
        )
    elif model.type == "resnet":
        stages = RESNET_STAGES[model.depth]
        widths = model.channels or list(DEFAULT_RESNET_WIDTHS[len(stages)])
        if len(widths) != len(stages):
            raise ConfigError(
                f"model.channels lists {len(widths)} widths; a depth-{model.depth} ResNet has "
                f"{len(stages)} stages",
                where="model.channels",
                fix=f"Give {len(stages)} widths, e.g. {list(DEFAULT_RESNET_WIDTHS[len(stages)])}",
            )
        network = ResNet(
            fmt.channels, n_outputs, stages, widths, fmt.size, model.batch_norm, model.dropout
        )
    else:
        from trainforge.models.mobilenet import MobileNetV2, load_backbone

        network = MobileNetV2(n_outputs, model.dropout)
        if pretrained and model.backbone != "none":
            load_backbone(network, model.backbone)
    freeze(network, model.freeze)
    return network


def freeze(network: ImageNetwork, prefixes: list[str]) -> None:
    """Stop the parameters under each name prefix (e.g. "stem", "layer1", "features.0") from
    training; their batch norms keep their statistics."""
    names = [name for name, _ in network.named_parameters()]
    groups = sorted({name.split(".")[0] for name in names})
    for prefix in prefixes:
        if not any(name == prefix or name.startswith(prefix + ".") for name in names):
            raise ConfigError(
                f"model.freeze names {prefix!r}, which is no parameter group of this network",
                where="model.freeze",
                fix=f"Use groups of it: {format_choices(groups)} (or a deeper prefix such as "
                f"'{groups[0]}.0')",
            )
    frozen = tuple(prefixes)
    for name, parameter in network.named_parameters():
        if any(name == p or name.startswith(p + ".") for p in frozen):
            parameter.requires_grad_(False)
    if prefixes and not any(p.requires_grad for p in network.parameters()):
        raise ConfigError(
            "model.freeze leaves nothing to train",
            where="model.freeze",
            fix=f"Leave the head ({network.head_name!r}) out of model.freeze",
        )
    network.frozen = frozen


def start_from(
    network: ImageNetwork, spec: str, task: str, labels: list[str], load_package: Any
) -> dict[str, Any]:
    """Copy the weights of a package or state-dict file into `network` (see the module docstring).

    Returns counts for the run's metrics: tensors loaded, output rows matched by label.
    """
    state, old_labels = _read_start(spec, task, load_package)
    own = network.state_dict()
    out = f"{network.head_name}.{len(network.head_module) - 1}."  # type: ignore[arg-type]
    loaded, rows = 0, 0
    for name, tensor in own.items():
        source = state.get(name)
        if source is None:
            continue
        if source.shape == tensor.shape and not (name.startswith(out) and old_labels != labels):
            tensor.copy_(source)
            loaded += 1
        elif (
            name.startswith(out) and old_labels is not None and source.shape[1:] == tensor.shape[1:]
        ):
            for row, label in enumerate(labels):
                if label in old_labels:
                    tensor[row] = source[old_labels.index(label)]
                    rows += name.endswith("weight")
            loaded += 1
    if loaded == 0:
        raise ConfigError(
            "no weights of it fit this network (no parameter of the same name and shape)",
            where=f"model.init_from ({spec})",
            fix="Start from a package or weights of the same model.type and model settings",
        )
    network.load_state_dict(own)
    log.info("model.init_from: %d tensors loaded, %d output rows matched by label", loaded, rows)
    return {"init_from_tensors": loaded, "init_from_label_rows": rows}


def _read_start(spec: str, task: str, load_package: Any) -> tuple[dict[str, Any], list[str] | None]:
    """(state dict, labels or None) of a package (read by `load_package`) or a weights file."""
    path = Path(spec)
    if path.is_file() and path.suffix in (".safetensors", ".pth", ".pt"):
        from trainforge.models.mobilenet import read_state_dict

        return read_state_dict(path), None
    old = load_package(spec)
    if old.config.task != task or not isinstance(old.network, nn.Module):
        raise ConfigError(
            f"cannot start from this package: it was trained for task {old.config.task!r}",
            where=f"model.init_from ({spec})",
            fix="Start from an image_classification package, or a .safetensors file",
        )
    return old.network.state_dict(), list(old.labels or [])

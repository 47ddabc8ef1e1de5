"""Image networks trained from scratch: a configurable small CNN and a ResNet.

Every image network is an `ImageNetwork`: `embed(images)` gives one feature vector per image
(the backbone, pooled), `head` maps it to logits, so a linear probe trains the head alone on
features computed once. Parameter names group by stage (`stem`, `layer1`, ..., `head`), which is
what `model.freeze` names.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


class ImageNetwork(nn.Module):
    """An image classifier: `embed` (backbone + global pooling) then `head` (dropout, linear).

    Parameters under the prefixes in `frozen` do not train, and their modules stay in eval mode
    (batch-norm statistics included) even while the rest of the network trains.
    """

    head_name = "head"

    def __init__(self) -> None:
        super().__init__()
        self.frozen: tuple[str, ...] = ()

    @property
    def head_module(self) -> nn.Module:
        return getattr(self, self.head_name)  # type: ignore[no-any-return]

    @property
    def out_layer(self) -> nn.Linear:
        """The last linear layer, whose rows are the classes."""
        return self.head_module[-1]  # type: ignore[index,no-any-return]

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head_module(self.embed(images))  # type: ignore[no-any-return]

    def train(self, mode: bool = True) -> ImageNetwork:
        super().train(mode)
        for name, module in self.named_modules():
            if name and any(_under(name, prefix) for prefix in self.frozen):
                module.eval()
        return self


def _under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def _head(features: int, n_outputs: int, dropout: float) -> nn.Sequential:
    return nn.Sequential(nn.Dropout(dropout), nn.Linear(features, n_outputs))


def _norm(channels: int, batch_norm: bool) -> nn.Module:
    return nn.BatchNorm2d(channels) if batch_norm else nn.Identity()


class SmallCNN(ImageNetwork):
    """Blocks of two 3x3 convolutions (+ batch norm, ReLU) and a 2x2 max-pool, then global
    average pooling and a linear head.

    Args:
        in_channels: 1 (grey) or 3 (RGB).
        n_outputs: logits.
        widths: output channels of each block (`model.channels`), e.g. [32, 64, 128].
        size: input (height, width); blocks stop pooling once a side is down to 1.
        batch_norm: batch norm after every convolution.
        dropout: before the head.
    """

    def __init__(
        self,
        in_channels: int,
        n_outputs: int,
        widths: Sequence[int],
        size: tuple[int, int],
        batch_norm: bool = True,
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        side = min(size)
        previous = in_channels
        for index, width in enumerate(widths, start=1):
            layers = [
                nn.Conv2d(previous, width, 3, padding=1, bias=not batch_norm),
                _norm(width, batch_norm),
                nn.ReLU(inplace=True),
                nn.Conv2d(width, width, 3, padding=1, bias=not batch_norm),
                _norm(width, batch_norm),
                nn.ReLU(inplace=True),
            ]
            if side >= 2:
                layers.append(nn.MaxPool2d(2))
                side //= 2
            self.add_module(f"layer{index}", nn.Sequential(*layers))
            previous = width
        self.n_layers = len(widths)
        self.head = _head(previous, n_outputs, dropout)

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        x = images
        for index in range(1, self.n_layers + 1):
            x = getattr(self, f"layer{index}")(x)
        return torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1)


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with a shortcut (1x1 convolution where the shape changes)."""

    def __init__(self, inputs: int, width: int, stride: int, batch_norm: bool) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inputs, width, 3, stride, 1, bias=not batch_norm)
        self.bn1 = _norm(width, batch_norm)
        self.conv2 = nn.Conv2d(width, width, 3, 1, 1, bias=not batch_norm)
        self.bn2 = _norm(width, batch_norm)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or inputs != width:
            self.shortcut = nn.Sequential(
                nn.Conv2d(inputs, width, 1, stride, bias=not batch_norm), _norm(width, batch_norm)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return torch.relu(out + self.shortcut(x))


class ResNet(ImageNetwork):
    """A ResNet from scratch: a stem, stages of basic blocks (each later stage halves the size
    and its first block widens), global average pooling and a linear head.

    Small images (under 96 pixels a side) get a 3x3 stem at full resolution, as the CIFAR
    ResNets; larger ones ImageNet's 7x7 stride-2 stem and max-pool.

    Args:
        in_channels: 1 or 3.
        n_outputs: logits.
        stages: blocks per stage, e.g. (2, 2, 2, 2) for ResNet-18.
        widths: channels per stage.
        size: input (height, width).
        batch_norm, dropout: as for `SmallCNN`.
    """

    def __init__(
        self,
        in_channels: int,
        n_outputs: int,
        stages: Sequence[int],
        widths: Sequence[int],
        size: tuple[int, int],
        batch_norm: bool = True,
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        if min(size) >= 96:
            self.stem = nn.Sequential(
                nn.Conv2d(in_channels, widths[0], 7, 2, 3, bias=not batch_norm),
                _norm(widths[0], batch_norm),
                nn.ReLU(inplace=True),
                nn.MaxPool2d(3, 2, 1),
            )
        else:
            self.stem = nn.Sequential(
                nn.Conv2d(in_channels, widths[0], 3, 1, 1, bias=not batch_norm),
                _norm(widths[0], batch_norm),
                nn.ReLU(inplace=True),
            )
        previous = widths[0]
        for index, (blocks, width) in enumerate(zip(stages, widths, strict=True), start=1):
            stride = 1 if index == 1 else 2
            layer = [BasicBlock(previous, width, stride, batch_norm)]
            layer += [BasicBlock(width, width, 1, batch_norm) for _ in range(blocks - 1)]
            self.add_module(f"layer{index}", nn.Sequential(*layer))
            previous = width
        self.n_layers = len(stages)
        self.head = _head(previous, n_outputs, dropout)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        x = self.stem(images)
        for index in range(1, self.n_layers + 1):
            x = getattr(self, f"layer{index}")(x)
        return torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1)


class HeadOnly(nn.Module):
    """An image network's head, trained on features cached by `embed` (a linear probe); it
    shares the head's parameters, so the network is trained in place."""

    def __init__(self, head: nn.Module) -> None:
        super().__init__()
        self.head = head

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.head(features)  # type: ignore[no-any-return]

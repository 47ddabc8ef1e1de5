"""Image classification: images decoded into uint8 arrays of one size, a CNN, ResNet or
MobileNetV2 (ImageNet weights) trained in full, with frozen parts, or as a linear probe."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from trainforge.errors import PackageError
from trainforge.tasks.family import (
    PROBE_ROWS,
    InputKind,
    LoadPackage,
    Prepared,
    TaskFamily,
    assumed_labels,
)
from trainforge.tasks.model import Model


class ImageFamily(TaskFamily):
    """`image_classification`."""

    name = "image"
    input_kind: InputKind = "image"

    def prepare(self, cfg: Any, load_package: LoadPackage) -> Prepared:
        from trainforge.tasks.image.prepare import prepare

        return prepare(cfg, load_package)

    def load(
        self, path: Path, cfg: Any, manifest: dict[str, Any], target: Any, onnx: bool | str = False
    ) -> Model:
        from trainforge.models.image_package import load_image_inputs, load_image_model
        from trainforge.tasks.image.model import ImageModel

        if onnx is not False:
            network: Any = self.onnx_network(path, cfg, onnx)
            return ImageModel(cfg, load_image_inputs(path), target, network=network)
        inputs, network = load_image_model(path, cfg, manifest)
        return ImageModel(cfg, inputs, target, network=network)

    def check_updatable(self, model: Model, model_dir: Path) -> None:
        raise PackageError(
            "image packages keep no replay memory and cannot be updated yet",
            where=str(model_dir),
            fix="Train a new model with model.init_from: this folder (transfer learning)",
        )

    def fallback_samples(self, model: Model) -> Any:
        """Random pixels: they exercise the graph as well as real images do."""
        import numpy as np

        from trainforge.data.images import Images

        size = (33, model.inputs.format.channels, *model.inputs.format.size)
        pixels = np.random.default_rng(0).integers(0, 256, size=size, dtype=np.uint8)
        return Images(pixels, None, [f"random image {i}" for i in range(33)], "random")

    def input_schema(self, model: Model) -> dict[str, Any]:
        return {
            "type": "string",
            "contentEncoding": "base64",
            "description": "an image file (PNG, JPEG, ...) in base64; a data: URI prefix is "
            "allowed",
        }

    def warmup_input(self, model: Model) -> Any:
        """A blank image of the package's size and channels."""
        import numpy as np

        channels, (height, width) = model.inputs.format.channels, model.inputs.format.size
        return np.zeros((height, width, channels) if channels == 3 else (height, width), np.uint8)

    def plan_network(self, cfg: Any, notes: list[str]) -> tuple[Any, dict[str, Any], str]:
        import torch

        from trainforge.data.images import ImageFormat
        from trainforge.models.vision import build_image_network

        size = cfg.data.image_size or (224 if cfg.model.type == "mobilenet_v2" else 32)
        height, width = (size, size) if isinstance(size, int) else size
        channels = cfg.data.channels or 3
        if cfg.data.image_size is None or cfg.data.channels is None:
            notes.append(f"images assumed {height}×{width} with {channels} channels")
        labels = assumed_labels(cfg, notes)
        fmt = ImageFormat((height, width), channels)
        network = build_image_network(cfg.model, fmt, labels, pretrained=False)
        probe = {"images": torch.randn(PROBE_ROWS, channels, height, width)}
        return network, probe, f"{cfg.model.type} on {height}×{width} images"


FAMILY = ImageFamily()

"""Saving and loading image models inside a package.

model.safetensors   the network's weights (torchvision names for mobilenet_v2)
image.json          `ImageInputs`: size, channels, normalisation (also in the manifest)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from trainforge.config import ExperimentConfig
from trainforge.data.image_inputs import ImageInputs
from trainforge.models.cnn import ImageNetwork
from trainforge.package import WEIGHTS, write_json

INPUTS = "image.json"


def network_spec(network: ImageNetwork, n_outputs: int) -> dict[str, Any]:
    """The manifest entry that tells `load_image_model` how to rebuild the network."""
    return {
        "class": type(network).__name__,
        "n_outputs": n_outputs,
        "parameters": sum(p.numel() for p in network.parameters()),
    }


def save_image_model(folder: Path, network: ImageNetwork, inputs: ImageInputs) -> None:
    """Write the weights and the input settings into a package folder."""
    from safetensors.torch import save_file

    state = {k: v.contiguous() for k, v in network.state_dict().items()}
    save_file(state, folder / WEIGHTS)
    write_json(folder / INPUTS, inputs.state_dict())


def load_image_inputs(path: Path) -> ImageInputs:
    """The package's `ImageInputs` (for PyTorch and ONNX Runtime alike)."""
    return ImageInputs.from_state(json.loads((path / INPUTS).read_text(encoding="utf-8")))


def load_image_model(
    path: Path, config: ExperimentConfig, manifest: dict[str, Any]
) -> tuple[ImageInputs, ImageNetwork]:
    """(inputs, network in eval mode) of an image package."""
    from safetensors.torch import load_file

    from trainforge.models.vision import build_image_network

    inputs = load_image_inputs(path)
    network = build_image_network(
        config.model, inputs.format, manifest["network"]["n_outputs"], pretrained=False
    )
    network.load_state_dict(load_file(path / WEIGHTS))
    network.eval()
    return inputs, network

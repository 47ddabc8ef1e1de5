"""Inference on a model package: `trainforge.load(path).predict(rows)`.

`load` reads a package's manifest and config and hands it to the family of its task
(`trainforge.tasks.registry`), which rebuilds the `Model`; `write_predictions` streams
predictions to a file.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from trainforge.config import load_config
from trainforge.package import read_manifest
from trainforge.tasks import target_from_state
from trainforge.tasks.model import CHUNK_ROWS, Model, Rows, as_frame, encode_targets
from trainforge.tasks.registry import family_of

__all__ = [
    "CHUNK_ROWS",
    "Model",
    "Rows",
    "as_frame",
    "encode_targets",
    "load",
    "write_predictions",
]


def write_predictions(predictions: Iterable[dict[str, Any]], path: str | Path) -> int:
    """Write predictions as JSON lines while they are computed; returns how many.

    Lines go to a hidden temporary file next to `path`, renamed into place at the end, so a
    failure halfway leaves no partial file behind.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    count = 0
    try:
        with tmp.open("w", encoding="utf-8") as out:
            for prediction in predictions:
                out.write(json.dumps(prediction) + "\n")
                count += 1
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return count


def load(path: str | Path, *, onnx: bool | str = False) -> Model:
    """Load a model package written by `trainforge train`.

    Args:
        path: the model folder (RUN_DIR/model: its current version is loaded) or one
            version's package folder (RUN_DIR/model/v2).
        onnx: run the network with ONNX Runtime from the package's `onnx/` folder (written by
            `trainforge export`) instead of PyTorch: True picks the int8 model when one was
            exported, else fp32; "fp32" or "int8" picks one. Default False (PyTorch).

    Example:
        >>> model = trainforge.load("runs/iris/model")
        >>> fast = trainforge.load("runs/sst2/model", onnx=True)
    """
    from trainforge.versions import resolve

    path = resolve(path)
    manifest = read_manifest(path)
    config = load_config(path / "config.yaml")
    target = target_from_state(manifest["target"])
    return family_of(config).load(path, config, manifest, target, onnx)

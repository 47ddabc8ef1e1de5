"""A trainforge package used as `model.backbone`: domain adaptation, then fine-tuning.

A package that holds a whole transformers model in `hf/` (a text_generation package with
merged weights, after `sft`, `dpo` or `causal_lm`) can start another run: the backbone is its
`hf/` folder. A model folder of versions stands for the version its `current` pointer names.
"""

from __future__ import annotations

import os
from pathlib import Path

from trainforge.errors import ConfigError

MANIFEST = "trainforge.json"
POINTER = "current"
HF = "hf"


def package_weights(name: str) -> Path | None:
    """The `hf/` folder of the package `name` names, None when `name` is not a package.

    Raises:
        ConfigError: a package without a whole transformers model (adapter-only, or a task
            whose package holds none).
    """
    path = Path(name).expanduser()
    pointer = path / POINTER
    if not (path / MANIFEST).is_file() and (pointer.is_symlink() or pointer.is_file()):
        version = os.readlink(pointer) if pointer.is_symlink() else pointer.read_text("utf-8")
        path = path / version.strip()
    if not (path / MANIFEST).is_file():
        return None
    weights = path / HF
    if not (weights / "config.json").is_file():
        raise ConfigError(
            f"the package {name!r} holds no whole transformers model (no {HF}/config.json) to "
            "start from",
            where="model.backbone",
            fix="Start from a text_generation package with merged weights (trained without "
            "model.peft.adapter_only), or from the backbone that package was trained on",
        )
    return weights

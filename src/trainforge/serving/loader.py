"""Which package a MODEL_DIR means, loading and warming it, and what it tells clients.

A MODEL_DIR is either a package (it holds `trainforge.json`) or a folder of versions
(`v1/`, `v2/`, ...) with a `current` pointer: a symlink to the version folder, or a small text
file holding its name (or a path, relative to MODEL_DIR). The model version reported to clients
is the version folder's name (a package reached through a `current` pointer, or a folder
directly inside MODEL_DIR); any other package, e.g. MODEL_DIR itself, gets
`sha256(manifest bytes + name, size and mtime of every file)[:12]`, which changes whenever the
package is rewritten.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trainforge.package import MANIFEST
from trainforge.tasks.family import InputKind
from trainforge.tasks.registry import family_of
from trainforge.versions import POINTER, resolve

__all__ = ["POINTER", "InputKind", "LoadedModel", "load_package", "resolve", "version_id"]


@dataclass(frozen=True)
class LoadedModel:
    """A loaded, warmed package and what the service reports about it.

    Args:
        model: the `trainforge.predict.Model`.
        path: the package folder.
        version: the version id (see the module docstring).
        manifest: the package's `trainforge.json`.
        metrics: the package's `metrics.json` (empty when absent).
        kind: what one input is: a text, a text or word list (token tasks), or a table row.
        input_schema: JSON schema of one input.
    """

    model: Any
    path: Path
    version: str
    manifest: dict[str, Any]
    metrics: dict[str, Any] = field(default_factory=dict)
    kind: InputKind = "tabular"
    input_schema: dict[str, Any] = field(default_factory=dict)


def version_id(package: Path, root: Path, model_dir: Path) -> str:
    """The version id of `package`, found from `root` (MODEL_DIR or a path given to reload).

    The version folder's name when `root` pointed at it through `current` or it sits directly in
    MODEL_DIR; otherwise a short content hash (see the module docstring).
    """
    if package != root or package.parent == model_dir:
        return package.name
    digest = hashlib.sha256((package / MANIFEST).read_bytes())
    for file in sorted(package.rglob("*")):
        if file.is_file():
            stat = file.stat()
            digest.update(f"{file.relative_to(package)}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return digest.hexdigest()[:12]


def load_package(package: Path, version: str, *, onnx: bool = False) -> LoadedModel:
    """Load a package and run one prediction on it, so the first request is not the slow one.

    Blocking (reads weights, runs the model): call it from a worker thread.
    """
    from trainforge.package import read_manifest
    from trainforge.predict import load

    manifest = read_manifest(package)
    model = load(package, onnx=onnx)
    metrics_file = package / "metrics.json"
    metrics = json.loads(metrics_file.read_text("utf-8")) if metrics_file.is_file() else {}
    family = family_of(model.config)
    model.predict([family.warmup_input(model)])
    return LoadedModel(
        model=model,
        path=package,
        version=version,
        manifest=manifest,
        metrics=metrics,
        kind=family.input_kind,
        input_schema=family.input_schema(model),
    )

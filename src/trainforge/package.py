"""The model package: a folder holding everything needed to predict, and nothing that executes.

Layout:
    trainforge.json     manifest: format version, task, library versions, network spec, target
    config.yaml         the resolved experiment config
    preprocessor.json   fitted input preprocessing (plain JSON)
    model.safetensors   torch weights, or estimator.skops for scikit-learn models
    metrics.json        the run's metrics
    README.md           model card

Written to a temporary sibling folder and renamed into place, so a crash never leaves half a
package.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import warnings
from collections.abc import Callable
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

from trainforge.errors import PackageError

FORMAT_VERSION = 1
MANIFEST = "trainforge.json"
WEIGHTS = "model.safetensors"
ESTIMATOR = "estimator.skops"
_TRACKED = ("trainforge", "torch", "scikit-learn", "lightning", "transformers", "peft")


def library_versions(names: tuple[str, ...] = ()) -> dict[str, str]:
    """Installed versions of the libraries a package depends on (or of `names`)."""
    versions = {}
    for name in names or _TRACKED:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def write_package(
    dest: Path, manifest: dict[str, Any], write_files: Callable[[Path], None]
) -> Path:
    """Write a package atomically.

    Args:
        dest: the final folder; replaced if it exists.
        manifest: task-specific manifest entries; format and versions are added here.
        write_files: writes everything else (weights, config, ...) into the folder it is given.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}-", dir=dest.parent))
    try:
        write_files(tmp)
        full = {
            "format_version": FORMAT_VERSION,
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "versions": library_versions(),
            **manifest,
        }
        write_json(tmp / MANIFEST, full)
        swap_into_place(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return dest


def read_manifest(path: Path) -> dict[str, Any]:
    """The manifest of the package at `path`; checks the format and warns on version drift."""
    if not path.exists():
        raise PackageError(
            "model folder not found",
            where=str(path),
            fix="Pass the model/ folder of a finished run (trainforge train writes RUN_DIR/model)",
        )
    file = path / MANIFEST
    if not file.is_file():
        raise PackageError(
            f"not a trainforge model package (no {MANIFEST})",
            where=str(path),
            fix="Pass the model/ folder of a finished run, e.g. runs/NAME/model",
        )
    try:
        manifest = json.loads(file.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise PackageError(
            f"damaged manifest ({exc})", where=str(file), fix="Re-create the package by training"
        ) from None
    version = manifest.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise PackageError(
            f"package format {version!r} is newer than this trainforge supports ({FORMAT_VERSION})",
            where=str(path),
            fix="Upgrade trainforge: pip install -U trainforge",
        )
    installed = library_versions()
    drift = {
        name: (saved, installed.get(name))
        for name, saved in manifest.get("versions", {}).items()
        if installed.get(name) not in (None, saved) and name != "trainforge"
    }
    if drift:
        details = ", ".join(f"{n} {s} -> {i}" for n, (s, i) in drift.items())
        warnings.warn(
            f"{path}: saved with other library versions ({details}); predictions may differ "
            "slightly",
            stacklevel=2,
        )
    return manifest


def write_json(path: Path, data: Any) -> None:
    """Write JSON atomically (temp file + rename)."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def model_card(manifest: dict[str, Any], metrics: dict[str, Any], config_yaml: str) -> str:
    """A short README.md for the package: what it is, how well it does, how to use it."""
    lines = [
        f"# {manifest.get('name', 'trainforge model')}",
        "",
        f"- Task: `{manifest['task']}`",
        f"- Model: `{manifest['model_type']}`",
        f"- Trained on: `{manifest.get('train_source', '?')}` "
        f"({manifest.get('train_rows', '?')} rows)",
    ]
    if manifest.get("backbone"):
        lines.append(f"- Backbone: `{manifest['backbone']}` ({manifest.get('finetune', '?')})")
    if manifest.get("labels"):
        lines.append(f"- Labels: {', '.join(f'`{label}`' for label in manifest['labels'])}")
    lines += ["", "## Metrics", "", "| split | metric | value |", "|---|---|---|"]
    for split in ("validation", "test"):
        for key, value in metrics.get(split, {}).items():
            if isinstance(value, float):
                lines.append(f"| {split} | {key} | {value:.4f} |")
    lines += [
        "",
        "## Use",
        "",
        "```python",
        "import trainforge",
        "model = trainforge.load('path/to/this/folder')",
        "model.predict(rows)   # a DataFrame, a list of dicts, or a file path",
        "```",
        "",
        "or `trainforge predict path/to/this/folder input.csv`.",
        "",
        "## Limitations",
        "",
        "Measured only on the splits above; inputs unlike the training data (new categories, "
        "other ranges, another domain) may be predicted poorly.",
        *_backbone_notes(manifest),
        "",
        "## Config",
        "",
        "```yaml",
        config_yaml.rstrip(),
        "```",
        "",
    ]
    return "\n".join(lines)


def _backbone_notes(manifest: dict[str, Any]) -> list[str]:
    """Model-card lines about the weights the package started from."""
    lines = []
    if manifest.get("backbone_note"):
        lines += ["", str(manifest["backbone_note"])]
    vocabulary = manifest.get("vocabulary")
    if isinstance(vocabulary, dict):
        lines += [
            "",
            f"Vocabulary trimmed from {vocabulary['pieces_before']:,} to "
            f"{vocabulary['pieces_after']:,} pieces (the training text's pieces and "
            f"{vocabulary['reserve']:,} frequent ones): text in other scripts reads as unknown "
            "tokens.",
        ]
    return lines


def swap_into_place(tmp: Path, dest: Path) -> None:
    """Replace the folder `dest` with `tmp` by renames: readers see the old one or the new one."""
    if dest.exists():
        old = dest.with_name(f".{dest.name}-old")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(dest, old)
        os.replace(tmp, dest)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, dest)

"""Model versions: a model folder holds packages `v1/`, `v2/`, ... and a `current` pointer.

`trainforge train` writes RUN_DIR/model as such a folder (`v1/` and `current`); updates add
versions; `current` names the one that is served and loaded. The pointer is a small text file
(or a symlink) replaced atomically, so a reader sees the old version or the new one, never
neither. `versions.json` records when each version became current, for `rollback`.
A plain package folder (one `trainforge.json`, as written before versions existed) still loads.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from trainforge.errors import PackageError
from trainforge.package import MANIFEST

POINTER = "current"
HISTORY = "versions.json"
_VERSION = re.compile(r"^v(\d+)$")


@dataclass(frozen=True)
class Version:
    """One version of a model folder."""

    name: str
    path: Path
    current: bool
    metrics: dict[str, Any]


def resolve(model_dir: str | Path) -> Path:
    """The package a model folder stands for: itself, or the version `current` points at."""
    model_dir = Path(model_dir)
    if (model_dir / MANIFEST).is_file():
        return model_dir
    pointer = model_dir / POINTER
    if pointer.is_symlink():
        target = Path(os.readlink(pointer))
    elif pointer.is_file():
        name = pointer.read_text(encoding="utf-8").strip()
        if not name:
            raise PackageError(
                "the `current` pointer is empty",
                where=str(pointer),
                fix="Write the name of a version folder into it, e.g. `echo v2 > current`, "
                "or run `trainforge rollback MODEL --to v1`",
            )
        target = Path(name)
    elif model_dir.is_dir():
        inside = model_dir / "model"
        hint = (
            f"This looks like a run folder: pass {inside}"
            if (inside / MANIFEST).is_file() or (inside / POINTER).exists()
            else "Pass the model/ folder of a finished run, e.g. runs/NAME/model"
        )
        raise PackageError(
            f"not a trainforge model (no {MANIFEST}, and no `current` pointer to a version)",
            where=str(model_dir),
            fix=hint,
        )
    else:
        raise PackageError(
            "model folder not found",
            where=str(model_dir),
            fix="Pass the model/ folder of a finished run (trainforge train writes RUN_DIR/model)",
        )
    package = target if target.is_absolute() else model_dir / target
    if not (package / MANIFEST).is_file():
        raise PackageError(
            f"`current` points at {str(target)!r}, which is not a model package (no {MANIFEST})",
            where=str(pointer),
            fix="Point `current` at a version folder, e.g. `trainforge rollback MODEL --to v1`",
        )
    return package


def is_versioned(model_dir: Path) -> bool:
    """Whether `model_dir` is a folder of versions (rather than one package)."""
    return not (model_dir / MANIFEST).is_file() and (
        (model_dir / POINTER).is_file() or (model_dir / POINTER).is_symlink()
    )


def current_name(model_dir: Path) -> str:
    """The name of the version `current` points at."""
    return resolve(model_dir).name


def list_versions(model_dir: str | Path) -> list[Version]:
    """Every version folder (vN, by number), with its metrics and which one is current."""
    model_dir = _versioned(Path(model_dir))
    current = resolve(model_dir)
    found = []
    for child in model_dir.iterdir():
        if _VERSION.match(child.name) and (child / MANIFEST).is_file():
            metrics_file = child / "metrics.json"
            metrics = json.loads(metrics_file.read_text("utf-8")) if metrics_file.is_file() else {}
            found.append(Version(child.name, child, child.resolve() == current.resolve(), metrics))
    return sorted(found, key=lambda v: _number(v.name))


def next_name(model_dir: Path) -> str:
    """The name of the next version folder: one past the highest vN there (v1 in a new one)."""
    numbers = [_number(c.name) for c in model_dir.iterdir() if _VERSION.match(c.name)]
    return f"v{max(numbers, default=0) + 1}"


def promote(model_dir: Path, name: str, *, reason: str = "promoted") -> None:
    """Point `current` at version `name` (atomically) and record it in versions.json."""
    if not (model_dir / name / MANIFEST).is_file():
        raise PackageError(
            f"no version {name!r} here",
            where=str(model_dir),
            fix=f"Choose one of {', '.join(v.name for v in list_versions(model_dir)) or 'none'}",
        )
    tmp = model_dir / f".{POINTER}.tmp"
    tmp.write_text(name + "\n", encoding="utf-8")
    os.replace(tmp, model_dir / POINTER)  # replaces a symlink pointer too
    history = _history(model_dir)
    stamp = datetime.now(timezone.utc).isoformat(timespec="seconds")
    history.append({"version": name, "at": stamp, "reason": reason})
    tmp = model_dir / f".{HISTORY}.tmp"
    tmp.write_text(json.dumps({"history": history}, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, model_dir / HISTORY)


def rollback(model_dir: str | Path, to: str | None = None) -> str:
    """Make an earlier version current: `to`, else the one that was current before this one."""
    model_dir = _versioned(Path(model_dir))
    now = current_name(model_dir)
    if to is None:
        previous = [
            e["version"]
            for e in _history(model_dir)
            if e["version"] != now and (model_dir / e["version"] / MANIFEST).is_file()
        ]
        if not previous:
            raise PackageError(
                f"{now} is the only version that has been current; there is nothing to go back to",
                where=str(model_dir),
                fix="Name a version with --to (see `trainforge versions MODEL`)",
            )
        to = previous[-1]
    if to == now:
        raise PackageError(
            f"{to} is already the current version",
            where=str(model_dir),
            fix="Name another version with --to (see `trainforge versions MODEL`)",
        )
    promote(model_dir, to, reason=f"rollback from {now}")
    return to


def _history(model_dir: Path) -> list[dict[str, Any]]:
    try:
        data = json.loads((model_dir / HISTORY).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    history = data.get("history") if isinstance(data, dict) else None
    return [e for e in history or [] if isinstance(e, dict) and "version" in e]


def _versioned(model_dir: Path) -> Path:
    if not is_versioned(model_dir):
        resolve(model_dir)  # raises the not-found / not-a-model errors
        raise PackageError(
            "a single model package, not a folder of versions",
            where=str(model_dir),
            fix="Pass the model/ folder of a run (it holds v1/, v2/, ... and `current`)",
        )
    return model_dir


def _number(name: str) -> int:
    match = _VERSION.match(name)
    return int(match.group(1)) if match else 0

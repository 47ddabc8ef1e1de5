"""What a package remembers of its data: a replay sample and a held-out sample.

Both are class-balanced, seeded samples of the rows, holding only the columns the config uses
(the text, or the feature columns, and the label), capped in rows and in bytes. An update
replays the first and measures forgetting on the second.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from trainforge.data.split import balanced_indices

MEMORY = "continual"
REPLAY = "replay.jsonl"
HELDOUT = "heldout.jsonl"


def capped_lines(frame: pd.DataFrame, max_bytes: int) -> list[str]:
    """JSON lines of the rows, in order, stopping before the total passes `max_bytes`."""
    lines, total = [], 0
    for line in frame.to_json(orient="records", lines=True, force_ascii=False).splitlines():
        size = len(line.encode("utf-8")) + 1
        if total + size > max_bytes:
            break
        lines.append(line)
        total += size
    return lines


def write_memory(
    folder: Path,
    rows: Callable[[str, np.ndarray], pd.DataFrame],
    labels: dict[str, np.ndarray],
    *,
    replay_size: int,
    replay_bytes: int,
    heldout_size: int,
    seed: int,
) -> dict[str, int]:
    """Write folder/continual/{replay,heldout}.jsonl; returns the rows kept in each.

    Args:
        rows: (split, row indices) -> those rows, with only the columns the config uses.
        labels: encoded labels per split (for class balance).
    """
    kept = {}
    heldout_split = "test" if "test" in labels else "validation" if "validation" in labels else None
    plan = [(REPLAY, "train", replay_size, replay_bytes)]
    if heldout_split is not None:
        plan.append((HELDOUT, heldout_split, heldout_size, replay_bytes))
    for name, split, size, max_bytes in plan:
        if size == 0 or max_bytes == 0:
            continue
        # Balanced order first, so that a byte cap cuts every class alike.
        indices = balanced_indices(labels[split], size, seed)
        lines = capped_lines(rows(split, indices), max_bytes)
        write_lines(folder, name, lines)
        kept[name.split(".")[0]] = len(lines)
    return kept


def write_lines(package: Path, name: str, lines: list[str]) -> None:
    """Write a kept sample (JSON lines) into package/continual/."""
    (package / MEMORY).mkdir(exist_ok=True)
    (package / MEMORY / name).write_text("".join(x + "\n" for x in lines), encoding="utf-8")


def read_memory(package: Path, name: str) -> pd.DataFrame | None:
    """A kept sample of a package (REPLAY or HELDOUT), or None when the package has none."""
    path = package / MEMORY / name
    if not path.is_file() or path.stat().st_size == 0:
        return None
    return pd.read_json(path, lines=True, dtype=False)

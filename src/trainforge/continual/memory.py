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

MEMORY = "continual"
REPLAY = "replay.jsonl"
HELDOUT = "heldout.jsonl"


def balanced_indices(labels: np.ndarray, size: int, seed: int) -> np.ndarray:
    """Up to `size` row indices, as even across classes as the classes allow, in random order.

    Classes take turns: each round adds one more row of every class that has rows left, so a
    rare class keeps all its rows and the frequent ones share the rest.
    """
    rng = np.random.default_rng(seed)
    labels = np.asarray(labels)
    if labels.ndim > 1:  # multi-label: no single class per row; sample uniformly
        return np.sort(rng.permutation(len(labels))[:size])
    pools = [rng.permutation(np.flatnonzero(labels == c)) for c in np.unique(labels)]
    chosen: list[int] = []
    depth = 0
    while len(chosen) < size and any(depth < len(pool) for pool in pools):
        for pool in pools:
            if depth < len(pool) and len(chosen) < size:
                chosen.append(int(pool[depth]))
        depth += 1
    return np.asarray(chosen, dtype=np.int64)


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

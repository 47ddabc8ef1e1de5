"""The accuracy matrix across versions, as Avalanche reports it for a stream of experiences.

Row i is a version of the model, column j the held-out data of the version that first trained
on it (its *experience*); a cell is that version's accuracy on that data. The diagonal is each
version on its own data, the row below the diagonal what it still knows of earlier data.
Backward transfer (Lopez-Paz & Ranzato, 2017) is the mean over earlier experiences j of
R[last, j] - R[j, j]: negative when the last version forgot.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from trainforge.continual.memory import HELDOUT, MEMORY, read_memory

# One version name per line of heldout.jsonl: the experience the row came from.
SOURCES = "heldout_sources.json"


def read_experiences(package: Path) -> list[tuple[str, pd.DataFrame]]:
    """The package's held-out rows, split by the version whose data they came from.

    A package that trained on one data set only (a first version) has no sources file: all
    its rows are its own.
    """
    rows = read_memory(package, HELDOUT)
    if rows is None:
        return []
    path = package / MEMORY / SOURCES
    sources = [package.name] * len(rows)
    if path.is_file():
        sources = json.loads(path.read_text(encoding="utf-8"))
    if len(sources) != len(rows):
        sources = [package.name] * len(rows)  # an edited memory: one experience, not a guess
    tags = pd.Series(sources, index=rows.index)
    return [(name, rows[tags == name]) for name in dict.fromkeys(sources)]


def write_sources(package: Path, sources: Sequence[str]) -> None:
    """Record, per held-out row, the version whose data it came from."""
    (package / MEMORY / SOURCES).write_text(json.dumps(list(sources)), encoding="utf-8")


def extend_matrix(
    previous: Mapping[str, Any] | None,
    old_name: str,
    new_name: str,
    before: Mapping[str, float],
    after: Mapping[str, float],
) -> dict[str, Any]:
    """The matrix after an update: earlier rows kept, the old version's row measured again,
    the new version's row added.

    Args:
        previous: the old version's matrix ({"rows", "columns", "accuracy"}) or None.
        old_name, new_name: the version updated and the version made.
        before, after: experience name -> accuracy of the old and of the new version.
    """
    columns = list(previous["columns"]) if previous else []
    columns += [name for name in after if name not in columns]
    rows: list[str] = []
    cells: list[list[float | None]] = []
    if previous:
        for name, values in zip(previous["rows"], previous["accuracy"], strict=True):
            if name == old_name:
                continue
            known = dict(zip(previous["columns"], values, strict=True))
            rows.append(name)
            cells.append([known.get(column) for column in columns])
    rows += [old_name, new_name]
    cells.append([before.get(column) for column in columns])
    cells.append([after.get(column) for column in columns])
    return {"rows": rows, "columns": columns, "accuracy": cells}


def backward_transfer(matrix: Mapping[str, Any]) -> float | None:
    """Mean of R[last, j] - R[j, j] over earlier experiences j with both cells measured."""
    rows, columns, cells = matrix["rows"], matrix["columns"], matrix["accuracy"]
    last = cells[-1]
    gaps = []
    for j, column in enumerate(columns[:-1]):
        if column in rows:
            own = cells[rows.index(column)][j]
            if own is not None and last[j] is not None:
                gaps.append(last[j] - own)
    return float(np.mean(gaps)) if gaps else None


def report_section(matrix: Mapping[str, Any], continual: Mapping[str, Any], plots: Path) -> str:
    """HTML for the update's report: the gate, before/after scores and the matrix."""
    from trainforge.evaluation.html import esc, image, table

    parts = ["<h2>Continual update</h2>"]
    status = continual.get("status", "")
    failed = continual.get("gate_failed") or []
    verdict = f"{status}: the gate failed on {', '.join(failed)}" if failed else status
    parts.append(
        f"<p>Strategy <b>{esc(continual.get('strategy'))}</b>, from "
        f"<b>{esc(continual.get('from'))}</b>; this version is {esc(verdict)}.</p>"
    )
    rows = []
    for name in ("old", "new"):
        part = continual.get(name)
        if part:
            rows.append(
                [
                    f"{name} held-out data ({part['rows']} rows)",
                    part["accuracy_before"],
                    part["accuracy"],
                    part["f1_macro_before"],
                    part["f1_macro"],
                ]
            )
    header = ["data", "accuracy before", "accuracy after", "macro F1 before", "macro F1 after"]
    parts.append(table(header, rows))
    facts = [
        [key, continual[key]] for key in ("forgetting", "bwt") if continual.get(key) is not None
    ]
    if facts:
        parts.append(table(["measure", "value"], facts))
    parts.append(
        "<h3>Accuracy matrix across versions</h3>"
        '<p class="muted">Rows: versions of the model. Columns: the held-out data of the '
        "version that first trained on it. Below the diagonal: what a version still knows of "
        "earlier data; blank: not measured.</p>"
    )
    cells = [
        [row, *("" if v is None else v for v in values)]
        for row, values in zip(matrix["rows"], matrix["accuracy"], strict=True)
    ]
    parts.append(table(["version \\ data of", *matrix["columns"]], cells))
    parts.append(image(plot_matrix(matrix, plots / "accuracy_matrix.png"), "Accuracy matrix"))
    return "".join(parts)


def plot_matrix(matrix: Mapping[str, Any], path: Path) -> Path:
    """A heat map of the accuracy matrix, values in the cells."""
    from trainforge.evaluation.plots import new_figure, plain_text, save_figure

    values = np.array(
        [[math.nan if v is None else v for v in row] for row in matrix["accuracy"]], dtype=float
    )
    n_rows, n_cols = values.shape
    fig = new_figure(1.6 + 1.1 * n_cols, 1.2 + 0.7 * n_rows)
    ax = fig.add_subplot(1, 1, 1)
    shown = ax.imshow(np.ma.masked_invalid(values), cmap="Greens", vmin=0.0, vmax=1.0)
    fig.colorbar(shown, ax=ax, fraction=0.046, pad=0.04).set_label("accuracy")
    ax.set_xticks(range(n_cols), labels=[plain_text(c) for c in matrix["columns"]])
    ax.set_yticks(range(n_rows), labels=[plain_text(r) for r in matrix["rows"]])
    ax.set_xlabel("held-out data of")
    ax.set_ylabel("version")
    for i in range(n_rows):
        for j in range(n_cols):
            if not math.isnan(values[i, j]):
                colour = "white" if values[i, j] > 0.6 else "black"
                ax.text(j, i, f"{values[i, j]:.3f}", ha="center", va="center", color=colour)
    return save_figure(fig, path)


def add_to_report(report: Path, section: str) -> None:
    """Put `section` into a finished run report, before its resolved config."""
    from trainforge.evaluation.html import write_atomic

    if not report.is_file():
        return
    page = report.read_text(encoding="utf-8")
    from trainforge.evaluation.report import config_heading

    marker = config_heading()
    at = page.find(marker)
    if at < 0:
        at = page.rfind("</main>")
    write_atomic(report, page[:at] + section + "\n" + page[at:])

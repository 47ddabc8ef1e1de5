"""Self-contained HTML evaluation report: summary, metrics, plots and resolved config.

The report is one file: CSS inline, images embedded as base64 ``data:`` URIs, no scripts and
no external URLs, so it can be moved, archived or e-mailed on its own. The PNGs are also kept
under ``run_dir/plots/`` for people who want them separately.
"""

from __future__ import annotations

import base64
import html
import math
import os
import re
import tempfile
import typing
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

import numpy as np

from trainforge.evaluation.metrics import classification_metrics
from trainforge.evaluation.plots import (
    plot_confusion_matrix,
    plot_learning_curves,
    plot_regression,
    plot_roc,
)


# eq=False: numpy arrays make generated __eq__/__hash__ raise ("truth value is ambiguous").
@dataclass(frozen=True, eq=False)
class SplitResult:
    """Evaluation of one data split.

    Args:
        name: split name, e.g. ``"validation"`` or ``"test"``.
        metrics: output of ``classification_metrics`` / ``regression_metrics``.
        y_true: (n,) true class indices or values.
        output: (n, k) probabilities for classification, (n,) predictions for regression.
    """

    name: str
    metrics: dict[str, Any]
    y_true: np.ndarray
    output: np.ndarray


_NON_SCALAR_METRICS = {"per_class", "confusion_matrix", "per_type", "type_confusion"}
Kind = Literal["classification", "multilabel", "regression", "token_classification"]
_WIDE_MATRIX_CLASSES = 20

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0;
       color: #1f2328; background: #f6f8fa; line-height: 1.45; }
main { max-width: 1150px; margin: 0 auto; padding: 1.5rem 2rem 3rem; background: #fff; }
h1 { margin-top: 0; font-size: 1.7rem; }
h2 { border-bottom: 1px solid #d0d7de; padding-bottom: .3rem; margin-top: 2.2rem; }
h3 { margin-bottom: .4rem; }
table { border-collapse: collapse; margin: .5rem 0 1rem; font-size: .92rem; }
th, td { border: 1px solid #d0d7de; padding: .3rem .7rem; }
th { background: #f6f8fa; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tbody tr:nth-child(even) { background: #fbfcfd; }
figure { margin: .5rem 0 1.5rem; }
figure img { max-width: 100%; height: auto; border: 1px solid #eaeef2; }
figure.wide { overflow-x: auto; }
figure.wide img { max-width: none; }
figcaption { color: #59636e; font-size: .85rem; }
pre { background: #f6f8fa; border: 1px solid #d0d7de; padding: .8rem; overflow-x: auto;
      font-size: .85rem; }
.muted { color: #59636e; font-size: .85rem; }
"""


def _esc(value: object) -> str:
    """HTML-escape any value (quotes included, so it is also safe inside attributes)."""
    return html.escape(str(value), quote=True)


def _fmt(value: Any) -> str:
    """Format a value for a table cell: floats to 4 significant digits, the rest as text."""
    if isinstance(value, bool | np.bool_):
        return str(bool(value))
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        number = float(value)
        return f"{number:.4g}" if math.isfinite(number) else str(number)
    if isinstance(value, dict):
        # e.g. summary["rows"] = {"train": 800, "test": 200} -> "train: 800, test: 200"
        return ", ".join(f"{key}: {_fmt(item)}" for key, item in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(_fmt(item) for item in value)
    return str(value)


def _is_scalar(value: Any) -> bool:
    """True for numbers and strings that belong in the metrics table."""
    return isinstance(value, int | float | str | np.integer | np.floating)


def _slug(name: str) -> str:
    """Turn a split name into a safe file-name part ("test", "val set" -> "val_set")."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("._") or "split"


def _img(path: Path, alt: str, *, wide: bool = False) -> str:
    """Embed the PNG at ``path`` as a base64 data URI inside a <figure>."""
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    css = ' class="wide"' if wide else ""
    return (
        f'<figure{css}><img src="data:image/png;base64,{data}" alt="{_esc(alt)}">'
        f"<figcaption>{_esc(alt)}</figcaption></figure>"
    )


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Render an HTML table; every cell is escaped, numbers are right-aligned."""
    head = "".join(f"<th>{_esc(h)}</th>" for h in header)
    body = []
    for row in rows:
        first, *rest = row
        cells = [f"<th>{_esc(first)}</th>"]
        for cell in rest:
            numeric = isinstance(cell, int | float | np.integer | np.floating)
            css = ' class="num"' if numeric else ""
            cells.append(f"<td{css}>{_esc(_fmt(cell))}</td>")
        body.append(f"<tr>{''.join(cells)}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _metrics_table(splits: Sequence[SplitResult]) -> str:
    """One row per scalar metric, one column per split; blank where a split lacks it."""
    keys: list[str] = []
    for split in splits:
        for key, value in split.metrics.items():
            if key not in _NON_SCALAR_METRICS and _is_scalar(value) and key not in keys:
                keys.append(key)
    rows = [[key, *(split.metrics.get(key, "—") for split in splits)] for key in keys]
    return _table(["metric", *(split.name for split in splits)], rows)


def _per_class_table(split: SplitResult, labels: Sequence[str]) -> str:
    """Per-class precision/recall/F1/support of one split, in label order."""
    per_class = split.metrics.get("per_class") or {}
    rows = []
    for label in labels:
        scores = per_class.get(str(label), {})
        rows.append(
            [label, *(scores.get(key, "—") for key in ("precision", "recall", "f1", "support"))]
        )
    return _table(["class", "precision", "recall", "f1", "support"], rows)


def _per_type_table(split: SplitResult) -> str:
    """Entity-level precision/recall/F1/support per entity type of one split."""
    per_type = split.metrics.get("per_type") or {}
    rows = [
        [kind, *(scores.get(key, "—") for key in ("precision", "recall", "f1", "support"))]
        for kind, scores in per_type.items()
    ]
    return _table(["entity type", "precision", "recall", "f1", "support"], rows)


def _type_confusion_plot(split: SplitResult, plots_dir: Path) -> str:
    """Word-level confusion of entity types (O included) of one split."""
    confusion = split.metrics.get("type_confusion")
    if not confusion:
        return ""
    path = plot_confusion_matrix(
        confusion["matrix"],
        confusion["labels"],
        plots_dir / f"type_confusion_{_slug(split.name)}.png",
        title=f"Entity types per word ({split.name})",
    )
    return f"<h3>{_esc(split.name)}</h3>" + _img(
        path, f"Entity type of each word, true vs predicted, {split.name} (colour = row-normalised)"
    )


def _classification_plots(split: SplitResult, labels: Sequence[str], plots_dir: Path) -> str:
    """Write and embed the confusion matrix and ROC curve of one split."""
    slug = _slug(split.name)
    matrix = split.metrics.get("confusion_matrix")
    if matrix is None:
        # Metrics computed elsewhere may lack the matrix; derive it from the raw outputs.
        matrix = classification_metrics(split.y_true, split.output, labels)["confusion_matrix"]
    parts = [f"<h3>{_esc(split.name)}</h3>"]
    cm_path = plot_confusion_matrix(
        matrix,
        labels,
        plots_dir / f"confusion_matrix_{slug}.png",
        title=f"Confusion matrix ({split.name})",
    )
    parts.append(
        _img(
            cm_path,
            f"Confusion matrix, {split.name} (colour = row-normalised)",
            wide=len(labels) > _WIDE_MATRIX_CLASSES,
        )
    )
    roc_path = plot_roc(
        split.y_true,
        split.output,
        labels,
        plots_dir / f"roc_{slug}.png",
        title=f"ROC curve ({split.name})",
    )
    if roc_path is None:
        parts.append('<p class="muted">ROC curve undefined: this split holds a single class.</p>')
    else:
        parts.append(_img(roc_path, f"ROC curve, {split.name}"))
    return "".join(parts)


def _regression_plots(split: SplitResult, plots_dir: Path) -> str:
    """Write and embed the predicted-vs-actual and residual plots of one split."""
    path = plot_regression(
        split.y_true,
        split.output,
        plots_dir / f"regression_{_slug(split.name)}.png",
        title=split.name,
    )
    return f"<h3>{_esc(split.name)}</h3>" + _img(path, f"Predicted vs actual, {split.name}")


def _write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to a temp file beside ``path`` and rename it into place.

    A crash mid-write then leaves the previous report (or none), never half a file.
    """
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        # mkstemp creates the file private (0600); a report is meant to be shared.
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_report(
    run_dir: Path,
    *,
    title: str,
    kind: Kind,
    labels: Sequence[str] | None,
    splits: Sequence[SplitResult],
    history: list[dict[str, float]],
    summary: dict[str, Any],
    config_yaml: str,
) -> Path:
    """Write ``run_dir/plots/*.png`` and a self-contained ``run_dir/report.html``.

    Args:
        run_dir: the run's output directory (created if missing).
        title: report heading, e.g. the experiment name.
        kind: ``"classification"`` or ``"regression"``.
        labels: class names in index order (required for classification, else ignored).
        splits: evaluated splits, in display order; the last one gets the per-class table.
        history: per-epoch training log (may be empty: no learning-curve section).
        summary: key → value facts shown at the top (task, model, rows, timings ...).
        config_yaml: the resolved config, shown verbatim.

    Returns:
        The path of ``report.html``.
    """
    if kind not in typing.get_args(Kind):
        raise ValueError(f"'kind' must be one of {typing.get_args(Kind)}; got {kind!r}.")
    if kind in ("classification", "multilabel") and not labels:
        raise ValueError("'labels' must list the class names for a classification report.")
    names = [split.name for split in splits]
    if len(set(map(_slug, names))) != len(names):
        raise ValueError(f"split names must be distinct (their plots share a folder): {names}.")

    run_dir = Path(run_dir)
    plots_dir = run_dir / "plots"
    plots_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")

    parts = [
        f"<h1>{_esc(title)}</h1>",
        f'<p class="muted">{_esc(kind)} report, generated {stamp}</p>',
    ]
    if summary:
        rows = [[key, value] for key, value in summary.items()]
        parts += ["<h2>Summary</h2>", _table(["item", "value"], rows)]
    if splits:
        parts += ["<h2>Metrics</h2>", _metrics_table(splits)]
    if kind == "token_classification" and splits:
        parts += [
            f"<h2>Entity-level scores per type ({_esc(splits[-1].name)})</h2>",
            '<p class="muted">Exact match of boundaries and type, as conlleval and seqeval '
            "count them.</p>",
            _per_type_table(splits[-1]),
        ]
    if kind in ("classification", "multilabel") and labels and splits:
        parts += [
            f"<h2>Per-class scores ({_esc(splits[-1].name)})</h2>",
            _per_class_table(splits[-1], labels),
        ]

    curves = plot_learning_curves(history, plots_dir / "learning_curves.png") if history else None
    if curves is not None:
        parts += ["<h2>Learning curves</h2>", _img(curves, "Losses and validation metrics")]

    if splits and kind == "token_classification":
        parts.append("<h2>Confusion of entity types</h2>")
        parts += [_type_confusion_plot(split, plots_dir) for split in splits]
    elif splits and kind != "multilabel":  # per-label scores above say it; no single matrix
        heading = "Confusion matrices and ROC curves" if kind == "classification" else "Predictions"
        parts.append(f"<h2>{heading}</h2>")
        for split in splits:
            if kind == "classification" and labels:
                parts.append(_classification_plots(split, labels, plots_dir))
            else:
                parts.append(_regression_plots(split, plots_dir))

    parts += ["<h2>Resolved config</h2>", f"<pre>{_esc(config_yaml)}</pre>"]

    document = (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{_esc(title)}</title>\n<style>{_CSS}</style>\n</head>\n"
        "<body><main>\n" + "\n".join(parts) + "\n</main></body>\n</html>\n"
    )
    report_path = run_dir / "report.html"
    _write_atomic(report_path, document)
    return report_path

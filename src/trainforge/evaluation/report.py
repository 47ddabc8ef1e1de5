"""Self-contained HTML evaluation report: summary, metrics, plots and resolved config.

The report is one file: CSS inline, images embedded as base64 ``data:`` URIs, no scripts and
no external URLs, so it can be moved, archived or e-mailed on its own. The PNGs are also kept
under ``run_dir/plots/`` for people who want them separately.
"""

from __future__ import annotations

import re
import typing
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

import numpy as np

from trainforge.evaluation.html import document, esc, image, table, write_atomic
from trainforge.evaluation.metrics import classification_metrics
from trainforge.evaluation.plots import (
    plot_confusion_matrix,
    plot_learning_curves,
    plot_regression,
    plot_roc,
)
from trainforge.messages import text


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
Kind = Literal[
    "classification",
    "multilabel",
    "regression",
    "token_classification",
    "recommendation",
    "generation",
]
_WIDE_MATRIX_CLASSES = 20


def _slug(name: str) -> str:
    """Turn a split name into a safe file-name part ("test", "val set" -> "val_set")."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("._") or "split"


def _is_scalar(value: Any) -> bool:
    """True for numbers and strings that belong in the metrics table."""
    return isinstance(value, int | float | str | np.integer | np.floating)


def _metrics_table(splits: Sequence[SplitResult]) -> str:
    """One row per scalar metric, one column per split; blank where a split lacks it."""
    keys: list[str] = []
    for split in splits:
        for key, value in split.metrics.items():
            if key not in _NON_SCALAR_METRICS and _is_scalar(value) and key not in keys:
                keys.append(key)
    rows = [[key, *(split.metrics.get(key, "—") for split in splits)] for key in keys]
    return table(["metric", *(split.name for split in splits)], rows)


def _per_class_table(split: SplitResult, labels: Sequence[str]) -> str:
    """Per-class precision/recall/F1/support of one split, in label order."""
    per_class = split.metrics.get("per_class") or {}
    rows = []
    for label in labels:
        scores = per_class.get(str(label), {})
        rows.append(
            [label, *(scores.get(key, "—") for key in ("precision", "recall", "f1", "support"))]
        )
    return table(["class", "precision", "recall", "f1", "support"], rows)


def _per_type_table(split: SplitResult) -> str:
    """Entity-level precision/recall/F1/support per entity type of one split."""
    per_type = split.metrics.get("per_type") or {}
    rows = [
        [kind, *(scores.get(key, "—") for key in ("precision", "recall", "f1", "support"))]
        for kind, scores in per_type.items()
    ]
    return table(["entity type", "precision", "recall", "f1", "support"], rows)


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
    return f"<h3>{esc(split.name)}</h3>" + image(
        path, f"Entity type of each word, true vs predicted, {split.name} (colour = row-normalised)"
    )


def _classification_plots(split: SplitResult, labels: Sequence[str], plots_dir: Path) -> str:
    """Write and embed the confusion matrix and ROC curve of one split."""
    slug = _slug(split.name)
    matrix = split.metrics.get("confusion_matrix")
    if matrix is None:
        # Metrics computed elsewhere may lack the matrix; derive it from the raw outputs.
        matrix = classification_metrics(split.y_true, split.output, labels)["confusion_matrix"]
    parts = [f"<h3>{esc(split.name)}</h3>"]
    cm_path = plot_confusion_matrix(
        matrix,
        labels,
        plots_dir / f"confusion_matrix_{slug}.png",
        title=f"Confusion matrix ({split.name})",
    )
    parts.append(
        image(
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
        parts.append(image(roc_path, f"ROC curve, {split.name}"))
    return "".join(parts)


def _regression_plots(split: SplitResult, plots_dir: Path) -> str:
    """Write and embed the predicted-vs-actual and residual plots of one split."""
    path = plot_regression(
        split.y_true,
        split.output,
        plots_dir / f"regression_{_slug(split.name)}.png",
        title=split.name,
    )
    return f"<h3>{esc(split.name)}</h3>" + image(path, f"Predicted vs actual, {split.name}")


def config_heading() -> str:
    """The heading of the report's last section (continual updates insert before it)."""
    return f"<h2>{text('report.config')}</h2>"


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
    sections: Sequence[str] = (),
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
        sections: extra HTML sections a task adds before the config (images: the grid of
            misclassified images).

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
        f"<h1>{esc(title)}</h1>",
        f'<p class="muted">{esc(text("report.subtitle", kind=kind, stamp=stamp))}</p>',
    ]
    if summary:
        rows = [[key, value] for key, value in summary.items()]
        heading = text("report.summary")
        parts += [f"<h2>{heading}</h2>", table([text("report.item"), text("report.value")], rows)]
    if splits:
        parts += [f"<h2>{text('report.metrics')}</h2>", _metrics_table(splits)]
    if kind == "token_classification" and splits:
        parts += [
            f"<h2>{esc(text('report.entity_scores', split=splits[-1].name))}</h2>",
            f'<p class="muted">{esc(text("report.entity_note"))}</p>',
            _per_type_table(splits[-1]),
        ]
    if kind in ("classification", "multilabel") and labels and splits:
        parts += [
            f"<h2>{esc(text('report.per_class', split=splits[-1].name))}</h2>",
            _per_class_table(splits[-1], labels),
        ]

    curves = plot_learning_curves(history, plots_dir / "learning_curves.png") if history else None
    if curves is not None:
        caption = text("report.curves_caption")
        parts += [f"<h2>{text('report.curves')}</h2>", image(curves, caption)]

    if splits and kind == "token_classification":
        parts.append(f"<h2>{text('report.type_confusion')}</h2>")
        parts += [_type_confusion_plot(split, plots_dir) for split in splits]
    elif splits and kind not in ("multilabel", "recommendation", "generation"):  # own section
        heading = text("report.confusion_roc" if kind == "classification" else "report.predictions")
        parts.append(f"<h2>{heading}</h2>")
        for split in splits:
            if kind == "classification" and labels:
                parts.append(_classification_plots(split, labels, plots_dir))
            else:
                parts.append(_regression_plots(split, plots_dir))

    parts += [*sections, config_heading(), f"<pre>{esc(config_yaml)}</pre>"]

    page = document(title, parts)
    report_path = run_dir / "report.html"
    write_atomic(report_path, page)
    return report_path

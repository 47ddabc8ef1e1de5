"""PNG plots for the evaluation report: learning curves, confusion matrix, ROC, regression.

Figures are built with matplotlib's object API (``Figure`` + its Agg canvas), never
``pyplot``, so plotting is thread-safe, opens no window and leaves no global state behind.
matplotlib is imported inside each function to keep ``import trainforge`` cheap.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from matplotlib.figure import Figure

_DPI = 100
# Above this many classes the confusion matrix drops per-cell counts and the ROC plot
# shows only the macro-average curve: beyond it the figure turns into noise.
_MAX_ANNOTATED_CLASSES = 20
_MAX_ROC_CURVES = 10


def new_figure(width: float, height: float) -> Figure:
    """Create a detached Agg-backed figure with tight layout."""
    from matplotlib.figure import Figure

    _chinese_glyphs()
    return Figure(figsize=(width, height), dpi=_DPI, layout="tight")


@cache
def _chinese_glyphs() -> None:
    """Let plots draw Chinese labels: Noto Sans CJK SC (from the `mplfonts` package, which
    `make install` adds) as the fallback after matplotlib's own font. Without it, CJK
    characters in class names or titles would be drawn as empty boxes."""
    import importlib.util

    import matplotlib
    from matplotlib import font_manager

    spec = importlib.util.find_spec("mplfonts")
    if spec is None or spec.origin is None:
        return
    font = Path(spec.origin).parent / "fonts" / "NotoSansCJKsc-Regular.otf"
    if not font.is_file():
        return
    font_manager.fontManager.addfont(str(font))
    name = font_manager.FontProperties(fname=str(font)).get_name()
    families = matplotlib.rcParams["font.family"]
    if name not in families:
        first = font_manager.FontProperties(family=families).get_name()
        matplotlib.rcParams["font.family"] = [first, name]


def save_figure(fig: Figure, path: Path) -> Path:
    """Write ``fig`` as a PNG at ``path``, creating parent directories."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png", dpi=_DPI)
    return path


def plain_text(value: object) -> str:
    """Make a data string safe for matplotlib, where ``$`` would start mathtext."""
    return str(value).replace("$", r"\$")


def _finite(value: Any) -> float | None:
    """Return ``value`` as a float, or None when missing, non-numeric or NaN/inf."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def history_series(history: list[dict[str, float]], key: str) -> tuple[list[float], list[float]]:
    """Collect the (epoch, value) points of ``key`` from rows where it is a finite number."""
    xs: list[float] = []
    ys: list[float] = []
    for index, row in enumerate(history):
        value = _finite(row.get(key))
        if value is None:
            continue
        epoch = _finite(row.get("epoch"))
        xs.append(epoch if epoch is not None else float(index))
        ys.append(value)
    return xs, ys


def plot_learning_curves(history: list[dict[str, float]], path: Path) -> Path | None:
    """Plot losses (left) and other ``val_*`` metrics (right) against the epoch.

    Args:
        history: one dict per epoch with ``epoch`` and any of ``train_loss``, ``val_loss``
            and ``val_<metric>``; missing or NaN values are skipped.
        path: where to write the PNG.

    Returns:
        ``path``, or None (and no file) when history holds nothing to plot.
    """
    keys = list(dict.fromkeys(key for row in history for key in row if key != "epoch"))
    loss_keys = [k for k in keys if k.endswith("loss")]
    metric_keys = [k for k in keys if k.startswith("val_") and k not in loss_keys]
    panels = [
        (title, ylabel, [(k, *history_series(history, k)) for k in group])
        for title, ylabel, group in (
            ("Loss", "loss", loss_keys),
            ("Validation metrics", "value", metric_keys),
        )
    ]
    # Keep only series and panels that have at least one point to draw.
    panels = [(t, y, [s for s in series if s[1]]) for t, y, series in panels]
    panels = [panel for panel in panels if panel[2]]
    if not panels:
        return None

    fig = new_figure(6.0 * len(panels), 4.5)
    for position, (title, ylabel, series) in enumerate(panels, start=1):
        ax = fig.add_subplot(1, len(panels), position)
        for key, xs, ys in series:
            # Markers make single-epoch runs (one point) visible.
            ax.plot(xs, ys, marker="o" if len(xs) <= 30 else None, markersize=3, label=key)
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.set_ylabel(ylabel)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize="small")
    return save_figure(fig, path)


def plot_confusion_matrix(
    matrix: list[list[int]],
    labels: Sequence[str],
    path: Path,
    *,
    title: str = "Confusion matrix",
) -> Path:
    """Plot a row-normalised confusion matrix, with counts in the cells up to 20 classes.

    The figure grows with the number of classes (tick font shrinks, x labels rotate) so that
    e.g. 77 intent classes stay legible.

    Args:
        matrix: k×k counts, rows = true class, columns = predicted class.
        labels: the k class names, in matrix order.
        path: where to write the PNG.
        title: figure title (default ``"Confusion matrix"``).
    """
    counts = np.asarray(matrix, dtype=np.int64)
    k = len(labels)
    if counts.shape != (k, k):
        raise ValueError(
            f"'matrix' must be {k}×{k} to match the {k} labels; got shape {counts.shape}."
        )
    row_sums = counts.sum(axis=1, keepdims=True)
    # Rows of absent classes have no samples: show them as 0 instead of dividing by zero.
    normalised = np.divide(counts, row_sums, out=np.zeros(counts.shape), where=row_sums > 0)

    side = min(max(5.0, 2.5 + 0.27 * k), 26.0)
    # About 80% of the side is the matrix itself; a tick font ~45% of the cell height keeps
    # neighbouring labels apart (≈ 8 pt for 77 classes).
    cell_points = side * 72 * 0.8 / k
    font = min(9.0, max(4.0, 0.45 * cell_points))
    fig = new_figure(side + 1.2, side)
    ax = fig.add_subplot(1, 1, 1)
    image = ax.imshow(normalised, cmap="Blues", vmin=0.0, vmax=1.0, interpolation="nearest")
    colorbar = fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    colorbar.set_label("fraction of true class")

    names = [plain_text(label) for label in labels]
    ax.set_xticks(range(k), labels=names, fontsize=font, rotation=45 if k <= 10 else 90)
    if k <= 10:
        for tick in ax.get_xticklabels():
            tick.set_horizontalalignment("right")
    ax.set_yticks(range(k), labels=names, fontsize=font)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(plain_text(title))

    if k <= _MAX_ANNOTATED_CLASSES:
        for i in range(k):
            for j in range(k):
                # White text on dark cells, black on light ones.
                colour = "white" if normalised[i, j] > 0.5 else "black"
                ax.text(
                    j, i, str(counts[i, j]), ha="center", va="center", color=colour, fontsize=font
                )
    return save_figure(fig, path)


def plot_roc(
    y_true: np.ndarray,
    proba: np.ndarray,
    labels: Sequence[str],
    path: Path,
    *,
    title: str = "ROC curve",
) -> Path | None:
    """Plot ROC curves: binary, one-vs-rest per class (≤ 10 classes) or macro-average.

    Args:
        y_true: (n,) integer class indices.
        proba: (n, k) class probabilities, columns in ``labels`` order.
        labels: the k class names.
        path: where to write the PNG.
        title: figure title (default ``"ROC curve"``).

    Returns:
        ``path``, or None (and no file) when y_true holds a single class.
    """
    from sklearn.metrics import auc, roc_curve

    y = np.asarray(y_true).ravel().astype(np.int64)
    p = np.asarray(proba, dtype=np.float64)
    k = len(labels)
    if p.ndim != 2 or p.shape != (len(y), k):
        raise ValueError(
            f"'proba' must have shape ({len(y)}, {k}) for {len(y)} samples and {k} labels; "
            f"got shape {p.shape}."
        )
    if np.unique(y).size < 2:
        return None

    fig = new_figure(6.0, 5.5)
    ax = fig.add_subplot(1, 1, 1)
    heading = plain_text(title)
    if k == 2:
        fpr, tpr, _ = roc_curve(y, p[:, 1], pos_label=1)
        ax.plot(fpr, tpr, label=f"{plain_text(labels[1])} (AUC = {auc(fpr, tpr):.3f})")
    else:
        # Classes absent from y_true have no positives, hence no curve.
        curves = []
        for c in range(k):
            if np.any(y == c):
                fpr, tpr, _ = roc_curve(y == c, p[:, c])
                curves.append((c, fpr, tpr))
        if k <= _MAX_ROC_CURVES:
            for c, fpr, tpr in curves:
                label = f"{plain_text(labels[c])} (AUC = {auc(fpr, tpr):.3f})"
                ax.plot(fpr, tpr, linewidth=1.2, label=label)
            heading += ": one-vs-rest"
        else:
            # Average the per-class TPRs on a shared FPR grid (the usual macro-average curve).
            grid = np.linspace(0.0, 1.0, 201)
            mean_tpr = np.mean([np.interp(grid, fpr, tpr) for _, fpr, tpr in curves], axis=0)
            mean_auc = float(np.mean([auc(fpr, tpr) for _, fpr, tpr in curves]))
            ax.plot(grid, mean_tpr, linewidth=2, label=f"macro-average (AUC = {mean_auc:.3f})")
            heading += f"\nmacro-average over {len(curves)} classes (too many to draw each)"
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=1, label="chance")
    ax.set_xlim(0.0, 1.0)
    ax.set_ylim(0.0, 1.02)
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_title(heading)
    ax.grid(True, alpha=0.3)
    ax.legend(loc="lower right", fontsize="small")
    return save_figure(fig, path)


def plot_regression(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    path: Path,
    *,
    title: str = "Regression",
) -> Path:
    """Plot predicted vs actual (with the y = x line) and a histogram of residuals.

    Args:
        y_true: (n,) true values.
        y_pred: (n,) predicted values.
        path: where to write the PNG.
        title: prefix of the subplot titles (default ``"Regression"``).
    """
    y = np.asarray(y_true, dtype=np.float64).ravel()
    pred = np.asarray(y_pred, dtype=np.float64).ravel()
    if y.size == 0 or y.shape != pred.shape:
        raise ValueError(
            f"'y_true' and 'y_pred' must be non-empty and the same length; "
            f"got {y.size} and {pred.size}."
        )
    residuals = y - pred

    fig = new_figure(11.0, 4.8)
    ax = fig.add_subplot(1, 2, 1)
    # Fainter, smaller points for big splits so dense regions still read as dense.
    alpha = 0.7 if y.size <= 1000 else 0.25
    ax.scatter(y, pred, s=12 if y.size <= 1000 else 4, alpha=alpha, rasterized=True)
    low = float(min(y.min(), pred.min()))
    high = float(max(y.max(), pred.max()))
    ax.plot([low, high], [low, high], linestyle="--", color="grey", label="y = x")
    ax.set_xlabel("actual")
    ax.set_ylabel("predicted")
    ax.set_title(f"{plain_text(title)}: predicted vs actual")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small")

    ax = fig.add_subplot(1, 2, 2)
    bins = int(min(50, max(5, math.sqrt(y.size))))
    ax.hist(residuals, bins=bins, color="tab:orange", alpha=0.8)
    ax.axvline(0.0, color="grey", linestyle="--")
    ax.set_xlabel("residual (actual − predicted)")
    ax.set_ylabel("count")
    ax.set_title(f"{plain_text(title)}: residuals")
    ax.grid(True, alpha=0.3)
    return save_figure(fig, path)

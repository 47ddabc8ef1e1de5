"""The image report's own plot: a grid of misclassified images with true and predicted labels."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from trainforge.evaluation.plots import new_figure, plain_text, save_figure

MAX_SHOWN = 36


def plot_misclassified(
    pixels: np.ndarray,
    y_true: np.ndarray,
    output: np.ndarray,
    labels: Sequence[str],
    path: Path,
    *,
    title: str = "Misclassified images",
) -> Path | None:
    """Plot up to 36 misclassified images, the most confident mistakes first.

    Args:
        pixels: (n, c, h, w) uint8 images, as the model saw them before normalisation.
        y_true: (n,) true class indices.
        output: (n, k) probabilities.
        labels: class names.
        path: where to write the PNG.
        title: figure title.

    Returns:
        The path, or None when every image was classified correctly.
    """
    predicted = output.argmax(axis=1)
    wrong = np.flatnonzero(predicted != y_true)
    if len(wrong) == 0:
        return None
    confidence = output[wrong, predicted[wrong]]
    shown = wrong[np.argsort(-confidence, kind="stable")][:MAX_SHOWN]
    columns = min(6, len(shown))
    rows = math.ceil(len(shown) / columns)
    fig = new_figure(1.6 * columns, 1.8 * rows + 0.4)
    fig.suptitle(plain_text(f"{title} ({len(wrong)} of {len(y_true)})"))
    for place, index in enumerate(shown, start=1):
        ax = fig.add_subplot(rows, columns, place)
        image = pixels[index]
        if image.shape[0] == 1:
            ax.imshow(image[0], cmap="gray", vmin=0, vmax=255, interpolation="nearest")
        else:
            ax.imshow(image.transpose(1, 2, 0), interpolation="nearest")
        truth, guess = labels[int(y_true[index])], labels[int(predicted[index])]
        ax.set_title(
            plain_text(f"true {truth}\npred {guess} ({output[index, predicted[index]]:.2f})"),
            fontsize=7,
        )
        ax.axis("off")
    return save_figure(fig, path)

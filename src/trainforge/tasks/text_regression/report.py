"""The text regression report's own section: residual plots in the target's unit, and the texts
predicted worst (what a reader looks at to see where the model fails)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from trainforge.tasks.regression import RegressionTarget

MAX_SHOWN = 10  # texts in the table of largest errors
MAX_CHARS = 200  # of each text shown


def residual_sections(
    target: RegressionTarget,
    texts: Callable[[str], list[Any]],
    plots_dir: Path,
    results: list[Any],
) -> list[str]:
    """Predicted vs true, the residuals' histogram and the largest errors of the test split
    (else of the last evaluated split).

    Args:
        target: the fitted target (its column names the unit).
        texts: split name -> its texts, in the order of the split's outputs.
        plots_dir: where the PNG goes.
        results: the evaluated splits (`trainforge.evaluation.SplitResult`).
    """
    from trainforge.evaluation.html import esc, image, table
    from trainforge.evaluation.plots import plot_regression

    if not results:
        return []
    result = next((r for r in results if r.name == "test"), results[-1])
    true, predicted = result.y_true, result.output  # in the target's unit already
    path = plot_regression(
        true, predicted, plots_dir / f"residuals_{result.name}.png", title=result.name
    )
    residuals = true - predicted
    worst = np.argsort(-np.abs(residuals), kind="stable")[:MAX_SHOWN]
    shown = texts(result.name)
    rows = [
        [rank, _shorten(shown[i]), float(true[i]), float(predicted[i]), float(residuals[i])]
        for rank, i in enumerate(worst, start=1)
    ]
    unit = f"{target.column!r}, in its own unit"
    return [
        f"<h2>Residuals ({esc(result.name)})</h2>",
        image(path, f"Predicted vs true {unit}, and the residuals (true − predicted)"),
        f"<h3>Largest errors ({esc(result.name)})</h3>",
        table(["#", "text", "true", "predicted", "residual"], rows),
    ]


def _shorten(text: Any) -> str:
    text = str(text)
    return text if len(text) <= MAX_CHARS else text[: MAX_CHARS - 1] + "…"

"""The recommendation report's bar chart: the model's ranking metrics beside popularity's."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from trainforge.evaluation.plots import new_figure, plain_text, save_figure

METRICS = ("ndcg_at_10", "hr_at_10", "map_at_10", "auc")


def plot_model_vs_popularity(metrics: dict[str, Any], path: Path, title: str = "") -> Path:
    """Grouped bars, one pair (model, popularity) per metric; values written on the bars."""
    baseline = metrics.get("popularity", {})
    model_values = [float(metrics.get(name, 0.0)) for name in METRICS]
    baseline_values = [float(baseline.get(name, 0.0)) for name in METRICS]
    fig = new_figure(6.4, 3.6)
    ax = fig.add_subplot()
    x = np.arange(len(METRICS))
    width = 0.38
    for offset, values, label in (
        (-width / 2, model_values, "model"),
        (width / 2, baseline_values, "popularity"),
    ):
        bars = ax.bar(x + offset, values, width, label=label)
        ax.bar_label(bars, fmt="%.3f", fontsize=8)
    ax.set_xticks(x, [name.replace("_at_", "@").upper() for name in METRICS])
    ax.set_ylim(0, 1.1)
    ax.set_ylabel("score")
    ax.legend(loc="upper left")
    if title:
        ax.set_title(plain_text(f"Model vs popularity ({title})"))
    return save_figure(fig, path)

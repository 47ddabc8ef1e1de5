"""The contract between a task family and the pipeline: what `prepare` hands over."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np


@dataclass(frozen=True)
class FitOptions:
    """How to run a fit, apart from the config.

    Attributes:
        resume: continue from RUN_DIR/checkpoints/last.ckpt.
        progress: show a progress bar.
        callbacks: extra Lightning callbacks from outside the task (a tuning trial's pruner).
        loggers: extra Lightning loggers beside the CSV log (TensorBoard, MLflow).
    """

    resume: bool = False
    progress: bool = True
    callbacks: tuple[Any, ...] = ()
    loggers: tuple[Any, ...] = ()


@dataclass
class Fitted:
    """What fitting produced besides the weights (which stay in the model)."""

    history: list[dict[str, float]]
    train_time_s: float
    samples_per_second: float
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Prepared:
    """A task's data, checked and encoded, with a model ready to fit.

    Everything here is built before the run folder exists, so bad input leaves nothing.

    Attributes:
        model: the `trainforge.predict.Model` to fit (untrained).
        rows: rows per split, e.g. {"train": 800, "validation": 100, "test": 100}.
        fit: trains the model in place: fit(run_dir, FitOptions(...)) -> Fitted.
        evaluate: (y_true, output) of a split with the trained model.
        manifest: task-specific entries of the package manifest.
        write_files: writes the package's weights and input files into a folder.
        select_rows: (split, row indices) -> those rows with only the columns the config uses
            (label values as in the data); None where the task keeps no memory for updates.
        labels: encoded labels per split (for class-balanced samples).
        report_sections: (plots folder, evaluated splits) -> extra HTML sections of the
            report (the image task's grid of misclassified images); None for none.
    """

    model: Any
    rows: dict[str, int]
    fit: Callable[..., Fitted]
    evaluate: Callable[[str], tuple[np.ndarray, np.ndarray]]
    manifest: dict[str, Any]
    write_files: Callable[[Path], None]
    select_rows: Callable[[str, np.ndarray], Any] | None = None
    labels: dict[str, np.ndarray] = field(default_factory=dict)
    report_sections: Callable[[Path, list[Any]], list[str]] | None = None

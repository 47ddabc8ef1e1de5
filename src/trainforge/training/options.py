"""What a fit takes besides the config (`FitOptions`) and what it gives back (`Fitted`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


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

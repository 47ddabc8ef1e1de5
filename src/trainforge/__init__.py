"""trainforge: from data to a trained, evaluated, packaged and servable model in one config.

import trainforge
run = trainforge.train("examples/breast_cancer.yaml")
model = trainforge.load(run.model_dir)
model.predict(rows)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["__version__", "load", "preview", "train", "tune"]

if TYPE_CHECKING:
    from trainforge.pipeline import Run
    from trainforge.predict import Model
    from trainforge.tasks.preview import Preview
    from trainforge.tuning.search import TuneResult


def train(config: Any, **kwargs: Any) -> Run:
    """Train, evaluate and package a model; see `trainforge.pipeline.train`."""
    from trainforge.pipeline import train as _train

    return _train(config, **kwargs)


def load(path: Any, *, onnx: bool | str = False) -> Model:
    """Load a model package (with ONNX Runtime when `onnx`); see `trainforge.predict.load`."""
    from trainforge.predict import load as _load

    return _load(path, onnx=onnx)


def preview(config: Any, **kwargs: Any) -> Preview:
    """A few training examples as the model will read them; see `trainforge.dry_run.preview`."""
    from trainforge.dry_run import preview as _preview

    return _preview(config, **kwargs)


def tune(config: Any, trials: int, **kwargs: Any) -> TuneResult:
    """Search the config's `tune.space` with Optuna; see `trainforge.tuning.search.tune`.

    Keyword arguments of `StudySettings` (jobs, storage, study, timeout_s) go there, the rest
    (overrides, output, progress) to the search.
    """
    from trainforge.tuning.search import tune as _tune
    from trainforge.tuning.study import StudySettings

    names = ("jobs", "storage", "study", "timeout_s")
    settings = StudySettings(trials, **{k: kwargs.pop(k) for k in names if k in kwargs})
    return _tune(config, settings, **kwargs)

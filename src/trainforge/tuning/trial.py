"""One trial of a search: a training run with the trial's settings, pruned by its curve."""

from __future__ import annotations

import copy
import gc
import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning as L
import optuna

from trainforge.config import ExperimentConfig, load_config, set_key
from trainforge.errors import TrainforgeError

TRIALS = "trials"


@dataclass(frozen=True)
class TrialOutcome:
    """How a trial ended: its state, objective value (complete only) and a one-line note."""

    state: optuna.trial.TrialState
    value: float | None
    note: str
    seconds: float


class PruningCallback(L.Callback):
    """Reports the monitored validation metric after every epoch; stops a hopeless trial.

    Optuna's pruner compares the curve so far with earlier trials' curves at the same epoch.
    """

    def __init__(self, trial: optuna.Trial, metric: str) -> None:
        self.trial, self.metric = trial, metric

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        value = trainer.callback_metrics.get(self.metric)
        if trainer.sanity_checking or value is None:
            return
        epoch = trainer.current_epoch + 1
        self.trial.report(float(value), step=epoch)
        if self.trial.should_prune():
            raise optuna.TrialPruned(f"pruned after epoch {epoch} ({self.metric} {value:.4g})")


def trial_config(
    raw: dict[str, Any], cfg: ExperimentConfig, params: dict[str, Any], name: str, study: str
) -> dict[str, Any]:
    """The raw config of a trial: the search's config with the trial's values set."""
    trial = copy.deepcopy(raw)
    trial.pop("tune", None)
    for key, value in params.items():
        set_key(trial, key, value)
    trial["name"] = name
    if cfg.track.mlflow is not None and cfg.track.mlflow.experiment is None:
        set_key(trial, "track.mlflow.experiment", study)  # all trials in one MLflow experiment
    return trial


def run_trial(
    trial: optuna.Trial, raw: dict[str, Any], cfg: ExperimentConfig, folder: Path, study: str
) -> TrialOutcome:
    """Train the trial's model under `folder/trials/trial-NNNN`; never raises for a bad trial."""
    from trainforge.pipeline import train

    assert cfg.tune is not None
    start = time.perf_counter()
    params = {key: param.suggest(trial, key) for key, param in cfg.tune.space.items()}
    run_dir = folder / TRIALS / f"trial-{trial.number:04d}"
    trial.set_user_attr("run_dir", str(run_dir.relative_to(folder)))
    name = f"{cfg.name or study}-trial-{trial.number:04d}"
    metric = cfg.tune_metric
    try:
        trial_cfg = load_config(trial_config(raw, cfg, params, name, study))
        run = train(
            trial_cfg,
            output=run_dir,
            overwrite=True,
            progress=False,
            callbacks=[PruningCallback(trial, metric)],
        )
        value = objective(run.run_dir, run.metrics, metric)
        del run
    except optuna.TrialPruned as exc:
        shutil.rmtree(run_dir, ignore_errors=True)  # the study keeps its curve; nothing to use
        return _ended(optuna.trial.TrialState.PRUNED, None, str(exc), start)
    except Exception as exc:
        # One bad combination (e.g. out of memory at batch size 256) must not end the search;
        # a worker stops when its trials keep failing (see study.py).
        shutil.rmtree(run_dir, ignore_errors=True)
        trial.set_user_attr("error", f"{type(exc).__name__}: {exc}")
        return _ended(optuna.trial.TrialState.FAIL, None, f"failed: {exc}", start)
    finally:
        gc.collect()  # the Trainer and module hold each other; free them before the next trial
    return _ended(optuna.trial.TrialState.COMPLETE, value, f"{metric} {value:.4f}", start)


def objective(run_dir: Path, metrics: dict[str, Any], metric: str) -> float:
    """The trial's score: the validation metric of the model it keeps (its best epoch)."""
    value = metrics.get("validation", {}).get(metric.removeprefix("val_"))
    if isinstance(value, (int, float)):
        return float(value)
    # val_loss is the training loss on validation data, logged per epoch only.
    history = json.loads((run_dir / "history.json").read_text(encoding="utf-8"))
    rows = [row for row in history if metric in row]
    if not rows:
        raise TrainforgeError(
            f"the run logged no {metric}",
            where="tune.metric",
            fix="Choose a metric the model logs per epoch, e.g. val_accuracy",
        )
    best = metrics.get("best_epoch")
    chosen = next((row for row in rows if int(row["epoch"]) == best), rows[-1])
    return float(chosen[metric])


def _ended(
    state: optuna.trial.TrialState, value: float | None, note: str, start: float
) -> TrialOutcome:
    return TrialOutcome(state, value, note, time.perf_counter() - start)

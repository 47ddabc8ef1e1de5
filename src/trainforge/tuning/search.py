"""`trainforge.tune`: search, then keep what it found (best config, best model, report)."""

from __future__ import annotations

import copy
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
import yaml

from trainforge.config import ExperimentConfig, set_key
from trainforge.tuning.study import (
    Search,
    StudySettings,
    count_states,
    local_lock,
    open_storage,
    prepare,
    run_workers,
)

BEST_CONFIG = "best.yaml"
BEST_MODEL = "best_model"
REPORT = "tune_report.html"


@dataclass(frozen=True)
class TuneResult:
    """A finished search.

    Attributes:
        folder: the output folder (study.db, trials/, best.yaml, best_model/, tune_report.html).
        study: the study name; pass it as --study to continue the search.
        metric: the optimised validation metric; direction: "maximize" or "minimize".
        counts: trials by state (complete, pruned, fail, running, waiting).
        best_trial: number of the best trial (None when no trial completed).
        best_value: its metric value; best_params: its settings (dotted config keys).
        best_config: a runnable YAML config with the best settings.
        best_model: the best trial's model package.
        report: tune_report.html.
    """

    folder: Path
    study: str
    metric: str
    direction: str
    counts: dict[str, int]
    report: Path
    best_trial: int | None = None
    best_value: float | None = None
    best_params: dict[str, Any] = field(default_factory=dict)
    best_config: Path | None = None
    best_model: Path | None = None


def tune(
    config: str | Path | dict[str, Any],
    settings: StudySettings,
    *,
    overrides: list[str] | tuple[str, ...] = (),
    output: str | Path | None = None,
    progress: bool = True,
) -> TuneResult:
    """Search the config's `tune.space` with Optuna; trials are pruned training runs.

    Args:
        config: a YAML path or dict with a `tune:` section.
        settings: trials, worker processes, storage, study name and timeout.
        overrides: "dotted.key=value" strings applied to the config.
        output: the output folder; default runs/<name>-tune (reused: the study continues).
        progress: print a line per finished trial.

    Example:
        >>> result = trainforge.tune("examples/breast_cancer_tune.yaml", StudySettings(trials=20))
        >>> result.best_params, result.best_value
    """
    search, cfg = prepare(config, settings, overrides=overrides, output=output, progress=progress)
    run_workers(search)
    return finish(search, cfg)


def finish(search: Search, cfg: ExperimentConfig) -> TuneResult:
    """Write best.yaml, keep the best model, drop the other packages, write the report."""
    from trainforge.tuning.report import write_tune_report

    assert cfg.tune is not None
    study = optuna.load_study(study_name=search.study, storage=open_storage(search.storage))
    metric = cfg.tune_metric
    direction = study.direction.name.lower()
    completed = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    if not completed:
        report = write_tune_report(study, search.folder, metric=metric, extra=_facts(search))
        return TuneResult(
            search.folder, search.study, metric, direction, count_states(study), report
        )
    best = study.best_trial
    params = {key: cfg.tune.space[key].decode(value) for key, value in best.params.items()}
    best_raw = copy.deepcopy(search.raw)
    best_raw.pop("tune", None)
    for key, value in params.items():
        set_key(best_raw, key, value)
    best_yaml = yaml.safe_dump(best_raw, sort_keys=False)
    (search.folder / BEST_CONFIG).write_text(best_yaml, encoding="utf-8")
    with local_lock(search.storage):  # several workers may finish at once
        best_model = _keep_best_model(search.folder, best, completed)
    report = write_tune_report(
        study, search.folder, metric=metric, best_config_yaml=best_yaml, extra=_facts(search)
    )
    return TuneResult(
        search.folder,
        search.study,
        metric,
        direction,
        count_states(study),
        report,
        best_trial=best.number,
        best_value=best.value,
        best_params=params,
        best_config=search.folder / BEST_CONFIG,
        best_model=best_model,
    )


def _keep_best_model(
    folder: Path, best: optuna.trial.FrozenTrial, completed: list[optuna.trial.FrozenTrial]
) -> Path | None:
    """Copy the best trial's package to best_model/ and delete the other trials' packages."""
    from trainforge.errors import PackageError
    from trainforge.package import swap_into_place
    from trainforge.versions import resolve

    target = folder / BEST_MODEL
    try:
        source: Path | None = resolve(folder / best.user_attrs.get("run_dir", "") / "model")
    except PackageError:  # removed by hand, or written by another machine
        source = None
    if source is not None:
        tmp = folder / f".{BEST_MODEL}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(source, tmp)
        swap_into_place(tmp, target)
    for trial in completed:
        if trial.number != best.number and "run_dir" in trial.user_attrs:
            # Reports and metrics stay for `trainforge compare`; packages are large.
            shutil.rmtree(folder / trial.user_attrs["run_dir"] / "model", ignore_errors=True)
    return target if target.is_dir() else None


def _facts(search: Search) -> dict[str, Any]:
    return {
        "storage": _shown(search.storage),
        "trials asked": search.settings.trials,
        "worker processes": search.settings.jobs,
        "output folder": str(search.folder),
    }


def _shown(url: str) -> str:
    """A storage URL without its password."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        credentials, host = rest.rsplit("@", 1)
        return f"{scheme}://{credentials.split(':', 1)[0]}:***@{host}"
    return url

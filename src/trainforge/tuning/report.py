"""Self-contained HTML report of a hyper-parameter search: ``tune_report.html``.

One page, written when ``trainforge tune`` ends: the summary, the best parameters, the
optimisation history, every trial's per-epoch curve (where pruning shows), parameter
importances, a parallel-coordinates plot and a table of all trials. Like the run report it is
one file with its images embedded; the PNGs are also kept under ``tune_plots/``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import optuna
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

from trainforge.evaluation.html import document, esc, fmt, image, table, write_atomic
from trainforge.tuning.plots import (
    plot_history,
    plot_importances,
    plot_intermediate_values,
    plot_parallel_coordinates,
    value_text,
)

_COUNTED_STATES = {
    "complete": TrialState.COMPLETE,
    "pruned": TrialState.PRUNED,
    "failed": TrialState.FAIL,
    "running": TrialState.RUNNING,
}


def _duration(seconds: float | None) -> str:
    """Seconds as people read them: "8.2 s", "3 min 07 s", "2 h 05 min"."""
    if seconds is None:
        return "—"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def _seconds(trial: FrozenTrial) -> float | None:
    return trial.duration.total_seconds() if trial.duration is not None else None


def _cell(value: Any) -> Any:
    """Numbers stay numbers (right-aligned, 4 digits); None, lists and the rest become text."""
    return value if isinstance(value, int | float) else value_text(value)


def _space(distribution: BaseDistribution) -> str:
    """A search space in words, e.g. "float in [1e-05, 0.1], log" or "one of adam, sgd"."""
    if isinstance(distribution, CategoricalDistribution):
        return "one of " + ", ".join(value_text(choice) for choice in distribution.choices)
    if isinstance(distribution, FloatDistribution | IntDistribution):
        kind = "int" if isinstance(distribution, IntDistribution) else "float"
        text = f"{kind} in [{fmt(distribution.low)}, {fmt(distribution.high)}]"
        if distribution.log:
            text += ", log"
        if distribution.step not in (None, 1):
            text += f", step {fmt(distribution.step)}"
        return text
    return str(distribution)


def _summary(
    study: optuna.Study,
    trials: Sequence[FrozenTrial],
    best: FrozenTrial | None,
    metric: str,
    extra: Mapping[str, Any],
) -> str:
    """The facts at the top: study, objective, trial counts by state, best value, timings."""
    rows: list[list[Any]] = [
        ["study", study.study_name],
        ["metric", metric],
        ["direction", study.direction.name.lower()],
        ["trials", len(trials)],
    ]
    for name, state in _COUNTED_STATES.items():
        rows.append([f"trials {name}", sum(t.state == state for t in trials)])
    waiting = sum(t.state == TrialState.WAITING for t in trials)
    if waiting:
        rows.append(["trials waiting", waiting])
    rows.append(["best value", best.value if best is not None else "—"])
    rows.append(["best trial", f"#{best.number}" if best is not None else "—"])
    seconds = [s for s in map(_seconds, trials) if s is not None]
    rows.append(["trial time, total", _duration(sum(seconds)) if seconds else "—"])
    rows.append(["trial time, mean", _duration(sum(seconds) / len(seconds)) if seconds else "—"])
    rows += [[key, value] for key, value in extra.items()]
    return table(["item", "value"], rows)


def _best_params(best: FrozenTrial) -> str:
    """The best trial's parameters with the search space each was drawn from."""
    rows = [
        [name, _cell(value), _space(best.distributions[name])]
        for name, value in best.params.items()
    ]
    return table(["parameter", "value", "search space"], rows)


def _why_no_importances(completed: Sequence[FrozenTrial], metric: str) -> str | None:
    """Why importances cannot be computed from these trials, or None when they can."""
    if len(completed) < 2:
        return f"they need at least 2 completed trials; this study has {len(completed)}."
    if not any(t.params for t in completed):
        return "the completed trials have no parameters."
    if len({repr(sorted(t.params.items())) for t in completed}) < 2:
        return f"every completed trial used the same parameters, so none explains {metric}."
    return None


def _importances(
    study: optuna.Study, completed: Sequence[FrozenTrial], metric: str, plots_dir: Path
) -> tuple[list[str], dict[str, float]]:
    """The importance section (plot, or a muted paragraph saying why not) and the scores."""
    heading = "<h2>Parameter importances</h2>"
    reason = _why_no_importances(completed, metric)
    if reason is None:
        # PED-ANOVA is deterministic (no forest to seed), ranks conditional parameters, and
        # unlike fANOVA holds up on the few completed trials that a pruned search leaves.
        evaluator = optuna.importance.PedAnovaImportanceEvaluator()
        try:
            scores = optuna.importance.get_param_importances(study, evaluator=evaluator)
        # The search is over when this runs: a failed analysis must not cost its report.
        except Exception as error:
            reason = f"optuna could not compute them ({type(error).__name__}: {error})."
    if reason is not None:
        return [heading, f'<p class="muted">No parameter importances: {esc(reason)}</p>'], {}
    scores = {name: float(score) for name, score in scores.items()}
    path = plot_importances(scores, plots_dir / "param_importances.png")
    caption = (
        f"PED-ANOVA importance: how much each parameter matters for reaching the top 10% of "
        f"{metric}, from {len(completed)} completed trials"
    )
    rows = [[name, score] for name, score in scores.items()]
    parts = [heading, image(path, caption), table(["parameter", "importance"], rows)]
    if len(set(scores.values())) == 1 and len(scores) > 1:
        parts.append(
            '<p class="muted">Every parameter scored the same: too few distinct trials to tell '
            "them apart.</p>"
        )
    return parts, scores


def _trials_table(trials: Sequence[FrozenTrial]) -> str:
    """One row per trial: number, state, value, last epoch reported, duration, params."""
    rows = [
        [
            t.number,
            t.state.name,
            t.value if t.value is not None else "—",
            t.last_step if t.last_step is not None else "—",
            _duration(_seconds(t)),
            ", ".join(f"{name}={value_text(value)}" for name, value in t.params.items()),
        ]
        for t in sorted(trials, key=lambda t: t.number)
    ]
    return table(["trial", "state", "value", "last epoch", "duration", "params"], rows)


def write_tune_report(
    study: optuna.Study,
    folder: Path,
    *,
    metric: str,
    best_config_yaml: str | None = None,
    extra: Mapping[str, Any] | None = None,
) -> Path:
    """Write folder/tune_report.html (+ PNGs in folder/tune_plots/) and return the html path.

    Works at any stage of a study: with no completed trial the page says so and shows what
    there is (pruned trials, per-epoch curves, the trials table).

    Args:
        study: a single-objective study; its direction says whether higher is better.
        folder: where to write (created if missing).
        metric: name of the objective, e.g. ``"val_f1_macro"``.
        best_config_yaml: the best trial's resolved config, shown verbatim (default: none).
        extra: more facts for the summary, e.g. storage or the best run's folder.

    Example::

        path = write_tune_report(study, Path("runs/tune"), metric="val_f1_macro")
    """
    if len(study.directions) != 1:
        raise ValueError(
            f"'study' must have a single objective for the tune report; got "
            f"{len(study.directions)} directions. Create it with `direction=`, not `directions=`."
        )
    folder = Path(folder)
    plots_dir = folder / "tune_plots"
    plots_dir.mkdir(parents=True, exist_ok=True)
    trials = study.get_trials(deepcopy=False)
    completed = [t for t in trials if t.state == TrialState.COMPLETE]
    best = study.best_trial if completed else None
    maximize = study.direction == StudyDirection.MAXIMIZE
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    title = f"Hyper-parameter search: {study.study_name}"

    parts = [
        f"<h1>{esc(title)}</h1>",
        f'<p class="muted">Optuna {esc(optuna.__version__)}, generated {stamp}</p>',
        "<h2>Summary</h2>",
        _summary(study, trials, best, metric, extra or {}),
    ]
    if best is None:
        parts.append(
            '<p class="muted">No trial has completed yet, so there is no best value, no '
            "parameter importance and no parallel-coordinates plot.</p>"
        )
    else:
        parts += [f"<h2>Best parameters (trial #{best.number})</h2>", _best_params(best)]

    history = plot_history(
        trials, best, metric=metric, maximize=maximize, path=plots_dir / "history.png"
    )
    if history is not None:
        parts += ["<h2>Optimisation history</h2>", image(history, f"{metric} of each trial")]
    curves = plot_intermediate_values(
        trials, best, metric=metric, path=plots_dir / "intermediate_values.png"
    )
    if curves is not None:
        caption = f"{metric} reported after each epoch; pruned trials in grey"
        parts += ["<h2>Intermediate values</h2>", image(curves, caption)]

    if best is not None:
        section, scores = _importances(study, completed, metric, plots_dir)
        parts += section
        # Axes in order of importance, so the parameters that matter sit together on the left.
        names = list(dict.fromkeys([*scores, *sorted({n for t in completed for n in t.params})]))
        parallel = plot_parallel_coordinates(
            completed,
            names,
            best,
            metric=metric,
            maximize=maximize,
            path=plots_dir / "parallel_coordinates.png",
        )
        if parallel is not None:
            caption = f"Completed trials, coloured by {metric}; the best one in red"
            parts += ["<h2>Parallel coordinates</h2>", image(parallel, caption, wide=True)]

    parts += [f"<h2>All trials ({len(trials)})</h2>", _trials_table(trials)]
    if best_config_yaml is not None:
        parts += ["<h2>Best config</h2>", f"<pre>{esc(best_config_yaml)}</pre>"]

    report_path = folder / "tune_report.html"
    write_atomic(report_path, document(title, parts))
    return report_path

"""PNG plots for the tune report: history, per-epoch curves, importances, parallel coordinates.

Built like ``trainforge.evaluation.plots``: detached ``Figure`` objects on the Agg canvas,
never ``pyplot``, so no figure is registered anywhere and each one is freed with its last
reference (many reports in one process do not pile up figures).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import FrozenTrial, TrialState

from trainforge.evaluation.plots import new_figure, plain_text, save_figure

# Where a trial without the parameter (a conditional one) crosses that axis.
_ABSENT = -0.12
_N_TICKS = 5


def _is_finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def value_text(value: object) -> str:
    """A parameter value as people read it: floats to 4 significant digits, the rest as str."""
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def plot_history(
    trials: Sequence[FrozenTrial],
    best: FrozenTrial | None,
    *,
    metric: str,
    maximize: bool,
    path: Path,
) -> Path | None:
    """Objective of each trial by number, the best-so-far line, pruned trials at their last value.

    Failed and running trials are left out. Returns None (and no file) when nothing has a value.
    """
    from matplotlib.ticker import MaxNLocator

    done = [t for t in trials if t.state == TrialState.COMPLETE and _is_finite(t.value)]
    pruned = [
        (t.number, t.intermediate_values[t.last_step])
        for t in trials
        if t.state == TrialState.PRUNED and t.last_step is not None
    ]
    pruned = [(number, value) for number, value in pruned if _is_finite(value)]
    if not done and not pruned:
        return None

    fig = new_figure(8.0, 4.5)
    ax = fig.add_subplot(1, 1, 1)
    if pruned:
        xs, ys = zip(*pruned, strict=True)
        ax.scatter(xs, ys, marker="x", color="grey", s=25, label="pruned (last reported value)")
    if done:
        numbers = [t.number for t in done]
        values = [float(t.value) for t in done]  # type: ignore[arg-type]
        ax.scatter(numbers, values, color="tab:blue", s=25, label="complete")
        pick = max if maximize else min
        running = [pick(values[: i + 1]) for i in range(len(values))]
        ax.step(numbers, running, where="post", color="tab:red", label="best so far")
    if best is not None and best.value is not None and math.isfinite(best.value):
        ax.scatter(
            [best.number],
            [best.value],
            marker="*",
            s=180,
            color="tab:red",
            zorder=3,
            label=f"best trial #{best.number}",
        )
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("trial number")
    ax.set_ylabel(plain_text(metric))
    ax.set_title(f"Optimisation history ({'maximize' if maximize else 'minimize'})")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small")
    return save_figure(fig, path)


def plot_intermediate_values(
    trials: Sequence[FrozenTrial], best: FrozenTrial | None, *, metric: str, path: Path
) -> Path | None:
    """The per-epoch curve that each trial reported; pruned ones grey, the best one in red.

    Returns None (and no file) when no trial reported an intermediate value.
    """
    from matplotlib.ticker import MaxNLocator

    curves = [t for t in trials if t.intermediate_values]
    if not curves:
        return None
    styles = {
        TrialState.COMPLETE: ("tab:blue", 0.7, "complete"),
        TrialState.PRUNED: ("grey", 0.45, "pruned"),
    }
    fig = new_figure(8.0, 4.5)
    ax = fig.add_subplot(1, 1, 1)
    labelled: set[str] = set()
    for trial in curves:
        steps = sorted(trial.intermediate_values)
        values = [trial.intermediate_values[step] for step in steps]
        colour, alpha, label = styles.get(
            trial.state, ("tab:orange", 0.7, trial.state.name.lower())
        )
        is_best = best is not None and trial.number == best.number
        if is_best:
            colour, alpha, label = "tab:red", 1.0, f"best trial #{trial.number}"
        ax.plot(
            steps,
            values,
            color=colour,
            alpha=alpha,
            linewidth=2.2 if is_best else 1.0,
            marker="o" if len(steps) <= 30 else None,
            markersize=2.5,
            zorder=3 if is_best else 2,
            # One legend entry per kind of line, not one per trial.
            label=None if label in labelled else label,
        )
        labelled.add(label)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch (step given to trial.report)")
    ax.set_ylabel(plain_text(metric))
    ax.set_title("Intermediate values: where pruning stopped trials")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small")
    return save_figure(fig, path)


def plot_importances(importances: Mapping[str, float], path: Path) -> Path:
    """Horizontal bars of parameter importance, the most important at the top."""
    names = list(importances)[::-1]
    values = [importances[name] for name in names]
    fig = new_figure(7.0, max(2.5, 1.2 + 0.45 * len(names)))
    ax = fig.add_subplot(1, 1, 1)
    bars = ax.barh([plain_text(name) for name in names], values, color="tab:blue")
    ax.bar_label(bars, labels=[f"{value:.3f}" for value in values], padding=3, fontsize="small")
    ax.set_xlim(0.0, max([*values, 1e-12]) * 1.18)
    ax.set_xlabel("importance (sums to 1)")
    ax.set_title("Parameter importances")
    ax.grid(True, axis="x", alpha=0.3)
    return save_figure(fig, path)


@dataclass(frozen=True)
class _Axis:
    """One vertical axis: its label, each trial's height on it, and its (height, text) ticks."""

    label: str
    heights: list[float]
    ticks: list[tuple[float, str]]


def _spread(count: int) -> list[float]:
    """``count`` evenly spaced heights in [0, 1] (a single one in the middle)."""
    return [i / (count - 1) for i in range(count)] if count > 1 else [0.5]


def _numeric_axis(name: str, trials: Sequence[FrozenTrial]) -> _Axis:
    """Scale a float/int parameter to [0, 1] over its search range, in log space if log."""
    spaces = [t.distributions[name] for t in trials if name in t.distributions]
    low = min(float(d.low) for d in spaces)  # type: ignore[attr-defined]
    high = max(float(d.high) for d in spaces)  # type: ignore[attr-defined]
    log = low > 0 and all(d.log for d in spaces)  # type: ignore[attr-defined]
    is_int = all(isinstance(d, IntDistribution) for d in spaces)
    to_space, from_space = (math.log, math.exp) if log else (float, float)
    start, width = to_space(low), to_space(high) - to_space(low)

    def height(value: float) -> float:
        return (to_space(value) - start) / width if width > 0 else 0.5

    heights = [height(float(t.params[name])) if name in t.params else _ABSENT for t in trials]
    ticks = {}
    for spot in _spread(_N_TICKS if width > 0 else 1):
        value = from_space(start + spot * width)
        label = str(round(value)) if is_int else f"{value:.3g}"
        ticks[label] = height(round(value)) if is_int else spot
    return _Axis(f"{name} (log)" if log else name, heights, [(h, t) for t, h in ticks.items()])


def _categorical_axis(name: str, trials: Sequence[FrozenTrial]) -> _Axis:
    """Place each choice at an evenly spaced height, labelled with the choice itself."""
    # repr tells 1, 1.0, True and "1" apart and works for None and lists, which are unhashable.
    labels: dict[str, str] = {}
    for trial in trials:
        space = trial.distributions.get(name)
        for choice in space.choices if isinstance(space, CategoricalDistribution) else ():
            labels.setdefault(repr(choice), value_text(choice))
        if name in trial.params:
            labels.setdefault(repr(trial.params[name]), value_text(trial.params[name]))
    spots = dict(zip(labels, _spread(len(labels)), strict=True))
    heights = [spots[repr(t.params[name])] if name in t.params else _ABSENT for t in trials]
    return _Axis(name, heights, [(spots[key], label) for key, label in labels.items()])


def _param_axis(name: str, trials: Sequence[FrozenTrial]) -> _Axis:
    """A numeric axis when every trial drew ``name`` from a float/int range, else categorical."""
    spaces = [t.distributions[name] for t in trials if name in t.distributions]
    if all(isinstance(space, FloatDistribution | IntDistribution) for space in spaces):
        return _numeric_axis(name, trials)
    return _categorical_axis(name, trials)


def plot_parallel_coordinates(
    trials: Sequence[FrozenTrial],
    params: Sequence[str],
    best: FrozenTrial | None,
    *,
    metric: str,
    maximize: bool,
    path: Path,
) -> Path | None:
    """One vertical axis per parameter plus the objective; one line per completed trial.

    Numeric parameters span their search range (log ones in log space), categorical ones sit
    at evenly spaced heights; a trial lacking a parameter crosses that axis at "absent". Lines
    are coloured by objective value and the best trial is drawn in red on top.
    Returns None (and no file) when no completed trial has a finite value and parameters.
    """
    from matplotlib import colormaps
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    trials = [t for t in trials if t.state == TrialState.COMPLETE and _is_finite(t.value)]
    params = [name for name in params if any(name in t.params for t in trials)]
    if not trials or not params:
        return None
    axes = [_param_axis(name, trials) for name in params]
    values = [float(t.value) for t in trials]  # type: ignore[arg-type]
    low, high = min(values), max(values)
    objective = _Axis(
        metric,
        [(v - low) / (high - low) if high > low else 0.5 for v in values],
        [
            (spot, f"{low + spot * (high - low):.4g}")
            for spot in _spread(_N_TICKS if high > low else 1)
        ],
    )
    axes.append(objective)

    fig = new_figure(max(7.0, 1.8 * len(axes) + 2.5), 5.5)
    ax = fig.add_subplot(1, 1, 1)
    # Reversed for minimize, so the best trials have the same (bright) colour either way.
    cmap = colormaps["viridis" if maximize else "viridis_r"]
    norm = Normalize(low, high if high > low else low + 1.0)
    xs = list(range(len(axes)))
    # Better trials drawn last, so they stay visible where lines pile up.
    order = sorted(range(len(trials)), key=lambda i: values[i], reverse=not maximize)
    for i in order:
        ys = [axis.heights[i] for axis in axes]
        if best is not None and trials[i].number == best.number:
            ax.plot(
                xs, ys, color="tab:red", linewidth=2.5, zorder=4, label=f"best trial #{best.number}"
            )
        else:
            ax.plot(xs, ys, color=cmap(norm(values[i])), linewidth=1.0, alpha=0.75)
    for x, axis in enumerate(axes):
        ax.axvline(x, color="black", linewidth=0.8, zorder=3)
        ticks = list(axis.ticks)
        if _ABSENT in axis.heights:
            ticks.append((_ABSENT, "absent"))
        for height, label in ticks:
            ax.plot([x - 0.04, x], [height, height], color="black", linewidth=0.8, zorder=3)
            ax.text(
                x + 0.03, height, plain_text(label), fontsize=7, va="center", ha="left", zorder=5
            )
    ax.set_xticks(
        xs, labels=[plain_text(axis.label) for axis in axes], rotation=20 if len(axes) > 6 else 0
    )
    ax.set_yticks([])
    ax.set_xlim(-0.3, len(axes) - 0.4)
    ax.set_ylim(_ABSENT - 0.06, 1.06)
    for side in ("left", "right", "top"):
        ax.spines[side].set_visible(False)
    colorbar = fig.colorbar(ScalarMappable(norm=norm, cmap=cmap), ax=ax, pad=0.02)
    colorbar.set_label(plain_text(metric))
    ax.set_title(f"Parallel coordinates of {len(trials)} completed trials")
    if best is not None:
        ax.legend(loc="upper left", bbox_to_anchor=(0.0, -0.12), fontsize="small", frameon=False)
    return save_figure(fig, path)

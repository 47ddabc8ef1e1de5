"""`trainforge compare`: finished runs side by side: metrics, settings that differ, time, memory.

A run folder counts as finished once it holds `metrics.json`, which `trainforge train` writes
last. `history.json` is optional: runs from older versions lack it and get no learning curves.

    comparison = compare_runs(["runs/a", "runs/b"])
    write_comparison(comparison)  # -> runs/compare.html
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import yaml

from trainforge.errors import TrainforgeError
from trainforge.evaluation.html import document, esc, image, table, write_atomic

if TYPE_CHECKING:
    from rich.table import Table

MISSING = "—"
# Written by `trainforge train` beside the split metrics; shown first, in this order.
_COST_KEYS = ("train_time_s", "samples_per_second", "peak_rss_mb", "epochs_run", "best_epoch")
# Counts and chosen values stored among the metrics: shown, but no run is "best" at them.
_NEUTRAL = frozenset(
    {"n_samples", "support", "threshold", "epochs_run", "best_epoch", "train_windows"}
)
_LOWER_IS_BETTER = frozenset({"mse", "rmse", "mae"})
# Every run has its own name; it would be listed as a difference each time.
_IGNORED_SETTINGS = frozenset({"name"})
_REDO = "Leave this run out, or train it again"


@dataclass(frozen=True)
class RunRecord:
    """One finished run folder, as read from disk; `history` is None without history.json."""

    name: str
    path: Path
    config: dict[str, Any]
    metrics: dict[str, Any]
    history: list[dict[str, Any]] | None


@dataclass(frozen=True)
class Row:
    """One line of a comparison: a key, one value per run (None where a run lacks it), and
    the indices of the runs holding the best value (empty when there is nothing to rank)."""

    key: str
    values: tuple[Any, ...]
    best: frozenset[int] = frozenset()


@dataclass(frozen=True)
class Comparison:
    """Runs in the order given; `settings` holds only the config keys whose values differ."""

    runs: tuple[RunRecord, ...]
    metrics: tuple[Row, ...]
    settings: tuple[Row, ...]
    cost: tuple[Row, ...]

    @property
    def names(self) -> list[str]:
        return [run.name for run in self.runs]


def compare_runs(run_dirs: Sequence[str | Path]) -> Comparison:
    """Load finished run folders and line up their metrics, differing settings and cost.

    Metrics are the scalar ones of every split (`validation.accuracy`, `test.rmse`, ...);
    a run that lacks one, e.g. a run of another task, has None there.

    Args:
        run_dirs: one or more folders written by `trainforge train`; each is named after its
            folder (with the parent folder, or a number, where two names are equal).

    Raises:
        TrainforgeError: a folder is missing, unfinished, or holds an unreadable file.

    Example:
        >>> comparison = compare_runs(["runs/a", "runs/b"])
        >>> [(row.key, row.values) for row in comparison.settings]
        [('train.lr', (0.001, 0.01))]
    """
    if not run_dirs:
        raise TrainforgeError("no run folders given", fix="Pass one or more run folders")
    paths = [Path(run_dir) for run_dir in run_dirs]
    runs = tuple(map(_load_run, paths, _unique_names(paths)))
    metric_keys = [
        f"{split}.{key}"
        for run in runs
        for split, scores in run.metrics.items()
        if isinstance(scores, dict)
        for key, value in scores.items()
        if _is_number(value)
    ]
    cost_keys = [
        *(key for key in _COST_KEYS if any(key in run.metrics for run in runs)),
        *(key for run in runs for key, value in run.metrics.items() if _is_number(value)),
    ]
    return Comparison(
        runs=runs,
        metrics=_ranked(runs, metric_keys),
        settings=_differing_settings(runs),
        cost=_ranked(runs, cost_keys),
    )


def comparison_tables(comparison: Comparison) -> list[Table]:
    """The comparison as rich tables for the console; each row's best value is bold with ★."""
    from rich.table import Table
    from rich.text import Text

    def grid(title: str, rows: Sequence[Row], numeric: bool, caption: str | None) -> Table:
        result = Table(title=title, caption=caption)
        result.add_column("metric" if numeric else "setting")
        for name in comparison.names:
            # Text, not str: rich would read "[...]" in a name or a value as markup.
            result.add_column(Text(name), justify="right" if numeric else "left")
        for row in rows:
            cells = [
                Text(_number(value, i in row.best), style="bold" if i in row.best else "")
                if numeric
                else Text(_setting(value))
                for i, value in enumerate(row.values)
            ]
            result.add_row(Text(row.key), *cells)
        return result

    tables = [grid("Metrics", comparison.metrics, True, None)]
    if len(comparison.runs) > 1:
        equal = None if comparison.settings else "none: the configs are equal"
        tables.append(grid("Settings that differ", comparison.settings, False, equal))
    tables.append(grid("Time and memory", comparison.cost, True, None))
    return tables


def write_comparison(comparison: Comparison, output: str | Path | None = None) -> Path:
    """Write a self-contained `compare.html`: the tables and the overlaid learning curves.

    The plot is also kept as a PNG in `compare_plots/` beside the page.

    Args:
        output: the page's path, or a folder to write `compare.html` into. Default:
            `compare.html` in the runs' parent folder when they all share one, else in the
            current folder.

    Returns:
        The path of the page.
    """
    if output is None:
        parents = {run.path.resolve().parent for run in comparison.runs}
        output = parents.pop() if len(parents) == 1 else Path.cwd()
    path = Path(output)
    if path.is_dir():
        path = path / "compare.html"
    path.parent.mkdir(parents=True, exist_ok=True)
    names = comparison.names
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    runs = [
        [run.name, run.path, run.config.get("task"), (run.config.get("model") or {}).get("type")]
        for run in comparison.runs
    ]
    settings = [[row.key, *map(_setting, row.values)] for row in comparison.settings]
    parts = [
        f"<h1>trainforge comparison: {esc(', '.join(names))}</h1>",
        f'<p class="muted">{len(names)} runs, generated {stamp}. ★ marks the best value.</p>',
        "<h2>Runs</h2>",
        table(["run", "folder", "task", "model"], [[*map(_setting, row)] for row in runs]),
        "<h2>Metrics</h2>",
        _ranked_table("metric", names, comparison.metrics),
        "<h2>Settings that differ</h2>",
        table(["setting", *names], settings)
        if settings
        else '<p class="muted">None: the configs are equal (apart from their names).</p>',
        "<h2>Time and memory</h2>",
        _ranked_table("", names, comparison.cost),
        "<h2>Learning curves</h2>",
        *_curves(comparison.runs, path.parent / "compare_plots" / "learning_curves.png"),
    ]
    write_atomic(path, document(f"trainforge comparison: {', '.join(names)}", parts))
    return path


def _load_run(path: Path, name: str) -> RunRecord:
    """Read one run folder, with a user error naming the folder for anything amiss."""
    if not path.is_dir():
        raise TrainforgeError(
            "not a folder" if path.exists() else "run folder not found",
            where=str(path),
            fix="Pass a folder written by `trainforge train`, e.g. runs/NAME",
        )
    if not (path / "metrics.json").is_file():
        raise TrainforgeError(
            "not a finished run: metrics.json is missing (the run may still be running, or it "
            "failed)",
            where=str(path),
            fix="Pass finished runs only; continue an interrupted one with "
            "`trainforge train CONFIG --output RUN_DIR --resume`",
        )
    history = _read(path / "history.json", list) if (path / "history.json").exists() else None
    if history is not None and not all(isinstance(row, dict) for row in history):
        raise TrainforgeError(
            "history.json must hold a list of per-epoch objects", where=str(path), fix=_REDO
        )
    config, metrics = _read(path / "config.yaml", dict), _read(path / "metrics.json", dict)
    return RunRecord(name=name, path=path, config=config, metrics=metrics, history=history)


def _read(file: Path, kind: type[dict[str, Any]] | type[list[Any]]) -> Any:
    """Parse a run's JSON or YAML file and check that it holds a `kind` (dict or list)."""
    try:
        text = file.read_text(encoding="utf-8")
        data = yaml.safe_load(text) if file.suffix == ".yaml" else json.loads(text)
    except FileNotFoundError:
        raise TrainforgeError(
            f"{file.name} is missing",
            where=str(file.parent),
            fix="A finished run holds it; copy it back from the run's model/ folder",
        ) from None
    except (OSError, UnicodeDecodeError, ValueError, yaml.YAMLError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise TrainforgeError(f"cannot read it: {reason}", where=str(file), fix=_REDO) from None
    if not isinstance(data, kind):
        expected = "a mapping" if kind is dict else "a list"
        got = type(data).__name__
        raise TrainforgeError(f"must hold {expected}, got {got}", where=str(file), fix=_REDO)
    return data


def _unique_names(paths: Sequence[Path]) -> list[str]:
    """Folder names; where two are equal, with their parent folder, then numbered."""
    names = [path.resolve().name for path in paths]
    names = [
        f"{path.resolve().parent.name}/{name}" if names.count(name) > 1 else name
        for path, name in zip(paths, names, strict=True)
    ]
    # Still equal only when a folder is given twice: "a", "a (2)".
    return [
        f"{name} ({names[:i].count(name) + 1})" if name in names[:i] else name
        for i, name in enumerate(names)
    ]


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _goal(key: str) -> Literal["max", "min"] | None:
    """Which way is better for a metric: losses, errors, seconds and megabytes go down."""
    name = key.rpartition(".")[2]
    if name in _NEUTRAL:
        return None
    if name in _LOWER_IS_BETTER or name.endswith(("loss", "_s", "_mb")):
        return "min"
    return "max"


def _ranked(runs: Sequence[RunRecord], keys: list[str]) -> tuple[Row, ...]:
    """One row per key ("split.metric" or top-level), its best runs marked where they differ."""
    rows = []
    for key in dict.fromkeys(keys):
        split, _, name = key.rpartition(".")
        scores = [run.metrics.get(split) if split else run.metrics for run in runs]
        values = [s.get(name) if isinstance(s, dict) else None for s in scores]
        values = [value if _is_number(value) else None for value in values]
        finite = {i: float(v) for i, v in enumerate(values) if v is not None and math.isfinite(v)}
        goal, best = _goal(key), frozenset[int]()
        if goal is not None and len(set(finite.values())) > 1:
            target = (max if goal == "max" else min)(finite.values())
            best = frozenset(i for i, v in finite.items() if v == target)
        rows.append(Row(key, tuple(values), best))
    return tuple(rows)


def _differing_settings(runs: Sequence[RunRecord]) -> tuple[Row, ...]:
    """Config keys, dotted (`train.lr`), whose values are not the same in every run."""
    flat = [_flatten(run.config) for run in runs]
    keys = dict.fromkeys(key for settings in flat for key in settings)
    rows = (Row(key, tuple(settings.get(key) for settings in flat)) for key in keys)
    return tuple(
        row
        for row in rows
        if row.key not in _IGNORED_SETTINGS and any(v != row.values[0] for v in row.values)
    )


def _flatten(mapping: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"train": {"lr": 0.01}} -> {"train.lr": 0.01}; lists and empty mappings stay values."""
    flat: dict[str, Any] = {}
    for key, value in mapping.items():
        if isinstance(value, dict) and value:
            flat |= _flatten(value, f"{prefix}{key}.")
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _number(value: float | None, best: bool = False) -> str:
    """A metric cell: 4 significant digits (13273, not 1.327e+04), ★ first when best."""
    if value is None:
        return MISSING
    text = f"{value:.4g}" if isinstance(value, float) and abs(value) < 10_000 else f"{value:.0f}"
    return f"★ {text}" if best else text


def _setting(value: Any) -> str:
    """A setting cell, exact (a learning rate must not be rounded): text as is, the rest JSON."""
    if value is None:
        return MISSING
    return str(value) if isinstance(value, str | Path) else json.dumps(value)


def _ranked_table(first: str, names: Sequence[str], rows: Sequence[Row]) -> str:
    """Like `html.table`, with each row's best value in bold with a ★."""
    head = "".join(f"<th>{esc(cell)}</th>" for cell in [first, *names])
    body = []
    for row in rows:
        cells = [esc(_number(value, i in row.best)) for i, value in enumerate(row.values)]
        cells = [f"<strong>{c}</strong>" if i in row.best else c for i, c in enumerate(cells)]
        tds = "".join(f'<td class="num">{cell}</td>' for cell in cells)
        body.append(f"<tr><th>{esc(row.key)}</th>{tds}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _curves(runs: Sequence[RunRecord], path: Path) -> list[str]:
    """Plot one subplot per history key (losses first), one line per run, and embed it;
    then a note for each run without curves."""
    from matplotlib.ticker import MaxNLocator

    # The report's plotting helpers, so that both pages draw curves the same way.
    from trainforge.evaluation.plots import history_series, new_figure, plain_text, save_figure

    keys = list(dict.fromkeys(k for run in runs for row in run.history or [] for k in row))
    keys = [
        k for k in keys if k != "epoch" and any(history_series(r.history or [], k)[0] for r in runs)
    ]

    def order(key: str) -> tuple[bool, ...]:
        """train_loss, val_loss, the other val_ metrics, then the rest (lr)."""
        return (not key.endswith("loss"), not key.startswith("train_"), not key.startswith("val_"))

    keys.sort(key=order)
    parts = []
    if keys:
        columns = min(3, len(keys))
        rows = math.ceil(len(keys) / columns)
        fig = new_figure(5.0 * columns, 3.8 * rows)
        for position, key in enumerate(keys, start=1):
            ax = fig.add_subplot(rows, columns, position)
            for index, run in enumerate(runs):
                xs, ys = history_series(run.history or [], key)
                if xs:
                    # One colour per run in every subplot; markers show one-epoch runs.
                    marker = "o" if len(xs) <= 30 else None
                    label = plain_text(run.name)
                    ax.plot(xs, ys, color=f"C{index}", marker=marker, markersize=3, label=label)
            ax.set(title=plain_text(key), xlabel="epoch")
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.grid(True, alpha=0.3)
            ax.legend(fontsize="small")
        parts.append(image(save_figure(fig, path), "Learning curves, one line per run"))
    else:
        path.unlink(missing_ok=True)  # a stale plot from an earlier comparison
    for run in runs:
        if run.history is None:
            why = "it has no history.json (runs from older versions lack it)"
        elif not run.history:
            why = "its history is empty (scikit-learn models train in one step)"
        else:
            continue
        parts.append(f'<p class="muted">No learning curves for {esc(run.name)}: {why}.</p>')
    return parts

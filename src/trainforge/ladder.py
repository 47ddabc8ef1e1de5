"""`trainforge ladder`: how many labels does this data need, and which way of fitting wins?

Every cell of method x labelled examples per class x seed is one ordinary `pipeline.train` run
of the user's config with `model.finetune`, `data.shots` and `train.seed` changed. All cells
share the validation and test rows: the split is carved with one fixed seed
(`data.split.seed`), and only the training sample and the training seed change with the seed.
Zero-shot uses no labels: it runs once and is the score at 0 examples.

    result = ladder("examples/intents.yaml", shots=[0, 8, 32, None], methods=["zero_shot",
                    "setfit", "frozen"], seeds=3)
    result.html  # ladder.html: the table, score against examples per class, time per cell
"""

from __future__ import annotations

import csv
import json
import shutil
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from trainforge.errors import ConfigError, DataError, format_choices

# Methods that use no labels: scored once, at 0 examples per class.
LABEL_FREE = ("zero_shot",)
# Methods that also run at 0 examples per class (prompt_lm: the instruction alone).
RUN_AT_ZERO = ("zero_shot", "prompt_lm")
# prompt_lm shows at most this many of the K-per-class examples in its prompt.
PROMPT_EXAMPLES = 16
METHODS = (
    "zero_shot",
    "prompt_lm",
    "setfit",
    "frozen",
    "lora",
    "adalora",
    "ia3",
    "adapter",
    "full",
)
DEFAULT_METHODS = ("zero_shot", "setfit", "frozen", "lora", "full")
CELL = "ladder_cell.json"


@dataclass(frozen=True)
class Cell:
    """One run of the ladder. `shots` None is all the training data; `error` a skipped cell."""

    method: str
    shots: int | None
    seed: int
    score: float | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    train_time_s: float | None = None
    wall_time_s: float | None = None
    examples_per_class: float | None = None
    error: str | None = None


@dataclass(frozen=True)
class LadderResult:
    """The finished ladder: every cell, the summary per (method, shots), and the files."""

    metric: str
    cells: list[Cell]
    summary: list[dict[str, Any]]
    folder: Path

    @property
    def html(self) -> Path:
        return self.folder / "ladder.html"


def parse_shots(text: str) -> list[int | None]:
    """ "0,8,32,all" -> [0, 8, 32, None]; errors name the part."""
    values: list[int | None] = []
    for part in (p.strip() for p in text.split(",") if p.strip()):
        if part == "all":
            values.append(None)
        elif part.isdigit():
            values.append(int(part))
        else:
            raise ConfigError(
                f"cannot read {part!r} as a number of examples per class",
                where="--shots",
                fix="List whole numbers and 'all', e.g. --shots 0,8,32,all",
            )
    if not values:
        raise ConfigError("no sizes given", where="--shots", fix="e.g. --shots 0,8,32,all")
    return sorted(set(values), key=lambda v: float("inf") if v is None else v)


def parse_methods(text: str) -> list[str]:
    """ "zero_shot,setfit" -> the list, each checked."""
    methods = [m.strip() for m in text.split(",") if m.strip()]
    unknown = [m for m in methods if m not in METHODS]
    if unknown or not methods:
        raise ConfigError(
            f"unknown method(s) {', '.join(map(repr, unknown)) or '(none given)'}",
            where="--methods",
            fix=f"Use model.finetune values: {format_choices(METHODS)}",
        )
    return list(dict.fromkeys(methods))


def plan(
    methods: Sequence[str], shots: Sequence[int | None], seeds: Sequence[int]
) -> list[tuple[str, int | None, int]]:
    """The cells to run, smallest training sets first: label-free methods once, at 0;
    prompt_lm at 0 and at the smallest size (it shows at most PROMPT_EXAMPLES examples, so
    more labelled rows would only change which ones)."""
    cells: list[tuple[str, int | None, int]] = []
    sizes = [s for s in shots if s]  # labelled sizes, without 0 and "all"
    smallest = min(sizes) if sizes else None
    for size in shots:
        for method in methods:
            if method in LABEL_FREE:
                cells += [(method, 0, seeds[0])] if size == 0 else []
            elif size == 0 and method in RUN_AT_ZERO:
                cells.append((method, 0, seeds[0]))  # no examples: nothing random
            elif size != 0 and (method != "prompt_lm" or size == smallest):
                cells += [(method, size, seed) for seed in seeds]
    return cells


def ladder(
    config: str | Path | dict[str, Any],
    *,
    shots: Sequence[int | None] = (0, 8, 32, 128, None),
    methods: Sequence[str] = DEFAULT_METHODS,
    seeds: int = 3,
    metric: str = "accuracy",
    output: str | Path | None = None,
    overrides: Sequence[str] = (),
    keep_models: bool = False,
    progress: bool = True,
) -> LadderResult:
    """Run every method at every training size and seed; write the table, plot and page.

    Args:
        config: the user's text_classification config (YAML path or dict).
        shots: labelled examples per class; 0 for label-free methods, None for all the data.
        methods: `model.finetune` values to compare.
        seeds: training seeds per cell (train.seed, train.seed + 1, ...).
        metric: the test metric to plot (accuracy, f1_macro, ...).
        output: the ladder folder; `runs/<name>-ladder` by default.
        overrides: "dotted.key=value" changes to the config for every cell.
        keep_models: keep every cell's model package (large); only metrics are kept otherwise.
        progress: print a line per cell.
    """
    from trainforge.config import load_config, load_raw, set_key
    from trainforge.pipeline import train

    base = load_config(config, list(overrides))
    if base.task != "text_classification" or base.data.multi_label:
        raise ConfigError(
            f"the ladder compares ways to fit a single-label text classifier; this config's "
            f"task is {base.task!r}{' (multi-label)' if base.data.multi_label else ''}",
            where="task",
            fix="Use a single-label text_classification config",
        )
    if base.data.test is None and base.data.split.test <= 0:
        raise ConfigError(
            "the ladder scores every cell on test data, and this config has none",
            where="data.test",
            fix="Give data.test, or a data.split.test fraction above 0",
        )
    raw = load_raw(config, list(overrides))
    set_key(raw, "data.split.seed", base.split_seed)  # every cell: the same val/test rows
    folder = Path(output) if output else Path("runs") / f"{base.name or _stem(config)}-ladder"
    folder.mkdir(parents=True, exist_ok=True)
    seed_list = [base.train.seed + i for i in range(seeds)]
    cells: list[Cell] = []
    todo = plan(methods, shots, seed_list)
    for number, (method, size, seed) in enumerate(todo, 1):
        name = f"{method}-{'all' if size is None else size}-seed{seed}"
        cell_raw = json.loads(json.dumps(raw))
        set_key(cell_raw, "model.finetune", method)
        set_key(cell_raw, "data.shots", size if size else None)
        set_key(cell_raw, "train.seed", seed)
        if method == "prompt_lm":
            set_key(cell_raw, "model.context_examples", PROMPT_EXAMPLES if size else 0)
        if method in RUN_AT_ZERO:  # nothing trains: validation data would only cost time
            set_key(cell_raw, "data.validation", None)
            set_key(cell_raw, "data.split.validation", 0.0)
        cell_raw.pop("tune", None)
        cell_raw["name"] = name
        done = _finished(folder / "cells" / name, method, size, seed, metric)
        if done is not None:  # a ladder run again continues where it stopped
            cells.append(done)
            _say(progress, f"[{number}/{len(todo)}] {name}: {metric} {done.score:.4f} (kept)")
            continue
        start = time.perf_counter()
        try:
            run = train(cell_raw, output=folder / "cells" / name, overwrite=True, progress=False)
        except DataError as exc:
            if "data.shots" not in exc.what:
                raise
            cells.append(Cell(method, size, seed, error=exc.what))
            _say(progress, f"[{number}/{len(todo)}] {name}: skipped ({exc.what})")
            continue
        wall = time.perf_counter() - start
        test = run.metrics.get("test", {})
        if metric not in test:
            raise ConfigError(
                f"the test metrics have no {metric!r}",
                where="--metric",
                fix=f"Use one of {format_choices([k for k, v in test.items() if _number(v)])}",
            )
        manifest = json.loads((run.package_dir / "trainforge.json").read_text(encoding="utf-8"))
        per_class = manifest["train_rows"] / max(1, len(manifest.get("labels") or [1]))
        cell = Cell(
            method,
            size,
            seed,
            score=float(test[metric]),
            metrics={k: v for k, v in test.items() if _number(v)},
            train_time_s=float(run.metrics.get("train_time_s", 0.0)),
            wall_time_s=round(wall, 2),
            examples_per_class=0.0 if method in LABEL_FREE or size == 0 else per_class,
        )
        cells.append(cell)
        (run.run_dir / CELL).write_text(json.dumps(asdict(cell)), encoding="utf-8")
        if not keep_models:
            shutil.rmtree(run.model_dir, ignore_errors=True)
        _say(progress, f"[{number}/{len(todo)}] {name}: {metric} {test[metric]:.4f} ({wall:.0f} s)")
    summary = summarise(cells)
    _write(folder, metric, cells, summary, base.name or _stem(config))
    return LadderResult(metric, cells, summary, folder)


def _finished(run_dir: Path, method: str, shots: int | None, seed: int, metric: str) -> Cell | None:
    """The cell recorded in `run_dir` by an earlier ladder run, if it finished."""
    path = run_dir / CELL
    if not path.is_file() or not (run_dir / "metrics.json").is_file():
        return None
    record = json.loads(path.read_text(encoding="utf-8"))
    if (record["method"], record["shots"], record["seed"]) != (method, shots, seed):
        return None
    if metric not in record["metrics"]:
        return None
    return Cell(**(record | {"score": float(record["metrics"][metric])}))


def report_cells(folder: str | Path, metric: str = "accuracy", title: str = "ladder") -> Path:
    """Write the ladder's table, plot and page from the cells finished so far in `folder`
    (a ladder stopped before its end); returns ladder.html."""
    folder = Path(folder)
    cells = []
    for path in sorted((folder / "cells").glob(f"*/{CELL}")):
        record = json.loads(path.read_text(encoding="utf-8"))
        if record["error"] is None and metric in record["metrics"]:
            cells.append(Cell(**(record | {"score": float(record["metrics"][metric])})))
    if not cells:
        raise ConfigError(
            "no finished ladder cells here", where=str(folder), fix="Run `trainforge ladder` first"
        )
    cells.sort(key=lambda c: (c.shots is None, c.shots or 0, c.method, c.seed))
    _write(folder, metric, cells, summarise(cells), title)
    return folder / "ladder.html"


def summarise(cells: Sequence[Cell]) -> list[dict[str, Any]]:
    """Mean, spread and time per (method, shots), over the seeds that ran."""
    groups: dict[tuple[str, int | None], list[Cell]] = {}
    for cell in cells:
        if cell.error is None:
            groups.setdefault((cell.method, cell.shots), []).append(cell)
    rows = []
    for (method, shots), group in groups.items():
        scores = np.array([c.score for c in group], dtype=float)
        rows.append(
            {
                "method": method,
                "shots": "all" if shots is None else shots,
                "examples_per_class": float(np.mean([c.examples_per_class or 0 for c in group])),
                "mean": float(scores.mean()),
                "std": float(scores.std(ddof=1)) if len(scores) > 1 else 0.0,
                "min": float(scores.min()),
                "max": float(scores.max()),
                "seeds": len(group),
                "train_time_s": float(np.mean([c.train_time_s or 0.0 for c in group])),
                "wall_time_s": float(np.mean([c.wall_time_s or 0.0 for c in group])),
            }
        )
    return rows


def _write(
    folder: Path, metric: str, cells: list[Cell], summary: list[dict[str, Any]], title: str
) -> None:
    from trainforge.evaluation.html import document, esc, image, table, write_atomic

    payload = {"metric": metric, "summary": summary, "cells": [asdict(c) for c in cells]}
    write_atomic(folder / "ladder.json", json.dumps(payload, indent=2) + "\n")
    with (folder / "ladder.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(summary[0]) if summary else ["method"])
        writer.writeheader()
        writer.writerows(summary)
    plot = plot_ladder(summary, metric, folder / "ladder.png")
    header = [
        "method",
        "examples per class",
        f"test {metric} (mean)",
        "spread (std)",
        "min",
        "max",
        "seeds",
        "train time (s)",
    ]
    rows = [
        [
            s["method"],
            s["shots"],
            s["mean"],
            s["std"],
            s["min"],
            s["max"],
            s["seeds"],
            s["train_time_s"],
        ]
        for s in summary
    ]
    skipped = [c for c in cells if c.error]
    parts = [
        f"<h1>{esc(title)}: labelled-data ladder</h1>",
        '<p class="muted">Each cell trains on the given number of labelled examples per class '
        "(sampled with the seed) and is scored on the same test rows.</p>",
        image(plot, f"Test {metric} against labelled examples per class, mean and spread"),
        "<h2>Summary</h2>",
        table(header, rows),
    ]
    if skipped:
        parts += [
            "<h2>Skipped cells</h2>",
            table(
                ["cell", "why"], [[f"{c.method} {c.shots} seed {c.seed}", c.error] for c in skipped]
            ),
        ]
    write_atomic(folder / "ladder.html", document(f"{title} ladder", parts))


def plot_ladder(summary: Sequence[dict[str, Any]], metric: str, path: Path) -> Path:
    """Score against examples per class (symlog axis: 0 is zero-shot), one line per method,
    a band of one standard deviation; beside it the training time per cell."""
    from trainforge.evaluation.plots import new_figure, save_figure

    fig = new_figure(12.0, 4.8)
    score_ax, time_ax = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    methods = list(dict.fromkeys(s["method"] for s in summary))
    for method in methods:
        points = sorted(
            (s for s in summary if s["method"] == method), key=lambda s: s["examples_per_class"]
        )
        x = np.array([p["examples_per_class"] for p in points])
        mean = np.array([p["mean"] for p in points])
        std = np.array([p["std"] for p in points])
        if method in LABEL_FREE:
            score_ax.axhline(mean[0], linestyle="--", color="grey", linewidth=1)
            score_ax.plot(x, mean, "D", color="grey", label=f"{method} (no labels)")
            continue
        (line,) = score_ax.plot(x, mean, "o-", label=method)
        score_ax.fill_between(x, mean - std, mean + std, color=line.get_color(), alpha=0.2)
        time_ax.plot(x, [p["train_time_s"] for p in points], "o-", label=method)
    for ax in (score_ax, time_ax):
        ax.set_xscale("symlog", linthresh=1)
        ax.set_xlabel("labelled examples per class (last point: all the data)")
        ax.grid(True, alpha=0.3)
    score_ax.set_ylabel(f"test {metric}")
    score_ax.set_title(f"Test {metric} by labelled examples per class")
    score_ax.legend(fontsize=8)
    time_ax.set_yscale("log")
    time_ax.set_ylabel("training time (s)")
    time_ax.set_title("Training time per run")
    return save_figure(fig, path)


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _stem(config: Any) -> str:
    return Path(config).stem if isinstance(config, str | Path) else "run"


def _say(progress: bool, line: str) -> None:
    if progress:
        print(line, flush=True)

"""`trainforge.train`: data → preprocess → model → train → evaluate → package → report.

Everything that can be wrong with the config or the data is found before the run folder is
created, so a bad input leaves nothing behind.
"""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trainforge.config import ExperimentConfig, config_to_yaml, load_config
from trainforge.errors import ConfigError
from trainforge.package import model_card, write_json, write_package
from trainforge.predict import Model, load
from trainforge.tasks.family import FitOptions, Fitted, Prepared
from trainforge.tasks.registry import family_of
from trainforge.tracking import start as tracking_start
from trainforge.versions import promote

TIMING_KEYS = ("train_time_s", "samples_per_second", "peak_rss_mb")
HISTORY_FILE = "history.json"


@dataclass(frozen=True)
class Run:
    """A finished training run."""

    run_dir: Path
    metrics: dict[str, Any]
    model: Model
    primary: bool = True  # False in the other processes of a distributed run (no metrics)

    @property
    def model_dir(self) -> Path:
        """The model folder: versions (v1/, ...) and the `current` pointer."""
        return self.run_dir / "model"

    @property
    def package_dir(self) -> Path:
        """The package of the current version."""
        from trainforge.versions import resolve

        return resolve(self.model_dir)

    @property
    def report_path(self) -> Path:
        return self.run_dir / "report.html"


def train(
    config: str | Path | dict[str, Any] | ExperimentConfig,
    *,
    overrides: list[str] | tuple[str, ...] = (),
    output: str | Path | None = None,
    resume: bool = False,
    overwrite: bool = False,
    progress: bool = True,
    callbacks: Sequence[Any] = (),
) -> Run:
    """Train, evaluate and package a model from a config.

    Args:
        config: a YAML path, a dict, or a validated ExperimentConfig.
        overrides: "dotted.key=value" strings applied on top of the config.
        output: the run folder; `runs/<name>` by default (a new `-N` suffix if it is taken).
        resume: continue the unfinished run in `output` from its last checkpoint.
        overwrite: replace a finished run in `output`.
        progress: show a progress bar.
        callbacks: extra Lightning callbacks for the fit (a tuning trial's pruner).

    Example:
        >>> run = trainforge.train("examples/breast_cancer.yaml")
        >>> run.metrics["test"]["accuracy"]
    """
    if isinstance(config, ExperimentConfig):
        cfg, default_name = config, "run"
    else:
        cfg = load_config(config, overrides)
        default_name = Path(config).stem if isinstance(config, (str, Path)) else "run"
    name = cfg.name or default_name
    from trainforge.training.fit import tune_malloc

    tune_malloc()
    from trainforge.training.distributed import is_primary

    if not is_primary(cfg.train):
        return _train_worker(cfg, name, output, resume, callbacks)
    run_dir = _resolve_run_dir(output, name, resume=resume, overwrite=overwrite)

    prepared = _prepare(cfg)
    cfg = prepared.config or cfg  # with what prepare chose by the data (model.backbone: auto)

    created = not run_dir.exists()
    if run_dir.exists() and not resume:
        shutil.rmtree(run_dir)  # --overwrite, checked in _resolve_run_dir
    run_dir.mkdir(parents=True, exist_ok=True)
    config_yaml = config_to_yaml(cfg)
    if resume:
        _check_same_config(run_dir, config_yaml)
    (run_dir / "config.yaml").write_text(config_yaml, encoding="utf-8")
    tracking = None
    try:
        tracking = tracking_start(cfg, run_dir, resume=resume)
        options = FitOptions(resume, progress, tuple(callbacks), tuple(tracking.loggers))
        fitted = prepared.fit(run_dir, options)
        run = _finish(prepared, fitted, cfg, run_dir, name, config_yaml)
    except BaseException as exc:
        if tracking is not None:
            tracking.fail(interrupted=not isinstance(exc, Exception))
        # A killed or failed fit keeps its checkpoints for --resume; otherwise leave nothing.
        if created and not (run_dir / "checkpoints" / "last.ckpt").exists():
            shutil.rmtree(run_dir, ignore_errors=True)
        raise
    tracking.finish(run_dir, run.metrics)
    return run


def _train_worker(
    cfg: ExperimentConfig,
    name: str,
    output: str | Path | None,
    resume: bool,
    callbacks: Sequence[Any],
) -> Run:
    """A process other than rank 0 of a distributed run: prepares the same data and model and
    trains its share. It writes nothing: Lightning saves checkpoints and logs from rank 0 only,
    and rank 0 evaluates, packages and reports alone."""
    # The same folder as rank 0 where a resume must find its checkpoint; otherwise rank 0's
    # folder is broadcast by Lightning to the checkpoint callbacks.
    if output is not None:
        run_dir = Path(output)
    elif resume:
        run_dir = _resolve_run_dir(None, name, resume=True, overwrite=False)
    else:
        run_dir = Path("runs") / name
    prepared = _prepare(cfg)
    prepared.fit(run_dir, FitOptions(resume, False, tuple(callbacks)))
    return Run(run_dir=run_dir, metrics={}, model=prepared.model, primary=False)


def _prepare(cfg: ExperimentConfig) -> Prepared:
    """The family's `prepare`; it loads `model.init_from` packages with `load`."""
    return family_of(cfg).prepare(cfg, load)


def peak_rss_mb() -> float:
    """The peak resident memory of this process so far, in MB (0.0 where unknown).

    On Linux, VmHWM: getrusage's ru_maxrss keeps the peak of the process that started this
    one (it survives exec), so a CLI run started from a 3 GB Python process reported 3 GB.
    """
    try:
        status = Path("/proc/self/status").read_text(encoding="ascii")
        return round(int(status.split("VmHWM:")[1].split()[0]) / 1024, 1)
    except (OSError, IndexError, ValueError):
        pass
    try:
        import resource
    except ImportError:  # not on Windows
        return 0.0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / (1 << 20 if sys.platform == "darwin" else 1 << 10), 1)


def _resolve_run_dir(
    output: str | Path | None, name: str, *, resume: bool, overwrite: bool
) -> Path:
    if output is not None:
        run_dir = Path(output)
        finished = (run_dir / "metrics.json").exists()
        has_checkpoint = (run_dir / "checkpoints" / "last.ckpt").exists()
        if resume and finished:
            raise ConfigError(
                "this run already finished; there is nothing to resume",
                where=str(run_dir),
                fix="Drop --resume, and pass --overwrite to train it again",
            )
        if resume and not has_checkpoint:
            raise ConfigError(
                "no checkpoint to resume from (checkpoints/last.ckpt is missing)",
                where=str(run_dir),
                fix="Drop --resume to start a new run",
            )
        if not resume and run_dir.exists() and any(run_dir.iterdir()) and not overwrite:
            state = "a finished run" if finished else "an unfinished run"
            raise ConfigError(
                f"the output folder already holds {state}",
                where=str(run_dir),
                fix="Pass --overwrite to replace it, --resume to continue an unfinished run, "
                "or choose another --output",
            )
        return run_dir
    base = Path("runs") / name
    candidates = [base, *sorted(base.parent.glob(f"{name}-*"), key=_suffix_number)]
    if resume:
        unfinished = [
            c
            for c in candidates
            if (c / "checkpoints" / "last.ckpt").exists() and not (c / "metrics.json").exists()
        ]
        if not unfinished:
            raise ConfigError(
                f"no unfinished run of {name!r} to resume under runs/",
                where="--resume",
                fix="Pass --output RUN_DIR to name the run, or drop --resume",
            )
        return unfinished[-1]
    run_dir, number = base, 1
    while run_dir.exists() and not overwrite:
        number += 1
        run_dir = base.with_name(f"{name}-{number}")
    return run_dir


def _suffix_number(path: Path) -> int:
    tail = path.name.rsplit("-", 1)[-1]
    return int(tail) if tail.isdigit() else 0


def _check_same_config(run_dir: Path, config_yaml: str) -> None:
    import yaml

    saved_file = run_dir / "config.yaml"
    if not saved_file.exists():
        return
    saved, now = yaml.safe_load(saved_file.read_text(encoding="utf-8")), yaml.safe_load(config_yaml)
    changed = _changed_keys(saved, now)
    if changed:
        raise ConfigError(
            f"the config differs from the one the run started with ({', '.join(changed)})",
            where=str(saved_file),
            fix="Resume with the same config, or start a new run without --resume",
        )


def _changed_keys(a: Any, b: Any, prefix: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        keys = sorted(set(a) | set(b))
        return [k for key in keys for k in _changed_keys(a.get(key), b.get(key), f"{prefix}{key}.")]
    return [] if a == b else [prefix.rstrip(".")]


def _finish(
    prepared: Prepared,
    fitted: Fitted,
    cfg: ExperimentConfig,
    run_dir: Path,
    name: str,
    config_yaml: str,
) -> Run:
    from trainforge.evaluation import SplitResult, write_report

    model = prepared.model
    outputs = {
        split: prepared.evaluate(split)
        for split in ("validation", "test")
        if split in prepared.rows
    }
    if hasattr(model.target, "tune_threshold") and "validation" in outputs:
        model.target.tune_threshold(*outputs["validation"])
    # Regression targets are learnt standardised; the report shows them in their own unit.
    shown = getattr(model.target, "unscale", lambda values: values)
    results = [
        SplitResult(split, model.target.metrics(y_true, output), shown(y_true), shown(output))
        for split, (y_true, output) in outputs.items()
    ]
    metrics: dict[str, Any] = {r.name: r.metrics for r in results}
    metrics["train_time_s"] = round(fitted.train_time_s, 3)
    metrics["samples_per_second"] = round(fitted.samples_per_second, 1)
    metrics["peak_rss_mb"] = peak_rss_mb()
    metrics |= {k: v for k, v in fitted.extra.items() if v is not None}

    manifest = {
        "name": name,
        "task": cfg.task,
        "model_type": cfg.model.type,
        "labels": model.labels,
        "target": model.target.state_dict(),
        "train_source": cfg.data.train,
        "train_rows": prepared.rows["train"],
        **prepared.manifest,
    }

    def write_files(folder: Path) -> None:
        prepared.write_files(folder)
        if prepared.select_rows is not None and cfg.is_classification:
            from trainforge.continual.memory import write_memory

            kept = write_memory(
                folder,
                prepared.select_rows,
                prepared.labels,
                replay_size=cfg.continual.replay_size,
                replay_bytes=cfg.continual.replay_bytes,
                heldout_size=cfg.continual.heldout_size,
                seed=cfg.train.seed,
            )
            manifest["continual"] = kept
        (folder / "config.yaml").write_text(config_yaml, encoding="utf-8")
        write_json(folder / "metrics.json", metrics)
        (folder / "README.md").write_text(
            model_card(manifest, metrics, config_yaml), encoding="utf-8"
        )

    # The model folder holds versions; training makes v1, updates add more.
    model_dir = run_dir / "model"
    model_dir.mkdir(exist_ok=True)
    write_package(model_dir / "v1", manifest, write_files)
    promote(model_dir, "v1", reason="trained")
    summary = {
        "task": cfg.task,
        "model": family_of(cfg).describe(cfg),
        **{f"{split} rows": n for split, n in prepared.rows.items()},
        **{k: v for k, v in metrics.items() if not isinstance(v, dict)},
    }
    write_report(
        run_dir,
        title=f"trainforge report: {name}",
        kind=model.target.kind,
        labels=model.labels,
        splits=results,
        history=fitted.history,
        summary=summary,
        config_yaml=config_yaml,
        sections=prepared.report_sections(run_dir / "plots", results)
        if prepared.report_sections is not None
        else (),
    )
    write_json(run_dir / HISTORY_FILE, fitted.history)
    if not cfg.train.keep_checkpoints:
        from trainforge.training.fit import remove_checkpoints

        remove_checkpoints(run_dir)
    # Written last: its presence marks the run as finished.
    write_json(run_dir / "metrics.json", metrics)
    return Run(run_dir=run_dir, metrics=json.loads(json.dumps(metrics)), model=model)

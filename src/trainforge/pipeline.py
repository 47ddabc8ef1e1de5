"""`trainforge.train`: data → preprocess → model → train → evaluate → package → report.

Everything that can be wrong with the config or the data is found before the run folder is
created, so a bad input leaves nothing behind.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from trainforge.config import ExperimentConfig, config_to_yaml, load_config
from trainforge.data.split import Splits, load_splits
from trainforge.data.tabular import TabularPreprocessor
from trainforge.errors import ConfigError
from trainforge.package import ESTIMATOR, WEIGHTS, model_card, write_json, write_package
from trainforge.predict import Model
from trainforge.tasks import Target, make_target

TIMING_KEYS = ("train_time_s", "samples_per_second")


@dataclass(frozen=True)
class Run:
    """A finished training run."""

    run_dir: Path
    metrics: dict[str, Any]
    model: Model

    @property
    def model_dir(self) -> Path:
        return self.run_dir / "model"

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
) -> Run:
    """Train, evaluate and package a model from a config.

    Args:
        config: a YAML path, a dict, or a validated ExperimentConfig.
        overrides: "dotted.key=value" strings applied on top of the config.
        output: the run folder; `runs/<name>` by default (a new `-N` suffix if it is taken).
        resume: continue the unfinished run in `output` from its last checkpoint.
        overwrite: replace a finished run in `output`.
        progress: show a progress bar.

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
    run_dir = _resolve_run_dir(output, name, resume=resume, overwrite=overwrite)

    import lightning as L

    L.seed_everything(cfg.train.seed, verbose=False)
    splits = load_splits(cfg.data, stratify_labels=cfg.is_classification, seed=cfg.train.seed)
    target = make_target(cfg).fit(splits.train)
    prep = TabularPreprocessor(
        cfg.data.feature_columns, cfg.data.label_column, cfg.data.missing, cfg.data.unknown_category
    ).fit(splits.train)
    arrays = {
        split: (prep.transform(frame), target.encode(frame)) for split, frame in splits.items()
    }
    model = _build_model(cfg, prep, target, arrays["train"][0].shape[1])

    created = not run_dir.exists()
    if run_dir.exists() and not resume:
        shutil.rmtree(run_dir)  # --overwrite, checked in _resolve_run_dir
    run_dir.mkdir(parents=True, exist_ok=True)
    config_yaml = config_to_yaml(cfg)
    if resume:
        _check_same_config(run_dir, config_yaml)
    (run_dir / "config.yaml").write_text(config_yaml, encoding="utf-8")
    try:
        fitted = _fit(model, cfg, arrays, run_dir, resume=resume, progress=progress)
    except BaseException:
        # A killed or failed fit keeps its checkpoints for --resume; otherwise leave nothing.
        if created and not (run_dir / "checkpoints" / "last.ckpt").exists():
            shutil.rmtree(run_dir, ignore_errors=True)
        raise
    return _finish(model, cfg, splits, arrays, fitted, run_dir, name, config_yaml)


def _resolve_run_dir(output: str | Path | None, name: str, *, resume: bool, overwrite: bool) -> Path:
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


def _build_model(
    cfg: ExperimentConfig, prep: TabularPreprocessor, target: Target, n_features: int
) -> Model:
    from trainforge.models import build_network, is_classical

    if is_classical(cfg.model):
        from trainforge.models.classical import build_estimator

        estimator = build_estimator(cfg.model.type, target.kind, cfg.model.params, cfg.train.seed)
        return Model(cfg, prep, target, estimator=estimator)
    if cfg.model.params:
        raise ConfigError(
            f"model.params is for scikit-learn estimators; model.type {cfg.model.type!r} "
            "takes its settings from model.hidden_sizes, model.dropout, ...",
            where="model.params",
            fix="Remove model.params",
        )
    network = build_network(cfg.model, n_features, target.n_outputs)
    return Model(cfg, prep, target, network=network)


def _fit(
    model: Model,
    cfg: ExperimentConfig,
    arrays: dict[str, tuple[np.ndarray, np.ndarray]],
    run_dir: Path,
    *,
    resume: bool,
    progress: bool,
) -> dict[str, Any]:
    features, labels = arrays["train"]
    if model.estimator is not None:
        start = time.perf_counter()
        model.estimator.fit(features, labels)
        seconds = time.perf_counter() - start
        return {
            "history": [],
            "train_time_s": seconds,
            "samples_per_second": len(labels) / seconds if seconds > 0 else 0.0,
        }
    from trainforge.training.data import tensor_loader
    from trainforge.training.fit import fit
    from trainforge.training.module import TrainingModule

    has_val = "validation" in arrays
    monitor = "val_loss" if has_val else "train_loss"
    if has_val and cfg.train.early_stopping is not None:
        monitor = cfg.train.early_stopping.monitor
    module = TrainingModule(model.network, model.target, cfg.train, monitor=monitor)
    train_loader = tensor_loader(*arrays["train"], cfg.train.batch_size, shuffle_seed=cfg.train.seed)
    val_loader = tensor_loader(*arrays["validation"], cfg.train.batch_size) if has_val else None
    result = fit(
        module, train_loader, val_loader, cfg.train, run_dir, resume=resume, progress=progress
    )
    model.network.cpu().eval()
    return {
        "history": result.history,
        "train_time_s": result.train_time_s,
        "samples_per_second": result.samples_per_second,
        "epochs_run": result.epochs_run,
        "best_epoch": result.best_epoch,
    }


def _finish(
    model: Model,
    cfg: ExperimentConfig,
    splits: Splits,
    arrays: dict[str, tuple[np.ndarray, np.ndarray]],
    fitted: dict[str, Any],
    run_dir: Path,
    name: str,
    config_yaml: str,
) -> Run:
    from trainforge.evaluation import SplitResult, write_report

    results = []
    for split, frame in splits.items():
        if split == "train":
            continue
        output = model.output(frame)
        y_true = arrays[split][1]
        results.append(SplitResult(split, model.target.metrics(y_true, output), y_true, output))
    metrics: dict[str, Any] = {r.name: r.metrics for r in results}
    metrics["train_time_s"] = round(fitted["train_time_s"], 3)
    metrics["samples_per_second"] = round(fitted["samples_per_second"], 1)
    for key in ("epochs_run", "best_epoch"):
        if fitted.get(key) is not None:
            metrics[key] = fitted[key]

    manifest = {
        "name": name,
        "task": cfg.task,
        "model_type": cfg.model.type,
        "labels": model.labels,
        "target": model.target.state_dict(),
        "train_source": cfg.data.train,
        "train_rows": len(splits.train),
        "feature_columns": model.preprocessor.columns_,
    }
    if model.network is not None:
        manifest["network"] = {
            "in_features": arrays["train"][0].shape[1],
            "out_features": model.target.n_outputs,
        }

    def write_files(folder: Path) -> None:
        if model.estimator is not None:
            from trainforge.models.classical import save_estimator

            save_estimator(model.estimator, folder / ESTIMATOR)
        else:
            from safetensors.torch import save_file

            state = {k: v.contiguous() for k, v in model.network.state_dict().items()}
            save_file(state, folder / WEIGHTS)
        (folder / "config.yaml").write_text(config_yaml, encoding="utf-8")
        write_json(folder / "preprocessor.json", model.preprocessor.state_dict())
        write_json(folder / "metrics.json", metrics)
        (folder / "README.md").write_text(
            model_card(manifest, metrics, config_yaml), encoding="utf-8"
        )

    write_package(run_dir / "model", manifest, write_files)
    summary = {
        "task": cfg.task,
        "model": cfg.model.type,
        **{f"{split} rows": len(frame) for split, frame in splits.items()},
        "train_time_s": metrics["train_time_s"],
        "samples_per_second": metrics["samples_per_second"],
    }
    write_report(
        run_dir,
        title=f"trainforge report: {name}",
        kind=model.target.kind,
        labels=model.labels,
        splits=results,
        history=fitted["history"],
        summary=summary,
        config_yaml=config_yaml,
    )
    if not cfg.train.keep_checkpoints:
        from trainforge.training.fit import remove_checkpoints

        remove_checkpoints(run_dir)
    # Written last: its presence marks the run as finished.
    write_json(run_dir / "metrics.json", metrics)
    return Run(run_dir=run_dir, metrics=json.loads(json.dumps(metrics)), model=model)

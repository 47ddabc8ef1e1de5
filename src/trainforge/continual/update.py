"""`trainforge update`: train the next version of a model on new data, measure what it forgot,
and make it current only if it passes the gate.

An update is a training run like any other (`pipeline.train`): the package's own config, with
the new data, starting from the package (`model.init_from`). `replay` mixes the package's kept
training rows into the new data; `naive` trains on the new data alone.
"""

from __future__ import annotations

import json
import operator
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from trainforge.continual.memory import HELDOUT, MEMORY, REPLAY, read_memory
from trainforge.data.split import balanced_indices
from trainforge.errors import ConfigError, PackageError
from trainforge.package import write_json
from trainforge.versions import is_versioned, next_name, promote, resolve

Strategy = Literal["naive", "replay", "ewc", "lwf"]
STRATEGIES = ("naive", "replay", "ewc", "lwf")
_GATE = re.compile(r"^\s*([a-z_]+)\s*(<=|>=|<|>)\s*(-?[0-9.]+)\s*$")
_OPS = {"<=": operator.le, ">=": operator.ge, "<": operator.lt, ">": operator.gt}
GATE_METRICS = (
    "old_accuracy",
    "old_f1",
    "new_accuracy",
    "new_f1",
    "old_accuracy_drop",
    "old_f1_drop",
    "forgetting",
)


@dataclass(frozen=True)
class UpdateResult:
    """A finished update: the version it made and whether it became current."""

    version: str
    package: Path
    promoted: bool
    gate: list[str]
    continual: dict[str, Any]
    run_dir: Path


def parse_gate(text: str | None) -> list[tuple[str, str, float]]:
    """`"old_f1_drop<=0.02,new_f1>=0.80"` -> [(metric, op, value), ...]; errors name the part."""
    if not text:
        return []
    rules = []
    for part in text.split(","):
        match = _GATE.match(part)
        if match is None or match.group(1) not in GATE_METRICS:
            raise ConfigError(
                f"cannot read the gate condition {part.strip()!r}",
                where="--gate",
                fix=f"Write conditions like old_f1_drop<=0.02,new_f1>=0.80 over "
                f"{', '.join(GATE_METRICS)}",
            )
        rules.append((match.group(1), match.group(2), float(match.group(3))))
    return rules


def update(
    model_dir: str | Path,
    data: str | Path,
    *,
    validation: str | Path | None = None,
    strategy: Strategy = "replay",
    gate: str | None = None,
    overrides: list[str] | tuple[str, ...] = (),
    progress: bool = True,
) -> UpdateResult:
    """Train the next version of the model in `model_dir` on `data`.

    Args:
        model_dir: a model folder of versions (RUN_DIR/model); the current version is updated.
        data: the new labelled data, with the columns the model was trained on.
        validation: new validation data; default a split of `data`.
        strategy: "replay" (mix in the package's kept training rows), "ewc" (penalise moving
            the weights the old model relied on), "lwf" (distil the old model's outputs), or
            "naive" (the new data alone).
        gate: conditions the update must meet to become current, e.g. "old_f1_drop<=0.02".
        overrides: "dotted.key=value" changes to the package's config (e.g. train.epochs=2).
        progress: show a progress bar.

    Example:
        >>> result = update("runs/intents/model", "new_intents.csv", gate="old_f1_drop<=0.02")
        >>> result.version, result.promoted
    """
    from trainforge.pipeline import train
    from trainforge.predict import load

    model_dir = Path(model_dir)
    if not is_versioned(model_dir):
        resolve(model_dir)  # not found / not a model: its own message
        raise PackageError(
            "an update adds a version to a model folder, and this is a single package",
            where=str(model_dir),
            fix="Pass the model/ folder of a run (it holds v1/ and `current`)",
        )
    if strategy not in STRATEGIES:
        raise ConfigError(
            f"unknown strategy {strategy!r}",
            where="--strategy",
            fix=f"Use one of {', '.join(STRATEGIES)}",
        )
    rules = parse_gate(gate)
    package = resolve(model_dir)
    old = load(package)
    from trainforge.tasks.registry import family_of

    family_of(old.config).check_updatable(old, model_dir)
    version = next_name(model_dir)
    work = model_dir / f".update-{version}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    try:
        new = _new_splits(old, data, validation, work)
        raw = _update_config(package, new, strategy, work)
        from trainforge.config import load_config

        cfg = load_config(raw, overrides)
        callbacks = _penalty(strategy, old, package, cfg)
        run = train(cfg, output=work / "run", progress=progress, callbacks=callbacks)
        scores = _scores(
            old, run.model, package, version, new["test"], old.config.data.label_column
        )
        target = model_dir / version
        os.replace(run.package_dir, target)
        _merge_memory(package, target, new["test"], cfg)
        failed = [
            f"{name}{op}{limit:g} (got {scores['gate'][name]:.4f})"
            for name, op, limit in rules
            if not _OPS[op](scores["gate"][name], limit)
        ]
        continual = {
            "strategy": strategy,
            "from": package.name,
            "status": "candidate" if failed else "current",
            "gate_failed": failed,
            **scores["continual"],
        }
        metrics = json.loads((target / "metrics.json").read_text(encoding="utf-8"))
        metrics["continual"] = continual
        write_json(target / "metrics.json", metrics)
        write_json(run.run_dir / "metrics.json", {**run.metrics, "continual": continual})
        if "matrix" in continual:
            from trainforge.continual.matrix import add_to_report, report_section

            section = report_section(continual["matrix"], continual, run.run_dir / "plots")
            add_to_report(run.run_dir / "report.html", section)
        if not failed:
            promote(model_dir, version, reason=f"update ({strategy}) of {package.name}")
    except BaseException:
        shutil.rmtree(model_dir / version, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)
        raise
    run_dir = model_dir.parent / f"update-{version}"
    shutil.rmtree(run_dir, ignore_errors=True)
    os.replace(work / "run", run_dir)
    shutil.rmtree(work, ignore_errors=True)
    return UpdateResult(version, target, not failed, failed, continual, run_dir)


def _penalty(strategy: str, old: Any, package: Path, cfg: Any) -> list[Any]:
    """The loss term of ewc and lwf, as a callback; none for naive and replay."""
    if strategy not in ("ewc", "lwf"):
        return []
    from trainforge.continual.penalties import PenaltyCallback, ewc, lwf

    if strategy == "lwf":
        settings = cfg.continual
        return [PenaltyCallback(lwf(old, settings.lwf_alpha, settings.lwf_temperature))]
    kept = read_memory(package, REPLAY)
    if kept is None:
        raise ConfigError(
            "ewc measures what the old model knew on its kept training rows, and this package "
            "keeps none",
            where=str(package / MEMORY),
            fix="Use --strategy lwf or naive, or retrain with continual.replay_size above 0",
        )
    return [PenaltyCallback(ewc(old, kept, cfg.continual.ewc_lambda))]


def _new_splits(old: Any, data: str | Path, validation: Any, work: Path) -> dict[str, Path]:
    """The new data as train / validation / test files (test: the new held-out data)."""
    cfg = old.config
    frame = old.frame(str(data))
    column = cfg.data.label_column
    if column not in frame.columns:
        raise ConfigError(
            f"the new data has no label column {column!r} (the model was trained with it)",
            where=str(data),
            fix="Give the new data the same columns as the data the model was trained on",
        )
    _check_columns(old, frame, str(data))
    rng = np.random.default_rng(cfg.train.seed)
    order = rng.permutation(len(frame))
    n_test = max(1, round(len(frame) * cfg.data.split.test))
    n_val = 0 if validation is not None else max(1, round(len(frame) * cfg.data.split.validation))
    if len(frame) - n_test - n_val < 2:
        raise ConfigError(
            f"the new data has {len(frame)} rows, too few to hold some out for evaluation",
            where=str(data),
            fix="Add rows, or pass --validation with separate validation data",
        )
    parts = {
        "test": frame.iloc[order[:n_test]],
        "validation": frame.iloc[order[n_test : n_test + n_val]],
        "train": frame.iloc[order[n_test + n_val :]],
    }
    if validation is not None:
        parts["validation"] = old.frame(str(validation))
        _check_columns(old, parts["validation"], str(validation))
    paths = {}
    for split, part in parts.items():
        paths[split] = work / f"{split}.jsonl"
        part.to_json(paths[split], orient="records", lines=True, force_ascii=False)
    return paths


def _check_columns(old: Any, frame: pd.DataFrame, where: str) -> None:
    needed = [*old.input_columns, old.config.data.label_column]
    missing = [c for c in needed if c and c not in frame.columns]
    if missing:
        raise ConfigError(
            f"the new data lacks the column(s) {', '.join(map(repr, missing))} that the model "
            f"was trained on (it has {', '.join(map(repr, map(str, frame.columns)))})",
            where=where,
            fix="Give the new data the same column layout as the training data",
        )


def _update_config(
    package: Path, new: dict[str, Path], strategy: str, work: Path
) -> dict[str, Any]:
    from trainforge.config import load_raw

    raw = load_raw(package / "config.yaml")
    train = new["train"]
    if strategy == "replay":
        replay = read_memory(package, REPLAY)
        if replay is not None:
            mixed = pd.concat([pd.read_json(train, lines=True, dtype=False), replay])
            train = work / "train+replay.jsonl"
            mixed.to_json(train, orient="records", lines=True, force_ascii=False)
    raw["data"] |= {"train": str(train), "validation": str(new["validation"]), "test": None}
    raw["data"]["split"] = {**raw["data"].get("split", {}), "test": 0.0, "validation": 0.0}
    raw["model"]["init_from"] = str(package.resolve())
    raw["name"] = f"{raw.get('name') or 'model'}-update"
    raw.pop("tune", None)
    return raw


def _scores(
    old: Any, new: Any, package: Path, version: str, new_test: Path, column: str
) -> dict[str, dict[str, Any]]:
    """Accuracy and macro F1 of the old and new models on the old and new held-out data, and
    the accuracy matrix across versions."""
    from trainforge.continual.matrix import backward_transfer, extend_matrix, read_experiences

    new_rows = pd.read_json(new_test, lines=True, dtype=False)
    experiences = [*read_experiences(package), (version, new_rows)]
    # name -> (truth, old model's labels, new model's labels)
    outcomes = {}
    for name, frame in experiences:
        truth = frame[column].astype(str).tolist()
        outcomes[name] = (truth, _labels(old, frame), _labels(new, frame))
    groups = {"new": [version], "old": [name for name, _ in experiences[:-1]]}
    table: dict[str, dict[str, float]] = {}
    for group, names in groups.items():
        if not names:
            continue
        truth, before, after = ([x for n in names for x in outcomes[n][i]] for i in range(3))
        scored_before, scored_after = _score(truth, before), _score(truth, after)
        table[group] = {
            "accuracy": scored_after["accuracy"],
            "f1_macro": scored_after["f1_macro"],
            "accuracy_before": scored_before["accuracy"],
            "f1_macro_before": scored_before["f1_macro"],
            "rows": len(truth),
        }
    continual: dict[str, Any] = dict(table)
    gate = {"new_accuracy": table["new"]["accuracy"], "new_f1": table["new"]["f1_macro"]}
    if "old" in table:
        drop = table["old"]["accuracy_before"] - table["old"]["accuracy"]
        f1_drop = table["old"]["f1_macro_before"] - table["old"]["f1_macro"]
        gate |= {
            "old_accuracy": table["old"]["accuracy"],
            "old_f1": table["old"]["f1_macro"],
            "old_accuracy_drop": drop,
            "old_f1_drop": f1_drop,
            "forgetting": drop,
        }
        accuracy = {name: _score(*outcomes[name][::2])["accuracy"] for name in outcomes}
        accuracy_before = {name: _score(*outcomes[name][:2])["accuracy"] for name in outcomes}
        matrix = extend_matrix(
            _previous_matrix(package), package.name, version, accuracy_before, accuracy
        )
        bwt = backward_transfer(matrix)
        continual |= {"forgetting": drop, "bwt": -drop if bwt is None else bwt, "matrix": matrix}
    for name in GATE_METRICS:
        gate.setdefault(name, float("nan"))
    return {"continual": continual, "gate": gate}


def _previous_matrix(package: Path) -> dict[str, Any] | None:
    """The accuracy matrix the updated version was made with, if it was made by an update."""
    path = package / "metrics.json"
    if not path.is_file():
        return None
    matrix = json.loads(path.read_text(encoding="utf-8")).get("continual", {}).get("matrix")
    return matrix if matrix and package.name in matrix.get("rows", ()) else None


def _labels(model: Any, frame: pd.DataFrame) -> list[str]:
    return [str(p["label"]) for p in model.predict(frame)]


def _score(truth: list[str], predicted: list[str]) -> dict[str, float]:
    from sklearn.metrics import accuracy_score, f1_score

    return {
        "accuracy": float(accuracy_score(truth, predicted)),
        "f1_macro": float(f1_score(truth, predicted, average="macro", zero_division=0)),
    }


def _merge_memory(previous: Path, package: Path, new_test: Path, cfg: Any) -> None:
    """The new version keeps the earlier versions' rows beside the new ones (balanced, capped):
    replay rows of everything trained so far (balanced by class), and held-out rows of every
    version's data (balanced by version and class), each held-out row tagged with its version."""
    from trainforge.continual.matrix import read_experiences, write_sources
    from trainforge.continual.memory import capped_lines, write_lines

    settings, column = cfg.continual, cfg.data.label_column
    parts: dict[str, list[tuple[str | None, pd.DataFrame | None]]] = {
        REPLAY: [(None, read_memory(previous, REPLAY)), (None, read_memory(package, REPLAY))],
        HELDOUT: [
            *read_experiences(previous),
            (package.name, pd.read_json(new_test, lines=True, dtype=False)),
        ],
    }
    for name, size in ((REPLAY, settings.replay_size), (HELDOUT, settings.heldout_size)):
        kept = [(tag, frame) for tag, frame in parts[name] if frame is not None and len(frame)]
        if not kept or size == 0:
            continue
        rows = pd.concat([frame for _, frame in kept], ignore_index=True)
        columns = [c for c in rows.columns if c in kept[0][1].columns]
        tags = np.concatenate([[tag or ""] * len(frame) for tag, frame in kept])
        labels = rows[column].astype(str).tolist()
        groups = np.array([f"{tag}/{label}" for tag, label in zip(tags, labels, strict=True)])
        order = balanced_indices(groups, size, cfg.train.seed)
        lines = capped_lines(rows.iloc[order][columns], settings.replay_bytes)
        write_lines(package, name, lines)
        if name == HELDOUT:
            write_sources(package, tags[order][: len(lines)].tolist())

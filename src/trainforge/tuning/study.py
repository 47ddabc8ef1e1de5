"""`trainforge tune`: an Optuna study whose trials are training runs.

The study lives in a storage (a SQLite file in the output folder by default), so a killed
search continues where it stopped, and several processes, here (`--n-jobs`) or on other
machines (a shared RDB URL), work on one study. `--trials N` is the number of finished
(complete or pruned) trials the study should hold; every worker stops when it has them.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import sys
import threading
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

from trainforge.config import ExperimentConfig, load_config, load_raw
from trainforge.errors import ConfigError, TrainforgeError
from trainforge.tuning.trial import run_trial

STUDY_DB = "study.db"
# A trial whose process died stops beating; after the grace period it is failed and re-run.
HEARTBEAT_S = 2
GRACE_S = 10
# A worker whose first trials all fail stops: the cause is the config, not one combination.
FAILURES_BEFORE_STOP = 3
_DONE = (TrialState.COMPLETE, TrialState.PRUNED)
_HELD: set[str] = set()  # lock files this process holds (only the main thread takes them)


@dataclass(frozen=True)
class StudySettings:
    """How a search runs (the config's `tune:` section says what it searches).

    Attributes:
        trials: finished (complete or pruned) trials the study should hold.
        jobs: worker processes on this machine.
        storage: Optuna storage URL (sqlite:///..., postgresql://..., journal:PATH);
            default a SQLite file study.db in the output folder.
        study: study name; default the config's name. Reuse it to continue a study.
        timeout_s: start no trial after this many seconds.
    """

    trials: int
    jobs: int = 1
    storage: str | None = None
    study: str | None = None
    timeout_s: float | None = None


@dataclass(frozen=True)
class Search:
    """What every worker of one search needs (picklable, for worker processes)."""

    raw: dict[str, Any]
    folder: Path
    storage: str
    study: str
    settings: StudySettings
    progress: bool


def prepare(
    config: str | Path | dict[str, Any],
    settings: StudySettings,
    *,
    overrides: list[str] | tuple[str, ...] = (),
    output: str | Path | None = None,
    progress: bool = True,
) -> tuple[Search, ExperimentConfig]:
    """Check the config and settings, create the study; nothing trains yet."""
    cfg = load_config(config, overrides)
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # we print a line per trial ourselves
    if cfg.tune is None:
        raise ConfigError(
            "the config has no tune: section, so there is nothing to search",
            where=str(config) if not isinstance(config, dict) else "config",
            fix="Add one, e.g. tune: {metric: val_accuracy, space: {train.lr: {type: float, "
            "low: 1.0e-4, high: 1.0e-2, log: true}}}",
        )
    if cfg.data.validation is None and cfg.data.split.validation == 0:
        raise ConfigError(
            "a search scores trials on validation data, and this config has none",
            where="data.split.validation",
            fix="Set data.validation to a file, or data.split.validation to a fraction (0.1)",
        )
    if settings.trials < 1 or settings.jobs < 1:
        raise ConfigError(
            f"--trials ({settings.trials}) and --n-jobs ({settings.jobs}) must be at least 1",
            where="--trials" if settings.trials < 1 else "--n-jobs",
            fix="Pass a positive number",
        )
    name = cfg.name or (Path(config).stem if not isinstance(config, dict) else "run")
    folder = Path(output) if output is not None else Path("runs") / f"{name}-tune"
    folder.mkdir(parents=True, exist_ok=True)
    storage = settings.storage or f"sqlite:///{(folder / STUDY_DB).resolve()}"
    search = Search(
        load_raw(config, overrides), folder, storage, settings.study or name, settings, progress
    )
    direction = cfg.tune.resolved_direction(cfg.tune_metric)
    try:
        with local_lock(storage):
            study = optuna.create_study(
                storage=open_storage(storage),
                study_name=search.study,
                direction=direction,
                load_if_exists=True,
            )
    except TrainforgeError:
        raise
    except Exception as exc:
        raise ConfigError(
            f"cannot open the study storage ({type(exc).__name__}: {exc})",
            where="--storage",
            fix="Pass an Optuna storage URL such as sqlite:///study.db, "
            "postgresql://user@host/db or journal:study.log",
        ) from None
    if study.direction.name.lower() != direction:
        raise ConfigError(
            f"study {search.study!r} already exists and is set to {study.direction.name.lower()} "
            f"its objective, but this config asks to {direction} {cfg.tune_metric}",
            where="--study",
            fix="Use another --study name for a different objective",
        )
    study.set_user_attr("metric", cfg.tune_metric)
    with local_lock(storage):  # two workers starting one study enqueue it once
        baseline = _baseline(cfg) if cfg.tune.baseline else {}
        if baseline and not study.get_trials(deepcopy=False):
            study.enqueue_trial(baseline, user_attrs={"baseline": True}, skip_if_exists=True)
    return search, cfg


def _baseline(cfg: ExperimentConfig) -> dict[str, Any]:
    """The config's own values of the searched keys, where the space can draw them."""
    assert cfg.tune is not None
    resolved = cfg.model_dump(mode="json")
    values = {}
    for key, param in cfg.tune.space.items():
        node: Any = resolved
        for part in key.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        if node is not None and param.contains(node):
            values[key] = param.encode(node)
    return values


def run_workers(search: Search) -> None:
    """Run the search here and in `jobs - 1` more processes until the study is done."""
    context = multiprocessing.get_context("spawn")  # no forked torch or SQLite state
    others = [
        context.Process(target=work, args=(search, index), daemon=True)
        for index in range(1, search.settings.jobs)
    ]
    for process in others:
        process.start()
    try:
        work(search, 0)
    finally:
        for process in others:
            process.join()
    failed = [p.exitcode for p in others if p.exitcode != 0]
    if failed:
        raise TrainforgeError(
            f"{len(failed)} of {len(others) + 1} tuning workers stopped with an error",
            where="--n-jobs",
            fix="See the messages above; rerun the same command to continue the study",
        )


def work(search: Search, worker: int) -> None:
    """One worker: take trials until the study holds its `trials` finished ones."""
    from trainforge.training.fit import tune_malloc

    tune_malloc()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    # Heartbeats with ask/tell are what Study.optimize does inside; fail_stale_trials is stable.
    warnings.filterwarnings("ignore", message=".*Heartbeat of storage.*")
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    cfg = load_config(search.raw)
    assert cfg.tune is not None
    storage = open_storage(search.storage)
    existing = optuna.load_study(study_name=search.study, storage=storage).get_trials(
        deepcopy=False
    )
    study = optuna.load_study(
        study_name=search.study,
        storage=storage,
        sampler=_sampler(cfg, worker, search, existing),
        pruner=_pruner(cfg),
    )
    deadline = time.monotonic() + search.settings.timeout_s if search.settings.timeout_s else None
    failures = successes = 0
    while deadline is None or time.monotonic() < deadline:
        with local_lock(search.storage):
            if isinstance(storage, optuna.storages.RDBStorage):
                optuna.storages.fail_stale_trials(study)
            counts = count_states(study)
            done = counts["complete"] + counts["pruned"]
            if done >= search.settings.trials:
                return
            busy = done + counts["running"] >= search.settings.trials
            trial = None if busy and not counts["waiting"] else study.ask()
            if trial is not None:
                _beat(storage, trial)
        if trial is None:  # the last trials run elsewhere; wait in case one of them dies
            time.sleep(1.0)
            continue
        with _heartbeat(storage, trial):
            outcome = run_trial(trial, search.raw, cfg, search.folder, search.study)
        study.tell(trial, outcome.value, state=outcome.state)
        if outcome.state == TrialState.FAIL:
            failures += 1
        else:
            successes += 1
        if search.progress:
            _print_trial(study, trial.number, outcome.note, outcome.seconds, search.settings)
        if failures >= FAILURES_BEFORE_STOP and not successes:
            raise TrainforgeError(
                f"the first {failures} trials failed; the last one: "
                f"{study.trials[trial.number].user_attrs.get('error', outcome.note)}",
                where=f"trial {trial.number}",
                fix="Fix the config (train it once with `trainforge train` to see the error)",
            )


def count_states(study: optuna.Study) -> dict[str, int]:
    """Trials of the study by state: complete, pruned, fail, running, waiting."""
    counts = {state.name.lower(): 0 for state in TrialState}
    for trial in study.get_trials(deepcopy=False):
        counts[trial.state.name.lower()] += 1
    return counts


def open_storage(url: str) -> optuna.storages.BaseStorage:
    """An Optuna storage for a URL; RDB storages get heartbeats so dead trials are re-run."""
    if url.startswith("journal:"):
        from optuna.storages.journal import JournalFileBackend

        path = url.removeprefix("journal:")
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        return optuna.storages.JournalStorage(JournalFileBackend(path))
    engine = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else None
    # Two processes creating one SQLite file's tables at once collide: take turns. Heartbeats
    # are marked experimental, though Study.optimize relies on them.
    with local_lock(url), warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.storages.RDBStorage(
            url,
            engine_kwargs=engine,
            heartbeat_interval=HEARTBEAT_S,
            grace_period=GRACE_S,
            heartbeat_stale_trial_callback=optuna.storages.RetryHeartbeatStaleTrialCallback(
                max_retry=2
            ),
        )


def _sampler(
    cfg: ExperimentConfig, worker: int, search: Search, study_trials: list[Any]
) -> optuna.samplers.BaseSampler:
    assert cfg.tune is not None
    base = cfg.tune.seed if cfg.tune.seed is not None else cfg.train.seed
    seed = base + len(study_trials)  # a continued study does not redraw its first settings
    if search.settings.jobs > 1 or search.settings.storage is not None:
        # Workers sharing a study must not draw the same random settings.
        seed = hash((seed, worker, os.getpid())) % 2**31
    startup = cfg.tune.startup_trials
    if cfg.tune.sampler == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if cfg.tune.sampler == "gp":
        return optuna.samplers.GPSampler(seed=seed, n_startup_trials=startup)
    return optuna.samplers.TPESampler(seed=seed, n_startup_trials=startup)


def _pruner(cfg: ExperimentConfig) -> optuna.pruners.BasePruner:
    assert cfg.tune is not None
    warmup = cfg.tune.warmup_epochs
    if cfg.tune.pruner == "median":
        # Steps are 1-based epochs: `warmup_epochs` epochs are never pruned.
        return optuna.pruners.MedianPruner(
            n_startup_trials=cfg.tune.startup_trials, n_warmup_steps=warmup + 1
        )
    if cfg.tune.pruner == "hyperband":
        return optuna.pruners.HyperbandPruner(
            min_resource=warmup + 1, max_resource=max(cfg.train.epochs, warmup + 1)
        )
    if cfg.tune.pruner == "successive_halving":
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=warmup + 1)
    return optuna.pruners.NopPruner()


@contextlib.contextmanager
def local_lock(storage: str) -> Iterator[None]:
    """Serialise "count, then ask" among local workers, so none starts a trial too many.

    Workers on other machines (a shared RDB server) are not covered: each may start one
    trial more than asked.
    """
    path = _local_file(storage)
    try:
        import fcntl
    except ImportError:  # Windows: no lock; at most one extra trial per worker
        fcntl = None  # type: ignore[assignment]
    if path is None or fcntl is None or path in _HELD:  # re-entered: this process holds it
        yield
        return
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    # Not "{path}.lock": Optuna's journal storage keeps its own lock there.
    with open(f"{path}.tune-lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        _HELD.add(path)
        try:
            yield
        finally:
            _HELD.discard(path)
            fcntl.flock(handle, fcntl.LOCK_UN)


def _local_file(storage: str) -> str | None:
    if storage.startswith("sqlite:///"):
        return storage.removeprefix("sqlite:///")
    if storage.startswith("journal:"):
        return storage.removeprefix("journal:")
    return None


def _beat(storage: optuna.storages.BaseStorage, trial: optuna.Trial) -> None:
    if isinstance(storage, optuna.storages.RDBStorage):
        storage.record_heartbeat(trial._trial_id)


@contextlib.contextmanager
def _heartbeat(storage: optuna.storages.BaseStorage, trial: optuna.Trial) -> Iterator[None]:
    """Record that the trial's process is alive every HEARTBEAT_S seconds while it trains."""
    if not isinstance(storage, optuna.storages.RDBStorage):
        yield
        return
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(HEARTBEAT_S):
            with contextlib.suppress(Exception):  # a missed beat is retried at the next one
                _beat(storage, trial)

    thread = threading.Thread(target=beat, name="trial-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def _print_trial(
    study: optuna.Study, number: int, note: str, seconds: float, settings: StudySettings
) -> None:
    counts = count_states(study)
    done = counts["complete"] + counts["pruned"]
    try:
        best = study.best_trial
        best_text = f"best {best.value:.4f} (trial {best.number})"
    except ValueError:
        best_text = "no complete trial yet"
    print(
        f"trial {number}: {note} in {seconds:.1f}s; {best_text}; {done}/{settings.trials} finished",
        file=sys.stderr,
        flush=True,
    )

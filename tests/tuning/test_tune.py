"""`trainforge tune`: real searches over the breast-cancer MLP, killed, resumed and shared."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
import yaml
from cli_support import check_user_error, cli_command, run_cli

import trainforge
from trainforge.config import load_config
from trainforge.errors import ConfigError
from trainforge.tuning.search import tune
from trainforge.tuning.study import StudySettings
from trainforge.tuning.trial import objective

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "breast_cancer_tune.yaml"
# Short trials: the test is about the search, not about the best possible model.
FAST = ["train.epochs=8", "train.early_stopping.patience=3"]
TUNE = ["tune", str(EXAMPLE), *[f"--set={o}" for o in FAST]]
DONE = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)


def _study(folder: Path, name: str = "breast_cancer_tune") -> optuna.Study:
    return optuna.load_study(study_name=name, storage=f"sqlite:///{folder / 'study.db'}")


def _finished(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    return study.get_trials(deepcopy=False, states=DONE)


def test_search_prunes_and_ends_at_least_as_good_as_the_config(tmp_path: Path) -> None:
    default = trainforge.train(EXAMPLE, overrides=FAST, output=tmp_path / "default", progress=False)
    result = trainforge.tune(EXAMPLE, 20, overrides=FAST, output=tmp_path / "tune", progress=False)

    study = _study(tmp_path / "tune")
    states = [t.state for t in study.trials]
    assert len(_finished(study)) == 20 and len(states) == 20
    assert states.count(optuna.trial.TrialState.PRUNED) >= 1
    # Trial 0 is the config itself and scores what `trainforge train` scores.
    baseline = study.trials[0]
    assert baseline.user_attrs["baseline"] is True
    assert baseline.params["train.lr"] == pytest.approx(0.001)
    history = default.run_dir / "history.json"
    default_loss = objective(default.run_dir, default.metrics, "val_loss")
    assert history.is_file() and baseline.value == pytest.approx(default_loss, rel=1e-4)
    assert result.best_value is not None and result.best_value <= default_loss
    assert result.best_trial == study.best_trial.number

    # best.yaml is a runnable config holding the best settings and no search.
    best = load_config(result.best_config)
    assert best.tune is None
    assert best.train.lr == pytest.approx(result.best_params["train.lr"])
    assert best.model.hidden_sizes == result.best_params["model.hidden_sizes"]
    # The best model is kept and predicts; the other trials keep their report, not a package.
    model = trainforge.load(result.best_model)
    assert len(model.predict(model.frame("sklearn:breast_cancer").head(3))) == 3
    kept = [p for p in (tmp_path / "tune" / "trials").glob("trial-*/model")]
    assert [p.parent.name for p in kept] == [f"trial-{result.best_trial:04d}"]
    report = result.report.read_text(encoding="utf-8")
    assert "data:image/png;base64," in report and "PRUNED" in report


def test_memory_does_not_grow_across_trials(tmp_path: Path) -> None:
    if not Path("/proc/self/status").exists():
        pytest.skip("reads the resident memory from /proc (Linux)")

    def rss_mb() -> float:
        status = Path("/proc/self/status").read_text()
        line = next(x for x in status.splitlines() if x.startswith("VmRSS"))
        return int(line.split()[1]) / 1024

    overrides = ["train.epochs=3", "tune.pruner=none"]
    trainforge.tune(EXAMPLE, 3, overrides=overrides, output=tmp_path, progress=False)
    before = rss_mb()
    trainforge.tune(EXAMPLE, 15, overrides=overrides, output=tmp_path, progress=False)
    assert len(_finished(_study(tmp_path))) == 15
    assert rss_mb() - before < 50, f"{before:.0f} MB -> {rss_mb():.0f} MB over 12 trials"


def _tune_process(root: Path, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "NO_COLOR": "1", "OMP_NUM_THREADS": "1"}
    command = [*cli_command(), *TUNE, *args]
    return subprocess.Popen(
        command, cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _wait_for(condition, timeout: float = 240.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.3)


def test_a_killed_search_continues_where_it_stopped(tmp_path: Path) -> None:
    folder = tmp_path / "tune"
    first = _tune_process(tmp_path, "--trials", "10", "-o", str(folder))

    def mid_trial() -> bool:
        if not (folder / "study.db").exists():
            return False
        try:
            trials = _study(folder).get_trials(deepcopy=False)
        except KeyError:  # the process has not created the study yet
            return False
        running = [t for t in trials if t.state == optuna.trial.TrialState.RUNNING]
        return len([t for t in trials if t.state in DONE]) >= 3 and bool(running)

    _wait_for(mid_trial)
    first.send_signal(signal.SIGKILL)
    first.wait()
    killed = _study(folder).get_trials(deepcopy=False)
    before = len([t for t in killed if t.state in DONE])
    dead = [t.number for t in killed if t.state == optuna.trial.TrialState.RUNNING]
    assert 3 <= before < 10 and dead

    again = run_cli(
        tmp_path,
        [*TUNE, "--trials", "10", "-o", str(folder), "--study", "breast_cancer_tune"],
    )
    assert again.returncode == 0, again.stderr
    study = _study(folder)
    trials = study.get_trials(deepcopy=False)
    # The finished trials of the first session are still there, and the total reached 10.
    assert [t.number for t in trials[: len(killed)] if t.state in DONE] == [
        t.number for t in killed if t.state in DONE
    ]
    assert len(_finished(study)) == 10
    # The trial that died with its process was failed by its missing heartbeat and re-run
    # with the same settings.
    for number in dead:
        assert trials[number].state == optuna.trial.TrialState.FAIL
        retries = [
            t
            for t in trials
            if optuna.storages.RetryHeartbeatStaleTrialCallback.retried_trial_number(t) == number
        ]
        assert retries and retries[0].params == trials[number].params
        assert retries[0].state in DONE
    assert "Best:" in again.stdout and (folder / "best.yaml").is_file()


def test_two_processes_finish_one_study_together(tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path / 'shared.db'}"
    args = ["--trials", "10", "--storage", storage, "--study", "shared", "-o", str(tmp_path)]
    workers = [_tune_process(tmp_path, *args) for _ in range(2)]
    outputs = [w.communicate(timeout=600) for w in workers]
    for worker, (_, stderr) in zip(workers, outputs, strict=True):
        assert worker.returncode == 0, stderr

    study = optuna.load_study(study_name="shared", storage=storage)
    trials = study.get_trials(deepcopy=False)
    numbers = [t.number for t in trials]
    assert sorted(numbers) == list(range(len(trials)))  # no number twice
    assert len(trials) == 10 and all(t.state in DONE for t in trials)  # none lost, none extra
    ran_in = {t.user_attrs["run_dir"] for t in trials}
    assert len(ran_in) == 10
    # Both processes did part of the work.
    lines = [stderr.count("finished\n") for _, stderr in outputs]
    assert all(n >= 1 for n in lines) and sum(lines) == 10
    assert (tmp_path / "best_model" / "trainforge.json").is_file()


def test_n_jobs_share_a_journal_storage(tmp_path: Path) -> None:
    journal = tmp_path / "study.log"
    result = run_cli(
        tmp_path,
        [*TUNE, "--trials", "6", "--n-jobs", "2", "--storage", f"journal:{journal}", "-o", "out"],
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    storage = optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(journal))
    )
    trials = optuna.load_study(study_name="breast_cancer_tune", storage=storage).trials
    assert len(trials) == 6 and all(t.state in DONE for t in trials)
    assert (tmp_path / "out" / "tune_report.html").is_file()


def test_a_config_without_a_search_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "plain.yaml"
    raw = yaml.safe_load(EXAMPLE.read_text())
    del raw["tune"]
    config.write_text(yaml.safe_dump(raw))
    result = run_cli(tmp_path, ["tune", str(config), "--trials", "2"])
    check_user_error(result, "plain.yaml: the config has no tune: section", "Add one, e.g.")
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"space": {"train.lr": {"type": "float", "low": 0.5, "high": 0.1}}}, "'low' (0.5) must"),
        ({"space": {"train.lrr": {"type": "float", "low": 0.1, "high": 1}}}, "Did you mean 'lr'?"),
        ({"space": {"data.train": {"type": "categorical", "choices": ["a.csv"]}}}, "cannot be"),
        ({"sampler": "annealing"}, "Input should be 'tpe', 'random' or 'gp'"),
        ({"metric": "val_f1"}, "Did you mean 'val_f1_macro'?"),
        (
            {"space": {"train.batch_size": {"type": "categorical", "choices": [16, 0]}}},
            "tune.space.train.batch_size: the value 0 makes the config invalid",
        ),
    ],
)
def test_bad_search_settings_get_clear_errors(
    tmp_path: Path, change: dict[str, object], message: str
) -> None:
    raw = yaml.safe_load(EXAMPLE.read_text())
    raw["tune"] |= change
    config = tmp_path / "search.yaml"
    config.write_text(yaml.safe_dump(raw))
    result = run_cli(tmp_path, ["tune", str(config), "--trials", "2"])
    check_user_error(result, message)
    assert not (tmp_path / "runs").exists()


def test_a_study_keeps_its_direction(tmp_path: Path) -> None:
    settings = StudySettings(trials=1)
    tune(EXAMPLE, settings, overrides=FAST, output=tmp_path, progress=False)
    result = run_cli(
        tmp_path,
        [*TUNE, "--trials", "2", "-o", str(tmp_path), "--set", "tune.metric=val_accuracy"],
    )
    check_user_error(result, "already exists and is set to minimize", "Use another --study")


if sys.platform == "win32":  # pragma: no cover
    pytestmark = pytest.mark.skip("kills processes with SIGKILL")


def test_a_text_search_runs_through_the_same_pipeline(tmp_path: Path) -> None:
    """Text classification (frozen backbone) on the shipped reviews: trials, pruning, package."""
    root = Path(__file__).resolve().parents[2]
    config = yaml.safe_load((root / "examples" / "quickstart.yaml").read_text())
    for split in ("train", "validation", "test"):
        config["data"][split] = str(root / config["data"][split])
    config["model"]["finetune"] = "frozen"
    config["train"] = {"epochs": 5, "seed": 42}
    config["tune"] = {
        "metric": "val_accuracy",
        "startup_trials": 1,
        "space": {"train.lr": {"type": "float", "low": 1e-4, "high": 1e-1, "log": True}},
    }
    result = trainforge.tune(config, 3, output=tmp_path, progress=False)
    assert sum(result.counts[s] for s in ("complete", "pruned")) == 3
    assert result.best_value is not None and result.best_value > 0.6
    model = trainforge.load(result.best_model)
    labels = {p["label"] for p in model.predict(["a wonderful, moving film"])}
    assert labels <= {"positive", "negative"}


def test_a_scikit_learn_model_cannot_be_scored_by_loss() -> None:
    raw = yaml.safe_load(EXAMPLE.read_text())
    raw["model"] = {"type": "random_forest"}
    raw["tune"]["space"] = {"model.params.n_estimators": {"type": "int", "low": 10, "high": 50}}
    with pytest.raises(ConfigError, match="logged per epoch by neural models"):
        load_config(raw)
    raw["tune"]["metric"] = "val_f1_macro"
    assert load_config(raw).tune.space["model.params.n_estimators"].type == "int"

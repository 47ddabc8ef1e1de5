"""The tune report: real in-memory Optuna studies in, a self-contained tune_report.html out."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import matplotlib.pyplot as plt
import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import TrialState, create_trial

from trainforge.evaluation.html import fmt
from trainforge.tuning.plots import _param_axis
from trainforge.tuning.report import write_tune_report

Direction = Literal["maximize", "minimize"]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
PLOTS = ("history", "intermediate_values", "param_importances", "parallel_coordinates")

optuna.logging.set_verbosity(optuna.logging.WARNING)


def _objective(trial: optuna.Trial) -> float:
    """Only the learning rate matters (best near 1e-3); layers and optimizer are noise."""
    lr = trial.suggest_float("lr", 1e-5, 1e-1, log=True)
    trial.suggest_int("layers", 1, 4)
    trial.suggest_categorical("optimizer", ["adam", "sgd", "rmsprop"])
    peak = 1.0 - abs(math.log10(lr) + 3.0) / 4.0
    value = 0.0
    for epoch in range(5):
        value = peak * (1.0 - 0.5 ** (epoch + 1))
        trial.report(value, epoch)
        if trial.should_prune():
            raise optuna.TrialPruned()
    return value


def _section(page: str, heading: str) -> str:
    """The HTML from the <h2> that starts with ``heading`` to the next <h2>."""
    start = page.index(f"<h2>{heading}")
    end = page.find("<h2>", start + 4)
    return page[start : end if end != -1 else len(page)]


def _ranked(section: str) -> list[str]:
    """Parameter names in the order of the importance table's rows."""
    return re.findall(r'<tr><th>([^<]+)</th><td class="num">', section)


@pytest.fixture(scope="module")
def searched(tmp_path_factory: pytest.TempPathFactory) -> tuple[optuna.Study, Path, str]:
    study = optuna.create_study(
        study_name="search<1>",
        direction="maximize",
        sampler=optuna.samplers.TPESampler(seed=0),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=2),
    )
    study.optimize(_objective, n_trials=20)
    folder = tmp_path_factory.mktemp("tune")
    path = write_tune_report(
        study,
        folder,
        metric="val_f1_macro",
        best_config_yaml="model:\n  lr: 0.001 # <best>\n",
        extra={"storage": "sqlite:///tune.db", "trials asked": 20},
    )
    return study, folder, path.read_text(encoding="utf-8")


def test_page_names_the_best_trial_and_its_value(searched: tuple[optuna.Study, Path, str]) -> None:
    study, folder, page = searched
    best = study.best_trial

    assert (folder / "tune_report.html").is_file()
    summary = _section(page, "Summary")
    assert f'<th>best value</th><td class="num">{fmt(best.value)}</td>' in summary
    assert f"<th>best trial</th><td>#{best.number}</td>" in summary
    assert "<th>direction</th><td>maximize</td>" in summary
    assert "<th>storage</th><td>sqlite:///tune.db</td>" in summary
    assert "search&lt;1&gt;" in page and "search<1>" not in page  # escaped
    best_params = _section(page, f"Best parameters (trial #{best.number})")
    assert "float in [1e-05, 0.1], log" in best_params
    assert "int in [1, 4]" in best_params
    assert "one of adam, sgd, rmsprop" in best_params
    assert "<pre>model:\n  lr: 0.001 # &lt;best&gt;\n</pre>" in page


def test_trials_table_counts_and_lists_pruned_trials(
    searched: tuple[optuna.Study, Path, str],
) -> None:
    study, _, page = searched
    pruned = [t.number for t in study.trials if t.state == TrialState.PRUNED]
    complete = [t.number for t in study.trials if t.state == TrialState.COMPLETE]
    assert pruned, "the fixture's pruner should have stopped some trials"

    assert f'<th>trials pruned</th><td class="num">{len(pruned)}</td>' in page
    assert f'<th>trials complete</th><td class="num">{len(complete)}</td>' in page
    table = _section(page, "All trials (20)")
    for number in pruned:
        assert f"<tr><th>{number}</th><td>PRUNED</td>" in table
    for number in complete:
        assert f"<tr><th>{number}</th><td>COMPLETE</td>" in table


def test_plots_are_written_and_embedded(searched: tuple[optuna.Study, Path, str]) -> None:
    _, folder, page = searched
    for name in PLOTS:
        assert (folder / "tune_plots" / f"{name}.png").read_bytes().startswith(PNG_MAGIC)
    assert page.count('<img src="data:image/png;base64,') == len(PLOTS)
    assert "http" not in page.replace("sqlite:///", "")  # nothing fetched from elsewhere


def test_importances_name_every_param_and_rank_the_one_that_matters_first(
    searched: tuple[optuna.Study, Path, str],
) -> None:
    _, _, page = searched
    section = _section(page, "Parameter importances")
    ranked = _ranked(section)
    assert sorted(ranked) == ["layers", "lr", "optimizer"]
    assert ranked[0] == "lr"


def test_importances_are_reproducible_and_follow_an_int_param_that_matters(
    tmp_path: Path,
) -> None:
    def objective(trial: optuna.Trial) -> float:
        trial.suggest_float("lr", 1e-5, 1e-1, log=True)
        trial.suggest_categorical("optimizer", ["adam", "sgd", "rmsprop"])
        return -abs(trial.suggest_int("layers", 1, 8) - 6)

    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(0))
    study.optimize(objective, n_trials=20)

    sections = [
        _section(
            write_tune_report(study, tmp_path / str(i), metric="score").read_text(), "Parameter"
        )
        for i in range(2)
    ]
    assert sections[0] == sections[1]
    assert _ranked(sections[0])[0] == "layers"


def test_no_pyplot_figure_is_left_open(tmp_path: Path) -> None:
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    study.optimize(lambda t: t.suggest_float("x", -1, 1) ** 2, n_trials=4)
    before = plt.get_fignums()
    for _ in range(3):
        write_tune_report(study, tmp_path, metric="loss")
    assert plt.get_fignums() == before


def _pruned(number_of_epochs: int, x: float) -> optuna.trial.FrozenTrial:
    return create_trial(
        state=TrialState.PRUNED,
        params={"x": x},
        distributions={"x": FloatDistribution(0.0, 1.0)},
        intermediate_values={epoch: x * epoch for epoch in range(number_of_epochs)},
    )


def _only_pruned(study: optuna.Study) -> None:
    study.add_trials([_pruned(3, 0.2), _pruned(2, 0.7), _pruned(0, 0.5)])


def _one_complete(study: optuna.Study) -> None:
    study.optimize(lambda t: t.suggest_int("units", 8, 64, log=True) / 64, n_trials=1)


def _failed_and_running(study: optuna.Study) -> None:
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2)
    failed = study.ask({"x": FloatDistribution(0.0, 1.0)})
    failed.report(0.3, 0)
    study.tell(failed, state=TrialState.FAIL)
    study.ask({"x": FloatDistribution(0.0, 1.0)}).report(0.4, 0)  # still running


def _conditional(study: optuna.Study) -> None:
    def objective(trial: optuna.Trial) -> float:
        kind = trial.suggest_categorical("kind", ["linear", "mlp"])
        if kind == "mlp":
            return trial.suggest_int("hidden", 16, 256, step=16) / 256
        return trial.suggest_float("c", 1e-3, 10.0, log=True) / 10

    study.optimize(objective, n_trials=8)


def _non_string_choices(study: optuna.Study) -> None:
    choices: list[Any] = [1, None, [64, 32], 2.5]

    def objective(trial: optuna.Trial) -> float:
        choice = trial.suggest_categorical("arch", choices)
        return float(len(str(choice)))

    for choice in choices:
        study.enqueue_trial({"arch": choice})
    with pytest.warns(UserWarning, match="Choices for a categorical distribution"):
        study.optimize(objective, n_trials=len(choices))


def _same_params(study: optuna.Study) -> None:
    for _ in range(3):
        study.enqueue_trial({"x": 0.1})
    study.optimize(lambda t: t.suggest_float("x", 0, 1) + t.number, n_trials=3)


def _no_params(study: optuna.Study) -> None:
    study.optimize(lambda t: float(t.number), n_trials=3)


EDGE_CASES: dict[str, tuple[Callable[[optuna.Study], None], list[str]]] = {
    "no trials": (lambda study: None, ["No trial has completed yet", "All trials (0)"]),
    "only pruned": (_only_pruned, ["No trial has completed yet", "<td>PRUNED</td>"]),
    "one complete": (
        _one_complete,
        ["at least 2 completed trials; this study has 1", "int in [8, 64], log"],
    ),
    "failed and running": (_failed_and_running, ["<td>FAIL</td>", "<td>RUNNING</td>"]),
    "conditional params": (_conditional, ["Parallel coordinates", "hidden=", "c="]),
    "non-string choices": (_non_string_choices, ["arch=[64, 32]", "None", "Parallel coord"]),
    "same params": (_same_params, ["every completed trial used the same parameters"]),
    "no params": (_no_params, ["the completed trials have no parameters"]),
}


@pytest.mark.parametrize("case", EDGE_CASES)
@pytest.mark.parametrize("direction", ["maximize", "minimize"])
def test_edge_cases_still_produce_a_page(tmp_path: Path, case: str, direction: Direction) -> None:
    fill, expected = EDGE_CASES[case]
    study = optuna.create_study(direction=direction, sampler=optuna.samplers.RandomSampler(seed=1))
    fill(study)

    page = write_tune_report(study, tmp_path, metric="val $loss <x>").read_text(encoding="utf-8")

    for snippet in expected:
        assert snippet in page
    assert "val $loss &lt;x&gt;" in page


@pytest.mark.filterwarnings("ignore:Choices for a categorical distribution")
def test_axes_scale_log_params_in_log_space_and_space_choices_evenly() -> None:
    spaces = {
        "lr": FloatDistribution(1e-5, 1e-1, log=True),
        "units": IntDistribution(0, 100),
        "arch": CategoricalDistribution([None, 3, [1, 2]]),  # type: ignore[list-item]
    }
    trials = [
        create_trial(value=0.0, params=params, distributions=spaces)
        for params in (
            {"lr": 1e-5, "units": 0, "arch": None},
            {"lr": 1e-3, "units": 25, "arch": 3},
            {"lr": 1e-1, "units": 100, "arch": [1, 2]},
        )
    ]
    trials.append(create_trial(value=0.0, params={}, distributions={}))  # a conditional trial

    lr, units, arch = (_param_axis(name, trials) for name in spaces)

    assert lr.label == "lr (log)"
    assert lr.heights[:3] == pytest.approx([0.0, 0.5, 1.0])
    assert units.heights[:3] == pytest.approx([0.0, 0.25, 1.0])
    assert arch.heights[:3] == pytest.approx([0.0, 0.5, 1.0])
    assert [label for _, label in arch.ticks] == ["None", "3", "[1, 2]"]
    assert lr.heights[3] == units.heights[3] == arch.heights[3] < 0  # the "absent" row


def test_multi_objective_study_is_refused(tmp_path: Path) -> None:
    study = optuna.create_study(directions=["maximize", "minimize"])
    with pytest.raises(ValueError, match=r"'study' must have a single objective.*got 2"):
        write_tune_report(study, tmp_path, metric="f1")

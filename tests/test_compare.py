"""`trainforge compare`: real tiny runs side by side, through the API and the command line."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from cli_support import check_user_error, run_cli
from rich.console import Console

import trainforge
from trainforge.compare import (
    MISSING,
    Comparison,
    compare_runs,
    comparison_tables,
    write_comparison,
)
from trainforge.errors import TrainforgeError


def _config(name: str, **train: Any) -> dict[str, Any]:
    return {
        "task": "tabular_classification",
        "name": name,
        "data": {"train": "sklearn:breast_cancer", "label_column": "target"},
        "model": {"type": "mlp", "hidden_sizes": [8]},
        "train": {"epochs": 3, **train},
    }


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder of finished runs: `a`, `b` (only train.lr differs) and `lr` (scikit-learn)."""
    root = tmp_path_factory.mktemp("runs")
    trainforge.train(_config("a"), output=root / "a", progress=False)
    trainforge.train(_config("b", lr=0.01), output=root / "b", progress=False)
    sklearn = _config("lr") | {"model": {"type": "logistic_regression"}}
    trainforge.train(sklearn, output=root / "lr", progress=False)
    return root


def _copy(run: Path, to: Path) -> Path:
    """A copy of a finished run, for tests that damage or edit it."""
    shutil.copytree(run, to, ignore=shutil.ignore_patterns("model"))
    return to


def _edit_metrics(run: Path, **splits: dict[str, Any]) -> None:
    metrics = json.loads((run / "metrics.json").read_text())
    metrics |= splits
    (run / "metrics.json").write_text(json.dumps(metrics))


def _console_text(comparison: Comparison) -> str:
    console = Console(record=True, width=200, color_system=None)
    for table in comparison_tables(comparison):
        console.print(table)
    return console.export_text()


def _row(rows: tuple[Any, ...], key: str) -> Any:
    return next(row for row in rows if row.key == key)


def test_settings_that_differ_are_exactly_the_changed_keys(runs: Path) -> None:
    comparison = compare_runs([runs / "a", runs / "b"])

    # `name` differs too, but every run has its own: it is not a setting worth listing.
    assert [(row.key, row.values) for row in comparison.settings] == [("train.lr", (0.001, 0.01))]
    assert comparison.names == ["a", "b"]
    assert "train.lr" in _console_text(comparison)


def test_settings_of_another_model_list_the_model_type(runs: Path) -> None:
    settings = {row.key: row.values for row in compare_runs([runs / "a", runs / "lr"]).settings}

    assert settings["model.type"] == ("mlp", "logistic_regression")
    assert "train.lr" not in settings


def test_metric_values_match_metrics_json(runs: Path) -> None:
    comparison = compare_runs([runs / "a", runs / "b"])
    saved = [json.loads((runs / name / "metrics.json").read_text()) for name in ("a", "b")]

    keys = {row.key for row in comparison.metrics}
    assert {"validation.accuracy", "validation.log_loss", "test.f1_macro"} <= keys
    assert not {k for k in keys if k.endswith(("per_class", "confusion_matrix"))}
    for row in comparison.metrics:
        split, name = row.key.split(".")
        assert row.values == tuple(metrics[split][name] for metrics in saved)
    for key in ("train_time_s", "samples_per_second", "peak_rss_mb", "epochs_run"):
        assert _row(comparison.cost, key).values == tuple(m[key] for m in saved)


def test_best_is_marked_on_the_right_run(runs: Path, tmp_path: Path) -> None:
    x, y = _copy(runs / "a", tmp_path / "x"), _copy(runs / "a", tmp_path / "y")
    _edit_metrics(x, validation={"accuracy": 0.9, "log_loss": 0.4, "n_samples": 57})
    _edit_metrics(y, validation={"accuracy": 0.8, "log_loss": 0.2, "n_samples": 57})

    comparison = compare_runs([x, y])

    assert _row(comparison.metrics, "validation.accuracy").best == {0}  # higher is better
    assert _row(comparison.metrics, "validation.log_loss").best == {1}  # lower is better
    assert _row(comparison.metrics, "validation.n_samples").best == set()  # a count
    # Equal values (the test split of two copies) mark nobody.
    assert _row(comparison.metrics, "test.accuracy").best == set()
    lines = _console_text(comparison).splitlines()
    assert "★ 0.9" in next(line for line in lines if "validation.accuracy" in line)
    assert "★ 0.2" in next(line for line in lines if "validation.log_loss" in line)
    page = write_comparison(comparison, tmp_path / "compare.html").read_text()
    assert "<strong>★ 0.9</strong>" in page and "<strong>★ 0.2</strong>" in page


def test_html_page_has_the_tables_and_the_curves(runs: Path, tmp_path: Path) -> None:
    comparison = compare_runs([runs / "a", runs / "b", runs / "lr"])

    path = write_comparison(comparison, tmp_path / "out" / "compare.html")

    page = path.read_text()
    assert path == tmp_path / "out" / "compare.html"
    assert all(f"<th>{name}</th>" in page for name in ("a", "b", "lr"))
    assert "train.lr" in page and "peak_rss_mb" in page
    assert page.count('<img src="data:image/png;base64,') == 1
    assert (tmp_path / "out" / "compare_plots" / "learning_curves.png").stat().st_size > 0
    assert "No learning curves for lr: its history is empty" in page
    assert not list((tmp_path / "out").glob("*.tmp"))


def test_page_goes_beside_runs_that_share_a_folder(runs: Path, tmp_path: Path) -> None:
    x = _copy(runs / "a", tmp_path / "shared" / "x")
    y = _copy(runs / "b", tmp_path / "shared" / "y")

    assert write_comparison(compare_runs([x, y])) == (tmp_path / "shared" / "compare.html")


def test_a_run_without_history_still_compares(runs: Path, tmp_path: Path) -> None:
    old = _copy(runs / "a", tmp_path / "old")
    (old / "history.json").unlink()
    metrics = json.loads((old / "metrics.json").read_text())
    del metrics["peak_rss_mb"]  # older runs did not measure memory either
    (old / "metrics.json").write_text(json.dumps(metrics))

    comparison = compare_runs([old, runs / "b"])

    assert comparison.runs[0].history is None
    assert _row(comparison.cost, "peak_rss_mb").values == (
        None,
        comparison.runs[1].metrics["peak_rss_mb"],
    )
    page = write_comparison(comparison, tmp_path / "compare.html").read_text()
    assert "No learning curves for old: it has no history.json" in page
    assert "data:image/png;base64," in page  # b still has curves
    assert MISSING in _console_text(comparison)


def test_runs_of_different_tasks_share_only_some_metrics(runs: Path, tmp_path: Path) -> None:
    regression = _copy(runs / "a", tmp_path / "reg")
    _edit_metrics(regression, validation={"rmse": 3.0, "r2": 0.5}, test={"rmse": 4.0})

    comparison = compare_runs([runs / "a", regression])

    accuracy = _row(comparison.metrics, "validation.accuracy")
    assert accuracy.values[1] is None and accuracy.best == set()
    assert _row(comparison.metrics, "validation.rmse").values == (None, 3.0)


def test_equal_folder_names_are_made_unique(runs: Path, tmp_path: Path) -> None:
    first = _copy(runs / "a", tmp_path / "one" / "run")
    second = _copy(runs / "b", tmp_path / "two" / "run")

    assert compare_runs([first, second]).names == ["one/run", "two/run"]
    # The same folder twice: the parent cannot tell them apart, a number does.
    assert compare_runs([runs / "a", runs / "a"]).names == [f"{runs.name}/a", f"{runs.name}/a (2)"]


def test_bad_folders_name_the_place_and_the_fix(runs: Path, tmp_path: Path) -> None:
    with pytest.raises(TrainforgeError, match=r"nope: run folder not found\. Pass a folder"):
        compare_runs([runs / "a", tmp_path / "nope"])
    with pytest.raises(TrainforgeError, match=r"metrics\.json: not a folder"):
        compare_runs([runs / "a" / "metrics.json"])

    unfinished = _copy(runs / "a", tmp_path / "unfinished")
    (unfinished / "metrics.json").unlink()
    with pytest.raises(TrainforgeError, match=r"unfinished: not a finished run.*still be running"):
        compare_runs([unfinished])

    corrupt = _copy(runs / "a", tmp_path / "corrupt")
    (corrupt / "metrics.json").write_text('{"validation": ')
    with pytest.raises(TrainforgeError, match=r"metrics\.json: cannot read it: .*Leave this run"):
        compare_runs([corrupt])
    (corrupt / "metrics.json").write_text("[1, 2]")
    with pytest.raises(TrainforgeError, match=r"metrics\.json: must hold a mapping, got list"):
        compare_runs([corrupt])

    broken = _copy(runs / "a", tmp_path / "broken")
    (broken / "config.yaml").write_text("task: [unclosed\n")
    with pytest.raises(TrainforgeError, match=r"config\.yaml: cannot read it"):
        compare_runs([broken])
    (broken / "config.yaml").unlink()
    with pytest.raises(TrainforgeError, match=r"broken: config\.yaml is missing"):
        compare_runs([broken])


def test_cli_prints_the_tables_and_writes_the_page(runs: Path) -> None:
    result = run_cli(runs, ["compare", "a", "b"])

    assert result.returncode == 0, result.stderr
    assert "Settings that differ" in result.stdout and "train.lr" in result.stdout
    assert result.stdout.rstrip().endswith(f"Comparison: {runs.resolve() / 'compare.html'}")
    assert "data:image/png;base64," in (runs / "compare.html").read_text()


def test_cli_rejects_a_missing_folder_and_an_unfinished_run(runs: Path, tmp_path: Path) -> None:
    check_user_error(run_cli(runs, ["compare", "a", "nope"]), "nope: run folder not found")

    (tmp_path / "running").mkdir()
    (tmp_path / "running" / "config.yaml").write_text("task: tabular_classification\n")
    result = run_cli(tmp_path, ["compare", str(runs / "a"), "running"])
    check_user_error(result, "running: not a finished run", "still be running", "--resume")

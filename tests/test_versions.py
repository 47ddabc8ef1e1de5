"""Model versions: train writes model/v1 + current; versions, rollback, and loading either way."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from cli_support import check_user_error, run_cli

import trainforge
from trainforge.errors import PackageError
from trainforge.pipeline import Run
from trainforge.versions import list_versions, promote, resolve, rollback

CONFIG = {
    "task": "tabular_classification",
    "data": {"train": "sklearn:iris", "label_column": "target"},
    "model": {"type": "mlp", "hidden_sizes": [8]},
    "train": {"epochs": 2, "seed": 1},
}


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    return trainforge.train(CONFIG, output=tmp_path_factory.mktemp("iris") / "run", progress=False)


@pytest.fixture
def model_dir(run: Run, tmp_path: Path) -> Path:
    """A fresh copy of the run's model folder, with a second version (v2) beside v1."""
    folder = tmp_path / "model"
    shutil.copytree(run.model_dir, folder)
    shutil.copytree(folder / "v1", folder / "v2")
    return folder


def test_training_writes_v1_and_points_current_at_it(run: Run) -> None:
    assert (run.model_dir / "current").read_text().strip() == "v1"
    assert run.package_dir == run.model_dir / "v1"
    assert (run.package_dir / "trainforge.json").is_file()
    history = json.loads((run.model_dir / "versions.json").read_text())["history"]
    assert [entry["version"] for entry in history] == ["v1"]


def test_the_folder_one_version_or_an_old_single_package_all_load(run: Run, tmp_path: Path) -> None:
    rows = trainforge.load(run.package_dir).frame("sklearn:iris").head(5)
    expected = trainforge.load(run.package_dir).predict(rows)
    assert trainforge.load(run.model_dir).predict(rows) == expected
    legacy = tmp_path / "legacy"  # a package folder as written before versions existed
    shutil.copytree(run.package_dir, legacy)
    assert trainforge.load(legacy).predict(rows) == expected


def test_promote_then_rollback_returns_to_the_previous_version(model_dir: Path) -> None:
    promote(model_dir, "v2")
    assert resolve(model_dir) == model_dir / "v2"
    assert [v.name for v in list_versions(model_dir) if v.current] == ["v2"]
    assert rollback(model_dir) == "v1"
    assert resolve(model_dir) == model_dir / "v1"
    assert rollback(model_dir, to="v2") == "v2"


def test_rollback_refuses_what_it_cannot_do(model_dir: Path, run: Run) -> None:
    with pytest.raises(PackageError, match="only version that has been current"):
        rollback(model_dir)
    with pytest.raises(PackageError, match="v1 is already the current version"):
        rollback(model_dir, to="v1")
    with pytest.raises(PackageError, match=r"no version 'v7' here\. Choose one of v1, v2"):
        rollback(model_dir, to="v7")
    with pytest.raises(PackageError, match="a single model package, not a folder of versions"):
        rollback(run.package_dir)


def test_versions_and_rollback_commands(model_dir: Path, tmp_path: Path) -> None:
    promote(model_dir, "v2")
    listed = run_cli(tmp_path, ["versions", str(model_dir)])
    assert listed.returncode == 0, listed.stderr
    lines = [line for line in listed.stdout.splitlines() if " v1 " in line or " v2 " in line]
    assert len(lines) == 2 and "*" in lines[1] and "*" not in lines[0]
    assert "accuracy" in listed.stdout and "sklearn:iris" in listed.stdout

    back = run_cli(tmp_path, ["rollback", str(model_dir)])
    assert back.returncode == 0, back.stderr
    assert back.stdout.startswith("Current: v1")
    assert (model_dir / "current").read_text().strip() == "v1"
    check_user_error(
        run_cli(tmp_path, ["rollback", str(model_dir), "--to", "v9"]), "no version 'v9' here"
    )
    check_user_error(run_cli(tmp_path, ["versions", str(tmp_path / "nope")]), "not found")

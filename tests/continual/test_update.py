"""`trainforge update`: class-incremental updates of a real model, with and without replay,
the promotion gate, rollback, and the data a package keeps."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from cli_support import check_user_error, run_cli
from sklearn.datasets import load_wine

import trainforge
from trainforge.continual.update import update
from trainforge.errors import ConfigError
from trainforge.pipeline import Run
from trainforge.versions import rollback


@pytest.fixture(scope="module")
def wine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """old.csv: wine classes 0 and 1; new.csv: class 2 only (a class the model never saw)."""
    folder = tmp_path_factory.mktemp("wine")
    frame = load_wine(as_frame=True).frame
    frame["target"] = frame["target"].map(lambda t: f"class_{t}")
    frame[frame.target != "class_2"].to_csv(folder / "old.csv", index=False)
    frame[frame.target == "class_2"].to_csv(folder / "new.csv", index=False)
    return folder


@pytest.fixture(scope="module")
def run(wine: Path) -> Run:
    config = {
        "task": "tabular_classification",
        "data": {"train": str(wine / "old.csv"), "label_column": "target"},
        "model": {"type": "mlp", "hidden_sizes": [16]},
        "train": {"epochs": 30},
    }
    return trainforge.train(config, output=wine / "run", progress=False)


def test_replay_prevents_the_forgetting_that_naive_shows(run: Run, wine: Path) -> None:
    naive = update(
        run.model_dir,
        wine / "new.csv",
        strategy="naive",
        gate="old_accuracy_drop<=0.05",
        progress=False,
    )
    # New data only: the new class is learned, the old ones are forgotten, and the gate
    # keeps the update as a candidate.
    assert naive.continual["new"]["accuracy"] >= 0.9
    assert naive.continual["forgetting"] > 0.2
    assert not naive.promoted and naive.gate[0].startswith("old_accuracy_drop<=0.05 (got")
    assert (run.model_dir / "current").read_text().strip() == "v1"
    assert (
        json.loads((run.model_dir / "v2" / "metrics.json").read_text())["continual"]["status"]
        == "candidate"
    )

    replay = update(
        run.model_dir,
        wine / "new.csv",
        strategy="replay",
        gate="old_accuracy_drop<=0.05",
        progress=False,
    )
    assert replay.promoted and replay.version == "v3"
    assert replay.continual["forgetting"] <= 0.05
    assert replay.continual["new"]["accuracy"] >= 0.9
    assert (run.model_dir / "current").read_text().strip() == "v3"
    metrics = json.loads((run.model_dir / "v3" / "metrics.json").read_text())["continual"]
    assert set(metrics) >= {"old", "new", "forgetting", "bwt", "matrix", "strategy"}
    assert metrics["bwt"] == pytest.approx(-metrics["forgetting"])
    # The matrix: v1 on its own data, then v3 on v1's data and on its own.
    assert metrics["matrix"]["rows"] == ["v1", "v3"]
    assert metrics["matrix"]["columns"] == ["v1", "v3"]
    assert metrics["matrix"]["accuracy"][1][0] == pytest.approx(metrics["old"]["accuracy"])
    assert metrics["matrix"]["accuracy"][1][1] == pytest.approx(metrics["new"]["accuracy"])
    report = (replay.run_dir / "report.html").read_text()
    assert "Accuracy matrix across versions" in report and "Continual update" in report
    # The head grew: the current model knows all three classes.
    model = trainforge.load(run.model_dir)
    assert model.labels == ["class_0", "class_1", "class_2"]
    new_rows = pd.read_csv(wine / "new.csv").drop(columns="target").head(5)
    assert {p["label"] for p in model.predict(new_rows)} == {"class_2"}
    # v3 remembers rows of every class for the next update, and held-out rows of both data sets.
    kept = pd.read_json(run.model_dir / "v3" / "continual" / "replay.jsonl", lines=True)
    assert set(kept["target"]) == {"class_0", "class_1", "class_2"}
    heldout = pd.read_json(run.model_dir / "v3" / "continual" / "heldout.jsonl", lines=True)
    assert set(heldout["target"]) == {"class_0", "class_1", "class_2"}

    assert rollback(run.model_dir) == "v1"
    assert trainforge.load(run.model_dir).labels == ["class_0", "class_1"]


def test_an_update_with_another_column_layout_is_refused(run: Run, wine: Path) -> None:
    other = pd.read_csv(wine / "new.csv").drop(columns=["alcohol"])
    other.to_csv(wine / "other.csv", index=False)
    before = sorted(p.name for p in run.model_dir.iterdir())
    result = run_cli(wine, ["update", str(run.model_dir), "--data", str(wine / "other.csv")])
    check_user_error(result, "lacks the column(s) 'alcohol'", "same column layout")
    assert sorted(p.name for p in run.model_dir.iterdir()) == before


def test_the_cli_reports_the_version_and_the_gate(run: Run, wine: Path) -> None:
    new, gate = str(wine / "new.csv"), "forgetting<=0.01"
    arguments = ["update", str(run.model_dir), "--data", new, "--strategy", "naive", "--gate", gate]
    result = run_cli(wine, arguments)
    assert result.returncode == 0, result.stderr
    assert "old data: accuracy" in result.stdout and "forgetting:" in result.stdout
    assert "(candidate: the gate failed: forgetting<=0.01 (got" in result.stdout


@pytest.mark.parametrize(
    ("gate", "strategy", "message"),
    [
        ("old_f1_drop=<0.02", "replay", "cannot read the gate condition 'old_f1_drop=<0.02'"),
        ("accuracy>=0.9", "replay", "cannot read the gate condition"),
        (None, "forgetful", "unknown strategy 'forgetful'"),
    ],
)
def test_bad_update_settings_are_refused_before_training(
    run: Run, wine: Path, gate: str | None, strategy: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        update(run.model_dir, wine / "new.csv", strategy=strategy, gate=gate)  # type: ignore[arg-type]


def test_a_single_package_cannot_be_updated(run: Run, wine: Path) -> None:
    result = run_cli(wine, ["update", str(run.model_dir / "v1"), "--data", "new.csv"])
    check_user_error(result, "adds a version to a model folder")


def test_kept_rows_hold_only_used_columns_and_respect_the_byte_cap(tmp_path: Path) -> None:
    frame = load_wine(as_frame=True).frame
    frame["note"] = "not a feature"
    frame.to_csv(tmp_path / "wine.csv", index=False)
    config = {
        "task": "tabular_classification",
        "data": {
            "train": str(tmp_path / "wine.csv"),
            "label_column": "target",
            "feature_columns": ["alcohol", "hue"],
        },
        "model": {"type": "mlp", "hidden_sizes": [4]},
        "train": {"epochs": 1},
        "continual": {"replay_size": 1000, "replay_bytes": 2000},
    }
    run = trainforge.train(config, output=tmp_path / "run", progress=False)
    replay = run.package_dir / "continual" / "replay.jsonl"
    assert replay.stat().st_size <= 2000
    kept = pd.read_json(replay, lines=True)
    assert list(kept.columns) == ["alcohol", "hue", "target"]
    counts = kept["target"].value_counts()
    assert counts.max() - counts.min() <= 1  # balanced: the cap cuts every class alike


def test_a_text_model_updates_with_a_new_lora_adapter(tmp_path: Path) -> None:
    """Text classification: new labels on the shipped reviews, LoRA, a few steps each."""
    reviews = Path(__file__).resolve().parents[2] / "examples" / "data" / "reviews"
    config = {
        "task": "text_classification",
        "data": {
            "train": str(reviews / "train.csv"),
            "validation": str(reviews / "validation.csv"),
            "test": str(reviews / "test.csv"),
        },
        "model": {"backbone": "minilm", "finetune": "lora", "peft": {"r": 4}},
        "train": {"max_steps": 2, "epochs": 1, "batch_size": 8, "max_length": 32},
        "continual": {"replay_size": 40},
    }
    run = trainforge.train(config, output=tmp_path / "run", progress=False)
    new = pd.read_csv(reviews / "validation.csv")
    new["label"] = new["label"].map({"positive": "praise", "negative": "complaint"})
    new.to_csv(tmp_path / "new.csv", index=False)
    result = update(run.model_dir, tmp_path / "new.csv", progress=False)
    assert result.promoted and result.version == "v2"
    model = trainforge.load(run.model_dir)
    assert model.labels == ["complaint", "negative", "positive", "praise"]
    assert len(model.predict(["the app keeps crashing"])[0]["probabilities"]) == 4
    kept = pd.read_json(run.model_dir / "v2" / "continual" / "replay.jsonl", lines=True)
    assert list(kept.columns) == ["text", "label"] and len(kept) <= 40
    assert set(kept["label"]) == {"complaint", "negative", "positive", "praise"}


def _weights(package: Path) -> dict[str, Any]:
    from safetensors.torch import load_file

    return load_file(package / "model.safetensors")


def _drift(model_dir: Path, version: str) -> float:
    """Largest change of a hidden-layer weight between v1 and `version` (not the output)."""
    before, after = _weights(model_dir / "v1"), _weights(model_dir / version)
    shared = [k for k in before if before[k].shape == after[k].shape]
    return max(float((after[k] - before[k]).abs().max()) for k in shared)


def test_ewc_and_lwf_hold_the_update_close_to_the_old_model(run: Run, wine: Path) -> None:
    """The penalties are at work: strong EWC keeps the weights where the old model had them;
    strong distillation keeps the old classes' outputs on new inputs as the old model gave."""
    import shutil

    folders = {}
    settings = {
        "naive": [],
        "ewc": ["continual.ewc_lambda=1.0e8"],
        "lwf": ["continual.lwf_alpha=100"],
    }
    for strategy, overrides in settings.items():
        folder = wine / f"penalty-{strategy}"
        shutil.copytree(run.model_dir / "v1", folder / "v1")
        (folder / "current").write_text("v1\n")
        result = update(
            folder, wine / "new.csv", strategy=strategy, overrides=overrides, progress=False
        )
        assert result.version == "v2" and result.continual["strategy"] == strategy
        folders[strategy] = folder
    assert _drift(folders["ewc"], "v2") < 0.2 * _drift(folders["naive"], "v2")

    rows = pd.read_csv(wine / "new.csv").drop(columns="target")
    old = trainforge.load(run.model_dir / "v1").output(rows)  # 2 old classes

    def divergence(folder: Path) -> float:
        new = trainforge.load(folder / "v2").output(rows)[:, :2]  # class_0, class_1 rows
        new = new / new.sum(axis=1, keepdims=True)
        return float((old * (np.log(old + 1e-9) - np.log(new + 1e-9))).sum(axis=1).mean())

    assert divergence(folders["lwf"]) < 0.5 * divergence(folders["naive"])


def test_the_matrix_grows_by_a_row_and_a_column_per_update(wine: Path, tmp_path: Path) -> None:
    config = {
        "task": "tabular_classification",
        "data": {"train": str(wine / "old.csv"), "label_column": "target"},
        "model": {"type": "linear"},
        "train": {"epochs": 20},
    }
    run = trainforge.train(config, output=tmp_path / "run", progress=False)
    frame = pd.read_csv(wine / "new.csv")
    frame.iloc[::2].to_csv(tmp_path / "first.csv", index=False)
    frame.iloc[1::2].to_csv(tmp_path / "second.csv", index=False)
    update(run.model_dir, tmp_path / "first.csv", progress=False)
    third = update(run.model_dir, tmp_path / "second.csv", progress=False)
    matrix = third.continual["matrix"]
    assert matrix["rows"] == ["v1", "v2", "v3"] and matrix["columns"] == ["v1", "v2", "v3"]
    cells = matrix["accuracy"]
    # v1 was never measured on the third data set; every other cell was.
    assert cells[0][2] is None
    assert all(cell is not None for row in cells[1:] for cell in row)
    assert all(cell is not None for cell in cells[0][:2])
    # Held-out rows keep the version whose data they came from.
    sources = json.loads((third.package / "continual" / "heldout_sources.json").read_text())
    assert set(sources) == {"v1", "v2", "v3"}
    assert third.continual["old"]["rows"] == sources.count("v1") + sources.count("v2")


def test_backward_transfer_averages_the_drops_on_earlier_data() -> None:
    from trainforge.continual.matrix import backward_transfer, extend_matrix

    first = extend_matrix(None, "v1", "v2", {"v1": 0.9, "v2": 0.1}, {"v1": 0.8, "v2": 0.95})
    assert first == {
        "rows": ["v1", "v2"],
        "columns": ["v1", "v2"],
        "accuracy": [[0.9, 0.1], [0.8, 0.95]],
    }
    assert backward_transfer(first) == pytest.approx(-0.1)
    second = extend_matrix(
        first, "v2", "v3", {"v1": 0.8, "v2": 0.95, "v3": 0.2}, {"v1": 0.7, "v2": 0.9, "v3": 0.9}
    )
    assert second["rows"] == ["v1", "v2", "v3"]
    assert second["accuracy"][0] == [0.9, 0.1, None]
    # Mean of (0.7 - 0.9) and (0.9 - 0.95).
    assert backward_transfer(second) == pytest.approx(-0.125)

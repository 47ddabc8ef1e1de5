"""End-to-end training on scikit-learn's bundled sets: the numbers users are promised."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import trainforge
from trainforge.pipeline import TIMING_KEYS

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _without_timing(metrics: dict) -> dict:
    return {k: v for k, v in metrics.items() if k not in TIMING_KEYS}


@pytest.mark.slow
def test_breast_cancer_mlp_meets_targets_and_is_deterministic(tmp_path: Path) -> None:
    first = trainforge.train(EXAMPLES / "breast_cancer.yaml", output=tmp_path / "a", progress=False)
    assert first.metrics["test"]["accuracy"] >= 0.95
    assert first.metrics["test"]["roc_auc"] >= 0.98
    trainforge.train(EXAMPLES / "breast_cancer.yaml", output=tmp_path / "b", progress=False)
    saved = [json.loads((tmp_path / d / "metrics.json").read_text()) for d in ("a", "b")]
    assert _without_timing(saved[0]) == _without_timing(saved[1])
    assert saved[0]["train_time_s"] > 0 and saved[0]["samples_per_second"] > 0

    run_dir = tmp_path / "a"
    files = ("report.html", "config.yaml", "model/current", "model/v1/model.safetensors")
    for name in (*files, "model/v1/README.md"):
        assert (run_dir / name).is_file(), name
    assert not (run_dir / "checkpoints").exists()
    report = (run_dir / "report.html").read_text()
    assert "roc_auc" in report and "data:image/png;base64," in report


@pytest.mark.slow
def test_wine_mlp_accuracy(tmp_path: Path) -> None:
    run = trainforge.train(EXAMPLES / "wine.yaml", output=tmp_path / "run", progress=False)
    assert run.metrics["test"]["accuracy"] >= 0.94


@pytest.mark.slow
def test_diabetes_regression_r2(tmp_path: Path) -> None:
    run = trainforge.train(EXAMPLES / "diabetes.yaml", output=tmp_path / "run", progress=False)
    assert run.metrics["test"]["r2"] >= 0.40
    prediction = trainforge.load(run.model_dir).predict("sklearn:diabetes")[0]
    assert set(prediction) == {"value"} and 25 <= prediction["value"] <= 350


@pytest.mark.parametrize(
    ("task", "model_type"),
    [
        ("tabular_classification", "logistic_regression"),
        ("tabular_classification", "random_forest"),
        ("tabular_classification", "hist_gradient_boosting"),
        ("tabular_classification", "linear"),
        ("tabular_regression", "random_forest"),
        ("tabular_regression", "hist_gradient_boosting"),
        ("tabular_regression", "linear"),
    ],
)
def test_every_model_type_trains_packages_and_reloads(
    tmp_path: Path, task: str, model_type: str
) -> None:
    data = "sklearn:iris" if task == "tabular_classification" else "sklearn:diabetes"
    config = {
        "task": task,
        "data": {"train": data, "label_column": "target"},
        "model": {"type": model_type},
        "train": {"epochs": 40, "lr": 0.02, "seed": 0},
    }
    if model_type == "random_forest":
        config["model"]["params"] = {"n_estimators": 20}
    run = trainforge.train(config, output=tmp_path / "run", progress=False)
    score = run.metrics["test"]["accuracy" if task == "tabular_classification" else "r2"]
    # Above chance / above the mean predictor by a clear margin on held-out rows.
    assert score >= (0.85 if task == "tabular_classification" else 0.15)

    reloaded = trainforge.load(run.model_dir)
    assert reloaded.predict(data) == run.model.predict(data)
    assert reloaded.evaluate(data)["n_samples"] > 0
    suffix = "model.safetensors" if model_type == "linear" else "estimator.skops"
    assert (run.package_dir / suffix).is_file()
    assert not list(run.model_dir.glob("*.pkl"))


def test_predict_outputs_labels_and_probabilities(tmp_path: Path) -> None:
    config = {
        "task": "tabular_classification",
        "data": {"train": "sklearn:iris", "label_column": "target"},
        "model": {"type": "logistic_regression"},
    }
    run = trainforge.train(config, output=tmp_path / "run", progress=False)
    model = trainforge.load(run.model_dir)
    rows = [
        {
            "sepal length (cm)": 5.1,
            "sepal width (cm)": 3.5,
            "petal length (cm)": 1.4,
            "petal width (cm)": 0.2,
        },
        {
            "sepal length (cm)": 6.7,
            "sepal width (cm)": 3.0,
            "petal length (cm)": 5.2,
            "petal width (cm)": 2.3,
        },
    ]
    predictions = model.predict(rows)
    assert [p["label"] for p in predictions] == ["setosa", "virginica"]
    for prediction in predictions:
        assert set(prediction["probabilities"]) == {"setosa", "versicolor", "virginica"}
        assert np.isclose(sum(prediction["probabilities"].values()), 1.0, atol=1e-4)
        assert prediction["score"] == max(prediction["probabilities"].values())


def test_default_output_folder_never_overwrites_a_finished_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    config = {
        "task": "tabular_classification",
        "name": "iris",
        "data": {"train": "sklearn:iris", "label_column": "target"},
        "model": {"type": "logistic_regression"},
    }
    first = trainforge.train(config, progress=False)
    second = trainforge.train(config, progress=False)
    assert first.run_dir == Path("runs/iris")
    assert second.run_dir == Path("runs/iris-2")
    assert (first.run_dir / "metrics.json").is_file()


def test_missing_values_are_imputed_and_categories_one_hot(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    n = 300
    colour = rng.choice(["red", "green", "blue"], size=n)
    size = rng.normal(size=n)
    label = np.where((colour == "red") | (size > 1.0), "yes", "no")
    size[::10] = np.nan
    import pandas as pd

    frame = pd.DataFrame({"colour": colour, "size": size, "label": label})
    frame.loc[::7, "colour"] = None
    frame.to_csv(tmp_path / "data.csv", index=False)
    run = trainforge.train(
        {
            "task": "tabular_classification",
            "data": {"train": str(tmp_path / "data.csv")},
            "model": {"type": "hist_gradient_boosting"},
        },
        output=tmp_path / "run",
        progress=False,
    )
    assert run.metrics["test"]["accuracy"] >= 0.8
    state = json.loads((run.package_dir / "preprocessor.json").read_text())
    assert state["categorical"][0]["categories"] == ["blue", "green", "red"]

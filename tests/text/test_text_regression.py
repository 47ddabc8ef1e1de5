"""Text regression end to end: one number per text, from the text classifier's backbones.

A small synthetic set written here (the target is a clear function of the words: the sum of two
adjectives' scores), so the runs can check that the model beats predicting the mean. The fast
tests are the config and data errors; the runs share module-scoped fixtures and are marked slow.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch
from cli_support import check_user_error, run_cli

import trainforge
from trainforge.errors import ConfigError, DataError, PackageError
from trainforge.pipeline import Run
from trainforge.plan import plan

pytestmark = [
    pytest.mark.filterwarnings("ignore::FutureWarning"),
    pytest.mark.filterwarnings("ignore:.*module\\(s\\) in eval mode.*"),
]

REPO = Path(__file__).resolve().parents[2]
MAX_LENGTH = 32
FAST = {"batch_size": 16, "max_length": MAX_LENGTH, "eval_batch_size": 64}
SCORES = {"terrible": -2.0, "bad": -1.0, "okay": 0.0, "good": 1.0, "great": 2.0}
NOUNS = ["food", "service", "room", "staff", "view", "price", "music", "coffee"]
TEXTS = [
    "the food was great and the staff was great",
    "the room was terrible and the view was bad",
    "the coffee was okay and the music was good",
    # Longer than max_length tokens: truncation must be the same everywhere.
    "the service was good and the price was great , and then we stayed for hours talking "
    "about the food , the music , the view and the coffee until the staff closed the doors",
]


def _rows(n: int, seed: int) -> pd.DataFrame:
    """Texts about two things, each great/good/okay/bad/terrible; score = the sum (-4..4)."""
    rng = np.random.default_rng(seed)
    adjectives = list(SCORES)
    rows = []
    for _ in range(n):
        first, second = rng.choice(adjectives, 2)
        a, b = rng.choice(NOUNS, 2, replace=False)
        text = f"the {a} was {first} and the {b} was {second}"
        rows.append({"text": text, "score": SCORES[first] + SCORES[second]})
    return pd.DataFrame(rows)


def _data(folder: Path) -> dict[str, Any]:
    """120 training rows (12 carved out for validation) and a 40-row test file."""
    folder.mkdir(parents=True, exist_ok=True)
    _rows(120, 0).to_csv(folder / "train.csv", index=False)
    _rows(40, 1).to_csv(folder / "test.csv", index=False)
    return {
        "train": str(folder / "train.csv"),
        "test": str(folder / "test.csv"),
        "label_column": "score",
        "split": {"validation": 0.1},
    }


def _config(data: dict[str, Any], model: dict[str, Any], **train: Any) -> dict[str, Any]:
    return {"task": "text_regression", "data": data, "model": model, "train": {**FAST, **train}}


def _train(config: dict[str, Any], output: Path) -> Run:
    return trainforge.train(config, output=output, progress=False)


def _values(predictions: list[dict[str, Any]]) -> np.ndarray:
    assert all(set(p) == {"value"} and isinstance(p["value"], float) for p in predictions)
    return np.array([p["value"] for p in predictions])


def _mean_baseline_mae(folder: Path) -> float:
    """The test MAE of always predicting the training mean."""
    train = pd.read_csv(folder / "train.csv")["score"]
    test = pd.read_csv(folder / "test.csv")["score"]
    return float((test - train.mean()).abs().mean())


# --- config and data errors (fast) -------------------------------------------------------------


@pytest.mark.parametrize("loss", ["cross_entropy", "bce"])
def test_classification_losses_are_refused(loss: str, tmp_path: Path) -> None:
    config = _config(_data(tmp_path), {}, loss=loss)
    with pytest.raises(ConfigError, match=f"train.loss '{loss}' does not fit task 'text_regr"):
        trainforge.train(config, output=tmp_path / "run")
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("method", ["zero_shot", "setfit", "prompt_lm"])
def test_classifier_only_methods_are_refused(method: str, tmp_path: Path) -> None:
    config = _config(_data(tmp_path), {"finetune": method})
    expected = (
        f"model.finetune '{method}' is for single-label text_classification; "
        "task 'text_regression' trains with 'full', 'frozen', 'lora', 'adalora', 'ia3', 'adapter'"
    )
    with pytest.raises(ConfigError, match=expected):
        trainforge.train(config, output=tmp_path / "run")


@pytest.mark.parametrize(
    ("key", "section", "value"),
    [
        ("data.shots", "data", {"shots": 8}),
        ("train.class_weight", "train", {"class_weight": "balanced"}),
        ("model.labels", "model", {"labels": ["low", "high"]}),
    ],
)
def test_class_settings_are_refused(
    key: str, section: str, value: dict[str, Any], tmp_path: Path
) -> None:
    config = _config(_data(tmp_path), {})
    config[section] = {**config[section], **value}
    with pytest.raises(ConfigError, match=f"{key} is about classes") as info:
        trainforge.train(config, output=tmp_path / "run")
    assert info.value.where == key
    assert not (tmp_path / "run").exists()


def test_a_causal_language_model_backbone_is_refused(tmp_path: Path) -> None:
    config = _config(_data(tmp_path), {"backbone": "smollm2"})
    with pytest.raises(ConfigError, match="'smollm2' is a causal language model") as info:
        trainforge.train(config, output=tmp_path / "run")
    assert info.value.where == "model.backbone"


@pytest.mark.parametrize("split", ["train", "test"])
def test_a_target_that_is_not_a_number_names_its_file_and_line(split: str, tmp_path: Path) -> None:
    data = _data(tmp_path)
    frame = pd.read_csv(data[split])
    frame["score"] = frame["score"].astype(object)
    frame.loc[6, "score"] = "five"  # data row 6 is file line 8 (the header is line 1)
    frame.to_csv(data[split], index=False)
    with pytest.raises(DataError, match="target column 'score' holds 'five'") as info:
        trainforge.train(_config(data, {}), output=tmp_path / "run")
    assert info.value.where == f"{data[split]} line 8"
    assert not (tmp_path / "run").exists()


def test_the_command_line_reports_a_bad_target_and_exits_2(tmp_path: Path) -> None:
    data = _data(tmp_path)
    lines = Path(data["train"]).read_text(encoding="utf-8").splitlines()
    lines[9] = "the food was good and the view was okay,about 3"  # file line 10
    Path(data["train"]).write_text("\n".join(lines) + "\n", encoding="utf-8")
    config = _config({**data, "train": "train.csv", "test": "test.csv"}, {})
    (tmp_path / "exp.yaml").write_text(json.dumps(config), encoding="utf-8")
    result = run_cli(tmp_path, ["train", "exp.yaml", "--output", "run"])
    check_user_error(result, "train.csv line 10", "'score'", "not a finite number")
    assert not (tmp_path / "run").exists()


def test_plan_sizes_a_one_output_head(tmp_path: Path) -> None:
    full = plan(_config(_data(tmp_path), {"finetune": "full"}))
    assert full.trainable == full.parameters > 20_000_000  # MiniLM, every weight trained
    assert not any("labels assumed" in note for note in full.notes)
    lora = plan(_config(_data(tmp_path), {"finetune": "lora"}))
    assert 0 < lora.trainable < 0.05 * lora.parameters


# --- shared runs ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("ratings")
    _data(folder)
    return folder


@pytest.fixture(scope="module")
def full_run(folder: Path) -> Run:
    # 7 steps an epoch; a higher learning rate than the default so that 3 epochs learn the set.
    return _train(_config(_data(folder), {"finetune": "full"}, epochs=3, lr=2e-4), folder / "full")


@pytest.fixture(scope="module")
def frozen_run(folder: Path) -> Run:
    return _train(_config(_data(folder), {"finetune": "frozen"}, lr=1e-2), folder / "frozen")


# --- full fine-tuning -------------------------------------------------------------------------


@pytest.mark.slow
def test_full_finetune_metrics_beat_predicting_the_mean(full_run: Run, folder: Path) -> None:
    metrics = full_run.metrics
    for split, rows in (("validation", 12), ("test", 40)):
        assert {"r2", "mae", "rmse", "spearman", "mse"} <= set(metrics[split])
        assert metrics[split]["n_samples"] == rows
    test = metrics["test"]
    assert test["r2"] > 0.3 and test["spearman"] > 0.6, test
    assert test["mae"] < 0.8 * _mean_baseline_mae(folder), test
    assert test["rmse"] == pytest.approx(test["mse"] ** 0.5)
    manifest = json.loads((full_run.package_dir / "trainforge.json").read_text())
    assert manifest["task"] == "text_regression" and manifest["labels"] is None
    assert manifest["target"]["kind"] == "regression" and manifest["target"]["column"] == "score"
    assert manifest["train_rows"] == 108
    assert manifest["trainable_parameters"] == manifest["total_parameters"]


@pytest.mark.slow
def test_full_finetune_reload_predicts_like_the_trained_model(full_run: Run) -> None:
    loaded = trainforge.load(full_run.model_dir)
    values = _values(loaded.predict(TEXTS))
    np.testing.assert_allclose(values, _values(full_run.model.predict(TEXTS)), atol=1e-5)
    assert values[0] > values[2] > values[1]  # great+great > okay+good > terrible+bad
    # One text at a time gives what the batch gave (batches are sorted by length).
    for text, batched in zip(TEXTS, values, strict=True):
        assert _values(loaded.predict([text]))[0] == pytest.approx(batched, abs=1e-5)


@pytest.mark.slow
def test_full_finetune_hf_folder_is_a_plain_one_output_transformers_model(full_run: Run) -> None:
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    hf = full_run.package_dir / "hf"
    tokenizer = AutoTokenizer.from_pretrained(hf)
    network = AutoModelForSequenceClassification.from_pretrained(hf).eval()
    assert network.config.num_labels == 1
    encoded = tokenizer(
        TEXTS, truncation=True, max_length=MAX_LENGTH, padding=True, return_tensors="pt"
    )
    with torch.no_grad():
        standardised = network(**encoded).logits[:, 0].numpy()
    # The package's target maps the network's standardised output back to the target's unit.
    target = json.loads((full_run.package_dir / "trainforge.json").read_text())["target"]
    values = standardised * target["scale"] + target["mean"]
    predicted = _values(trainforge.load(full_run.model_dir).predict(TEXTS))
    np.testing.assert_allclose(values, predicted, atol=1e-4)


@pytest.mark.slow
def test_evaluate_on_a_labelled_file_gives_the_test_metrics(full_run: Run, folder: Path) -> None:
    loaded = trainforge.load(full_run.model_dir)
    metrics = loaded.evaluate(folder / "test.csv")
    for key in ("r2", "mae", "rmse", "spearman"):
        assert metrics[key] == pytest.approx(full_run.metrics["test"][key], abs=1e-5)
    bad = pd.read_csv(folder / "test.csv")
    bad["score"] = bad["score"].astype(object)
    bad.loc[3, "score"] = "high"
    bad.to_csv(folder / "bad.csv", index=False)
    with pytest.raises(DataError, match="holds 'high'") as info:
        loaded.evaluate(folder / "bad.csv")
    assert info.value.where.endswith("bad.csv line 5")


@pytest.mark.slow
def test_report_shows_residuals_in_the_targets_unit(full_run: Run) -> None:
    page = full_run.report_path.read_text(encoding="utf-8")
    assert "<h2>Residuals (test)</h2>" in page and "<h3>Largest errors (test)</h3>" in page
    assert "Predicted vs true &#x27;score&#x27;, in its own unit" in page
    assert (full_run.run_dir / "plots" / "residuals_test.png").stat().st_size > 10_000
    # The largest error is the first row of the table: a test text with its true score.
    test = pd.read_csv(full_run.run_dir.parent / "test.csv")
    table = page.split("<h3>Largest errors (test)</h3>")[1]
    first, true = table.split("<tbody><tr><th>1</th><td>")[1].split("</td>")[:2]
    assert first in set(test["text"])
    # In the target's unit, not standardised: the table shows that text's own score.
    assert float(true.split(">")[-1]) in set(test.loc[test["text"] == first, "score"])


@pytest.mark.slow
def test_onnx_export_matches_pytorch(full_run: Run) -> None:
    from trainforge.export import export_onnx

    report = export_onnx(full_run.model_dir)
    fp32 = report["models"]["fp32"]
    assert fp32["label_agreement"] is None  # regression: no labels to agree on
    assert fp32["max_abs_diff"] < 1e-4, fp32
    eager = _values(trainforge.load(full_run.model_dir).predict(TEXTS))
    fast = _values(trainforge.load(full_run.model_dir, onnx=True).predict(TEXTS))
    np.testing.assert_allclose(fast, eager, atol=1e-3)


@pytest.mark.slow
def test_serve_answers_values_for_texts(full_run: Run) -> None:
    from fastapi.testclient import TestClient

    from trainforge.serving.app import create_app
    from trainforge.serving.settings import ServeSettings

    app = create_app(ServeSettings(model_dir=full_run.model_dir))
    with TestClient(app) as client:
        deadline = time.monotonic() + 120
        while client.get("/v1/ready").status_code != 200:
            assert time.monotonic() < deadline, "the model did not load"
            time.sleep(0.2)
        response = client.post("/v1/predict", json={"inputs": TEXTS[:2]})
        assert response.status_code == 200, response.text
        served = _values(response.json()["predictions"])
        rows = client.post("/v1/predict", json={"inputs": [{"text": t} for t in TEXTS[:2]]})
        assert _values(rows.json()["predictions"]) == pytest.approx(served, abs=1e-6)
        assert client.post("/v1/predict", json={"inputs": [" "]}).status_code == 422
    expected = _values(full_run.model.predict(TEXTS[:2]))
    np.testing.assert_allclose(served, expected, atol=1e-4)


@pytest.mark.slow
def test_regression_packages_cannot_start_an_update(full_run: Run, folder: Path) -> None:
    from trainforge.tasks.registry import family

    with pytest.raises(PackageError, match="cannot be updated"):
        family("text_regression").check_updatable(full_run.model, full_run.model_dir)
    config = _config(_data(folder), {"init_from": str(full_run.model_dir)})
    with pytest.raises(ConfigError, match="its target is regression"):
        _train(config, folder / "from_package")


# --- frozen backbone and parameter-efficient methods ------------------------------------------


@pytest.mark.slow
def test_frozen_backbone_trains_a_one_output_head(frozen_run: Run, folder: Path) -> None:
    assert frozen_run.metrics["embedding_time_s"] > 0
    test = frozen_run.metrics["test"]
    assert test["spearman"] > 0.5 and test["r2"] > 0.1, test
    assert test["mae"] < _mean_baseline_mae(folder), test
    manifest = json.loads((frozen_run.package_dir / "trainforge.json").read_text())
    assert manifest["trainable_parameters"] == 384 + 1  # the linear head over MiniLM
    assert (frozen_run.package_dir / "head.safetensors").is_file()
    loaded = _values(trainforge.load(frozen_run.model_dir).predict(TEXTS))
    np.testing.assert_allclose(loaded, _values(frozen_run.model.predict(TEXTS)), atol=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("method", "model"),
    [
        ("lora", {"peft": {"r": 4}}),
        ("adalora", {"peft": {"r": 4}}),
        ("ia3", {}),
        ("adapter", {"adapter": {"size": 8}}),
    ],
)
def test_parameter_efficient_methods_package_and_reload(
    method: str, model: dict[str, Any], folder: Path
) -> None:
    config = _config(_data(folder), {"finetune": method, **model}, max_steps=2, lr=1e-3)
    run = _train(config, folder / method)
    manifest = json.loads((run.package_dir / "trainforge.json").read_text())
    assert 0 < manifest["trainable_parameters"] < 0.05 * manifest["total_parameters"]
    assert {"r2", "mae", "rmse"} <= set(run.metrics["test"])
    loaded = _values(trainforge.load(run.model_dir).predict(TEXTS))
    np.testing.assert_allclose(loaded, _values(run.model.predict(TEXTS)), atol=1e-5)


# --- real data ---------------------------------------------------------------------------------


def _benchmark_module() -> Any:
    """benchmarks/text_regression.py, for its VADER download and reader."""
    path = REPO / "benchmarks" / "text_regression.py"
    spec = importlib.util.spec_from_file_location("text_regression_benchmark", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_vader_ratings_are_learned_by_a_frozen_backbone(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    bench = _benchmark_module()
    cache = tmp_path_factory.getbasetemp().parent / "trainforge-vader"
    try:
        sdist = bench.fetch_sdist(cache)
    except (subprocess.CalledProcessError, OSError) as exc:
        pytest.skip(f"cannot download vaderSentiment=={bench.VERSION} with pip: {exc}")
    frame = bench.read_vader(sdist).sample(600, random_state=0)
    folder = tmp_path_factory.mktemp("vader")
    paths = bench.write_splits(frame, folder, train_rows=None)  # 480 / 60 / 60
    data = {split: str(path) for split, path in paths.items()} | {"label_column": "target"}
    config = _config(data, {"finetune": "frozen"}, max_length=64, batch_size=32)
    run = _train(config, folder / "run")
    assert run.metrics["test"]["n_samples"] == 60
    assert run.metrics["test"]["spearman"] > 0.3, run.metrics["test"]

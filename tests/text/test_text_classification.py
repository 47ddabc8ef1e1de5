"""Text classification end to end: train on small slices, package, reload, predict the same.

Real data (SST-2 from the shared data folder next to the repository) where the test is about
single-label sentiment; small synthetic sets written here for multi-label and sentence pairs.
Runs are shared through module-scoped fixtures; every run is a few optimiser steps on MiniLM.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch

import trainforge
from trainforge.errors import DataError
from trainforge.pipeline import Run

pytestmark = [
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore::FutureWarning"),
    pytest.mark.filterwarnings("ignore:.*module\\(s\\) in eval mode.*"),
]

SST2 = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "sst2"
MAX_LENGTH = 32
FAST = {"batch_size": 8, "max_length": MAX_LENGTH, "eval_batch_size": 64, "epochs": 1}

TEXTS = [
    "a gripping , funny and thoroughly moving film .",
    "dull , lifeless and far too long .",
    "the cast is fine but the script is a mess",
    "one of the best films of the year",
    # Longer than max_length tokens: truncation must be the same everywhere.
    "it starts slow , and the first hour drags with scene after scene of people talking in "
    "rooms , but the last act pulls every thread together so well that by the end i was "
    "completely won over and wanted to watch it again",
    "meh",
]


# --- data -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sst2(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """160 train, 64 dev and 64 test rows of SST-2, and smaller heads of them for quick runs."""
    if not (SST2 / "train.csv").is_file():
        pytest.skip(f"SST-2 is not in {SST2.resolve()} (the shared data folder next to the repo)")
    folder = tmp_path_factory.mktemp("sst2")
    for name, rows in (("train", 160), ("dev", 64), ("test", 64)):
        frame = pd.read_csv(SST2 / f"{name}.csv").head(rows)
        assert set(frame["label"]) == {"negative", "positive"}
        frame.to_csv(folder / f"{name}.csv", index=False)
    for name, rows in (("train", 40), ("train", 16), ("dev", 16), ("test", 16)):
        frame = pd.read_csv(folder / f"{name}.csv").head(rows)
        frame.to_csv(folder / f"{name}{rows}.csv", index=False)
    return folder


TOPICS = {
    "sports": ["the match", "a late goal", "the league title", "the coach"],
    "politics": ["the election", "parliament", "the minister", "a new law"],
    "tech": ["a new phone", "the software update", "the chip maker", "an app"],
}


def _multi_label_rows(n: int, seed: int) -> list[dict[str, Any]]:
    rng = np.random.default_rng(seed)
    names = sorted(TOPICS)
    rows = []
    for i in range(n):
        labels = [names[i % 3]] + ([names[(i + 1) % 3]] if i % 2 else [])
        words = [TOPICS[label][rng.integers(4)] for label in labels]
        rows.append({"text": " and ".join(words) + " made the news", "labels": labels})
    return rows


def _pair_rows(n: int) -> list[dict[str, str]]:
    subjects = ["the cat", "a dog", "my friend", "the teacher", "a child", "the pilot"]
    actions = ["is sleeping", "is running", "reads a book", "eats lunch"]
    rows = []
    for i in range(n):
        subject, action = subjects[i % 6], actions[i % 4]
        other = actions[(i + 1) % 4]
        same = i % 2 == 0
        rows.append(
            {
                "premise": f"{subject} {action} in the garden",
                "hypothesis": f"{subject} {action if same else other}",
                "label": "entailment" if same else "contradiction",
            }
        )
    return rows


def _write_jsonl(path: Path, rows: list[dict[str, Any]]) -> str:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return str(path)


def _config(data: dict[str, Any], model: dict[str, Any], **train: Any) -> dict[str, Any]:
    return {
        "task": "text_classification",
        "data": data,
        "model": model,
        "train": {**FAST, **train},
    }


def _train(config: dict[str, Any], output: Path) -> Run:
    return trainforge.train(config, output=output, progress=False)


# --- shared runs ------------------------------------------------------------------------------


def _sst2_data(folder: Path, train_rows: int | None = None) -> dict[str, str]:
    """All the slices, or `train_rows` training rows with 16-row dev and test sets."""
    suffix = "" if train_rows is None else "16"
    return {
        "train": str(folder / f"train{train_rows or ''}.csv"),
        "validation": str(folder / f"dev{suffix}.csv"),
        "test": str(folder / f"test{suffix}.csv"),
    }


@pytest.fixture(scope="module")
def full_run(sst2: Path, tmp_path_factory: pytest.TempPathFactory) -> Run:
    out = tmp_path_factory.mktemp("full") / "run"
    # 20 batches an epoch: max_steps stops half way through the first.
    return _train(_config(_sst2_data(sst2), {"finetune": "full"}, max_steps=10), out)


@pytest.fixture(scope="module")
def lora_run(sst2: Path, tmp_path_factory: pytest.TempPathFactory) -> Run:
    out = tmp_path_factory.mktemp("lora") / "run"
    data = _sst2_data(sst2, train_rows=16)  # 2 steps
    model = {"finetune": "lora", "peft": {"r": 4}}
    return _train(_config(data, model, lr=1e-3), out)


@pytest.fixture(scope="module")
def pair_run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    folder = tmp_path_factory.mktemp("pairs")
    rows = _pair_rows(48)
    for name, part in (("train", rows[:24]), ("dev", rows[24:36]), ("test", rows[36:])):
        pd.DataFrame(part).to_csv(folder / f"{name}.csv", index=False)
    data = {
        "train": str(folder / "train.csv"),
        "validation": str(folder / "dev.csv"),
        "test": str(folder / "test.csv"),
        "text_column": "premise",
        "text_pair_column": "hypothesis",
    }
    return _train(_config(data, {"finetune": "full"}), folder / "run")


# --- helpers ----------------------------------------------------------------------------------


def _assert_same_predictions(a: list[dict], b: list[dict], tol: float = 1e-5) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        assert x.get("label") == y.get("label")
        assert x.get("labels") == y.get("labels")
        assert x["probabilities"] == pytest.approx(y["probabilities"], abs=tol)


def _hf_probabilities(folder: Path, first: list[str], pairs: list[str] | None = None) -> Any:
    """Probabilities from the package's hf/ folder with plain transformers (no trainforge)."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForSequenceClassification.from_pretrained(folder).eval()
    encoded = tokenizer(
        first, pairs, truncation=True, max_length=MAX_LENGTH, padding=True, return_tensors="pt"
    )
    with torch.no_grad():
        logits = model(**encoded).logits
    return model, torch.softmax(logits, dim=-1).numpy()


def _as_matrix(predictions: list[dict], labels: list[str]) -> np.ndarray:
    return np.array([[p["probabilities"][label] for label in labels] for p in predictions])


# --- (a) full fine-tuning -----------------------------------------------------------------------


def test_full_finetune_writes_metrics_report_and_package(full_run: Run) -> None:
    saved = json.loads((full_run.run_dir / "metrics.json").read_text())
    for split in ("validation", "test"):
        assert 0.0 <= saved[split]["accuracy"] <= 1.0
        assert 0.0 <= saved[split]["f1_macro"] <= 1.0
        assert saved[split]["n_samples"] == 64
    assert saved["train_time_s"] > 0
    assert saved["epochs_run"] <= 1  # stopped by max_steps
    assert full_run.report_path.is_file()
    assert "test" in full_run.report_path.read_text(encoding="utf-8")
    manifest = json.loads((full_run.package_dir / "trainforge.json").read_text())
    assert manifest["train_rows"] == 160
    assert manifest["labels"] == ["negative", "positive"]
    assert manifest["trainable_parameters"] == manifest["total_parameters"]


def test_full_finetune_reload_predicts_like_the_trained_model(full_run: Run) -> None:
    loaded = trainforge.load(full_run.model_dir)
    predictions = loaded.predict(TEXTS)
    _assert_same_predictions(predictions, full_run.model.predict(TEXTS))
    assert all(p["label"] in ("negative", "positive") for p in predictions)
    # Predicting one text at a time gives what the batch gave (batches are sorted by length).
    for text, batched in zip(TEXTS[:3], predictions, strict=False):
        _assert_same_predictions(loaded.predict([text]), [batched])


def test_full_finetune_hf_folder_loads_with_plain_transformers(full_run: Run) -> None:
    predictions = trainforge.load(full_run.model_dir).predict(TEXTS)
    model, proba = _hf_probabilities(full_run.package_dir / "hf", TEXTS)
    assert model.config.id2label == {0: "negative", 1: "positive"}
    np.testing.assert_allclose(proba, _as_matrix(predictions, ["negative", "positive"]), atol=1e-4)


# --- (b) LoRA -----------------------------------------------------------------------------------


def test_lora_package_is_merged_and_needs_no_peft(lora_run: Run) -> None:
    from safetensors import safe_open

    manifest = json.loads((lora_run.package_dir / "trainforge.json").read_text())
    assert manifest["finetune"] == "lora"
    assert 0 < manifest["trainable_parameters"] < 0.05 * manifest["total_parameters"]
    hf = lora_run.package_dir / "hf"
    assert not (hf / "adapter_config.json").exists()
    assert not (lora_run.package_dir / "adapter").exists()
    with safe_open(str(hf / "model.safetensors"), "pt") as weights:
        keys = list(weights.keys())
    assert not any(p in k for k in keys for p in ("lora_", "base_layer", "modules_to_save"))

    loaded = trainforge.load(lora_run.model_dir)
    predictions = loaded.predict(TEXTS)
    _assert_same_predictions(predictions, lora_run.model.predict(TEXTS))
    _, proba = _hf_probabilities(hf, TEXTS)
    np.testing.assert_allclose(proba, _as_matrix(predictions, ["negative", "positive"]), atol=1e-4)


def test_lora_adapter_only_package_reloads_to_the_same_predictions(
    sst2: Path, tmp_path: Path
) -> None:
    data = _sst2_data(sst2, train_rows=16)  # 2 steps
    model = {"finetune": "lora", "peft": {"r": 4, "adapter_only": True}}
    run = _train(_config(data, model, lr=1e-3), tmp_path / "run")

    package = run.package_dir
    assert (package / "adapter" / "adapter_config.json").is_file()
    assert not (package / "hf").exists()
    size = sum(f.stat().st_size for f in (package / "adapter").iterdir())
    assert size < 5_000_000  # the adapter and head, not a 90 MB backbone
    _assert_same_predictions(trainforge.load(package).predict(TEXTS), run.model.predict(TEXTS))


def test_adapter_package_reloads_to_the_same_predictions(sst2: Path, tmp_path: Path) -> None:
    data = _sst2_data(sst2, train_rows=16)  # 2 steps
    run = _train(_config(data, {"finetune": "adapter"}, lr=1e-2), tmp_path / "run")
    assert (run.package_dir / "adapters.safetensors").is_file()
    # Not a standalone transformers folder without the adapters, so not named hf/.
    assert (run.package_dir / "backbone").is_dir() and not (run.package_dir / "hf").exists()
    manifest = json.loads((run.package_dir / "trainforge.json").read_text())
    assert manifest["trainable_parameters"] < 0.05 * manifest["total_parameters"]
    _assert_same_predictions(
        trainforge.load(run.model_dir).predict(TEXTS), run.model.predict(TEXTS)
    )


# --- (c) frozen backbone ------------------------------------------------------------------------


def test_frozen_backbone_trains_the_head_and_reports_its_time(sst2: Path, tmp_path: Path) -> None:
    config = _config(_sst2_data(sst2, train_rows=40), {"finetune": "frozen"}, lr=1e-2)
    run = _train(config, tmp_path / "run")

    assert run.metrics["train_time_s"] > 0
    assert run.metrics["embedding_time_s"] > 0
    assert run.metrics["samples_per_second"] > 0
    assert 0.0 <= run.metrics["test"]["accuracy"] <= 1.0
    manifest = json.loads((run.package_dir / "trainforge.json").read_text())
    assert manifest["trainable_parameters"] == 384 * 2 + 2  # the linear head over MiniLM
    assert (run.package_dir / "head.safetensors").is_file()
    _assert_same_predictions(
        trainforge.load(run.model_dir).predict(TEXTS), run.model.predict(TEXTS)
    )


# --- (d) multi-label ----------------------------------------------------------------------------


def _check_multi_label(run: Run) -> None:
    labels = ["politics", "sports", "tech"]
    assert run.model.labels == labels
    threshold = run.metrics["validation"]["threshold"]
    assert 0.05 <= threshold <= 0.95
    assert run.metrics["test"]["threshold"] == threshold
    for key in ("accuracy", "f1_micro", "f1_macro"):
        assert 0.0 <= run.metrics["test"][key] <= 1.0
    texts = ["the minister and the coach made the news", "a new phone made the news"]
    loaded = trainforge.load(run.model_dir)
    assert loaded.target.threshold_ == threshold
    predictions = loaded.predict(texts)
    _assert_same_predictions(predictions, run.model.predict(texts))
    for prediction in predictions:
        assert isinstance(prediction["labels"], list)
        assert set(prediction["labels"]) <= set(labels)
        assert set(prediction["probabilities"]) == set(labels)
        over = [k for k in labels if prediction["probabilities"][k] >= threshold]
        assert prediction["labels"] == over


def test_multi_label_from_jsonl_lists(tmp_path: Path) -> None:
    data = {
        "train": _write_jsonl(tmp_path / "train.jsonl", _multi_label_rows(24, 0)),
        "validation": _write_jsonl(tmp_path / "dev.jsonl", _multi_label_rows(12, 1)),
        "test": _write_jsonl(tmp_path / "test.jsonl", _multi_label_rows(12, 2)),
        "label_column": "labels",
        "multi_label": True,
    }
    run = _train(_config(data, {"finetune": "full"}, lr=1e-4), tmp_path / "run")
    _check_multi_label(run)
    hf_config = json.loads((run.package_dir / "hf" / "config.json").read_text())
    assert hf_config["problem_type"] == "multi_label_classification"


def test_multi_label_from_delimited_csv(tmp_path: Path) -> None:
    def frame(n: int, seed: int) -> pd.DataFrame:
        rows = _multi_label_rows(n, seed)
        return pd.DataFrame([{"text": r["text"], "topics": ";".join(r["labels"])} for r in rows])

    frame(24, 0).to_csv(tmp_path / "train.csv", index=False)
    frame(12, 1).to_csv(tmp_path / "dev.csv", index=False)
    frame(12, 2).to_csv(tmp_path / "test.csv", index=False)
    data = {
        "train": str(tmp_path / "train.csv"),
        "validation": str(tmp_path / "dev.csv"),
        "test": str(tmp_path / "test.csv"),
        "label_column": "topics",
        "multi_label": True,
        "label_delimiter": ";",
    }
    # The frozen backbone (head on mean-pooled embeddings) keeps this one fast.
    run = _train(_config(data, {"finetune": "frozen"}, lr=1e-2), tmp_path / "run")
    _check_multi_label(run)


# --- (e) sentence pairs -------------------------------------------------------------------------


def test_text_pairs_train_and_predict(pair_run: Run) -> None:
    assert 0.0 <= pair_run.metrics["test"]["accuracy"] <= 1.0
    rows = [
        {"premise": "the cat is sleeping in the garden", "hypothesis": "the cat is sleeping"},
        {"premise": "the cat is sleeping in the garden", "hypothesis": "the cat eats lunch"},
    ]
    loaded = trainforge.load(pair_run.model_dir)
    predictions = loaded.predict(rows)
    _assert_same_predictions(predictions, pair_run.model.predict(rows))
    # The second text reaches the model.
    assert predictions[0]["probabilities"] != predictions[1]["probabilities"]
    # And is encoded as a pair, exactly as transformers does it.
    _, proba = _hf_probabilities(
        pair_run.package_dir / "hf", [r["premise"] for r in rows], [r["hypothesis"] for r in rows]
    )
    labels = ["contradiction", "entailment"]
    np.testing.assert_allclose(proba, _as_matrix(predictions, labels), atol=1e-4)


def test_text_pairs_need_the_pair_column_at_predict_time(pair_run: Run) -> None:
    with pytest.raises(DataError) as info:
        trainforge.load(pair_run.model_dir).predict([{"premise": "the cat is sleeping"}])
    assert "'hypothesis'" in info.value.message


# --- (f) the command line -----------------------------------------------------------------------


def _predict_cli(model_dir: Path, data: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NO_COLOR": "1", "PYTHONIOENCODING": "utf-8"}
    command = [sys.executable, "-m", "trainforge.cli", "predict", str(model_dir), str(data)]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def cli_predictions(
    full_run: Run, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, subprocess.CompletedProcess[str]]:
    folder = tmp_path_factory.mktemp("cli")
    (folder / "new.txt").write_text("\n".join(TEXTS[:3]) + "\n\n", encoding="utf-8")
    pd.DataFrame({"text": TEXTS[:3]}).to_csv(folder / "new.csv", index=False)
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {
            name: pool.submit(_predict_cli, full_run.model_dir, folder / name)
            for name in ("new.txt", "new.csv")
        }
        return {name: future.result() for name, future in futures.items()}


def _check_json_lines(result: subprocess.CompletedProcess[str], full_run: Run) -> None:
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 3
    printed = [json.loads(line) for line in lines]
    _assert_same_predictions(printed, full_run.model.predict(TEXTS[:3]))


def test_cli_predict_on_a_csv_prints_one_json_object_per_row(
    cli_predictions: dict[str, subprocess.CompletedProcess[str]], full_run: Run
) -> None:
    _check_json_lines(cli_predictions["new.csv"], full_run)


def test_cli_predict_on_a_text_file_prints_one_json_object_per_line(
    cli_predictions: dict[str, subprocess.CompletedProcess[str]], full_run: Run
) -> None:
    _check_json_lines(cli_predictions["new.txt"], full_run)


def test_python_predict_reads_a_text_file_one_text_per_line(full_run: Run, tmp_path: Path) -> None:
    path = tmp_path / "new.txt"
    path.write_text("\n".join(TEXTS[:3]) + "\n\n", encoding="utf-8")
    _assert_same_predictions(full_run.model.predict(path), full_run.model.predict(TEXTS[:3]))


# --- stopping early -----------------------------------------------------------------------------


def test_max_steps_may_end_training_mid_epoch(tmp_path: Path) -> None:
    rows = _pair_rows(36)
    pd.DataFrame(rows[:24]).to_csv(tmp_path / "train.csv", index=False)  # 3 steps an epoch
    pd.DataFrame(rows[24:]).to_csv(tmp_path / "dev.csv", index=False)
    data = {
        "train": str(tmp_path / "train.csv"),
        "validation": str(tmp_path / "dev.csv"),
        "text_column": "premise",
        "split": {"test": 0.0},
    }
    run = _train(_config(data, {"finetune": "frozen"}, max_steps=2), tmp_path / "run")
    assert run.metrics["validation"]["n_samples"] == 12
    # Validation ran when training stopped, so the best checkpoint was chosen on val_loss.
    assert run.metrics["best_epoch"] == 1

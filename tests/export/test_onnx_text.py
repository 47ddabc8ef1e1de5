"""ONNX export of text packages: cls (plain transformers `hf/`), mean pooling with adapters
(the `TextClassifier` wrapper itself), and token classification when CoNLL-2003 is present.

Every run is two optimiser steps of MiniLM at max length 32 on the bundled reviews set: the
weights barely move, but export, parity and `load(onnx=True)` do not care how well they fit.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

import trainforge
from trainforge.export import export_onnx
from trainforge.pipeline import Run

pytestmark = [
    pytest.mark.filterwarnings("ignore::FutureWarning"),
    pytest.mark.filterwarnings("ignore:.*module\\(s\\) in eval mode.*"),
]

REVIEWS = Path(__file__).resolve().parents[2] / "examples" / "data" / "reviews"
CONLL = Path(__file__).resolve().parents[3] / "shared" / "data" / "conll2003"
FAST = {"max_steps": 2, "max_length": 32, "batch_size": 8, "eval_batch_size": 64, "seed": 0}
TEXTS = [
    "Notifications are sensible and easy to customize.",
    "The battery died after a week and support never answered.",
    "fine",
    # Longer than max_length tokens: truncation must be the same in both runtimes.
    "it starts slow , and the first hour drags with scene after scene of people talking in "
    "rooms , but the last act pulls every thread together so well that by the end i was won over",
]


def _train(tmp_path_factory: pytest.TempPathFactory, name: str, model: dict) -> Run:
    data = {name: str(REVIEWS / f"{name}.csv") for name in ("train", "validation", "test")}
    config = {"task": "text_classification", "data": data, "model": model, "train": FAST}
    out = tmp_path_factory.mktemp(name) / "run"
    return trainforge.train(config, output=out, progress=False)


@pytest.fixture(scope="module")
def cls_run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    return _train(tmp_path_factory, "cls", {"finetune": "full", "pooling": "cls"})


@pytest.fixture(scope="module")
def adapter_run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    model = {"finetune": "adapter", "pooling": "mean", "adapter": {"size": 8}}
    return _train(tmp_path_factory, "adapter", model)


def _check_fp32(package: Path, rows: object) -> list[dict]:
    """parity.json and `load(onnx="fp32")` agree with PyTorch; returns the eager predictions."""
    parity = json.loads((package / "onnx" / "parity.json").read_text(encoding="utf-8"))
    fp32 = parity["models"]["fp32"]
    assert fp32["max_abs_diff"] < 1e-4 and fp32["label_agreement"] == 1.0, fp32
    eager = trainforge.load(package).predict(rows)
    fast = trainforge.load(package, onnx="fp32").predict(rows)
    assert [p.get("label", p.get("tags")) for p in eager] == [
        p.get("label", p.get("tags")) for p in fast
    ]
    for a, b in zip(eager, fast, strict=True):
        if "probabilities" in a:
            assert a["probabilities"] == pytest.approx(b["probabilities"], abs=1e-4)
        else:
            assert a["scores"] == pytest.approx(b["scores"], abs=1e-4)
    return eager


def test_cls_package_exports_with_dynamic_batch_and_sequence(cls_run: Run) -> None:
    package = cls_run.package_dir
    report = export_onnx(package, quantize="int8")
    # The config's test file was read: batch 1 first, then batches of up to 16 of many lengths.
    assert report["models"]["fp32"]["rows"] == 1 + 64 and report["batches"] == 1 + 4
    texts = TEXTS + pd.read_csv(REVIEWS / "test.csv")["text"].tolist()
    eager = _check_fp32(package, texts)

    # int8: default for onnx=True, close to fp32 on most labels of an almost untrained model.
    assert report["models"]["int8"]["label_agreement"] >= 0.75
    quantized = trainforge.load(package, onnx=True).predict(texts)
    agree = sum(a["label"] == b["label"] for a, b in zip(eager, quantized, strict=True))
    assert agree / len(eager) >= 0.75


def test_mean_pooling_with_adapters_exports_the_wrapper(adapter_run: Run) -> None:
    package = adapter_run.package_dir
    assert (package / "adapters.safetensors").is_file() and (package / "head.safetensors").is_file()
    export_onnx(package)
    _check_fp32(package, TEXTS)


def test_token_classification_exports_per_token_logits(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    if not (CONLL / "train.txt").is_file():
        pytest.skip("needs ../shared/data/conll2003 (the shared data folder next to the repo)")
    folder = tmp_path_factory.mktemp("conll")
    lines = (CONLL / "valid.txt").read_text(encoding="utf-8").splitlines()[:400]
    (folder / "small.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    config = {
        "task": "token_classification",
        "data": {"train": str(folder / "small.txt"), "format": "conll"},
        "model": {"backbone": "minilm", "finetune": "full"},
        "train": FAST,
    }
    run = trainforge.train(config, output=folder / "run", progress=False)
    report = export_onnx(run.model_dir)
    assert report["models"]["fp32"]["label_agreement"] == 1.0  # every real token's tag
    sentences = [
        "Angela Merkel met Emmanuel Macron in Paris on Monday.",
        "EU rejects German call to boycott British lamb",
    ]
    _check_fp32(run.package_dir, sentences)

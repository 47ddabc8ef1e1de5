"""Float precision: what "auto" chooses, and mixed-precision runs that train and report it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from transformers import BertConfig, BertForSequenceClassification

from trainforge.config import load_config
from trainforge.pipeline import train
from trainforge.training import distributed
from trainforge.training.distributed import resolve_precision


def _tiny_bert() -> BertForSequenceClassification:
    config = BertConfig(
        num_hidden_layers=1,
        hidden_size=16,
        num_attention_heads=2,
        intermediate_size=32,
        vocab_size=50,
    )
    return BertForSequenceClassification(config)


def _train_section(precision: str = "auto") -> object:
    config = {
        "task": "tabular_classification",
        "data": {"train": "x.csv", "label_column": "y"},
        "train": {"precision": precision, "accelerator": "cpu"},
    }
    return load_config(config).train


@pytest.fixture()
def bf16_hardware(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(distributed, "native_bf16", lambda gpu: True)


def test_auto_is_the_default() -> None:
    assert _train_section().precision == "auto"  # type: ignore[attr-defined]


def test_auto_trains_a_transformer_in_bf16_where_the_hardware_has_it(bf16_hardware: None) -> None:
    assert resolve_precision(_train_section(), _tiny_bert()) == "bf16-mixed"


def test_auto_stays_at_32_where_bf16_would_be_emulated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(distributed, "native_bf16", lambda gpu: False)
    assert resolve_precision(_train_section(), _tiny_bert()) == "32"


def test_a_onednn_cap_below_bf16_counts_as_no_bf16(monkeypatch: pytest.MonkeyPatch) -> None:
    # ONEDNN_MAX_CPU_ISA=AVX2 makes oneDNN skip the bf16 instructions: bf16 would be emulated.
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: True, raising=False)
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX512_CORE_AMX")
    assert distributed.native_bf16(gpu=False)
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "avx2")
    assert not distributed.native_bf16(gpu=False)
    assert resolve_precision(_train_section(), _tiny_bert()) == "32"


def test_auto_stays_at_32_for_small_networks_and_frozen_backbones(bf16_hardware: None) -> None:
    assert resolve_precision(_train_section(), torch.nn.Linear(4, 2)) == "32"
    frozen = _tiny_bert()
    frozen.requires_grad_(False)
    head = torch.nn.Sequential(frozen, torch.nn.Linear(2, 2))
    assert resolve_precision(_train_section(), head) == "32"


def test_a_chosen_precision_is_kept(bf16_hardware: None) -> None:
    assert resolve_precision(_train_section("32"), _tiny_bert()) == "32"
    assert resolve_precision(_train_section("bf16-mixed"), torch.nn.Linear(4, 2)) == "bf16-mixed"


def test_bf16_run_clips_gradients_with_the_fused_optimizer_and_says_so(tmp_path: Path) -> None:
    """bf16 autocast + fused AdamW + gradient clipping (the defaults): Lightning's own plugin
    refuses clipping there; the run must train and record the precision it used."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 4))
    frame = pd.DataFrame(x, columns=["a", "b", "c", "d"])
    frame["label"] = np.where(x[:, 0] - x[:, 1] > 0, "up", "down")
    frame.to_csv(tmp_path / "data.csv", index=False)
    config = {
        "task": "tabular_classification",
        "data": {"train": str(tmp_path / "data.csv"), "label_column": "label"},
        "model": {"type": "mlp", "hidden_sizes": [16]},
        "train": {
            "epochs": 3,
            "batch_size": 32,
            "lr": 0.01,
            "precision": "bf16-mixed",
            "gradient_clip": 0.5,
            "accelerator": "cpu",
        },
    }
    run = train(config, output=tmp_path / "run", progress=False)
    metrics = json.loads((run.run_dir / "metrics.json").read_text())
    assert metrics["precision"] == "bf16-mixed"
    assert metrics["test"]["accuracy"] > 0.8  # it learned; bf16 did not break training

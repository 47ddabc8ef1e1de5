"""`train.batch_size: auto`: Lightning's batch size finder picks it; metrics.json records it."""

from __future__ import annotations

import json
from pathlib import Path

import trainforge
from trainforge.training.batch_size import MAX_BATCH_SIZE


def test_auto_batch_size_is_found_and_recorded(tmp_path: Path) -> None:
    config = {
        "task": "tabular_classification",
        "data": {"train": "sklearn:breast_cancer", "label_column": "target"},
        "model": {"type": "mlp", "hidden_sizes": [16]},
        "train": {"epochs": 2, "batch_size": "auto", "accelerator": "cpu"},
    }
    run = trainforge.train(config, output=tmp_path / "run", progress=False)
    chosen = run.metrics["batch_size"]
    # Doubled from the default 32 until the batch holds the training set (398 rows) or the cap.
    assert chosen in (256, 512) and chosen <= MAX_BATCH_SIZE
    saved = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert saved["batch_size"] == chosen
    assert not (tmp_path / "run" / "checkpoints").exists()
    assert not list((tmp_path / "run").glob(".scale_batch_size*"))

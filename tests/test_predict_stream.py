"""`trainforge predict` streams: lines written chunk by chunk, renamed into place at the end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import trainforge
from trainforge.predict import write_predictions


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> trainforge.Model:
    config = {
        "task": "tabular_classification",
        "data": {"train": "sklearn:breast_cancer", "label_column": "target"},
        "model": {"type": "mlp", "hidden_sizes": [8]},
        "train": {"epochs": 1, "accelerator": "cpu"},
    }
    out = tmp_path_factory.mktemp("run") / "run"
    return trainforge.train(config, output=out, progress=False).model


def test_streamed_predictions_equal_predict_in_chunks(model: trainforge.Model) -> None:
    frame = model.frame("sklearn:breast_cancer")
    streamed = list(model.predict_stream(frame, chunk_rows=100))
    assert streamed == model.predict(frame)
    assert len(streamed) == len(frame) == 569


def test_write_predictions_is_atomic(model: trainforge.Model, tmp_path: Path) -> None:
    frame = model.frame("sklearn:breast_cancer")
    target = tmp_path / "out.jsonl"
    assert write_predictions(model.predict_stream(frame, chunk_rows=64), target) == 569
    lines = target.read_text().splitlines()
    assert json.loads(lines[0]) == model.predict(frame.head(1))[0]

    def failing() -> object:
        yield {"label": "x"}
        raise RuntimeError("model failed halfway")

    broken = tmp_path / "broken.jsonl"
    with pytest.raises(RuntimeError):
        write_predictions(failing(), broken)  # type: ignore[arg-type]
    assert not broken.exists() and not list(tmp_path.glob(".*.tmp"))

"""`trainforge plan`: sizes from the model as training builds it, without training."""

from __future__ import annotations

from pathlib import Path

import pytest

from trainforge.plan import MAX_SUGGESTED, plan

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
BREAST_CANCER = {
    "task": "tabular_classification",
    "data": {"train": "sklearn:breast_cancer", "label_column": "target"},
    "model": {"type": "mlp", "hidden_sizes": [64, 32]},
    "train": {"batch_size": 32, "optimizer": "adamw", "accelerator": "cpu"},
}


def test_tabular_plan_counts_parameters_and_memory() -> None:
    result = plan(BREAST_CANCER)
    # 30 features -> 64 -> 32 -> 2 logits
    assert result.parameters == result.trainable == 30 * 64 + 64 + 64 * 32 + 32 + 32 * 2 + 2
    assert result.gradient_bytes == 4 * result.trainable
    assert result.optimizer_bytes == 2 * result.gradient_bytes  # adamw: two moments
    assert result.activation_bytes == pytest.approx(32 * result.activation_bytes_per_row, abs=1)
    assert result.activation_bytes_per_row > 0
    assert result.peak_bytes == sum(
        (
            result.weights_bytes,
            result.gradient_bytes,
            result.optimizer_bytes,
            result.activation_bytes,
        )
    )
    assert result.device == "cpu" and result.available_bytes > 0
    suggested = result.suggested_batch_size
    assert suggested & (suggested - 1) == 0 and 1 <= suggested <= MAX_SUGGESTED
    assert "Suggested batch size" in result.text()


def test_text_plan_counts_only_trainable_lora_weights() -> None:
    lora = plan(
        {
            "task": "text_classification",
            "data": {"train": "unused.csv"},
            "model": {"finetune": "lora", "labels": ["neg", "pos"]},
            "train": {"max_length": 16, "accelerator": "cpu"},
        }
    )
    assert 0 < lora.trainable < 0.05 * lora.parameters
    assert lora.optimizer_bytes == 2 * lora.gradient_bytes
    assert lora.activation_bytes_per_row > 0

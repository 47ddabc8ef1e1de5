"""`train.gradient_checkpointing`: the same gradients for less kept activation memory, as
`trainforge plan` shows; refused where there is no transformer to checkpoint."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from generation_support import tiny_lm

from trainforge.config import load_config
from trainforge.errors import ConfigError
from trainforge.plan import plan
from trainforge.training.checkpointing import checkpoint_activations

REVIEWS = Path(__file__).resolve().parents[2] / "examples" / "data" / "reviews"


def _config(**train: object) -> dict[str, object]:
    return {
        "task": "text_classification",
        "data": {"train": str(REVIEWS / "train.csv")},
        "model": {"backbone": "minilm", "finetune": "full"},
        "train": {"max_length": 128, "batch_size": 8, **train},
    }


def test_checkpointed_gradients_are_the_plain_ones(tmp_path: Path) -> None:
    from transformers import AutoModelForCausalLM

    folder = tiny_lm(tmp_path / "lm")
    ids = torch.randint(0, 1000, (2, 24))
    grads = []
    for checkpointed in (False, True):
        lm = AutoModelForCausalLM.from_pretrained(folder)
        lm.train()
        if checkpointed:
            assert checkpoint_activations(lm)
        lm(input_ids=ids, labels=ids).loss.backward()
        grads.append(torch.cat([p.grad.flatten() for p in lm.parameters()]))
    torch.testing.assert_close(grads[0], grads[1])


def test_plan_shows_less_activation_memory_with_checkpointing() -> None:
    plain = plan(_config())
    checkpointed = plan(_config(gradient_checkpointing=True))
    assert checkpointed.activation_bytes_per_row < plain.activation_bytes_per_row / 2
    assert any("checkpointing" in note for note in checkpointed.notes)


def test_a_task_without_a_transformer_refuses_it() -> None:
    config = {
        "task": "tabular_classification",
        "data": {"train": "sklearn:iris", "label_column": "target"},
        "train": {"gradient_checkpointing": True},
    }
    with pytest.raises(ConfigError, match="gradient_checkpointing"):
        load_config(config)

"""The text_generation config: its defaults, the ways to fit that come later, and its keys
refused on other tasks."""

from __future__ import annotations

from typing import Any

import pytest

from trainforge.config import load_config
from trainforge.errors import ConfigError


def _config(**sections: Any) -> dict[str, Any]:
    return {"task": "text_generation", "data": {"train": "chat.jsonl"}, **sections}


def test_defaults_are_lora_on_the_embedded_smollm2() -> None:
    cfg = load_config(_config())
    assert (cfg.model.backbone, cfg.model.finetune, cfg.model.objective) == (
        "smollm2",
        "lora",
        "sft",
    )
    assert (cfg.train.lr, cfg.train.max_length) == (2e-4, 512)
    assert cfg.train.early_stopping is not None and cfg.train.early_stopping.monitor == "val_loss"
    assert load_config(_config(model={"finetune": "full"})).train.lr == 2e-5
    assert cfg.generation.temperature == 0.0  # greedy


@pytest.mark.parametrize("objective", ["masked_lm"])
def test_later_objectives_say_not_yet(objective: str) -> None:
    with pytest.raises(ConfigError, match=rf"model.objective '{objective}' is not supported yet"):
        load_config(_config(model={"objective": objective}))


def test_dpo_settings_and_metrics_belong_to_dpo() -> None:
    cfg = load_config(_config(model={"objective": "dpo", "dpo": {"beta": 0.3}}))
    assert cfg.model.dpo.beta == 0.3
    with pytest.raises(ConfigError, match=r"model.dpo does not apply to model.objective 'sft'"):
        load_config(_config(model={"dpo": {"beta": 0.3}}))
    with pytest.raises(ConfigError, match=r"'val_perplexity' is not logged by model.objective"):
        load_config(
            _config(
                model={"objective": "dpo"},
                train={"early_stopping": {"monitor": "val_perplexity"}},
            )
        )


def test_an_unknown_objective_lists_the_values() -> None:
    with pytest.raises(ConfigError, match=r"model.objective.*'sft'"):
        load_config(_config(model={"objective": "rlhf"}))


@pytest.mark.parametrize("method", ["ia3", "frozen", "prompt_lm"])
def test_other_ways_to_fit_are_refused(method: str) -> None:
    with pytest.raises(ConfigError, match=r"not supported for text_generation yet|single-label"):
        load_config(_config(model={"finetune": method}))


def test_class_settings_are_refused() -> None:
    with pytest.raises(ConfigError, match=r"train.label_smoothing does not apply"):
        load_config(_config(train={"label_smoothing": 0.1}))


def test_generation_keys_are_refused_on_other_tasks() -> None:
    text = {"task": "text_classification", "data": {"train": "a.csv"}}
    with pytest.raises(ConfigError, match=r"data.prompt_column does not apply to task"):
        load_config({**text, "data": {"train": "a.csv", "prompt_column": "q"}})
    with pytest.raises(ConfigError, match=r"the generation section is for task 'text_generation'"):
        load_config({**text, "generation": {"max_new_tokens": 5}})
    with pytest.raises(ConfigError, match=r"model.objective is for task 'text_generation'"):
        load_config({**text, "model": {"objective": "dpo"}})
    token = {"task": "token_classification", "data": {"train": "a.conll", "format": "chat"}}
    with pytest.raises(ConfigError, match=r"describes conversations"):
        load_config(token)


def test_decoding_settings_are_checked() -> None:
    with pytest.raises(ConfigError, match=r"top_p"):
        load_config(_config(generation={"top_p": 0}))

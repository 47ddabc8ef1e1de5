"""A LoRA package with `model.peft.adapter_only: true` holds the adapter alone (the base model
comes from `model.backbone` when it loads) and answers as the merged model answered."""

from __future__ import annotations

from pathlib import Path

from generation_support import hours_chats, tiny_lm, write_jsonl

import trainforge


def test_an_adapter_only_package_is_small_and_answers_as_the_trained_model(
    tmp_path: Path,
) -> None:
    backbone = tiny_lm(tmp_path / "lm")
    config = {
        "task": "text_generation",
        "data": {"train": write_jsonl(tmp_path / "train.jsonl", hours_chats(12))},
        "model": {"backbone": backbone, "finetune": "lora", "peft": {"adapter_only": True}},
        "train": {"epochs": 1, "batch_size": 4, "max_length": 96, "lr": 1e-2},
        "generation": {"max_new_tokens": 6},
    }
    run = trainforge.train(config, output=tmp_path / "run", progress=False)
    package = run.package_dir
    assert (package / "adapter" / "adapter_config.json").is_file()
    assert not (package / "hf").exists()
    base = sum(f.stat().st_size for f in Path(backbone).glob("*.safetensors"))
    adapter = sum(f.stat().st_size for f in (package / "adapter").glob("*.safetensors"))
    assert 0 < adapter < base / 4
    questions = ["When do you open?", "Hi"]
    loaded = trainforge.load(run.model_dir)
    assert loaded.generate(questions) == run.model.generate(questions)

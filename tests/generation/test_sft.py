"""Supervised fine-tuning end to end on SmolLM2-135M-Instruct with LoRA: the loss falls, the
model answers a trained question with the trained answer, and the package generates the same
text in plain transformers as in `trainforge predict`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cli_support import run_cli
from generation_support import HOURS, hours_chats, write_jsonl

import trainforge

LINEAR = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Any:
    folder = tmp_path_factory.mktemp("sft")
    config = {
        "task": "text_generation",
        "data": {
            "train": write_jsonl(folder / "train.jsonl", hours_chats(24)),
            "validation": write_jsonl(folder / "validation.jsonl", hours_chats(3, offset=24)),
            "test": write_jsonl(folder / "test.jsonl", hours_chats(3, offset=27)),
        },
        "model": {
            "backbone": "smollm2",
            "finetune": "lora",
            "peft": {"r": 8, "alpha": 32, "target_modules": LINEAR},
        },
        "train": {
            "epochs": 2,
            "batch_size": 6,
            "lr": 3e-3,
            "max_length": 64,
            "precision": "32",
            "scheduler": "none",
            "early_stopping": None,
        },
        "generation": {"max_new_tokens": 20},
    }
    return trainforge.train(config, output=folder / "run", progress=False)


@pytest.mark.slow
def test_the_loss_falls_and_a_trained_answer_is_reproduced(run: Any) -> None:
    history = json.loads((run.run_dir / "history.json").read_text(encoding="utf-8"))
    assert history[-1]["train_loss"] < history[0]["train_loss"], history
    assert {"val_loss", "val_perplexity"} <= set(history[-1])
    assert run.model.generate("When do you open?").strip() == HOURS
    test = run.metrics["test"]
    assert test["exact_match"] == 1.0 and test["rouge_l"] == 1.0, test
    assert test["perplexity"] < run.metrics["validation"]["perplexity"] * 2
    report = (run.run_dir / "report.html").read_text(encoding="utf-8")
    assert "Sample generations (test)" in report and HOURS in report
    assert "starting model" in report


@pytest.mark.slow
def test_the_package_generates_the_same_greedy_text_in_plain_transformers(
    run: Any, tmp_path: Path
) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    package = run.package_dir / "hf"
    tokenizer = AutoTokenizer.from_pretrained(package)
    lm = AutoModelForCausalLM.from_pretrained(package)
    questions = ["When do you open?", "What is the capital of France?"]
    plain = []
    for question in questions:
        ids = tokenizer.apply_chat_template(
            [{"role": "user", "content": question}], add_generation_prompt=True, return_tensors="pt"
        )
        ids = ids["input_ids"] if hasattr(ids, "keys") else ids
        with torch.inference_mode():
            out = lm.generate(ids, max_new_tokens=20, do_sample=False)
        plain.append(tokenizer.decode(out[0, ids.shape[1] :], skip_special_tokens=True))
    prompts = tmp_path / "questions.txt"
    prompts.write_text("\n".join(questions) + "\n", encoding="utf-8")
    result = run_cli(
        tmp_path, ["predict", str(run.model_dir), str(prompts), "--max-new-tokens", "20"]
    )
    assert result.returncode == 0, result.stderr
    predicted = [json.loads(line)["text"] for line in result.stdout.splitlines()]
    assert predicted == plain
    assert trainforge.load(run.model_dir).generate(questions, max_new_tokens=20) == plain
    assert plain[0].strip() == HOURS

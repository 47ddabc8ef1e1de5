"""Direct preference optimisation: the loss is TRL's sigmoid loss, the pair scorer sums the
answer's token log-probabilities as plain transformers computes them, bad preference rows stop
with file and line, and a short run on SmolLM2 moves the model towards the chosen answers."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
import torch
from cli_support import check_user_error, run_cli
from generation_support import HOURS, QUESTIONS, tiny_lm, write_jsonl

import trainforge
from trainforge.tasks.generation.dpo import dpo_loss, reward_statistics

WRONG = ["We never open.", "Ask someone else.", "No idea, sorry.", "Whenever we like."]


def hours_pairs(n: int, offset: int = 0) -> list[dict[str, Any]]:
    """Preference rows: the opening-hours question, the right answer chosen, a wrong one not."""
    return [
        {
            "prompt": QUESTIONS[i % len(QUESTIONS)],
            "chosen": HOURS,
            "rejected": WRONG[i % len(WRONG)],
        }
        for i in range(offset, offset + n)
    ]


def test_the_loss_is_the_sigmoid_dpo_loss_with_label_smoothing() -> None:
    policy = torch.tensor([[-10.0, -12.0], [-8.0, -7.0]])
    reference = torch.tensor([[-11.0, -11.0], [-8.0, -8.0]])
    beta = 0.5
    # pair 1: (−10 + 12) − (−11 + 11) = 2; pair 2: (−8 + 7) − 0 = −1
    margins = [2.0, -1.0]

    def log_sigmoid(x: float) -> float:
        return -math.log1p(math.exp(-x))

    plain = sum(-log_sigmoid(beta * m) for m in margins) / 2
    assert float(dpo_loss(policy, reference, beta)) == pytest.approx(plain, rel=1e-6)
    eps = 0.2
    smoothed = (
        sum(-(1 - eps) * log_sigmoid(beta * m) - eps * log_sigmoid(-beta * m) for m in margins) / 2
    )
    assert float(dpo_loss(policy, reference, beta, eps)) == pytest.approx(smoothed, rel=1e-6)
    stats = reward_statistics(policy, reference, beta)
    assert stats["chosen_reward"].tolist() == pytest.approx([0.5, 0.0])
    assert stats["rejected_reward"].tolist() == pytest.approx([-0.5, 0.5])
    assert stats["reward_accuracy"].tolist() == [1.0, 0.0]
    assert stats["reward_margin"].tolist() == pytest.approx([1.0, -0.5])


def test_pair_scores_are_the_answers_log_probabilities_in_plain_transformers(
    tmp_path: Path,
) -> None:
    from transformers import AutoModelForCausalLM

    from trainforge.data.chat_tokens import encode, end_ids
    from trainforge.models.causal_lm import load_causal_lm
    from trainforge.tasks.generation.dpo import PairScorer, score_pairs

    folder = tiny_lm(tmp_path / "lm")
    tokenizer, net = load_causal_lm(folder)
    ends = end_ids(tokenizer, net.encoder.generation_config)
    prompt = [{"role": "user", "content": "When do you open?"}]
    answers = [HOURS, "Never, and that is a rather long answer to give."]
    sides = [
        encode(
            tokenizer,
            [*prompt, {"role": "assistant", "content": a}],
            "row",
            ends=ends,
            answers_from=1,
        )
        for a in answers
    ]
    scores = score_pairs(PairScorer(net), [tuple(sides)], batch_size=1, pad=0)  # type: ignore[list-item]
    plain = AutoModelForCausalLM.from_pretrained(folder).eval()
    expected = []
    for ids, labels in sides:
        with torch.inference_mode():
            logits = plain(torch.tensor([ids])).logits[0, :-1].log_softmax(-1)
        total = 0.0
        for position, label in enumerate(labels[1:]):
            if label != -100:
                total += float(logits[position, label])
        expected.append(total)
        # the prompt's tokens carry no label: only the answer (and its end token) is scored
        assert labels[0] == -100 and any(label != -100 for label in labels)
    assert scores[0].tolist() == pytest.approx(expected, abs=1e-3)


def _config(folder: Path, train: str, **model: Any) -> Path:
    config = {
        "task": "text_generation",
        "data": {"train": train},
        "model": {"backbone": tiny_lm(folder / "lm"), "objective": "dpo", **model},
        "train": {"epochs": 1, "batch_size": 2, "max_length": 64},
    }
    path = folder / "config.json"
    path.write_text(json.dumps(config), encoding="utf-8")
    return path


def test_a_pair_with_identical_answers_exits_2_naming_the_line(tmp_path: Path) -> None:
    rows = hours_pairs(4)
    rows[2]["rejected"] = HOURS + "  "
    config = _config(tmp_path, write_jsonl(tmp_path / "pairs.jsonl", rows))
    result = run_cli(tmp_path, ["train", str(config), "--output", "run"])
    check_user_error(result, "pairs.jsonl line 3", "identical", "rejected answer that differs")
    assert not (tmp_path / "run").exists()


def test_a_missing_rejected_column_and_a_prompt_ending_with_the_answer_exit_2(
    tmp_path: Path,
) -> None:
    rows = [{"prompt": q["prompt"], "chosen": q["chosen"]} for q in hours_pairs(3)]
    config = _config(tmp_path, write_jsonl(tmp_path / "pairs.jsonl", rows))
    result = run_cli(tmp_path, ["train", str(config), "--output", "run"])
    check_user_error(result, "a 'rejected' column", "data.rejected_column")
    rows = hours_pairs(3)
    rows[1]["prompt"] = [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello!"},
    ]
    write_jsonl(tmp_path / "pairs.jsonl", rows)
    result = run_cli(tmp_path, ["train", str(config), "--output", "run"])
    check_user_error(result, "pairs.jsonl line 2", "must end with the user's turn")
    assert not (tmp_path / "run").exists()


def test_sft_only_keys_are_refused_under_dpo(tmp_path: Path) -> None:
    config = _config(tmp_path, write_jsonl(tmp_path / "pairs.jsonl", hours_pairs(3)))
    loaded = json.loads(config.read_text("utf-8"))
    loaded["data"]["train_on_inputs"] = True
    config.write_text(json.dumps(loaded), encoding="utf-8")
    result = run_cli(tmp_path, ["train", str(config), "--output", "run"])
    check_user_error(result, "data.train_on_inputs does not apply to model.objective 'dpo'")


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Any:
    folder = tmp_path_factory.mktemp("dpo")
    config = {
        "task": "text_generation",
        "data": {
            "train": write_jsonl(folder / "train.jsonl", hours_pairs(16)),
            "validation": write_jsonl(folder / "validation.jsonl", hours_pairs(4, offset=16)),
            "test": write_jsonl(folder / "test.jsonl", hours_pairs(4, offset=20)),
        },
        "model": {
            "backbone": "smollm2",
            "objective": "dpo",
            "finetune": "lora",
            "peft": {"r": 8, "alpha": 16},
            "dpo": {"beta": 0.1},
        },
        "train": {
            "epochs": 2,
            "batch_size": 4,
            "lr": 5e-4,
            "max_length": 64,
            "precision": "32",
            "scheduler": "none",
            "early_stopping": None,
        },
        "generation": {"max_new_tokens": 16},
    }
    return trainforge.train(config, output=folder / "run", progress=False)


@pytest.mark.slow
def test_dpo_prefers_the_chosen_answers_on_unseen_prompts(run: Any) -> None:
    history = json.loads((run.run_dir / "history.json").read_text(encoding="utf-8"))
    first, last = history[0], history[-1]
    assert {"val_reward_accuracy", "val_reward_margin", "val_chosen_reward"} <= set(last)
    assert last["val_loss"] < math.log(2), history  # below the loss at the start (log 2)
    test = run.metrics["test"]
    assert test["reward_accuracy"] == 1.0, test
    assert test["reward_margin"] > 0 and test["chosen_reward"] > test["rejected_reward"], test
    assert first["val_reward_margin"] <= last["val_reward_margin"] + 1e-6, history
    report = (run.run_dir / "report.html").read_text(encoding="utf-8")
    assert "Sample generations (test)" in report and "rejected" in report
    # The package is an ordinary generation package: it loads and answers.
    answer = trainforge.load(run.model_dir).generate("When do you open?", max_new_tokens=16)
    assert isinstance(answer, str) and answer.strip()

"""`trainforge preview` shows what training will read: the rendered conversation with exactly
the assistant's answer and its end-of-turn token marked as carrying loss, the counts cut to
train.max_length, and the padding of the batches; other tasks are refused clearly."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cli_support import check_user_error, run_cli
from generation_support import HOURS, hours_chats, write_jsonl

import trainforge
from trainforge.tasks.preview import CLOSE, OPEN


def _config(folder: Path, **train: Any) -> dict[str, Any]:
    question = "Tell me about your opening hours, please. " * 20
    long = {
        "messages": [
            {"role": "user", "content": question},
            {"role": "assistant", "content": "9 to 6."},
        ]
    }
    rows = [*hours_chats(6), long]
    return {
        "task": "text_generation",
        "data": {
            "train": write_jsonl(folder / "train.jsonl", rows),
            "split": {"validation": 0.0, "test": 0.0},
        },
        "model": {"backbone": "smollm2"},
        "train": {"max_length": 96, "batch_size": 4, **train},
    }


def test_the_answer_and_its_end_of_turn_token_carry_loss_and_nothing_else(tmp_path: Path) -> None:
    result = trainforge.preview(_config(tmp_path), rows=2)
    first = result.examples[0]
    trained = [p.text for p in first.pieces if p.trained]
    assert trained == [HOURS + "<|im_end|>"]
    untrained = "".join(p.text for p in first.pieces if not p.trained)
    assert "When do you open?" in untrained and untrained.endswith("assistant\n\n")
    assert first.trained_tokens < first.tokens and first.status == "kept"
    # The long question fills max_length before its answer starts: nothing left to learn.
    assert result.counts["train"] == {"kept": 6, "truncated": 0, "dropped": 1}
    assert 0 <= result.stats["padding_share"] < 0.5
    assert result.stats["examples"] == 6
    text = result.text()
    assert f"{OPEN}{HOURS}<|im_end|>{CLOSE}" in text and "\x1b[" not in text
    assert "train: 6 / 0 / 1" in text and "padding" in text


def test_train_on_inputs_marks_every_token_but_the_first(tmp_path: Path) -> None:
    config = _config(tmp_path)
    config["data"]["train_on_inputs"] = True
    first = trainforge.preview(config, rows=1).examples[0]
    assert first.trained_tokens == first.tokens - 1
    assert [p.trained for p in first.pieces] == [False, True]


def test_the_command_prints_json_and_writes_a_page(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(_config(tmp_path, max_length=48)), encoding="utf-8")
    result = run_cli(
        tmp_path, ["preview", str(path), "--json", "--rows", "1", "--html", "preview.html"]
    )
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    assert len(shown["examples"]) == 1 and shown["counts"]["train"]["dropped"] >= 1
    page = (tmp_path / "preview.html").read_text(encoding="utf-8")
    assert f"<mark>{HOURS}&lt;|im_end|&gt;</mark>" in page


def test_a_task_without_a_preview_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"task": "tabular_classification", "data": {"train": "x.csv"}}))
    result = run_cli(tmp_path, ["preview", str(path)])
    check_user_error(result, "trainforge preview does not cover task 'tabular_classification'")

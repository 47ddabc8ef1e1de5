"""Bad generation input from the command line: exit 2, the place and the fix, nothing written;
and the counts of conversations cut to train.max_length."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_support import check_user_error, run_cli
from generation_support import hours_chats, tiny_lm, write_jsonl

import trainforge
from trainforge.errors import DataError


def _config_file(folder: Path, **overrides: object) -> Path:
    config = {
        "task": "text_generation",
        "data": {"train": str(folder / "train.jsonl")},
        "train": {"epochs": 1, "batch_size": 4, "max_length": 64},
        **overrides,
    }
    path = folder / "config.json"
    path.write_text(json.dumps(config), encoding="utf-8")
    return path


def test_an_unknown_role_exits_2_naming_file_and_line(tmp_path: Path) -> None:
    rows = hours_chats(3)
    rows[1]["messages"][-1]["role"] = "bot"
    write_jsonl(tmp_path / "train.jsonl", rows)
    result = run_cli(tmp_path, ["train", str(_config_file(tmp_path)), "--output", "run"])
    check_user_error(result, "train.jsonl line 2: turn 2 has the unknown role 'bot'", "Use one of")
    assert not (tmp_path / "run").exists()


def test_chat_data_on_a_backbone_without_chat_template_names_the_fix(tmp_path: Path) -> None:
    backbone = tiny_lm(tmp_path / "base", chat_template=False)
    write_jsonl(tmp_path / "train.jsonl", hours_chats(6))
    config = _config_file(tmp_path, model={"backbone": backbone})
    result = run_cli(tmp_path, ["train", str(config), "--output", "run"])
    check_user_error(result, "model.backbone: the backbone", "has no chat template", "'smollm2'")
    assert not (tmp_path / "run").exists()


def test_a_later_objective_exits_2(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "train.jsonl", hours_chats(3))
    config = _config_file(tmp_path, model={"objective": "masked_lm"})
    result = run_cli(tmp_path, ["train", str(config), "--output", "run"])
    check_user_error(result, "model.objective 'masked_lm' is not supported yet")
    assert not (tmp_path / "run").exists()


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> object:
    folder = tmp_path_factory.mktemp("tiny")
    rows = hours_chats(12)
    long = "Please tell me everything about your opening hours. " * 12
    rows += [{"prompt": long, "response": "9 to 6."}, {"prompt": long, "response": "Ask us."}]
    train = write_jsonl(folder / "train.jsonl", [_as_prompt(r) for r in rows])
    config = {
        "task": "text_generation",
        "data": {"train": train, "too_long": "drop", "split": {"validation": 0.0, "test": 0.2}},
        "model": {"backbone": tiny_lm(folder / "lm"), "finetune": "full"},
        "train": {"epochs": 1, "batch_size": 4, "max_length": 96},
        "generation": {"max_new_tokens": 4},
    }
    return trainforge.train(config, output=folder / "run", progress=False)


def _as_prompt(row: dict) -> dict:
    if "prompt" in row:
        return row
    turns = row["messages"]
    return {"prompt": turns[-2]["content"], "response": turns[-1]["content"]}


def test_conversations_over_max_length_are_dropped_and_counted(tiny_run: object) -> None:
    metrics = tiny_run.metrics  # type: ignore[attr-defined]
    manifest = json.loads((tiny_run.package_dir / "trainforge.json").read_text("utf-8"))  # type: ignore[attr-defined]
    dropped = sum(split["dropped"] for split in manifest["examples"].values())
    assert metrics["dropped_examples"] == dropped == 2


def test_generate_and_chat_answer_and_check_their_input(tiny_run: object) -> None:
    model = trainforge.load(tiny_run.model_dir)  # type: ignore[attr-defined]
    one = model.generate("When do you open?", max_new_tokens=3)
    assert isinstance(one, str)
    assert model.generate(["When do you open?", "Hi"], max_new_tokens=3)[0] == one
    assert model.chat([{"role": "user", "content": "When do you open?"}], max_new_tokens=3) == one
    with pytest.raises(DataError, match=r"conversation 1: .*end with the user's turn"):
        model.chat([{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Yo"}])
    with pytest.raises(DataError, match=r"conversation 1: turn 1 has the unknown role 'human'"):
        model.chat([{"role": "human", "content": "Hi"}])


def test_predict_options_reach_the_decoding_and_are_refused_elsewhere(
    tiny_run: object, tmp_path: Path
) -> None:
    prompts = tmp_path / "q.txt"
    prompts.write_text("When do you open?\n", encoding="utf-8")
    model_dir = str(tiny_run.model_dir)  # type: ignore[attr-defined]
    result = run_cli(tmp_path, ["predict", model_dir, str(prompts), "--max-new-tokens", "2"])
    assert result.returncode == 0, result.stderr
    text = json.loads(result.stdout)["text"]
    assert text == trainforge.load(model_dir).generate("When do you open?", max_new_tokens=2)
    bad = run_cli(tmp_path, ["predict", model_dir, str(prompts), "--top-p", "0"])
    check_user_error(bad, "--top-p")

"""`GenerationModel.stream`: the answer piece by piece, exactly the non-streamed answer under
greedy decoding (stop strings included), sharing the model turn by turn, and cancellable."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from cli_support import check_user_error, run_cli
from generation_support import hours_chats, tiny_lm, write_jsonl

import trainforge
from trainforge.errors import DataError
from trainforge.models.turns import Turns

PROMPTS = ["When do you open?", "Where is my parcel?", "Tell me about your shop."]


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Any:
    folder = tmp_path_factory.mktemp("stream")
    config = {
        "task": "text_generation",
        "data": {"train": write_jsonl(folder / "train.jsonl", hours_chats(12))},
        "model": {"backbone": tiny_lm(folder / "lm"), "finetune": "lora"},
        "train": {"epochs": 3, "batch_size": 4, "max_length": 96, "lr": 2e-2},
        "generation": {"max_new_tokens": 30},
    }
    return trainforge.train(config, output=Path(folder) / "run", progress=False)


@pytest.fixture(scope="module")
def model(run: Any) -> Any:
    return run.model


@pytest.mark.parametrize("prompt", PROMPTS)
def test_the_pieces_joined_are_the_whole_answer(model: Any, prompt: str) -> None:
    stream = model.stream(prompt)
    pieces = list(stream)
    whole = model.complete([[{"role": "user", "content": prompt}]])[0]
    assert "".join(pieces) == whole.text == stream.text
    assert stream.finish_reason == whole.finish_reason
    assert stream.completion_tokens == whole.completion_tokens
    assert stream.prompt_tokens == whole.prompt_tokens


def test_a_stop_string_ends_the_stream_where_it_ends_the_answer(model: Any) -> None:
    free = model.generate(PROMPTS[2], max_new_tokens=30)
    stop = free.strip()[-3:]  # text the answer certainly reaches
    cut = model.generate(PROMPTS[2], max_new_tokens=30, stop=[stop])
    streamed = "".join(model.stream(PROMPTS[2], max_new_tokens=30, stop=[stop]))
    assert streamed == cut and stop not in cut and len(cut) < len(free)


def test_streams_sharing_one_model_take_turns_and_answer_as_alone(model: Any) -> None:
    alone = [model.generate(p) for p in PROMPTS]
    turns = Turns()
    streams = [model.stream(p) for p in PROMPTS]
    got: dict[int, str] = {}

    def read(i: int) -> None:
        streams[i].start(turns)
        got[i] = "".join(streams[i])

    threads = [threading.Thread(target=read, args=(i,)) for i in range(len(PROMPTS))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert [got[i] for i in range(len(PROMPTS))] == alone


def test_leaving_a_stream_early_cancels_its_generation(model: Any) -> None:
    stream = model.stream(PROMPTS[2], max_new_tokens=400)
    for _ in stream:
        break  # the reader goes away after the first piece
    stream._thread.join(30)  # the generation thread ends soon after, not 400 tokens later
    assert stream.finish_reason == "cancelled"
    assert stream.completion_tokens < 400


def test_a_prompt_over_the_context_is_refused_before_generating(model: Any) -> None:
    with pytest.raises(DataError, match="context"):
        model.stream("pay " * 600)
    with pytest.raises(DataError, match="user's turn"):
        model.stream([{"role": "user", "content": "hi"}, {"role": "assistant", "content": "a"}])


def test_predict_with_prompts_writes_each_answer_as_it_is_generated(
    run: Any, tmp_path: Path
) -> None:
    package = str(run.package_dir)
    result = run_cli(tmp_path, ["predict", package, "-p", PROMPTS[0], "-p", PROMPTS[1]])
    assert result.returncode == 0, result.stderr
    answers = run.model.generate(PROMPTS[:2])
    assert result.stdout == f"{answers[0]}\n\n{answers[1]}\n"
    check_user_error(run_cli(tmp_path, ["predict", package]), "DATA", "--prompt")

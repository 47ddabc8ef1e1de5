"""Reading conversations: every layout into one shape, and each bad row named by file and line."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from trainforge.config import DataConfig
from trainforge.data.conversations import read_conversations
from trainforge.errors import DataError


def _jsonl(path: Path, rows: list[dict]) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return str(path)


def _data(path: str, **settings: object) -> DataConfig:
    return DataConfig(train=path, **settings)


def test_prompt_response_rows_in_csv_jsonl_and_parquet_read_alike(tmp_path: Path) -> None:
    rows = [
        {"prompt": "Capital of France?", "response": "3.10"},
        {"prompt": "Hi", "response": "Hello"},
    ]
    csv = tmp_path / "rows.csv"
    pd.DataFrame(rows).to_csv(csv, index=False)
    parquet = tmp_path / "rows.parquet"
    pd.DataFrame(rows).to_parquet(parquet)
    expected = [
        [{"role": "user", "content": r["prompt"]}, {"role": "assistant", "content": r["response"]}]
        for r in rows
    ]
    for spec in (str(csv), _jsonl(tmp_path / "rows.jsonl", rows), str(parquet)):
        read = read_conversations(spec, _data(spec))
        assert read.layout == "prompt_response"
        assert read.messages == expected  # "3.10" stays text, even in CSV


def test_column_names_are_configurable(tmp_path: Path) -> None:
    spec = _jsonl(tmp_path / "qa.jsonl", [{"question": "Why?", "answer": "Because."}])
    read = read_conversations(spec, _data(spec, prompt_column="question", response_column="answer"))
    assert read.messages[0][1] == {"role": "assistant", "content": "Because."}


def test_alpaca_rows_put_instruction_and_input_in_the_user_turn(tmp_path: Path) -> None:
    rows = [
        {"instruction": "Translate to French.", "input": "cat", "output": "chat"},
        {"instruction": "Say hi.", "input": "", "output": "Hi!"},
    ]
    spec = _jsonl(tmp_path / "alpaca.jsonl", rows)
    read = read_conversations(spec, _data(spec))
    assert read.layout == "alpaca"
    assert read.messages[0][0]["content"] == "Translate to French.\n\ncat"
    assert read.messages[1] == [
        {"role": "user", "content": "Say hi."},
        {"role": "assistant", "content": "Hi!"},
    ]


def test_chat_transcripts_keep_system_and_every_turn(tmp_path: Path) -> None:
    turns = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello."},
        {"role": "user", "content": "Bye"},
        {"role": "assistant", "content": "Ciao."},
    ]
    spec = _jsonl(tmp_path / "chat.jsonl", [{"messages": turns}])
    read = read_conversations(spec, _data(spec))
    assert (read.layout, read.messages) == ("chat", [turns])
    # The same transcript as JSON text in a CSV cell.
    csv = tmp_path / "chat.csv"
    pd.DataFrame({"messages": [json.dumps(turns)]}).to_csv(csv, index=False)
    assert read_conversations(str(csv), _data(str(csv))).messages == [turns]


def test_columns_that_show_no_layout_are_refused_with_the_fix(tmp_path: Path) -> None:
    spec = _jsonl(tmp_path / "odd.jsonl", [{"text": "a", "label": "b"}])
    with pytest.raises(DataError, match=r"odd\.jsonl: cannot tell the layout.*prompt_column"):
        read_conversations(spec, _data(spec))
    with pytest.raises(DataError, match=r"data.format is 'chat' but column 'messages' is missing"):
        read_conversations(spec, _data(spec, format="chat"))


GOOD = {"role": "user", "content": "Hi"}
ANSWER = {"role": "assistant", "content": "Hello"}


@pytest.mark.parametrize(
    ("turns", "message"),
    [
        ([{"role": "bot", "content": "x"}], r"turn 1 has the unknown role 'bot'.*Use one of"),
        (
            [{"role": "usr", "content": "x"}],
            r"turn 1 has the unknown role 'usr'\. Did you mean 'user'\?",
        ),
        ([GOOD, {"role": "assistant", "content": "  "}], r"turn 2 \(assistant\) is empty"),
        ([GOOD], r"the conversation has no assistant turn"),
        ([ANSWER, GOOD, ANSWER], r"turn 1 \(assistant\) comes where the user's turn was due"),
        ([GOOD, GOOD, ANSWER], r"turn 2 \(user\) comes where the assistant's turn was due"),
        ([GOOD, ANSWER, {"role": "system", "content": "x"}], r"turn 3 is a system turn"),
        (
            [GOOD, ANSWER, GOOD],
            r"the conversation ends with a user turn that no assistant turn answers",
        ),
        ([{"role": "user"}], r"turn 1 is .* not an object with 'role' and 'content'"),
        ([], r"column .messages. must be a non-empty list of turns"),
    ],
)
def test_bad_turns_are_named_by_file_line_and_turn(
    tmp_path: Path, turns: list[dict], message: str
) -> None:
    good = {"messages": [GOOD, ANSWER]}
    spec = _jsonl(tmp_path / "chat.jsonl", [good, good, {"messages": turns}])
    with pytest.raises(DataError, match=r"chat\.jsonl line 3: " + message):
        read_conversations(spec, _data(spec))


def test_an_empty_response_in_a_csv_is_named_by_its_line(tmp_path: Path) -> None:
    csv = tmp_path / "rows.csv"
    csv.write_text("prompt,response\nHi,Hello\nWhy?,\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"rows\.csv line 3: turn 2 \(assistant\) is empty"):
        read_conversations(str(csv), _data(str(csv)))


def test_a_chat_cell_that_is_not_json_is_named(tmp_path: Path) -> None:
    csv = tmp_path / "chat.csv"
    pd.DataFrame({"messages": ["[{'role': 'user'}]"]}).to_csv(csv, index=False)
    with pytest.raises(DataError, match=r"chat\.csv line 2: column 'messages' is not valid JSON"):
        read_conversations(str(csv), _data(str(csv)))

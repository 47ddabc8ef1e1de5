"""Continued pre-training (`model.objective: causal_lm`): documents are read with their
places, joined and cut into full blocks, the perplexity of held-out text falls, and the
package starts a later fine-tuning run as its `model.backbone`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cli_support import check_user_error, run_cli
from generation_support import HOURS, hours_chats, tiny_lm, write_jsonl

import trainforge
from trainforge.config import DataConfig
from trainforge.data.corpus import read_corpus
from trainforge.errors import ConfigError, DataError

SENTENCES = [
    "Brightside sells lamps, sofas and oak tables.",
    HOURS,
    "Delivery takes three to five working days.",
    "Returns are free within thirty days of delivery.",
    "The Halden table is made of solid European oak.",
]


def _corpus(path: Path, lines: int, offset: int = 0) -> str:
    rows = [SENTENCES[(offset + i) % len(SENTENCES)] for i in range(lines)]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return str(path)


def test_a_text_file_is_one_document_per_line_blank_lines_skipped(tmp_path: Path) -> None:
    path = tmp_path / "corpus.txt"
    path.write_text("first line\n\n  second line  \n", encoding="utf-8")
    corpus = read_corpus(str(path), DataConfig(train=str(path)))
    assert corpus.texts == ["first line", "second line"]
    assert corpus.places == [f"{path} line 1", f"{path} line 3"]
    empty = tmp_path / "empty.txt"
    empty.write_text("\n  \n", encoding="utf-8")
    with pytest.raises(DataError, match="holds no text"):
        read_corpus(str(empty), DataConfig(train=str(empty)))
    table = tmp_path / "docs.csv"
    table.write_text("body\nhello\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"no 'text' column .*data.text_column"):
        read_corpus(str(table), DataConfig(train=str(table)))
    assert read_corpus(str(table), DataConfig(train=str(table), text_column="body")).texts == [
        "hello"
    ]


def test_blocks_join_the_documents_and_fill_max_length(tmp_path: Path) -> None:
    from transformers import AutoTokenizer

    from trainforge.tasks.generation.pretrain import text_blocks

    folder = tiny_lm(tmp_path / "lm")
    tokenizer = AutoTokenizer.from_pretrained(folder)
    path = _corpus(tmp_path / "c.txt", 10)
    corpus = read_corpus(path, DataConfig(train=path))
    eos = tokenizer.eos_token_id
    blocks = text_blocks(tokenizer, corpus, 16, eos)
    stream = [t for ids, _ in blocks for t in ids]
    expected: list[int] = []
    for text in corpus.texts:
        expected += tokenizer(text, add_special_tokens=False)["input_ids"] + [eos]
    assert stream == expected[: len(stream)] and len(expected) - len(stream) <= 1
    assert all(len(ids) == 16 for ids, _ in blocks[:-1])
    assert all(ids == labels for ids, labels in blocks)


def test_conversation_keys_are_refused_under_causal_lm(tmp_path: Path) -> None:
    config = {
        "task": "text_generation",
        "data": {"train": _corpus(tmp_path / "c.txt", 4), "train_on_inputs": True},
        "model": {"backbone": tiny_lm(tmp_path / "lm"), "objective": "causal_lm"},
    }
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config), encoding="utf-8")
    result = run_cli(tmp_path, ["train", str(path), "--output", "run"])
    check_user_error(result, "data.train_on_inputs does not apply to model.objective 'causal_lm'")
    assert not (tmp_path / "run").exists()


@pytest.fixture(scope="module")
def adapted(tmp_path_factory: pytest.TempPathFactory) -> Any:
    folder = tmp_path_factory.mktemp("pretrain")
    config = {
        "task": "text_generation",
        "data": {
            "train": _corpus(folder / "train.txt", 60),
            "validation": _corpus(folder / "validation.txt", 10, offset=2),
            "test": _corpus(folder / "test.txt", 10, offset=3),
        },
        "model": {"backbone": tiny_lm(folder / "lm"), "objective": "causal_lm", "finetune": "full"},
        "train": {
            "epochs": 3,
            "batch_size": 4,
            "lr": 3e-3,
            "max_length": 32,
            "precision": "32",
            "early_stopping": None,
        },
    }
    return trainforge.train(config, output=folder / "run", progress=False)


def test_held_out_perplexity_falls_and_every_token_is_scored(adapted: Any) -> None:
    history = json.loads((adapted.run_dir / "history.json").read_text(encoding="utf-8"))
    assert history[-1]["val_loss"] < history[0]["val_loss"], history
    assert history[-1]["val_perplexity"] < history[0]["val_perplexity"]
    test = adapted.metrics["test"]
    assert {"loss", "perplexity"} <= set(test) and "exact_match" not in test
    manifest = json.loads((adapted.package_dir / "trainforge.json").read_text("utf-8"))
    examples = manifest["examples"]["train"]
    assert examples["documents"] == 60
    assert examples["tokens"] == adapted.metrics["train_tokens"]


def test_the_package_is_the_backbone_of_a_later_fine_tuning_run(
    adapted: Any, tmp_path: Path
) -> None:
    from trainforge.models.package_backbone import package_weights

    assert package_weights(str(adapted.model_dir)) == adapted.package_dir / "hf"
    config = {
        "task": "text_generation",
        "data": {"train": write_jsonl(tmp_path / "chats.jsonl", hours_chats(8))},
        "model": {"backbone": str(adapted.model_dir), "finetune": "full"},
        "train": {"epochs": 1, "batch_size": 4, "max_length": 64, "precision": "32"},
        "generation": {"max_new_tokens": 4},
    }
    run = trainforge.train(config, output=tmp_path / "sft", progress=False)
    assert isinstance(run.model.generate("When do you open?"), str)
    # An adapter-only package holds no whole model to start from.
    (tmp_path / "adapter" / "trainforge.json").parent.mkdir()
    (tmp_path / "adapter" / "trainforge.json").write_text("{}", encoding="utf-8")
    with pytest.raises(ConfigError, match="holds no whole transformers model"):
        package_weights(str(tmp_path / "adapter"))

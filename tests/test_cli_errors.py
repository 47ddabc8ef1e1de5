"""Bad input through the real command line, as users start it.

Every case must exit with code 2 and print one message on stderr that starts with "Error:", names
the place (file and line, config field, column) and the fix, shows no traceback (unless
`--debug`), and leaves no run folder behind.

The commands are independent, so they run concurrently: each pays the CLI's start-up once.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from cli_support import Result, check_user_error, run_cli

CONFIG = """\
task: tabular_classification
data:
  train: train.csv
  label_column: label
model:
  type: logistic_regression
"""

# name -> the arguments after `trainforge`. Train cases write to runs/NAME, which must not appear.
CASES: dict[str, list[str]] = {
    "missing_data_file": ["train", "exp.yaml", "--set", "data.train=trian.csv"],
    "misspelt_label_column": ["train", "exp.yaml", "--set", "data.label_column=lable"],
    "empty_csv": ["train", "exp.yaml", "--set", "data.train=empty.csv"],
    "non_utf8_csv": ["train", "exp.yaml", "--set", "data.train=latin.csv"],
    "one_class": ["train", "exp.yaml", "--set", "data.train=one_class.csv"],
    "inf_feature": ["train", "exp.yaml", "--set", "data.train=inf.csv"],
    "wrong_type": ["train", "bad_type.yaml"],
    "bad_value": ["train", "bad_value.yaml"],
    "unknown_key": ["train", "unknown_key.yaml"],
    "set_without_equals": ["train", "exp.yaml", "--set", "train.epochs"],
    "debug": ["--debug", "train", "bad_type.yaml"],
    "predict_not_a_package": ["predict", "not_a_model", "new.csv"],
}
# These need the trained model of runs/good first.
AFTER_TRAINING: dict[str, list[str]] = {
    "predict_unseen_category": ["predict", "runs/good/model", "new.csv"],
    "evaluate_run_folder": ["evaluate", "runs/good", "train.csv"],
}


def _rows(n: int = 60) -> list[list[str]]:
    colors = ("red", "green", "blue")
    return [
        [
            f"{(i * 37 % 17) / 4:.2f}",
            f"{(i * 11 % 13) / 3:.2f}",
            colors[i % 3],
            "yes" if i % 2 else "no",
        ]
        for i in range(n)
    ]


def _write_csv(path: Path, rows: list[list[str]], encoding: str = "utf-8") -> None:
    lines = ["x1,x2,color,label", *(",".join(row) for row in rows)]
    path.write_bytes(("\n".join(lines) + "\n").encode(encoding))


def _workspace(root: Path) -> None:
    """The small data sets and configs the cases use; paths are relative to `root`."""
    _write_csv(root / "train.csv", _rows())
    (root / "exp.yaml").write_text(CONFIG, encoding="utf-8")
    (root / "empty.csv").write_text("", encoding="utf-8")
    _write_csv(root / "one_class.csv", [[*row[:3], "yes"] for row in _rows()])
    inf_rows = _rows()
    inf_rows[40][1] = "inf"  # data row 40 is file line 42 (the header is line 1)
    _write_csv(root / "inf.csv", inf_rows)
    latin_rows = _rows()
    latin_rows[10][2] = "grün"  # file line 12, written as latin-1
    _write_csv(root / "latin.csv", latin_rows, encoding="latin-1")
    (root / "new.csv").write_text("x1,x2,color\n0.5,1.0,red\n0.3,2.0,purple\n", encoding="utf-8")
    bad_type = CONFIG.replace("model:\n", "train:\n  epochs: many\nmodel:\n")
    (root / "bad_type.yaml").write_text(bad_type, encoding="utf-8")
    bad_value = CONFIG + "train:\n  optimizer: adamx\n"
    (root / "bad_value.yaml").write_text(bad_value, encoding="utf-8")
    unknown_key = CONFIG.replace("label_column:", "lable_column:")
    (root / "unknown_key.yaml").write_text(unknown_key, encoding="utf-8")
    (root / "not_a_model").mkdir()
    _write_csv(root / "not_a_model" / "train.csv", _rows(5))


def _run(root: Path, name: str, args: list[str]) -> Result:
    if args[0] == "train" or args[:2] == ["--debug", "train"]:
        args = [*args, "--output", f"runs/{name}"]
    return run_cli(root, args)


def _train_then(root: Path) -> dict[str, Result]:
    trained = _run(root, "good", ["train", "exp.yaml"])
    assert trained.returncode == 0, trained.stderr
    return {name: _run(root, name, args) for name, args in AFTER_TRAINING.items()}


@pytest.fixture(scope="module")
def cli(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Result]]:
    root = tmp_path_factory.mktemp("cli")
    _workspace(root)
    with ThreadPoolExecutor(max_workers=8) as pool:
        after_training = pool.submit(_train_then, root)  # the longest chain starts first
        futures = {name: pool.submit(_run, root, name, args) for name, args in CASES.items()}
        results = {name: future.result() for name, future in futures.items()}
        results.update(after_training.result())
    return root, results


def _check(cli: tuple[Path, dict[str, Result]], name: str, *fragments: str) -> str:
    """Assert the case failed as a user error, and return its stderr."""
    root, results = cli
    stderr = check_user_error(results[name], *fragments)
    assert not (root / "runs" / name).exists(), "a failed run left its folder behind"
    return stderr


def test_missing_data_file_suggests_the_similar_file(cli: tuple[Path, dict[str, Result]]) -> None:
    _check(
        cli,
        "missing_data_file",
        "Error: trian.csv: file not found. Check the path. Did you mean 'train.csv'?",
    )


def test_misspelt_label_column_suggests_the_closest(cli: tuple[Path, dict[str, Result]]) -> None:
    _check(
        cli,
        "misspelt_label_column",
        "Error: train.csv: column 'lable' (from data.label_column) not found. The file has "
        "columns 'x1', 'x2', 'color', 'label'. Did you mean 'label'? "
        "Fix data.label_column in the config.",
    )


def test_empty_csv(cli: tuple[Path, dict[str, Result]]) -> None:
    _check(cli, "empty_csv", "Error: empty.csv: is empty. Point the config at a file")


def test_non_utf8_csv_names_the_line_and_the_encoding_setting(
    cli: tuple[Path, dict[str, Result]],
) -> None:
    _check(
        cli,
        "non_utf8_csv",
        "Error: latin.csv line 12 (byte ",
        "is not valid utf-8 text",
        "set data.encoding to the file's encoding (e.g. --set data.encoding=latin-1)",
    )


def test_label_with_one_class(cli: tuple[Path, dict[str, Result]]) -> None:
    _check(
        cli,
        "one_class",
        "Error: one_class.csv: the label column 'label' holds one class only ('yes'); a "
        "classifier needs at least two. Check data.label_column, or add rows of the other classes.",
    )


def test_inf_in_a_feature_names_the_file_line(cli: tuple[Path, dict[str, Result]]) -> None:
    _check(
        cli,
        "inf_feature",
        "Error: inf.csv line 42: column 'x2' holds an infinite value (inf). "
        "Replace inf/-inf with a finite number",
    )


def test_unseen_category_at_predict_time(cli: tuple[Path, dict[str, Result]]) -> None:
    _check(
        cli,
        "predict_unseen_category",
        "Error: new.csv line 3: column 'color' holds 'purple', a category not seen in training "
        "(known: 'blue', 'green', 'red').",
        "set data.unknown_category: ignore",
    )


def test_wrong_config_type_names_file_line_field_and_value(
    cli: tuple[Path, dict[str, Result]],
) -> None:
    stderr = _check(
        cli,
        "wrong_type",
        "Error: Invalid config:",
        "bad_type.yaml line 6, field 'train.epochs': Input should be a valid integer",
        "Got 'many'.",
    )
    assert stderr.rstrip().endswith(
        "Run `trainforge schema` to see every key and its allowed values."
    )


def test_wrong_config_value_lists_the_allowed_ones(cli: tuple[Path, dict[str, Result]]) -> None:
    _check(
        cli,
        "bad_value",
        "bad_value.yaml line 8, field 'train.optimizer': Input should be 'sgd', 'adam', "
        "'adamw' or 'rmsprop'. Got 'adamx'. Did you mean 'adam'?",
    )


def test_unknown_config_key_suggests_the_closest(cli: tuple[Path, dict[str, Result]]) -> None:
    _check(
        cli,
        "unknown_key",
        "unknown_key.yaml line 4, field 'data.lable_column': unknown key 'lable_column'. "
        "Did you mean 'label_column'?",
    )


def test_set_without_equals(cli: tuple[Path, dict[str, Result]]) -> None:
    _check(
        cli,
        "set_without_equals",
        "Error: --set: override 'train.epochs' is not of the form key=value. "
        "Write it like --set train.epochs=5.",
    )


def test_predict_on_a_folder_that_is_not_a_package(cli: tuple[Path, dict[str, Result]]) -> None:
    _check(
        cli,
        "predict_not_a_package",
        "Error: not_a_model: not a trainforge model (no trainforge.json, and no `current` "
        "pointer to a version). Pass the model/ folder of a finished run, e.g. runs/NAME/model.",
    )


def test_evaluate_on_the_run_folder_instead_of_its_model(
    cli: tuple[Path, dict[str, Result]],
) -> None:
    _check(
        cli,
        "evaluate_run_folder",
        "Error: runs/good: not a trainforge model (no trainforge.json, and no `current` "
        "pointer to a version). This looks like a run folder: pass runs/good/model.",
    )


def test_debug_shows_the_traceback(cli: tuple[Path, dict[str, Result]]) -> None:
    root, results = cli
    result = results["debug"]
    assert result.returncode != 0
    assert "Traceback (most recent call last)" in result.stderr
    assert "trainforge.errors.ConfigError: Invalid config:" in result.stderr
    assert not (root / "runs" / "debug").exists()


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["serve", "model", "--port", "99999"], "'--port'"),
        (["serve", "model", "--max-wait-ms", "-1"], "'--max-wait-ms'"),
        (["train"], "'config'"),
        (["trian"], "'trian'"),
    ],
)
def test_usage_errors_name_the_option_and_exit_2(
    tmp_path: Path, args: list[str], named: str
) -> None:
    result = run_cli(tmp_path, args)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    assert named in result.stderr and "--help" in result.stderr, result.stderr

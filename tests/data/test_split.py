"""Splits: seeded, stratified carving of validation/test; given files used as they are."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from trainforge.config import DataConfig
from trainforge.data.readers import row_place
from trainforge.data.split import load_splits
from trainforge.errors import DataError


def _frame(n: int = 100, positives: int = 30, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "x": rng.normal(size=n).round(4),
            "color": rng.choice(["red", "green", "blue"], n),
            "label": ["a"] * (n - positives) + ["b"] * positives,
        }
    )


def _csv(tmp_path: Path, frame: pd.DataFrame, name: str = "train.csv") -> str:
    path = tmp_path / name
    frame.to_csv(path, index=False)
    return str(path)


def test_stratified_split_sizes_and_class_proportions(tmp_path: Path) -> None:
    data = DataConfig(train=_csv(tmp_path, _frame()))
    splits = load_splits(data, stratify_labels=True, seed=1)

    sizes = {name: len(frame) for name, frame in splits.items()}
    assert sizes == {"train": 70, "validation": 10, "test": 20}
    for _, frame in splits.items():
        assert frame["label"].value_counts(normalize=True)["b"] == pytest.approx(0.3)
    # Every row lands in exactly one split.
    indices = np.concatenate([frame.index.to_numpy() for _, frame in splits.items()])
    assert sorted(indices) == list(range(100))


def test_split_is_reproducible_with_the_seed(tmp_path: Path) -> None:
    data = DataConfig(train=_csv(tmp_path, _frame()))
    first = load_splits(data, stratify_labels=True, seed=7)
    again = load_splits(data, stratify_labels=True, seed=7)
    other = load_splits(data, stratify_labels=True, seed=8)

    for (_, a), (_, b) in zip(first.items(), again.items(), strict=True):
        pd.testing.assert_frame_equal(a, b)
    assert not first.test.index.equals(other.test.index)  # type: ignore[union-attr]


def test_split_frames_keep_their_source_lines(tmp_path: Path) -> None:
    path = _csv(tmp_path, _frame())
    splits = load_splits(DataConfig(train=path), stratify_labels=True, seed=1)
    test = splits.test
    assert test is not None
    row = test.index[0]
    # The index is the data row in the file, so messages still point at the right line.
    assert row_place(test, row) == f"{path} line {row + 2}"


def test_given_validation_and_test_files_are_used_as_is(tmp_path: Path) -> None:
    train, validation, test = _frame(seed=0), _frame(20, 5, seed=1), _frame(30, 10, seed=2)
    data = DataConfig(
        train=_csv(tmp_path, train),
        validation=_csv(tmp_path, validation, "validation.csv"),
        test=_csv(tmp_path, test, "test.csv"),
    )
    splits = load_splits(data, stratify_labels=True, seed=1)

    pd.testing.assert_frame_equal(splits.train, train, check_dtype=False)
    pd.testing.assert_frame_equal(splits.validation, validation, check_dtype=False)
    pd.testing.assert_frame_equal(splits.test, test, check_dtype=False)
    assert splits.validation.attrs["source"].endswith("validation.csv")  # type: ignore[union-attr]


def test_given_test_file_and_validation_carved_from_train(tmp_path: Path) -> None:
    data = DataConfig(
        train=_csv(tmp_path, _frame()), test=_csv(tmp_path, _frame(30, 10, seed=2), "test.csv")
    )
    splits = load_splits(data, stratify_labels=True, seed=1)
    # validation 0.1 of the train file; nothing goes to test from it.
    assert (len(splits.train), len(splits.validation), len(splits.test)) == (90, 10, 30)  # type: ignore[arg-type]


def test_zero_fractions_give_no_validation_or_test(tmp_path: Path) -> None:
    data = DataConfig(train=_csv(tmp_path, _frame()), split={"validation": 0.0, "test": 0.0})
    splits = load_splits(data, stratify_labels=True, seed=1)
    assert splits.validation is None and splits.test is None
    assert len(splits.train) == 100
    assert [name for name, _ in splits.items()] == ["train"]


def test_missing_label_column_suggests_the_closest(tmp_path: Path) -> None:
    data = DataConfig(train=_csv(tmp_path, _frame()), label_column="lable")
    with pytest.raises(
        DataError,
        match=r"train\.csv: column 'lable' \(from data\.label_column\) not found\. "
        r"The file has columns 'x', 'color', 'label'\. Did you mean 'label'\? "
        r"Fix data\.label_column in the config\.",
    ):
        load_splits(data, stratify_labels=True, seed=1)


def test_missing_feature_column_in_a_given_validation_file(tmp_path: Path) -> None:
    validation = _frame(20, 5).rename(columns={"color": "colour"})
    data = DataConfig(
        train=_csv(tmp_path, _frame()),
        validation=_csv(tmp_path, validation, "validation.csv"),
        feature_columns=["x", "color"],
    )
    with pytest.raises(
        DataError,
        match=r"validation\.csv: column 'color' \(from data\.feature_columns\) not found\. "
        r".*Did you mean 'colour'\?",
    ):
        load_splits(data, stratify_labels=True, seed=1)


def test_nan_labels_name_the_file_line(tmp_path: Path) -> None:
    frame = _frame()
    frame.loc[[5, 9], "label"] = None
    path = _csv(tmp_path, frame)
    with pytest.raises(
        DataError,
        match=rf"2 row\(s\) have no value in the label column 'label', first at "
        rf"{path} line 7, {path} line 11\. Fill in or drop those rows\.",
    ):
        load_splits(DataConfig(train=path), stratify_labels=True, seed=1)


def test_too_few_rows_to_split_names_the_setting(tmp_path: Path) -> None:
    two_rows = DataConfig(train=_csv(tmp_path, _frame(2, 1)))
    with pytest.raises(
        DataError,
        match=r"train\.csv: only 2 rows in data\.train: too few to split off 1 for test "
        r"\(data\.split\.test\) and still train\. Provide more rows, or give data\.validation",
    ):
        load_splits(two_rows, stratify_labels=True, seed=1)

    three_rows = DataConfig(train=_csv(tmp_path, _frame(3, 1)))
    with pytest.raises(
        DataError,
        match=r"only 2 rows remain after the test split: too few to split off 1 for validation "
        r"\(data\.split\.validation\)",
    ):
        load_splits(three_rows, stratify_labels=True, seed=1)


def test_rare_class_falls_back_to_an_unstratified_split(tmp_path: Path) -> None:
    data = DataConfig(train=_csv(tmp_path, _frame(50, 1)))
    splits = load_splits(data, stratify_labels=True, seed=1)
    assert sum(len(frame) for _, frame in splits.items()) == 50

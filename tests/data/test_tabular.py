"""Tabular preprocessing: training statistics only, JSON state, and bad values named by line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from trainforge.data.readers import read_table
from trainforge.data.tabular import MAX_CATEGORIES, TabularPreprocessor
from trainforge.errors import DataError

TRAIN_CSV = """\
size,weight,color,label
1,10,red,a
,20,blue,b
3,30,red,a
100,40,,b
"""


def _table(tmp_path: Path, text: str, name: str = "train.csv") -> pd.DataFrame:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return read_table(str(path))


@pytest.fixture
def train(tmp_path: Path) -> pd.DataFrame:
    return _table(tmp_path, TRAIN_CSV)


@pytest.fixture
def prep(train: pd.DataFrame) -> TabularPreprocessor:
    return TabularPreprocessor(None, "label").fit(train)


def test_columns_and_output_names(prep: TabularPreprocessor) -> None:
    assert prep.columns_ == ["size", "weight", "color"]
    assert prep.feature_names_out_ == ["size", "weight", "color=blue", "color=red"]


def test_numeric_columns_are_imputed_with_the_training_median_and_standardised(
    prep: TabularPreprocessor, train: pd.DataFrame
) -> None:
    seen = np.array([1.0, 3.0, 100.0])
    mean, scale = seen.mean(), seen.std()
    matrix = prep.transform(train)

    assert matrix.dtype == np.float32
    assert matrix.shape == (4, 4)
    # The empty size (line 3) is filled with the median of the training values, 3.
    expected_size = (np.array([1.0, 3.0, 3.0, 100.0]) - mean) / scale
    np.testing.assert_allclose(matrix[:, 0], expected_size, rtol=1e-6)
    weight = matrix[:, 1]
    assert weight.mean() == pytest.approx(0.0, abs=1e-6)
    assert weight.std() == pytest.approx(1.0, abs=1e-6)


def test_new_rows_use_the_training_statistics(prep: TabularPreprocessor) -> None:
    new = pd.DataFrame({"size": [np.nan, 3.0], "weight": [25.0, 25.0], "color": ["red", "red"]})
    matrix = prep.transform(new)
    # Both rows encode the same: the gap takes the training median, not this frame's.
    np.testing.assert_array_equal(matrix[0], matrix[1])
    assert matrix[0, 1] == pytest.approx(0.0, abs=1e-6)  # 25 is the training mean weight


def test_constant_column_is_centred_without_dividing_by_zero(tmp_path: Path) -> None:
    frame = _table(tmp_path, "k,label\n5,a\n5,b\n5,a\n")
    matrix = TabularPreprocessor(None, "label").fit(frame).transform(frame)
    np.testing.assert_array_equal(matrix, np.zeros((3, 1), dtype=np.float32))


def test_text_columns_are_one_hot_and_gaps_take_the_most_frequent(
    prep: TabularPreprocessor, train: pd.DataFrame
) -> None:
    one_hot = prep.transform(train)[:, 2:]
    # red, blue, red, (empty -> red, the most frequent)
    np.testing.assert_array_equal(one_hot, [[0, 1], [1, 0], [0, 1], [0, 1]])


def test_feature_columns_select_inputs(train: pd.DataFrame) -> None:
    prep = TabularPreprocessor(["color"], "label").fit(train)
    assert prep.feature_names_out_ == ["color=blue", "color=red"]
    assert prep.transform(train[["color"]]).shape == (4, 2)


def test_state_round_trips_through_json(prep: TabularPreprocessor, tmp_path: Path) -> None:
    new = _table(tmp_path, "size,weight,color\n2,15,blue\n,,red\n7,99,\n", "new.csv")
    state = json.loads(json.dumps(prep.state_dict()))
    restored = TabularPreprocessor.from_state(state)

    assert restored.feature_names_out_ == prep.feature_names_out_
    np.testing.assert_array_equal(restored.transform(new), prep.transform(new))
    assert restored.state_dict() == prep.state_dict()


def test_unseen_category_names_column_value_and_line(
    prep: TabularPreprocessor, tmp_path: Path
) -> None:
    new = _table(tmp_path, "size,weight,color\n1,10,red\n2,20,green\n", "new.csv")
    with pytest.raises(
        DataError,
        match=r"new\.csv line 3: column 'color' holds 'green', a category not seen in training "
        r"\(known: 'blue', 'red'\)\. Fix the value, or set data\.unknown_category: ignore",
    ):
        prep.transform(new)


def test_unseen_category_ignored_encodes_zeros(train: pd.DataFrame) -> None:
    prep = TabularPreprocessor(None, "label", unknown_category="ignore").fit(train)
    new = pd.DataFrame({"size": [1, 1], "weight": [10, 10], "color": ["green", "red"]})
    matrix = prep.transform(new)
    np.testing.assert_array_equal(matrix[:, 2:], [[0, 0], [0, 1]])


def test_inf_at_training_names_the_row(tmp_path: Path) -> None:
    frame = _table(tmp_path, "size,label\n1,a\n2,b\n-inf,a\n")
    with pytest.raises(
        DataError,
        match=r"train\.csv line 4: column 'size' holds an infinite value \(-inf\)\. "
        r"Replace inf/-inf with a finite number",
    ):
        TabularPreprocessor(None, "label").fit(frame)


def test_inf_at_predict_time_names_the_row(prep: TabularPreprocessor, tmp_path: Path) -> None:
    new = _table(tmp_path, "size,weight,color\n1,10,red\n2,inf,red\n", "new.csv")
    with pytest.raises(DataError, match=r"new\.csv line 3: column 'weight' holds an infinite"):
        prep.transform(new)


def test_missing_error_refuses_gaps_in_numeric_and_text_columns(
    train: pd.DataFrame, tmp_path: Path
) -> None:
    with pytest.raises(
        DataError,
        match=r"train\.csv line 3: column 'size' has a missing value \(NaN/empty\)\. "
        r"Fill it in, or set data\.missing: impute",
    ):
        TabularPreprocessor(None, "label", missing="error").fit(train)
    with pytest.raises(DataError, match=r"train\.csv line 5: column 'color' has a missing value"):
        TabularPreprocessor(["weight", "color"], "label", missing="error").fit(train)


def test_missing_error_also_applies_at_predict_time(train: pd.DataFrame, tmp_path: Path) -> None:
    prep = TabularPreprocessor(["weight"], "label", missing="error").fit(train)
    new = _table(tmp_path, "weight,other\n1,x\n,y\n", "new.csv")
    with pytest.raises(DataError, match=r"new\.csv line 3: column 'weight' has a missing value"):
        prep.transform(new)


def test_text_in_a_numeric_column_at_predict_time(
    prep: TabularPreprocessor, tmp_path: Path
) -> None:
    new = _table(tmp_path, "size,weight,color\n1,10,red\n2,heavy,red\n", "new.csv")
    with pytest.raises(
        DataError,
        match=r"new\.csv line 3: column 'weight' holds 'heavy', which is not a number\. "
        r"The model was trained with this column as numeric",
    ):
        prep.transform(new)


def test_numbers_given_as_text_are_accepted(prep: TabularPreprocessor) -> None:
    as_numbers = pd.DataFrame([{"size": 2, "weight": 15, "color": "red"}])
    as_text = pd.DataFrame([{"size": "2", "weight": "15", "color": "red"}])
    np.testing.assert_array_equal(prep.transform(as_text), prep.transform(as_numbers))


def test_missing_feature_column_at_predict_time(prep: TabularPreprocessor) -> None:
    frame = pd.DataFrame({"size": [1], "colour": ["red"]})
    frame.attrs["source"] = "request"
    with pytest.raises(
        DataError,
        match=r"request: missing feature column\(s\) 'weight', 'color'\. The model was trained "
        r"on columns 'size', 'weight', 'color'; supply all of them\.",
    ):
        prep.transform(frame)


def test_label_only_data_has_no_features(train: pd.DataFrame) -> None:
    with pytest.raises(DataError, match=r"no feature columns: the data holds only the label"):
        TabularPreprocessor(None, "label").fit(train[["label"]])


def test_too_many_categories_looks_like_an_id(tmp_path: Path) -> None:
    n = MAX_CATEGORIES + 1
    frame = pd.DataFrame(
        {"user": [f"u{i}" for i in range(n)], "label": ["a", "b"] * (n // 2) + ["a"]}
    )
    with pytest.raises(
        DataError, match=rf"column 'user' has {n} distinct text values: too many to one-hot"
    ):
        TabularPreprocessor(None, "label").fit(frame)

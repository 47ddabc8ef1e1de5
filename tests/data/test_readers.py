"""Readers: every supported format reads back what was written; bad files say where and why."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from trainforge.data.readers import read_table, row_place
from trainforge.errors import DataError

FRAME = pd.DataFrame(
    {
        "age": [31, 45, 27],
        "income": [1200.5, 3400.0, 980.25],
        "city": ["Lyon", "Oslo", "Lima"],
        "label": ["yes", "no", "yes"],
    }
)


def _write(frame: pd.DataFrame, path: Path) -> Path:
    suffix = path.suffix.lower()
    if suffix == ".csv":
        frame.to_csv(path, index=False)
    elif suffix == ".tsv":
        frame.to_csv(path, sep="\t", index=False)
    elif suffix in (".jsonl", ".ndjson"):
        frame.to_json(path, orient="records", lines=True)
    else:
        frame.to_parquet(path, index=False)
    return path


# --- round trips ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "first_line"),
    [
        ("data.csv", 2),
        ("data.tsv", 2),
        ("data.jsonl", 1),
        ("data.ndjson", 1),
        ("data.parquet", None),
        ("DATA.CSV", 2),
    ],
)
def test_round_trip(tmp_path: Path, name: str, first_line: int | None) -> None:
    path = _write(FRAME, tmp_path / name)

    frame = read_table(str(path))

    pd.testing.assert_frame_equal(frame, FRAME, check_dtype=False)
    assert list(frame.index) == [0, 1, 2]
    assert frame.attrs == {"source": str(path), "first_line": first_line}


def test_csv_with_another_encoding_reads_with_data_encoding(tmp_path: Path) -> None:
    path = tmp_path / "latin.csv"
    path.write_bytes("city,label\nZürich,yes\nMálaga,no\n".encode("latin-1"))

    with pytest.raises(
        DataError,
        match=r"latin\.csv line 2 \(byte 12\): is not valid utf-8 text \(invalid start byte\)\. "
        r"Re-save the file as UTF-8, or set data\.encoding to the file's encoding "
        r"\(e\.g\. --set data\.encoding=latin-1\)",
    ):
        read_table(str(path))

    frame = read_table(str(path), encoding="latin-1")
    assert frame["city"].tolist() == ["Zürich", "Málaga"]


@pytest.mark.parametrize("name", ["bad.tsv", "bad.jsonl"])
def test_non_utf8_names_the_line_in_tsv_and_jsonl(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    if name.endswith(".tsv"):
        path.write_bytes(b"a\tb\n1\tx\n2\t\xff\n")
    else:
        path.write_bytes(b'{"a": 1}\n{"a": 2}\n{"a": "\xff"}\n')
    with pytest.raises(DataError, match=rf"{name} line 3 \(byte \d+\): .*data\.encoding"):
        read_table(str(path))


# --- bundled sets --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "shape", "classes"),
    [
        ("iris", (150, 5), {"setosa", "versicolor", "virginica"}),
        ("wine", (178, 14), {"class_0", "class_1", "class_2"}),
        ("breast_cancer", (569, 31), {"malignant", "benign"}),
        ("digits", (1797, 65), {str(d) for d in range(10)}),
    ],
)
def test_sklearn_classification_sets_have_class_names(
    name: str, shape: tuple[int, int], classes: set[str]
) -> None:
    frame = read_table(f"sklearn:{name}")
    assert frame.shape == shape
    assert frame.columns[-1] == "target"
    assert set(frame["target"]) == classes
    assert all(isinstance(v, str) for v in frame["target"])
    assert frame.attrs == {"source": f"sklearn:{name}", "first_line": None}


def test_sklearn_diabetes_target_is_numeric() -> None:
    frame = read_table("sklearn:diabetes")
    assert frame.shape == (442, 11)
    assert pd.api.types.is_float_dtype(frame["target"])
    assert frame["target"].between(25, 346).all()


def test_unknown_sklearn_set_suggests_the_closest() -> None:
    with pytest.raises(
        DataError,
        match=r"^sklearn:irs: unknown bundled data set 'irs'\. Use one of 'iris', 'wine', "
        r"'breast_cancer', 'digits', 'diabetes'\. Did you mean 'iris'\?$",
    ):
        read_table("sklearn:irs")


# --- bad files -----------------------------------------------------------------------------------


def test_missing_file_suggests_a_sibling_with_a_similar_name(tmp_path: Path) -> None:
    _write(FRAME, tmp_path / "train.csv")
    with pytest.raises(
        DataError,
        match=r"trian\.csv: file not found\. Check the path\. Did you mean 'train\.csv'\?",
    ):
        read_table(str(tmp_path / "trian.csv"))


def test_missing_file_in_a_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"file not found\. The folder .*nodir' does not exist"):
        read_table(str(tmp_path / "nodir" / "train.csv"))


def test_unsupported_suffix_lists_the_supported_ones(tmp_path: Path) -> None:
    path = tmp_path / "data.xlsx"
    path.write_bytes(b"PK")
    with pytest.raises(
        DataError,
        match=r"data\.xlsx: unsupported file type '\.xlsx'\. Use one of '\.csv', '\.tsv', "
        r"'\.jsonl', '\.ndjson', '\.parquet', or 'sklearn:NAME'",
    ):
        read_table(str(path))


@pytest.mark.parametrize("content", ["", "\n\n"])
def test_empty_csv(tmp_path: Path, content: str) -> None:
    path = tmp_path / "empty.csv"
    path.write_text(content)
    with pytest.raises(DataError, match=r"empty\.csv: is empty\. Point the config at a file"):
        read_table(str(path))


def test_header_only_csv(tmp_path: Path) -> None:
    path = tmp_path / "header.csv"
    path.write_text("age,label\n")
    with pytest.raises(DataError, match=r"header\.csv: has no data rows\."):
        read_table(str(path))


def test_empty_jsonl(tmp_path: Path) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_text("\n")
    with pytest.raises(DataError, match=r"empty\.jsonl: is empty"):
        read_table(str(path))


def test_ragged_csv(tmp_path: Path) -> None:
    path = tmp_path / "ragged.csv"
    path.write_text("a,b\n1,2\n1,2,3\n")
    with pytest.raises(DataError, match=r"ragged\.csv: is not a well-formed CSV file .*line 3"):
        read_table(str(path))


def test_malformed_jsonl_line_is_named(tmp_path: Path) -> None:
    path = tmp_path / "rows.jsonl"
    path.write_text('{"a": 1}\n\n{"a": 2\n')
    with pytest.raises(
        DataError,
        match=r"rows\.jsonl line 3: not valid JSON \(Expecting ',' delimiter at column 8\)\. "
        r"Each line must hold one JSON object\.",
    ):
        read_table(str(path))


def test_jsonl_line_that_is_not_an_object(tmp_path: Path) -> None:
    path = tmp_path / "rows.jsonl"
    path.write_text('{"a": 1}\n[1, 2]\n')
    with pytest.raises(DataError, match=r"rows\.jsonl line 2: expected a JSON object, got list"):
        read_table(str(path))


def test_jsonl_skips_blank_lines(tmp_path: Path) -> None:
    path = tmp_path / "rows.jsonl"
    path.write_text("\n".join(json.dumps({"a": i}) for i in range(3)) + "\n\n")
    assert read_table(str(path))["a"].tolist() == [0, 1, 2]


def test_damaged_parquet(tmp_path: Path) -> None:
    path = tmp_path / "data.parquet"
    path.write_bytes(b"not parquet at all")
    with pytest.raises(DataError, match=r"data\.parquet: cannot be read as Parquet"):
        read_table(str(path))


@pytest.mark.parametrize("name", ["data.csv", "data.jsonl"])
def test_unknown_encoding_points_at_data_encoding(tmp_path: Path, name: str) -> None:
    path = _write(FRAME, tmp_path / name)
    with pytest.raises(DataError, match=r"^data\.encoding: unknown text encoding 'utf-9'"):
        read_table(str(path), encoding="utf-9")


# --- row_place -----------------------------------------------------------------------------------


def test_row_place_gives_file_lines_for_csv(tmp_path: Path) -> None:
    path = _write(FRAME, tmp_path / "data.csv")
    frame = read_table(str(path))
    # Line 1 is the header, so data row 0 is line 2.
    assert row_place(frame, 0) == f"{path} line 2"
    assert row_place(frame, 2) == f"{path} line 4"
    # Index labels after a split or a boolean mask are numpy integers.
    assert row_place(frame, np.int64(2)) == f"{path} line 4"
    masked = frame[frame["age"] > 30]
    assert row_place(masked, masked.index[-1]) == f"{path} line 3"


def test_row_place_for_jsonl_parquet_and_bundled_sets(tmp_path: Path) -> None:
    jsonl = _write(FRAME, tmp_path / "data.jsonl")
    parquet = _write(FRAME, tmp_path / "data.parquet")
    assert row_place(read_table(str(jsonl)), 1) == f"{jsonl} line 2"
    assert row_place(read_table(str(parquet)), 1) == f"{parquet} row 1"
    assert row_place(read_table("sklearn:iris"), 5) == "sklearn:iris row 5"
    assert row_place(pd.DataFrame({"a": [1]}), 0) == "data row 0"

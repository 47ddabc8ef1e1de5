"""Readers: a file path or a bundled-set name in, a pandas DataFrame out.

Supported: .csv, .tsv, .jsonl (.ndjson), .parquet, and scikit-learn's bundled sets as
"sklearn:NAME". Every frame remembers where it came from (`frame.attrs`), so later stages can
point at the exact file line of a bad value (see `row_place`).
"""

from __future__ import annotations

import json
import numbers
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd

from trainforge.errors import DataError, did_you_mean, format_choices

SKLEARN_SETS = ("iris", "wine", "breast_cancer", "digits", "diabetes")
SUFFIXES = (".csv", ".tsv", ".jsonl", ".ndjson", ".parquet")


def read_table(spec: str, *, encoding: str = "utf-8", text: bool = False) -> pd.DataFrame:
    """Read a table from a file path or "sklearn:NAME".

    The frame's index is the 0-based data row in the source, and `frame.attrs` holds `source`
    (the path or spec) and `first_line` (file line of row 0, or None for binary formats).
    With `text`, CSV and TSV cells stay strings as written (an empty cell is ""): an answer
    "3.10" is not read as the number 3.1.

    Example:
        >>> read_table("sklearn:iris").shape
        (150, 5)
    """
    if spec.startswith("sklearn:"):
        return _read_sklearn(spec.removeprefix("sklearn:"))
    path, suffix = checked_file(spec, SUFFIXES, ", or 'sklearn:NAME' for a bundled set")
    if suffix == ".parquet":
        frame = _read_parquet(path)
        first_line = None
    elif suffix in (".jsonl", ".ndjson"):
        frame = _read_jsonl(path, encoding)
        first_line = 1
    else:
        frame = _read_delimited(path, "\t" if suffix == ".tsv" else ",", encoding, text)
        first_line = 2
    if frame.empty or len(frame.columns) == 0:
        raise DataError(
            "has no data rows" if len(frame.columns) else "is empty",
            where=spec,
            fix="Point the config at a file with a header and at least one row",
        )
    frame.attrs.update(source=spec, first_line=first_line)
    return frame


def checked_file(spec: str, suffixes: Iterable[str], hint: str = "") -> tuple[Path, str]:
    """(path, lower-case suffix) of an existing file of a supported type, else a DataError."""
    path = Path(spec)
    if not path.is_file():
        raise DataError("file not found", where=spec, fix=_missing_file_fix(path))
    suffix = path.suffix.lower()
    if suffix not in suffixes:
        raise DataError(
            f"unsupported file type {suffix or '(none)'!r}",
            where=spec,
            fix=f"Use one of {format_choices(suffixes)}{hint}",
        )
    return path, suffix


def row_place(frame: pd.DataFrame, row: Any) -> str:
    """Where a row of `frame` lives in its source, e.g. "train.csv line 7"."""
    source = frame.attrs.get("source", "data")
    first_line = frame.attrs.get("first_line")
    # Index labels are numpy integers after a split or a mask: they count as rows too.
    if first_line is None or not isinstance(row, numbers.Integral) or isinstance(row, bool):
        return f"{source} row {row}"
    return f"{source} line {int(row) + first_line}"


def _missing_file_fix(path: Path) -> str:
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        return f"The folder {str(parent)!r} does not exist either; check the path"
    siblings = [p.name for p in parent.iterdir() if p.suffix.lower() in SUFFIXES]
    hint = did_you_mean(path.name, siblings)
    return ("Check the path." + hint) if hint else "Check the path (relative to where you run)"


def _decode_error_place(path: Path, encoding: str, exc: UnicodeDecodeError) -> tuple[str, str]:
    """(place, reason) of the first undecodable byte.

    pandas decodes in chunks and reports no line (and, at a chunk's end, another reason), so
    decode the whole file again to find the first bad byte.
    """
    data = path.read_bytes()
    try:
        data.decode(encoding)
        return str(path), exc.reason
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        return f"{path} line {line} (byte {err.start})", err.reason


def _encoding_error(path: Path, encoding: str, exc: UnicodeDecodeError) -> DataError:
    place, reason = _decode_error_place(path, encoding, exc)
    return DataError(
        f"is not valid {encoding} text ({reason})",
        where=place,
        fix="Re-save the file as UTF-8, or set data.encoding to the file's encoding "
        "(e.g. --set data.encoding=latin-1)",
    )


def _read_delimited(path: Path, sep: str, encoding: str, text: bool = False) -> pd.DataFrame:
    strings: dict[str, Any] = {"dtype": str, "keep_default_na": False} if text else {}
    try:
        return pd.read_csv(path, sep=sep, encoding=encoding, **strings)
    except UnicodeDecodeError as exc:
        raise _encoding_error(path, encoding, exc) from None
    except LookupError:
        raise _unknown_encoding(encoding) from None
    except pd.errors.EmptyDataError:
        raise DataError(
            "is empty", where=str(path), fix="Point the config at a file with a header and rows"
        ) from None
    except pd.errors.ParserError as exc:
        raise DataError(
            f"is not a well-formed {'TSV' if sep == chr(9) else 'CSV'} file ({exc})",
            where=str(path),
            fix="Check quoting and that every row has as many fields as the header",
        ) from None


def _unknown_encoding(encoding: str) -> DataError:
    return DataError(
        f"unknown text encoding {encoding!r}",
        where="data.encoding",
        fix="Use a Python codec name such as 'utf-8', 'latin-1' or 'cp1252'",
    )


def _read_jsonl(path: Path, encoding: str) -> pd.DataFrame:
    records = []
    try:
        with path.open(encoding=encoding) as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    # Without its newline, so the column of an error is on this line.
                    record = json.loads(line.rstrip("\r\n"))
                except json.JSONDecodeError as exc:
                    raise DataError(
                        f"not valid JSON ({exc.msg} at column {exc.colno})",
                        where=f"{path} line {number}",
                        fix="Each line must hold one JSON object",
                    ) from None
                if not isinstance(record, dict):
                    raise DataError(
                        f"expected a JSON object, got {type(record).__name__}",
                        where=f"{path} line {number}",
                        fix='Each line must hold one object such as {"text": ..., "label": ...}',
                    )
                records.append(record)
    except UnicodeDecodeError as exc:
        raise _encoding_error(path, encoding, exc) from None
    except LookupError:
        raise _unknown_encoding(encoding) from None
    return pd.DataFrame.from_records(records)


def _read_parquet(path: Path) -> pd.DataFrame:
    try:
        return pd.read_parquet(path).reset_index(drop=True)
    except Exception as exc:  # pyarrow raises many types for a damaged file
        raise DataError(
            f"cannot be read as Parquet ({type(exc).__name__}: {exc})",
            where=str(path),
            fix="Check that the file is complete and really Parquet",
        ) from None


def _read_sklearn(name: str) -> pd.DataFrame:
    if name not in SKLEARN_SETS:
        raise DataError(
            f"unknown bundled data set {name!r}",
            where=f"sklearn:{name}",
            fix=f"Use one of {format_choices(SKLEARN_SETS)}.{did_you_mean(name, SKLEARN_SETS)}",
        )
    from sklearn import datasets

    bunch = getattr(datasets, f"load_{name}")(as_frame=True)
    frame = bunch.frame.copy()
    names = getattr(bunch, "target_names", None)
    if names is not None and name != "diabetes":
        # Class names read better in reports than 0/1/2.
        frame["target"] = [str(names[i]) for i in frame["target"]]
    frame.attrs.update(source=f"sklearn:{name}", first_line=None)
    return frame

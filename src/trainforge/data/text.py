"""Text data: local files → memory-mapped `datasets.Dataset`s, checked, split and tokenised.

The corpus never sits whole in memory: files are converted once to Arrow (cached by the
datasets library, keyed on the file), checks run on Arrow columns, and tokenisation is a
cached, batched, multi-process `map`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from trainforge.config import DataConfig
from trainforge.data.readers import _encoding_error, checked_file
from trainforge.errors import DataError, did_you_mean, format_choices

_BUILDERS = {
    ".csv": ("csv", 2),
    ".tsv": ("csv", 2),
    ".jsonl": ("json", 1),
    ".ndjson": ("json", 1),
    ".json": ("json", 1),
    ".parquet": ("parquet", None),
    ".txt": ("text", 1),
}
BIG = 20_000  # rows above which tokenisation uses several processes


@dataclass(frozen=True)
class TextSource:
    """A loaded text file and where its rows came from (for error messages)."""

    dataset: Any
    source: str
    first_line: int | None

    def place(self, row: int) -> str:
        if self.first_line is None:
            return f"{self.source} row {row}"
        return f"{self.source} line {row + self.first_line}"


def read_text(spec: str, encoding: str = "utf-8") -> TextSource:
    """Load a .csv/.tsv/.jsonl/.parquet/.txt file as a memory-mapped Dataset."""
    import datasets

    path, suffix = checked_file(spec, sorted(_BUILDERS))
    builder, first_line = _BUILDERS[suffix]
    options: dict[str, Any] = {}
    if builder in ("csv", "json", "text"):
        options["encoding"] = encoding
    if suffix == ".tsv":
        options["delimiter"] = "\t"
    if path.stat().st_size == 0:
        raise DataError("is empty", where=spec, fix="Point the config at a file with rows")
    # No "Generating train split" bars: they would precede any error message on stderr.
    bars_were_on = not datasets.are_progress_bars_disabled()
    datasets.disable_progress_bars()
    try:
        dataset = datasets.load_dataset(
            builder, data_files=str(path.resolve()), split="train", **options
        )
    except Exception as exc:
        raise _load_error(path, encoding, exc) from None
    finally:
        if bars_were_on:
            datasets.enable_progress_bars()
    if len(dataset) == 0:
        raise DataError("has no data rows", where=spec, fix="Add rows under the header")
    return TextSource(dataset, spec, first_line)


def _load_error(path: Path, encoding: str, exc: BaseException) -> DataError:
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, UnicodeDecodeError):
            return _encoding_error(path, encoding, cause)
        cause = cause.__cause__ or cause.__context__
    return DataError(
        f"cannot be read ({type(exc).__name__}: {str(exc).splitlines()[0][:300]})",
        where=str(path),
        fix="Check the file's format: a header row for CSV/TSV, one JSON object per line for JSONL",
    )


def check_text(source: TextSource, data: DataConfig, *, need_labels: bool = True) -> None:
    """Columns exist; no text is empty or whitespace only; every row has a label."""
    import pyarrow as pa
    import pyarrow.compute as pc

    dataset = source.dataset
    columns = list(dataset.column_names)
    wanted = [("data.text_column", data.text_column)]
    if data.text_pair_column:
        wanted.append(("data.text_pair_column", data.text_pair_column))
    if need_labels:
        wanted.append(("data.label_column", data.label_column))
    for field, column in wanted:
        if column not in columns:
            raise DataError(
                f"column {column!r} (from {field}) not found",
                where=source.source,
                fix=f"The file has columns {format_choices(columns)}."
                f"{did_you_mean(column, columns)} Fix {field} in the config",
            )
    for field, column in wanted[: 2 if data.text_pair_column else 1]:
        values = dataset.data.column(column)
        try:
            text = pc.cast(values, pa.string())
        except pa.ArrowException:  # lists (e.g. pre-split tokens), structs, ...
            raise DataError(
                f"column {column!r} (from {field}) holds {values.type} values, not text",
                where=source.source,
                fix=f"Point {field} at a column with one string per row (join token lists "
                "into one string)",
            ) from None
        blank = pc.or_kleene(pc.is_null(text), pc.equal(pc.utf8_trim_whitespace(text), ""))
        blank = pc.fill_null(blank, True)
        if pc.any(blank).as_py():
            row = pc.index(blank, True).as_py()
            raise DataError(
                f"the text in column {column!r} is empty or only whitespace",
                where=source.place(row),
                fix="Remove the row or fill in its text",
            )
    if need_labels:
        labels = dataset.data.column(data.label_column)
        if labels.null_count:
            row = pc.index(pc.is_null(labels), True).as_py()
            raise DataError(
                f"no value in the label column {data.label_column!r}",
                where=source.place(row),
                fix="Fill in or drop the row",
            )


def column_values(dataset: Any, column: str) -> list[Any]:
    """One column as Python values (labels: small next to the text)."""
    return (
        dataset.data.column(column).to_pylist()
        if dataset._indices is None
        else list(dataset[column])
    )


def split_off(
    n: int, fraction: float, strata: list[str] | None, seed: int, source: str
) -> tuple[np.ndarray, np.ndarray]:
    """Seeded (stratified) split of row positions 0..n-1; both parts sorted (file order)."""
    import logging

    from sklearn.model_selection import train_test_split

    n_out = max(1, round(n * fraction))
    if n - n_out < 2:
        raise DataError(
            f"only {n} rows: too few to split off {fraction:.0%} and still train",
            where=source,
            fix="Provide more rows, or give data.validation / data.test files",
        )
    if strata is not None:
        _, counts = np.unique(strata, return_counts=True)
        if counts.min() < 2 or n_out < len(counts):
            logging.getLogger(__name__).warning(
                "Not stratifying the split of %s: some class has fewer than 2 rows.", source
            )
            strata = None
    kept, taken = train_test_split(
        np.arange(n), test_size=n_out, random_state=seed, stratify=strata
    )
    return np.sort(kept), np.sort(taken)


def tokenize(
    dataset: Any,
    tokenizer: Any,
    data: DataConfig,
    max_length: int,
    encode_labels: Callable[[list[Any]], Any] | None,
    prefix: str = "",
) -> Any:
    """Tokenise (cached by the datasets library); columns input_ids, attention_mask, ...,
    length, and labels when `encode_labels` is given. `prefix` goes before every text (the
    "query: " of e5 models used as sentence encoders)."""
    text, pair = data.text_column, data.text_pair_column

    def encode(batch: dict[str, list[Any]]) -> dict[str, Any]:
        encoded = tokenizer(
            [prefix + str(t) for t in batch[text]],
            [prefix + str(t) for t in batch[pair]] if pair else None,
            truncation=True,
            max_length=max_length,
        )
        out = dict(encoded)
        out["length"] = [len(ids) for ids in encoded["input_ids"]]
        if encode_labels is not None:
            out["labels"] = encode_labels(batch[data.label_column])
        return out

    processes = min(4, os.cpu_count() or 1) if len(dataset) > BIG else None
    return dataset.map(
        encode,
        batched=True,
        batch_size=1000,
        num_proc=processes,
        remove_columns=dataset.column_names,
        desc="Tokenizing",
    )


class TextInputs:
    """Inference-time text preprocessing: the tokenizer and which columns hold the text.

    Args:
        tokenizer: a fast transformers tokenizer.
        text_column: column of the text.
        pair_column: optional column of the second text of a pair.
        max_length: truncation length in tokens.
        prefix: put before every text, as in training (e5 sentence encoders: "query: ").
    """

    def __init__(
        self,
        tokenizer: Any,
        text_column: str,
        pair_column: str | None,
        max_length: int,
        prefix: str = "",
    ) -> None:
        self.tokenizer = tokenizer
        self.text_column = text_column
        self.pair_column = pair_column
        self.max_length = max_length
        self.text_prefix = prefix

    def texts(self, frame: Any) -> tuple[list[str], list[str] | None]:
        """The text (and pair) column of a DataFrame, checked."""
        columns = [self.text_column] + ([self.pair_column] if self.pair_column else [])
        for column in columns:
            if column not in frame.columns:
                raise DataError(
                    f"text column {column!r} not found",
                    where=str(frame.attrs.get("source", "input")),
                    fix=f"The input has columns {format_choices([str(c) for c in frame.columns])}"
                    f"; the model reads {column!r}",
                )
        first = [_text(v) for v in frame[self.text_column]]
        pairs = [_text(v) for v in frame[self.pair_column]] if self.pair_column else None
        for texts in (first, pairs or []):
            blank = next((i for i, t in enumerate(texts) if not t.strip()), None)
            if blank is not None:
                raise DataError(
                    "the text is empty or only whitespace",
                    where=f"{frame.attrs.get('source', 'input')} row {blank}",
                    fix="Send non-empty text for every input",
                )
        return first, pairs

    def batches(self, frame: Any, batch_size: int) -> Any:
        """Yield (row positions, tokenised batch); rows are grouped by length for speed."""
        import torch

        first, pairs = self.texts(frame)
        order = np.argsort([-len(t) for t in first], kind="stable")
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            encoded = self.tokenizer(
                [self.text_prefix + first[i] for i in rows],
                [self.text_prefix + pairs[i] for i in rows] if pairs is not None else None,
                truncation=True,
                max_length=self.max_length,
                padding=True,
                return_tensors="pt",
            )
            yield rows, {k: v.to(torch.long) for k, v in encoded.items()}

    def state_dict(self) -> dict[str, Any]:
        return {
            "text_column": self.text_column,
            "pair_column": self.pair_column,
            "max_length": self.max_length,
        }


def _text(value: Any) -> str:
    return "" if value is None or (isinstance(value, float) and np.isnan(value)) else str(value)

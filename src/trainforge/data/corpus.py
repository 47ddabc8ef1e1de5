"""Unlabelled text for continued pre-training (`model.objective: causal_lm`).

A corpus is a plain text file (.txt: one document per line, blank lines skipped) or a table
(CSV, TSV, JSONL, Parquet) whose `data.text_column` holds one document per row. Every error
names the file and line and says how to fix it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from trainforge.config import DataConfig
from trainforge.data.readers import SUFFIXES, checked_file, read_table, row_place
from trainforge.errors import DataError, did_you_mean, format_choices

LAYOUT = "text"


@dataclass(frozen=True)
class Corpus:
    """The documents of one file, with the place of each.

    Attributes:
        source: the file.
        layout: 'text'.
        texts: the documents.
        places: "corpus.txt line 3" per document.
    """

    source: str
    layout: str
    texts: list[str]
    places: list[str]

    def __len__(self) -> int:
        return len(self.texts)

    def subset(self, index: Sequence[int]) -> Corpus:
        """The documents at `index`, in that order."""
        return Corpus(
            self.source,
            self.layout,
            [self.texts[i] for i in index],
            [self.places[i] for i in index],
        )


def read_corpus(spec: str, data: DataConfig) -> Corpus:
    """Read the documents of a text file or of a table's `data.text_column`.

    Example:
        >>> read_corpus("filings.txt", cfg.data).texts[0]
        'Operating profit rose to EUR 13.1 mn from EUR 8.7 mn.'
    """
    if Path(spec).suffix.lower() == ".txt":
        path, _ = checked_file(spec, (".txt", *SUFFIXES))
        try:
            lines = path.read_text(encoding=data.encoding).splitlines()
        except UnicodeDecodeError as exc:
            raise DataError(
                f"is not {data.encoding} text ({exc.reason} at byte {exc.start})",
                where=spec,
                fix="Save the file as UTF-8, or set data.encoding to its encoding",
            ) from None
        kept = [(n, line.strip()) for n, line in enumerate(lines, start=1) if line.strip()]
        corpus = Corpus(spec, LAYOUT, [t for _, t in kept], [f"{spec} line {n}" for n, _ in kept])
    else:
        frame = read_table(spec, encoding=data.encoding, text=True)
        column = data.text_column
        if column not in frame.columns:
            found = [str(c) for c in frame.columns]
            raise DataError(
                f"has no {column!r} column (columns: {format_choices(found)})."
                f"{did_you_mean(column, found)}",
                where=spec,
                fix="Name the column of the documents with data.text_column, or give a .txt "
                "file with one document per line",
            )
        texts, places = [], []
        for row, value in zip(frame.index, frame[column], strict=True):
            if not isinstance(value, str):
                if value is None or value != value:  # missing (NaN)
                    continue
                raise DataError(
                    f"column {column!r} holds {type(value).__name__} {value!r}, not text",
                    where=row_place(frame, row),
                    fix="Write the document as text, or drop the row",
                )
            if value.strip():
                texts.append(value.strip())
                places.append(row_place(frame, row))
        corpus = Corpus(spec, LAYOUT, texts, places)
    if not corpus.texts:
        raise DataError(
            "holds no text to train on (every line or cell is empty)",
            where=spec,
            fix="Point data.train at a file with one document per line (or per row)",
        )
    return corpus

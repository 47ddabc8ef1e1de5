"""`Model`: a trained model's input handling, network or estimator, and output decoding.

Built by training (in memory) or by a family's `load` (from a package); both predict the same
way. This class reads rows as tables (tabular models); a family whose inputs are something
else (texts, sentences, images, users) subclasses it and overrides `frame`, `output` or
`evaluate` — never more.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypeAlias

import numpy as np
import pandas as pd

from trainforge.config import ExperimentConfig
from trainforge.data.readers import read_table
from trainforge.data.tabular import TabularPreprocessor
from trainforge.errors import DataError
from trainforge.tasks.targets import Target

Rows: TypeAlias = pd.DataFrame | list[Any] | dict[str, Any] | str | Path
CHUNK_ROWS = 8192  # rows predicted at a time when streaming to a file


class Model:
    """A trained model: input preprocessing, network or estimator, and output decoding.

    Built by training (in memory) or by `load` (from a package); both predict the same way.

    Args:
        config: the resolved experiment config.
        inputs: fitted input preprocessing: `TabularPreprocessor` or `TextInputs`.
        target: the fitted target handler (labels / scaling / thresholds).
        network: a torch module (torch models) or None.
        estimator: a fitted scikit-learn estimator (classical models) or None.
    """

    def __init__(
        self,
        config: ExperimentConfig,
        inputs: Any,
        target: Target,
        network: Any = None,
        estimator: Any = None,
    ) -> None:
        self.config = config
        self.inputs = inputs
        self.target = target
        self.network = network
        self.estimator = estimator

    @property
    def labels(self) -> list[str] | None:
        labels = self.target.display_labels()
        return list(labels) if labels is not None else None

    def predict(self, rows: Rows) -> list[dict[str, Any]]:
        """One dict per row: {"label", "score", "probabilities"}, {"labels", "probabilities"}
        (multi-label) or {"value"} (regression).

        Args:
            rows: a DataFrame, a list of dicts (or of strings for text models), one dict, or a
                file path / "sklearn:NAME".

        Example:
            >>> model.predict(["a gripping, funny film"])[0]["label"]
            'positive'
        """
        frame = self.frame(rows)
        return self.target.decode(self.output(frame), frame)

    def predict_stream(self, frame: Any, chunk_rows: int = CHUNK_ROWS) -> Iterator[dict[str, Any]]:
        """The predictions of `predict`, one at a time, computed `chunk_rows` rows at a time:
        outputs are held for one chunk only, however long the input.

        Args:
            frame: what `frame(rows)` returned (sentences and images come as one chunk).
            chunk_rows: rows per chunk (default 8192).
        """
        if not isinstance(frame, pd.DataFrame):
            yield from self.target.decode(self.output(frame), frame)
            return
        if hasattr(self.inputs, "texts"):
            self.inputs.texts(frame)  # errors name the row of the whole input, not of a chunk
        for start in range(0, len(frame), chunk_rows):
            chunk = frame.iloc[start : start + chunk_rows]
            yield from self.target.decode(self.output(chunk), chunk)

    def frame(self, rows: Rows) -> Any:
        """Rows as the model reads them: a DataFrame here (texts, sentences or images in the
        families that read those)."""
        return as_frame(rows, self.config.data.encoding)

    @property
    def input_columns(self) -> list[str]:
        """The columns one input row must hold (new data for `trainforge update` too)."""
        return list(self.inputs.columns_)

    def output(self, frame: Any) -> Any:
        """Raw task output: probabilities (n, k) or standardised values (n,) for regression."""
        if self.estimator is not None:
            features = self.inputs.transform(frame)
            if self.target.kind == "regression":
                return np.asarray(self.estimator.predict(features), dtype=np.float64)
            return np.asarray(self.estimator.predict_proba(features), dtype=np.float64)
        return self._forward(self.input_batches(frame), len(frame))

    def input_batches(self, frame: Any, batch_size: int | None = None) -> Any:
        """(row positions, network inputs) per batch of a frame (tabular and text models)."""
        batch_size = batch_size or self.config.train.eval_batch_size
        if isinstance(self.inputs, TabularPreprocessor):
            return _feature_batches(self.inputs.transform(frame), batch_size)
        return self.inputs.batches(frame, batch_size)

    def _forward(self, batches: Any, n: int) -> np.ndarray:
        import torch

        self.network.eval()
        device = next(self.network.parameters()).device
        result: np.ndarray | None = None
        with torch.inference_mode():
            for rows, batch in batches:
                output = self.target.probabilities(
                    self.network(**{k: v.to(device) for k, v in batch.items()})
                )
                values = output.double().cpu().numpy()
                if result is None:
                    result = np.zeros((n, *values.shape[1:]), dtype=np.float64)
                result[rows] = values
        assert result is not None, "no rows"
        return result

    def evaluate(self, rows: Rows) -> dict[str, Any]:
        """Metrics on labelled rows (the label column must be present)."""
        frame = self.frame(rows)
        column = self.config.data.label_column
        if column not in frame.columns:
            raise DataError(
                f"label column {column!r} not found; evaluation needs labelled rows",
                where=str(frame.attrs.get("source", "input")),
                fix=f"Add the {column!r} column, or use `trainforge predict` for unlabelled data",
            )
        return self.target.metrics(encode_targets(self.target, frame), self.chunked_output(frame))

    def chunked_output(self, frame: pd.DataFrame, chunk_rows: int = CHUNK_ROWS) -> np.ndarray:
        """`output(frame)` computed `chunk_rows` rows at a time: only the outputs (one row of
        probabilities per input) outlive a chunk, never its texts, tokens or batches."""
        if hasattr(self.inputs, "texts"):
            self.inputs.texts(frame)  # errors name the row of the whole input, not of a chunk
        parts = [
            self.output(frame.iloc[start : start + chunk_rows])
            for start in range(0, len(frame), chunk_rows)
        ]
        return np.concatenate(parts) if parts else self.output(frame)


def encode_targets(target: Target, frame: pd.DataFrame) -> np.ndarray:
    """Encoded targets of a labelled frame, for any target kind."""
    if hasattr(target, "encode"):
        return target.encode(frame)
    from trainforge.data.readers import row_place
    from trainforge.tasks.multilabel import MultiLabelTarget

    if not isinstance(target, MultiLabelTarget):
        raise TypeError(f"{target.kind} targets are encoded from sentences, not a frame")
    rows = list(frame.index)
    return target.encode_values(frame[target.column], lambda i: row_place(frame, rows[i]))


def _feature_batches(features: np.ndarray, batch_size: int) -> Any:
    import torch

    for start in range(0, len(features), batch_size):
        rows = np.arange(start, min(start + batch_size, len(features)))
        yield rows, {"features": torch.from_numpy(features[start : start + batch_size])}


def as_frame(rows: Rows, encoding: str = "utf-8", text_column: str | None = None) -> pd.DataFrame:
    """Accept a DataFrame, records, one record, strings (text models) or a file path.

    A .txt file (text models) holds one text per line.
    """
    if isinstance(rows, pd.DataFrame):
        frame = rows
    elif isinstance(rows, (str, Path)) and text_column and str(rows).endswith(".txt"):
        path = Path(rows)
        if not path.is_file():
            read_table(str(path))  # raises the usual file-not-found error
        lines = [line for line in path.read_text(encoding=encoding).splitlines() if line.strip()]
        frame = pd.DataFrame({text_column: lines})
        frame.attrs.update(source=str(path), first_line=1)
    elif isinstance(rows, (str, Path)):
        frame = read_table(str(rows), encoding=encoding)
    elif isinstance(rows, dict):
        frame = pd.DataFrame([rows])
    elif isinstance(rows, list) and text_column and all(isinstance(r, str) for r in rows):
        frame = pd.DataFrame({text_column: rows})
    elif isinstance(rows, list) and all(isinstance(r, dict) for r in rows):
        frame = pd.DataFrame.from_records(rows)
    else:
        kind = "a list of strings, " if text_column else ""
        raise DataError(
            f"cannot predict on a {type(rows).__name__}",
            where="predict(rows)",
            fix=f"Pass {kind}a DataFrame, a list of dicts (one per row), or a file path",
        )
    if frame.empty:
        raise DataError(
            "no rows to predict on",
            where=str(frame.attrs.get("source", "input")),
            fix="Pass at least one row",
        )
    frame.attrs.setdefault("source", "input")
    return frame

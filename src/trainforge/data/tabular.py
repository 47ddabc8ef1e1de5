"""Tabular preprocessing: impute, scale, one-hot encode; fitted on training rows only.

The learned state is plain JSON (numbers and category lists), saved in the model package, so
loading a model never unpickles anything.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import pandas as pd

from trainforge.data.readers import row_place
from trainforge.errors import DataError, format_choices

MAX_CATEGORIES = 1000


class TabularPreprocessor:
    """Turns a DataFrame of mixed columns into a float32 matrix.

    Numeric columns: missing values filled with the training median, then standardised.
    Other columns: missing values filled with the most frequent training value, then one-hot.

    Args:
        feature_columns: columns to use; None means every column except `label_column`.
        label_column: excluded from the features.
        missing: "impute" fills missing values; "error" refuses them.
        unknown_category: "error" refuses categories unseen in training; "ignore" encodes
            them as all zeros.

    Example:
        >>> prep = TabularPreprocessor(None, "target").fit(train_frame)
        >>> matrix = prep.transform(test_frame)
    """

    def __init__(
        self,
        feature_columns: list[str] | None,
        label_column: str,
        missing: Literal["impute", "error"] = "impute",
        unknown_category: Literal["error", "ignore"] = "error",
    ) -> None:
        self.feature_columns = feature_columns
        self.label_column = label_column
        self.missing = missing
        self.unknown_category = unknown_category

    def fit(self, frame: pd.DataFrame) -> TabularPreprocessor:
        """Learn fill values, scales and categories from the training frame; returns self."""
        columns = self.feature_columns or [
            str(c) for c in frame.columns if str(c) != self.label_column
        ]
        if not columns:
            raise DataError(
                "no feature columns: the data holds only the label column",
                where=str(frame.attrs.get("source", "data")),
                fix="Add input columns to the file, or set data.feature_columns",
            )
        self.columns_: list[str] = columns
        self.numeric_: list[dict[str, Any]] = []
        self.categorical_: list[dict[str, Any]] = []
        for name in columns:
            values = frame[name]
            if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
                numbers = self._numbers(frame, name)
                finite = numbers[np.isfinite(numbers)]
                median = float(np.median(finite)) if finite.size else 0.0
                std = float(finite.std()) if finite.size else 1.0
                self.numeric_.append(
                    {
                        "name": name,
                        "fill": median,
                        "mean": float(finite.mean()) if finite.size else 0.0,
                        "scale": std if std > 0 else 1.0,
                    }
                )
            else:
                self._check_missing(frame, name)
                text = values.dropna().astype(str)
                counts = text.value_counts()
                if len(counts) > MAX_CATEGORIES:
                    raise DataError(
                        f"column {name!r} has {len(counts)} distinct text values: too many to "
                        "one-hot encode (it looks like an ID or free text)",
                        where=str(frame.attrs.get("source", "data")),
                        fix="Leave it out with data.feature_columns",
                    )
                self.categorical_.append(
                    {
                        "name": name,
                        "fill": str(counts.index[0]) if len(counts) else "",
                        "categories": sorted(counts.index.tolist()),
                    }
                )
        return self

    @property
    def feature_names_out_(self) -> list[str]:
        """Names of the output matrix's columns, e.g. ["age", "color=red", "color=blue"]."""
        names = [c["name"] for c in self.numeric_]
        for column in self.categorical_:
            names += [f"{column['name']}={v}" for v in column["categories"]]
        return names

    def transform(self, frame: pd.DataFrame) -> np.ndarray:
        """Encode rows with the fitted state; raises DataError naming the row on bad values."""
        absent = [c for c in self.columns_ if c not in frame.columns]
        if absent:
            raise DataError(
                f"missing feature column(s) {format_choices(absent)}",
                where=str(frame.attrs.get("source", "input")),
                fix=f"The model was trained on columns {format_choices(self.columns_)}; "
                "supply all of them",
            )
        blocks = []
        for column in self.numeric_:
            numbers = self._numbers(frame, column["name"])
            numbers = np.where(np.isnan(numbers), column["fill"], numbers)
            blocks.append(((numbers - column["mean"]) / column["scale"])[:, None])
        for column in self.categorical_:
            blocks.append(self._one_hot(frame, column))
        if not blocks:
            return np.zeros((len(frame), 0), dtype=np.float32)
        return np.hstack(blocks).astype(np.float32)

    def state_dict(self) -> dict[str, Any]:
        """JSON-serialisable learned state and settings."""
        return {
            "feature_columns": self.feature_columns,
            "label_column": self.label_column,
            "missing": self.missing,
            "unknown_category": self.unknown_category,
            "columns": self.columns_,
            "numeric": self.numeric_,
            "categorical": self.categorical_,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> TabularPreprocessor:
        """Rebuild a fitted preprocessor from `state_dict()` output."""
        prep = cls(
            state["feature_columns"],
            state["label_column"],
            state["missing"],
            state["unknown_category"],
        )
        prep.columns_ = state["columns"]
        prep.numeric_ = state["numeric"]
        prep.categorical_ = state["categorical"]
        return prep

    # --- checks that name the offending row ------------------------------------------------

    def _numbers(self, frame: pd.DataFrame, name: str) -> np.ndarray:
        values = frame[name]
        numbers = pd.to_numeric(values, errors="coerce")
        not_numbers = numbers.isna() & values.notna()
        if not_numbers.any():
            row = frame.index[not_numbers.to_numpy()][0]
            raise DataError(
                f"column {name!r} holds {values.loc[row]!r}, which is not a number",
                where=row_place(frame, row),
                fix="The model was trained with this column as numeric; fix or drop the row",
            )
        array = numbers.to_numpy(dtype=np.float64, na_value=np.nan)
        infinite = np.isinf(array)
        if infinite.any():
            row = frame.index[infinite][0]
            raise DataError(
                f"column {name!r} holds an infinite value ({array[infinite][0]})",
                where=row_place(frame, row),
                fix="Replace inf/-inf with a finite number or leave the cell empty to impute it",
            )
        self._check_missing(frame, name)
        return array

    def _check_missing(self, frame: pd.DataFrame, name: str) -> None:
        if self.missing != "error":
            return
        missing = frame[name].isna().to_numpy()
        if missing.any():
            row = frame.index[missing][0]
            raise DataError(
                f"column {name!r} has a missing value (NaN/empty)",
                where=row_place(frame, row),
                fix="Fill it in, or set data.missing: impute to fill missing values",
            )

    def _one_hot(self, frame: pd.DataFrame, column: dict[str, Any]) -> np.ndarray:
        categories: list[str] = column["categories"]
        index = {value: i for i, value in enumerate(categories)}
        text = frame[column["name"]].astype(object).where(frame[column["name"]].notna(), None)
        out = np.zeros((len(frame), len(categories)), dtype=np.float32)
        for i, (row, value) in enumerate(zip(frame.index, text, strict=True)):
            key = column["fill"] if value is None else str(value)
            position = index.get(key)
            if position is not None:
                out[i, position] = 1.0
            elif self.unknown_category == "error":
                raise DataError(
                    f"column {column['name']!r} holds {key!r}, a category not seen in training "
                    f"(known: {format_choices(categories)})",
                    where=row_place(frame, row),
                    fix="Fix the value, or set data.unknown_category: ignore when training to "
                    "encode unseen categories as all zeros",
                )
        return out

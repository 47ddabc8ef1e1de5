"""Regression targets: standardised values in, values on the original scale out."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from trainforge.data.readers import row_place
from trainforge.errors import DataError


class RegressionTarget:
    """What a regression task adds on top of the inputs: one number per row.

    The network learns a standardised target (mean 0, std 1 on training rows) so the
    default learning rate suits any unit; predictions are mapped back.

    Args:
        column: the target column.
        loss: "mse", "mae" or "huber".
    """

    kind = "regression"
    n_outputs = 1

    def __init__(self, column: str, loss: str = "mse") -> None:
        self.column = column
        self.loss = loss

    def fit(self, frame: pd.DataFrame) -> RegressionTarget:
        """Learn the target's mean and standard deviation; returns self."""
        values = self._values(frame)
        self.mean_ = float(values.mean())
        std = float(values.std())
        self.scale_ = std if std > 0 else 1.0
        return self

    def state_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "column": self.column,
            "loss": self.loss,
            "mean": self.mean_,
            "scale": self.scale_,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> RegressionTarget:
        target = cls(state["column"], state["loss"])
        target.mean_, target.scale_ = state["mean"], state["scale"]
        return target

    def encode(self, frame: pd.DataFrame) -> np.ndarray:
        """Standardised targets (float32)."""
        return ((self._values(frame) - self.mean_) / self.scale_).astype(np.float32)

    def unscale(self, values: np.ndarray) -> np.ndarray:
        """Model outputs back to the target's unit."""
        return np.asarray(values, dtype=np.float64).reshape(-1) * self.scale_ + self.mean_

    def loss_fn(self) -> Any:
        from torch import nn

        loss = {"mse": nn.MSELoss(), "mae": nn.L1Loss(), "huber": nn.HuberLoss()}[self.loss]
        return lambda output, y: loss(output.squeeze(-1), y)

    def probabilities(self, output: Any) -> Any:
        """Regression has no probabilities: the (standardised) value itself, shape (n,)."""
        return output.float().squeeze(-1)

    def metric_collection(self) -> Any:
        from torchmetrics import MeanAbsoluteError, MeanSquaredError, MetricCollection, R2Score

        return MetricCollection(
            {
                "rmse": MeanSquaredError(squared=False),
                "mae": MeanAbsoluteError(),
                "r2": R2Score(),
            }
        )

    def metric_target(self, labels: Any) -> Any:
        return labels

    def rescale_metric(self, name: str, value: float) -> float:
        """Validation metrics are computed on the standardised scale; report them in units."""
        return value * self.scale_ if name in ("rmse", "mae") else value

    def metrics(self, y_true: np.ndarray, output: np.ndarray) -> dict[str, Any]:
        """Evaluation metrics on the original scale; `y_true` and `output` are standardised."""
        from trainforge.evaluation import regression_metrics

        return regression_metrics(self.unscale(y_true), self.unscale(output))

    def decode(self, output: np.ndarray, rows: Any = None) -> list[dict[str, Any]]:
        return [{"value": round(float(v), 6)} for v in self.unscale(output)]

    def display_labels(self) -> Sequence[str] | None:
        return None

    def _values(self, frame: pd.DataFrame) -> np.ndarray:
        numbers = pd.to_numeric(frame[self.column], errors="coerce")
        bad = numbers.isna() | ~np.isfinite(numbers.to_numpy(dtype=np.float64, na_value=np.nan))
        if bad.any():
            row = frame.index[bad.to_numpy()][0]
            raise DataError(
                f"target column {self.column!r} holds {frame[self.column].loc[row]!r}, "
                "not a finite number",
                where=row_place(frame, row),
                fix="Regression needs a number in every row: fix or drop the row",
            )
        return numbers.to_numpy(dtype=np.float64)

"""Classification targets: label map, head size, loss, probabilities, metrics, decoding."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from trainforge.data.readers import row_place
from trainforge.errors import ConfigError, DataError, format_choices


class ClassificationTarget:
    """What a classification task adds on top of the inputs: labels in, class scores out.

    Args:
        column: the label column.
        loss: "cross_entropy" (k logits, softmax) or "bce" (binary only: one logit, sigmoid).
        class_weight: "balanced" weighs the loss by inverse class frequency.
        label_smoothing: for cross_entropy.
        abstain_precision: set the abstention threshold on validation data for this precision.
        threshold: a fixed abstention threshold: below it the prediction is null ("unknown").
    """

    kind = "classification"

    def __init__(
        self,
        column: str,
        loss: str = "cross_entropy",
        class_weight: str = "none",
        label_smoothing: float = 0.0,
        abstain_precision: float | None = None,
        threshold: float | None = None,
    ) -> None:
        self.column = column
        self.loss = loss
        self.class_weight = class_weight
        self.label_smoothing = label_smoothing
        self.abstain_precision = abstain_precision
        self.threshold_ = threshold

    # --- learned state ----------------------------------------------------------------------

    def fit(self, frame: pd.DataFrame, known: Sequence[str] = ()) -> ClassificationTarget:
        """Learn the label set (sorted) and class weights from training rows; returns self.

        `known` labels (those of a model being updated) stay in the set without rows.
        """
        source = str(frame.attrs.get("source", "data"))
        return self.fit_values(frame[self.column], source, known)

    def fit_values(
        self, values: Iterable[Any], source: str, known: Sequence[str] = ()
    ) -> ClassificationTarget:
        """As `fit`, from the label values themselves (text data sets stream them)."""
        counts = pd.Series([str(v) for v in values]).value_counts()
        if known:
            counts = counts.reindex(counts.index.union(pd.Index(list(known))), fill_value=0)
        if len(counts) < 2:
            raise DataError(
                f"the label column {self.column!r} holds one class only "
                f"({counts.index[0]!r}); a classifier needs at least two",
                where=source,
                fix="Check data.label_column, or add rows of the other classes",
            )
        if self.loss == "bce" and len(counts) != 2:
            raise ConfigError(
                f"train.loss 'bce' needs exactly 2 classes; {self.column!r} has {len(counts)}",
                where="train.loss",
                fix="Use train.loss: cross_entropy (or auto) for more than two classes",
            )
        self.labels_: list[str] = sorted(counts.index.tolist())
        self.class_weights_: list[float] | None = (
            balanced_weights(counts.to_dict(), self.labels_)
            if self.class_weight == "balanced"
            else None
        )
        return self

    def state_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "column": self.column,
            "loss": self.loss,
            "labels": self.labels_,
            "class_weights": self.class_weights_,
            "label_smoothing": self.label_smoothing,
            "abstain_precision": self.abstain_precision,
            "threshold": self.threshold_,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> ClassificationTarget:
        target = cls(
            state["column"],
            state["loss"],
            label_smoothing=state["label_smoothing"],
            abstain_precision=state.get("abstain_precision"),
            threshold=state.get("threshold"),
        )
        target.labels_ = state["labels"]
        target.class_weights_ = state["class_weights"]
        return target

    # --- data ---------------------------------------------------------------------------------

    @property
    def n_outputs(self) -> int:
        return 1 if self.loss == "bce" else len(self.labels_)

    def encode(self, frame: pd.DataFrame) -> np.ndarray:
        """Label indices for the frame's label column; unseen labels are an error."""
        rows = list(frame.index)
        return self.encode_values(frame[self.column], lambda i: row_place(frame, rows[i]))

    def encode_values(self, values: Iterable[Any], place: Callable[[int], str]) -> np.ndarray:
        """Label indices; `place(i)` names row i in errors."""
        index = {label: i for i, label in enumerate(self.labels_)}
        encoded = []
        for row, value in enumerate(values):
            position = index.get(str(value))
            if position is None:
                raise DataError(
                    f"label {str(value)!r} was not in the training data "
                    f"(known: {format_choices(self.labels_)})",
                    where=place(row),
                    fix="Fix the label, or add examples of it to the training data",
                )
            encoded.append(position)
        return np.asarray(encoded, dtype=np.int64)

    # --- model outputs ------------------------------------------------------------------------

    def loss_fn(self) -> Any:
        """A callable (logits, targets) -> scalar loss."""
        import torch
        from torch import nn

        if self.loss == "bce":
            pos_weight = None
            if self.class_weights_ is not None:
                pos_weight = torch.tensor([self.class_weights_[1] / self.class_weights_[0]])
            bce = nn.BCEWithLogitsLoss(pos_weight=pos_weight)
            return lambda logits, y: bce(logits.squeeze(-1), y.float())
        weight = (
            torch.tensor(self.class_weights_, dtype=torch.float32)
            if self.class_weights_ is not None
            else None
        )
        return nn.CrossEntropyLoss(weight=weight, label_smoothing=self.label_smoothing)

    def probabilities(self, logits: Any) -> Any:
        """Class probabilities (n, k) from raw model outputs (a torch tensor)."""
        import torch

        if self.loss == "bce":
            positive = torch.sigmoid(logits.float()).reshape(-1, 1)
            return torch.cat([1 - positive, positive], dim=1)
        return torch.softmax(logits.float(), dim=-1)

    def metric_collection(self) -> Any:
        """torchmetrics logged each validation epoch (accumulated batch by batch)."""
        from torchmetrics import MetricCollection
        from torchmetrics.classification import MulticlassAccuracy, MulticlassF1Score

        k = len(self.labels_)
        return MetricCollection(
            {
                "accuracy": MulticlassAccuracy(num_classes=k, average="micro"),
                "f1_macro": MulticlassF1Score(num_classes=k, average="macro"),
            }
        )

    def metric_target(self, labels: Any) -> Any:
        return labels

    def rescale_metric(self, name: str, value: float) -> float:
        """Classification metrics need no rescaling (same interface as regression)."""
        return value

    def metrics(self, y_true: np.ndarray, output: np.ndarray) -> dict[str, Any]:
        """Full evaluation metrics from labels and probabilities."""
        from trainforge.evaluation import classification_metrics

        metrics = classification_metrics(y_true, output, self.labels_)
        if self.threshold_ is not None:
            metrics |= abstention_metrics(y_true, output, self.threshold_)
        return metrics

    def tune_threshold(self, y_true: np.ndarray, proba: np.ndarray) -> float | None:
        """With `abstain_precision`: the lowest threshold on the top probability whose answered
        (validation) rows reach that precision; saved with the model."""
        if self.abstain_precision is not None:
            self.threshold_ = precision_threshold(y_true, proba, self.abstain_precision)
        return self.threshold_

    def decode(self, output: np.ndarray, rows: Any = None) -> list[dict[str, Any]]:
        """One prediction per row: label, its probability, and every class's probability.

        Under the abstention threshold the label is None ("unknown"); the scores stay."""
        best = output.argmax(axis=1)
        floor = -1.0 if self.threshold_ is None else self.threshold_
        return [
            {
                "label": self.labels_[b] if row[b] >= floor else None,
                "score": round(float(row[b]), 6),
                "probabilities": {
                    label: round(float(p), 6) for label, p in zip(self.labels_, row, strict=True)
                },
            }
            for b, row in zip(best, output, strict=True)
        ]

    def display_labels(self) -> Sequence[str] | None:
        return self.labels_


def balanced_weights(counts: Mapping[str, int], labels: Sequence[str]) -> list[float]:
    """Inverse-frequency loss weights, n / (k * count) per label (scikit-learn's "balanced")."""
    total = sum(counts.get(label, 0) for label in labels)
    return [total / (len(labels) * max(counts.get(label, 0), 1)) for label in labels]


def precision_threshold(y_true: np.ndarray, proba: np.ndarray, precision: float) -> float:
    """The lowest top-probability threshold at which the rows answered reach `precision`.

    Rows are answered when their top probability is at or over the threshold. Where no
    threshold reaches the precision, the highest top probability: only the surest rows answer.
    """
    top = proba.max(axis=1)
    correct = proba.argmax(axis=1) == np.asarray(y_true)
    order = np.argsort(-top, kind="stable")
    # Precision of the k surest rows, for every k; a threshold must take all ties together.
    running = np.cumsum(correct[order]) / np.arange(1, len(order) + 1)
    sorted_top = top[order]
    last_of_tie = np.r_[sorted_top[1:] != sorted_top[:-1], True]
    reaching = np.flatnonzero(last_of_tie & (running >= precision))
    if len(reaching) == 0:
        return float(sorted_top[0]) if len(sorted_top) else 1.0
    return float(sorted_top[reaching[-1]])


def abstention_metrics(y_true: np.ndarray, proba: np.ndarray, threshold: float) -> dict[str, Any]:
    """Coverage (share of rows answered) and the accuracy of the answered rows."""
    answered = proba.max(axis=1) >= threshold
    correct = proba.argmax(axis=1) == np.asarray(y_true)
    return {
        "abstain_threshold": round(float(threshold), 6),
        "coverage": float(answered.mean()) if len(answered) else 0.0,
        "answered_accuracy": float(correct[answered].mean()) if answered.any() else None,
    }

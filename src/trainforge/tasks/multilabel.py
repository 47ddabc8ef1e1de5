"""Multi-label targets: each row carries a set of labels; one sigmoid per label.

The decision threshold is tuned on validation data (the one maximising micro-F1) and saved.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from trainforge.errors import DataError, format_choices


def parse_labels(value: Any, delimiter: str) -> list[str]:
    """A row's labels from a JSON list or a delimited string ("sports|politics").

    A label repeated in one row counts once (first occurrence order kept).
    """
    if isinstance(value, (list, tuple, np.ndarray)):
        parts = [str(v).strip() for v in value]
    elif value is None or (isinstance(value, float) and np.isnan(value)):
        return []
    else:
        parts = [part.strip() for part in str(value).split(delimiter)]
    return list(dict.fromkeys(part for part in parts if part))


class MultiLabelTarget:
    """Sets of labels in, a probability per label out.

    Args:
        column: the label column.
        delimiter: separates labels inside one string cell.
        class_weight: "balanced" weighs positives of rare labels up (BCE pos_weight).
    """

    kind = "multilabel"

    def __init__(self, column: str, delimiter: str = "|", class_weight: str = "none") -> None:
        self.column = column
        self.delimiter = delimiter
        self.class_weight = class_weight
        self.threshold_ = 0.5

    def fit_values(self, values: Iterable[Any], source: str) -> MultiLabelTarget:
        """Learn the label set (and positive weights) from training values; returns self."""
        counts: dict[str, int] = {}
        n = 0
        for value in values:
            n += 1
            for label in parse_labels(value, self.delimiter):
                counts[label] = counts.get(label, 0) + 1
        if len(counts) < 2:
            raise DataError(
                f"the label column {self.column!r} holds fewer than two distinct labels "
                f"({format_choices(sorted(counts))})",
                where=source,
                fix=f"Check data.label_column and data.label_delimiter ({self.delimiter!r})",
            )
        self.labels_: list[str] = sorted(counts)
        self.pos_weight_: list[float] | None = (
            [(n - counts[label]) / counts[label] for label in self.labels_]
            if self.class_weight == "balanced"
            else None
        )
        return self

    @property
    def n_outputs(self) -> int:
        return len(self.labels_)

    def encode_values(self, values: Iterable[Any], place: Callable[[int], str]) -> np.ndarray:
        """(n, k) 0/1 float matrix; a label unseen in training is an error naming its row."""
        index = {label: i for i, label in enumerate(self.labels_)}
        rows = []
        for row, value in enumerate(values):
            vector = np.zeros(len(self.labels_), dtype=np.float32)
            for label in parse_labels(value, self.delimiter):
                if label not in index:
                    raise DataError(
                        f"label {label!r} was not in the training data "
                        f"(known: {format_choices(self.labels_)})",
                        where=place(row),
                        fix="Fix the label, or add examples of it to the training data",
                    )
                vector[index[label]] = 1.0
            rows.append(vector)
        return np.stack(rows) if rows else np.zeros((0, len(self.labels_)), dtype=np.float32)

    def state_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "column": self.column,
            "delimiter": self.delimiter,
            "labels": self.labels_,
            "pos_weight": self.pos_weight_,
            "threshold": self.threshold_,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> MultiLabelTarget:
        target = cls(state["column"], state["delimiter"])
        target.labels_ = state["labels"]
        target.pos_weight_ = state["pos_weight"]
        target.threshold_ = state["threshold"]
        return target

    def loss_fn(self) -> Any:
        import torch
        from torch import nn

        weight = torch.tensor(self.pos_weight_) if self.pos_weight_ is not None else None
        bce = nn.BCEWithLogitsLoss(pos_weight=weight)
        return lambda logits, y: bce(logits.float(), y.float())

    def probabilities(self, logits: Any) -> Any:
        import torch

        return torch.sigmoid(logits.float())

    def metric_collection(self) -> Any:
        from torchmetrics import MetricCollection
        from torchmetrics.classification import MultilabelExactMatch, MultilabelF1Score

        k = len(self.labels_)
        return MetricCollection(
            {
                "accuracy": MultilabelExactMatch(num_labels=k),
                "f1_micro": MultilabelF1Score(num_labels=k, average="micro"),
                "f1_macro": MultilabelF1Score(num_labels=k, average="macro"),
            }
        )

    def metric_target(self, labels: Any) -> Any:
        return labels.int()

    def rescale_metric(self, name: str, value: float) -> float:
        return value

    def tune_threshold(self, y_true: np.ndarray, proba: np.ndarray) -> float:
        """Pick the threshold with the best micro-F1 on (validation) data; saved with the model."""
        from sklearn.metrics import f1_score

        grid = np.round(np.arange(0.05, 0.951, 0.05), 2)
        scores = [f1_score(y_true, proba >= t, average="micro", zero_division=0) for t in grid]
        self.threshold_ = float(grid[int(np.argmax(scores))])
        return self.threshold_

    def metrics(self, y_true: np.ndarray, proba: np.ndarray) -> dict[str, Any]:
        """Subset accuracy, micro/macro/weighted P/R/F1, macro ROC-AUC, per-label table."""
        from sklearn import metrics as m

        predicted = proba >= self.threshold_
        out: dict[str, Any] = {"accuracy": float(m.accuracy_score(y_true, predicted))}
        for average in ("micro", "macro", "weighted"):
            p, r, f, _ = m.precision_recall_fscore_support(
                y_true, predicted, average=average, zero_division=0
            )
            out |= {f"precision_{average}": float(p), f"recall_{average}": float(r)}
            out[f"f1_{average}"] = float(f)
        scorable = [j for j in range(y_true.shape[1]) if 0 < y_true[:, j].sum() < len(y_true)]
        if scorable:
            out["roc_auc"] = float(
                np.mean([m.roc_auc_score(y_true[:, j], proba[:, j]) for j in scorable])
            )
        out["threshold"] = self.threshold_
        out["n_samples"] = len(y_true)
        p, r, f, s = m.precision_recall_fscore_support(y_true, predicted, zero_division=0)
        out["per_class"] = {
            label: {
                "precision": float(p[j]),
                "recall": float(r[j]),
                "f1": float(f[j]),
                "support": int(s[j]),
            }
            for j, label in enumerate(self.labels_)
        }
        return out

    def decode(self, output: np.ndarray, rows: Any = None) -> list[dict[str, Any]]:
        """Every label at or over the threshold, with all probabilities."""
        return [
            {
                "labels": [
                    lab for lab, p in zip(self.labels_, row, strict=True) if p >= self.threshold_
                ],
                "probabilities": {
                    lab: round(float(p), 6) for lab, p in zip(self.labels_, row, strict=True)
                },
            }
            for row in output
        ]

    def display_labels(self) -> Sequence[str] | None:
        return self.labels_

"""Scalar evaluation metrics for classification and regression, as JSON-ready dicts.

Every value returned is a plain Python ``int``/``float``/``str``/``list``/``dict`` (never a
numpy type and never NaN), so the result can go straight into ``json.dumps`` and the model
package's ``metrics.json``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

# Probabilities are clipped to [_EPS, 1 - _EPS] before the log loss so a confident wrong
# prediction gives a large finite loss instead of inf.
_EPS = 1e-15


def _as_1d(values: Any, name: str) -> np.ndarray:
    """Return ``values`` as a non-empty 1-D array, or raise ValueError naming ``name``."""
    array = np.asarray(values)
    if array.ndim == 2 and array.shape[1] == 1:
        # A (n, 1) column is what many predict() calls return for one target; accept it.
        array = array[:, 0]
    if array.ndim != 1:
        raise ValueError(f"'{name}' must be a 1-D array; got an array of shape {array.shape}.")
    if array.size == 0:
        raise ValueError(f"'{name}' is empty; metrics need at least one sample.")
    return array


def _check_same_length(y_true: np.ndarray, other: np.ndarray, other_name: str) -> None:
    """Raise ValueError when ``y_true`` and ``other`` hold different numbers of samples."""
    if len(y_true) != len(other):
        raise ValueError(
            f"'y_true' has {len(y_true)} samples but '{other_name}' has {len(other)}; "
            "they must describe the same samples, in the same order."
        )


def _validate_classification(
    y_true: Any, proba: Any, labels: Sequence[str]
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Check shapes and ranges once, at the boundary; return clean arrays and labels."""
    names = [str(label) for label in labels]
    k = len(names)
    if k < 2:
        raise ValueError(f"'labels' must name at least 2 classes; got {k}: {names!r}.")
    if len(set(names)) != k:
        duplicates = sorted({n for n in names if names.count(n) > 1})
        raise ValueError(f"'labels' must be unique; repeated: {duplicates!r}.")

    y = _as_1d(y_true, "y_true")
    # Accept integral floats (e.g. 1.0 from pandas), reject anything else.
    integral = np.issubdtype(y.dtype, np.integer) or (
        np.issubdtype(y.dtype, np.number) and bool(np.all(np.mod(y, 1) == 0))
    )
    if not integral:
        raise ValueError(
            f"'y_true' must hold integer class indices in [0, {k}); got values of dtype {y.dtype}."
        )
    y = y.astype(np.int64)

    p = np.asarray(proba, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] != k:
        raise ValueError(
            f"'proba' must have shape (n_samples, {k}) to match the {k} labels; "
            f"got shape {p.shape}."
        )
    _check_same_length(y, p, "proba")
    if not np.all(np.isfinite(p)):
        raise ValueError("'proba' contains NaN or infinite values; expected probabilities.")
    out_of_range = y[(y < 0) | (y >= k)]
    if out_of_range.size:
        raise ValueError(
            f"'y_true' must hold class indices in [0, {k}); "
            f"got {int(out_of_range[0])} (and {out_of_range.size - 1} more out of range)."
        )
    return y, p, names


def _roc_auc(y: np.ndarray, p: np.ndarray) -> float | None:
    """Binary AUC on proba[:, 1], or one-vs-rest macro AUC; None when it is undefined."""
    from sklearn.metrics import roc_auc_score

    k = p.shape[1]
    present = np.unique(y)
    if present.size < 2:
        return None
    if k == 2:
        return float(roc_auc_score(y, p[:, 1]))
    if present.size < k:
        # A class with no positives has no ROC curve, so the macro average is undefined.
        return None
    # Same value as roc_auc_score(multi_class="ovr", average="macro"), computed per class so
    # float32 softmax rows that do not sum exactly to 1 are not rejected.
    return float(np.mean([roc_auc_score(y == c, p[:, c]) for c in range(k)]))


def _log_loss(y: np.ndarray, p: np.ndarray) -> float:
    """Cross-entropy over all k classes, with probabilities clipped and rows renormalised."""
    from sklearn.metrics import log_loss

    clipped = np.clip(p, _EPS, 1.0 - _EPS)
    clipped /= clipped.sum(axis=1, keepdims=True)
    # labels=range(k) so the loss is defined even when y_true lacks some classes.
    return float(log_loss(y, clipped, labels=list(range(p.shape[1]))))


def classification_metrics(
    y_true: np.ndarray, proba: np.ndarray, labels: Sequence[str]
) -> dict[str, Any]:
    """Compute accuracy, P/R/F1 averages, ROC AUC, log loss, per-class scores and confusion.

    The predicted class is ``argmax(proba, axis=1)``. Macro/weighted averages cover the
    classes seen in ``y_true`` or in the predictions (scikit-learn's default, and what
    torchmetrics does), so a class absent from both does not drag the average to 0;
    ``per_class`` and ``confusion_matrix`` still list every label.

    Args:
        y_true: (n,) integer class indices in ``[0, k)``.
        proba: (n, k) class probabilities, rows summing to 1, columns in ``labels`` order.
        labels: the k class names, in index order.

    Returns:
        Flat scalar keys ``accuracy``, ``{precision,recall,f1}_{macro,micro,weighted}``,
        ``roc_auc`` (omitted when undefined), ``log_loss``, ``n_samples``; plus ``per_class``
        (``{label: {precision, recall, f1, support}}``) and ``confusion_matrix`` (k×k list of
        int lists, rows = true, columns = predicted).

    Example:
        >>> m = classification_metrics(np.array([0, 1]), np.array([[0.9, 0.1], [0.2, 0.8]]),
        ...                            ["neg", "pos"])
        >>> m["accuracy"], m["roc_auc"]
        (1.0, 1.0)
    """
    from sklearn.metrics import (
        accuracy_score,
        confusion_matrix,
        precision_recall_fscore_support,
    )

    y, p, names = _validate_classification(y_true, proba, labels)
    k = len(names)
    y_pred = p.argmax(axis=1)

    result: dict[str, Any] = {"accuracy": float(accuracy_score(y, y_pred))}
    for average in ("macro", "micro", "weighted"):
        precision, recall, f1, _ = precision_recall_fscore_support(
            y, y_pred, average=average, zero_division=0
        )
        result[f"precision_{average}"] = float(precision)
        result[f"recall_{average}"] = float(recall)
        result[f"f1_{average}"] = float(f1)

    auc = _roc_auc(y, p)
    if auc is not None and math.isfinite(auc):
        result["roc_auc"] = auc
    result["log_loss"] = _log_loss(y, p)
    result["n_samples"] = len(y)

    all_classes = list(range(k))
    precision, recall, f1, support = precision_recall_fscore_support(
        y, y_pred, labels=all_classes, average=None, zero_division=0
    )
    result["per_class"] = {
        name: {
            "precision": float(precision[i]),
            "recall": float(recall[i]),
            "f1": float(f1[i]),
            "support": int(support[i]),
        }
        for i, name in enumerate(names)
    }
    # labels=all_classes keeps the matrix k×k even when a class never occurs.
    matrix = confusion_matrix(y, y_pred, labels=all_classes)
    result["confusion_matrix"] = [[int(v) for v in row] for row in matrix]
    return result


def regression_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, Any]:
    """Compute MSE, RMSE, MAE, R² and Spearman's rank correlation for one regression target.

    R² is omitted for a single sample, where it is undefined (scikit-learn returns NaN);
    Spearman's ρ is omitted where either side is constant (no ranks to correlate).

    Args:
        y_true: (n,) true values.
        y_pred: (n,) predicted values, same order.

    Returns:
        ``{"mse", "rmse", "mae", "r2", "spearman", "n_samples"}`` as Python floats/ints.

    Example:
        >>> regression_metrics(np.array([1.0, 2.0]), np.array([1.0, 2.0]))["r2"]
        1.0
    """
    from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

    y = _as_1d(y_true, "y_true")
    pred = _as_1d(y_pred, "y_pred")
    _check_same_length(y, pred, "y_pred")
    try:
        y = y.astype(np.float64)
        pred = pred.astype(np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"'y_true' and 'y_pred' must be numeric: {exc}") from exc
    if not (np.all(np.isfinite(y)) and np.all(np.isfinite(pred))):
        raise ValueError("'y_true' and 'y_pred' must not contain NaN or infinite values.")

    mse = float(mean_squared_error(y, pred))
    result: dict[str, Any] = {
        "mse": mse,
        "rmse": math.sqrt(mse),
        "mae": float(mean_absolute_error(y, pred)),
    }
    if len(y) >= 2:
        result["r2"] = float(r2_score(y, pred))
    rho = _spearman(y, pred)
    if rho is not None:
        result["spearman"] = rho
    result["n_samples"] = len(y)
    return result


def _spearman(y: np.ndarray, pred: np.ndarray) -> float | None:
    """Spearman's rank correlation (ties get average ranks); None when either side is constant,
    where scipy warns and returns NaN."""
    from scipy.stats import spearmanr

    if np.ptp(y) == 0 or np.ptp(pred) == 0:
        return None
    return float(spearmanr(y, pred)[0])  # [0]: the statistic, in every scipy sklearn allows

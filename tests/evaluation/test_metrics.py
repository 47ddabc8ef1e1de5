"""Metrics match hand-computed values, stay JSON-clean, and reject bad input clearly."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pytest

from trainforge.evaluation import classification_metrics, regression_metrics

# Classic 4-sample binary case: P(class 1) = [0.1, 0.4, 0.35, 0.8] for y = [0, 0, 1, 1].
# Predictions (argmax) are [0, 0, 0, 1]; the pair (0.4 neg, 0.35 pos) is the one misranked,
# so AUC = 3/4.
BINARY_Y = np.array([0, 0, 1, 1])
BINARY_P1 = np.array([0.1, 0.4, 0.35, 0.8])
BINARY_PROBA = np.column_stack([1 - BINARY_P1, BINARY_P1])


def _assert_plain_json(value: Any) -> None:
    """Every leaf is a Python int/float/str (no numpy types) and no float is NaN/inf."""
    if isinstance(value, dict):
        for key, item in value.items():
            assert type(key) is str
            _assert_plain_json(item)
    elif isinstance(value, list):
        for item in value:
            _assert_plain_json(item)
    else:
        assert type(value) in (int, float, str), f"{value!r} is {type(value)}"
        if type(value) is float:
            assert math.isfinite(value)


def test_binary_metrics_match_hand_computed_values() -> None:
    m = classification_metrics(BINARY_Y, BINARY_PROBA, ["neg", "pos"])

    assert m["accuracy"] == pytest.approx(0.75)
    assert m["roc_auc"] == pytest.approx(0.75)
    # Class neg: P = 2/3, R = 1, F1 = 0.8; class pos: P = 1, R = 1/2, F1 = 2/3.
    assert m["precision_macro"] == pytest.approx((2 / 3 + 1) / 2)
    assert m["recall_macro"] == pytest.approx((1 + 0.5) / 2)
    assert m["f1_macro"] == pytest.approx((0.8 + 2 / 3) / 2)
    # Micro averages of single-label predictions all equal accuracy.
    assert m["f1_micro"] == pytest.approx(0.75)
    assert m["precision_micro"] == pytest.approx(0.75)
    # Equal supports: weighted == macro.
    assert m["f1_weighted"] == pytest.approx(m["f1_macro"])
    expected_log_loss = -np.mean(np.log([0.9, 0.6, 0.35, 0.8]))
    assert m["log_loss"] == pytest.approx(expected_log_loss)
    assert m["n_samples"] == 4
    assert m["confusion_matrix"] == [[2, 0], [1, 1]]
    assert m["per_class"]["neg"] == pytest.approx(
        {"precision": 2 / 3, "recall": 1.0, "f1": 0.8, "support": 2}
    )
    assert m["per_class"]["pos"]["support"] == 2


def test_multiclass_macro_f1_and_ovr_auc() -> None:
    from sklearn.metrics import roc_auc_score

    y = np.array([0, 0, 1, 1, 2, 2])
    proba = np.array(
        [
            [0.8, 0.1, 0.1],  # -> 0, right
            [0.3, 0.6, 0.1],  # -> 1, wrong
            [0.2, 0.7, 0.1],  # -> 1, right
            [0.1, 0.5, 0.4],  # -> 1, right
            [0.1, 0.2, 0.7],  # -> 2, right
            [0.5, 0.2, 0.3],  # -> 0, wrong
        ]
    )
    m = classification_metrics(y, proba, ["a", "b", "c"])

    assert m["accuracy"] == pytest.approx(4 / 6)
    # a: P 1/2 R 1/2 F1 1/2; b: P 2/3 R 1 F1 0.8; c: P 1 R 1/2 F1 2/3.
    assert m["f1_macro"] == pytest.approx((0.5 + 0.8 + 2 / 3) / 3)
    assert m["per_class"]["b"] == pytest.approx(
        {"precision": 2 / 3, "recall": 1.0, "f1": 0.8, "support": 2}
    )
    assert m["roc_auc"] == pytest.approx(roc_auc_score(y, proba, multi_class="ovr"))
    assert m["confusion_matrix"] == [[1, 1, 0], [0, 2, 0], [1, 0, 1]]


def test_confusion_matrix_is_k_by_k_with_an_absent_class() -> None:
    y = np.array([0, 1, 1, 0])
    proba = np.array([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.2, 0.3, 0.5], [0.6, 0.3, 0.1]])
    m = classification_metrics(y, proba, ["a", "b", "c"])

    assert m["confusion_matrix"] == [[2, 0, 0], [0, 1, 1], [0, 0, 0]]
    assert set(m["per_class"]) == {"a", "b", "c"}
    assert m["per_class"]["c"]["support"] == 0
    # Class "c" has no positives, so one-vs-rest AUC is undefined and left out.
    assert "roc_auc" not in m
    assert math.isfinite(m["log_loss"])
    _assert_plain_json(m)


@pytest.mark.parametrize("k", [2, 4])
def test_single_class_y_true_omits_auc_without_nan(k: int) -> None:
    rng = np.random.default_rng(0)
    proba = rng.dirichlet(np.ones(k), size=5)
    m = classification_metrics(np.zeros(5, dtype=int), proba, [f"c{i}" for i in range(k)])

    assert "roc_auc" not in m
    json.dumps(m, allow_nan=False)  # raises on NaN/inf
    _assert_plain_json(m)


def test_output_is_json_serialisable_plain_python() -> None:
    rng = np.random.default_rng(1)
    y = rng.integers(0, 5, size=200)
    logits = rng.normal(size=(200, 5)).astype(np.float32)
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)  # float32 softmax
    m = classification_metrics(y, proba, list("abcde"))

    _assert_plain_json(m)
    assert json.loads(json.dumps(m, allow_nan=False)) == m
    assert {"accuracy", "f1_macro", "roc_auc", "log_loss", "n_samples"} <= set(m)


def test_log_loss_is_finite_for_confident_wrong_predictions() -> None:
    m = classification_metrics(np.array([0, 1]), np.array([[0.0, 1.0], [1.0, 0.0]]), ["x", "y"])
    assert math.isfinite(m["log_loss"]) and m["log_loss"] > 10


@pytest.mark.parametrize(
    ("y", "proba", "labels", "match"),
    [
        (
            [0, 1, 1],
            [[0.5, 0.5], [0.5, 0.5]],
            ["a", "b"],
            "'y_true' has 3 samples but 'proba' has 2",
        ),
        ([], np.empty((0, 2)), ["a", "b"], "'y_true' is empty"),
        ([0, 1], [[1.0], [1.0]], ["a", "b"], r"shape \(n_samples, 2\)"),
        ([0, 2], [[0.5, 0.5], [0.5, 0.5]], ["a", "b"], r"class indices in \[0, 2\); got 2"),
        ([0, 1], [[0.5, 0.5], [0.5, 0.5]], ["a", "a"], "must be unique"),
        ([0, 1], [[np.nan, 0.5], [0.5, 0.5]], ["a", "b"], "NaN"),
    ],
)
def test_classification_rejects_bad_input(
    y: Any, proba: Any, labels: list[str], match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        classification_metrics(np.asarray(y), np.asarray(proba), labels)


def test_regression_perfect_prediction() -> None:
    y = np.array([1.5, -2.0, 3.0, 10.0])
    m = regression_metrics(y, y.copy())
    assert m == {"mse": 0.0, "rmse": 0.0, "mae": 0.0, "r2": 1.0, "spearman": 1.0, "n_samples": 4}


def test_regression_known_values() -> None:
    # Errors [1, 0, 0, 2]: MSE = 5/4, MAE = 3/4; SS_tot = 5 (mean 2.5), so R² = 1 - 5/5 = 0.
    m = regression_metrics(np.array([1.0, 2.0, 3.0, 4.0]), np.array([2.0, 2.0, 3.0, 6.0]))
    assert m["mse"] == pytest.approx(1.25)
    assert m["rmse"] == pytest.approx(math.sqrt(1.25))
    assert m["mae"] == pytest.approx(0.75)
    assert m["r2"] == pytest.approx(0.0)
    assert m["n_samples"] == 4
    _assert_plain_json(m)


def test_regression_accepts_column_vectors_and_single_sample() -> None:
    m = regression_metrics(np.array([[1.0], [3.0]]), np.array([2.0, 3.0]))
    assert m["mae"] == pytest.approx(0.5)
    single = regression_metrics(np.array([2.0]), np.array([1.0]))
    assert "r2" not in single  # undefined for one sample; never NaN
    json.dumps(single, allow_nan=False)


def test_regression_spearman_ranks_with_ties_and_is_omitted_when_undefined() -> None:
    y = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    # Monotone but far from linear: rank correlation 1, R² well below 1.
    assert regression_metrics(y, y**4)["spearman"] == pytest.approx(1.0)
    assert regression_metrics(y, -y)["spearman"] == pytest.approx(-1.0)
    # Ties get average ranks, as scipy.stats.spearmanr gives them.
    tied = regression_metrics(np.array([1.0, 2.0, 3.0, 4.0]), np.array([2.0, 2.0, 3.0, 6.0]))
    assert tied["spearman"] == pytest.approx(0.9486832980505139)
    # A constant prediction has no ranks to correlate: omitted, never NaN.
    constant = regression_metrics(y, np.full(5, 3.0))
    assert "spearman" not in constant
    json.dumps(constant, allow_nan=False)


@pytest.mark.parametrize(
    ("y", "pred", "match"),
    [
        ([1.0, 2.0], [1.0], "'y_true' has 2 samples but 'y_pred' has 1"),
        ([], [], "'y_true' is empty"),
        ([1.0, np.nan], [1.0, 2.0], "NaN"),
    ],
)
def test_regression_rejects_bad_input(y: list[float], pred: list[float], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        regression_metrics(np.asarray(y), np.asarray(pred))

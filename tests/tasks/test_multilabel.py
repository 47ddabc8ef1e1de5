"""Multi-label targets: parsing, label sets, threshold tuning, metrics, decoding, saved state."""

from __future__ import annotations

import json

import numpy as np
import pytest

from trainforge.errors import DataError
from trainforge.tasks import target_from_state
from trainforge.tasks.multilabel import MultiLabelTarget, parse_labels


def _place(row: int) -> str:
    return f"val.csv line {row + 2}"


def _fitted(values: list[object], **kwargs: str) -> MultiLabelTarget:
    return MultiLabelTarget("labels", **kwargs).fit_values(values, "train.csv")


# --- parse_labels -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (["sports", "politics"], ["sports", "politics"]),
        ((" sports ", "", "  ", "tech"), ["sports", "tech"]),
        (np.array(["a", "b"]), ["a", "b"]),
        ([1, 2], ["1", "2"]),
        ([], []),
        ("sports|politics", ["sports", "politics"]),
        (" sports | politics ||", ["sports", "politics"]),
        ("sports", ["sports"]),
        ("", []),
        (None, []),
        (float("nan"), []),
    ],
)
def test_parse_labels_reads_lists_and_delimited_strings(value: object, expected: list) -> None:
    assert parse_labels(value, "|") == expected


def test_parse_labels_uses_the_given_delimiter_only() -> None:
    assert parse_labels("a;b|c", ";") == ["a", "b|c"]


def test_parse_labels_counts_a_repeated_label_once() -> None:
    assert parse_labels("a|b|a", "|") == ["a", "b"]
    assert parse_labels(["a", "a"], "|") == ["a"]


# --- fit / encode -------------------------------------------------------------------------


def test_fit_learns_the_sorted_label_set_from_lists_and_strings() -> None:
    target = _fitted([["tech", "sports"], "politics|tech", [], "sports"])
    assert target.labels_ == ["politics", "sports", "tech"]
    assert target.n_outputs == 3
    assert target.pos_weight_ is None


def test_fit_needs_two_distinct_labels() -> None:
    with pytest.raises(DataError) as info:
        _fitted(["a", "a|a", []])
    message = info.value.message
    assert message.startswith("train.csv: the label column 'labels' holds fewer than two")
    assert "data.label_delimiter ('|')" in message


def test_balanced_pos_weight_is_negatives_over_positives_per_label() -> None:
    # 4 rows: a in 1 row (3 negatives), b in 2 rows; a label repeated in a cell counts once.
    target = _fitted(["a|a|b", "b", "c", "c"], class_weight="balanced")
    assert target.labels_ == ["a", "b", "c"]
    assert target.pos_weight_ == pytest.approx([3.0, 1.0, 1.0])


def test_encode_gives_a_zero_one_matrix() -> None:
    target = _fitted(["a|b", "c"])
    encoded = target.encode_values(["c|a", [], ["b"], None], _place)
    assert encoded.dtype == np.float32
    np.testing.assert_array_equal(encoded, [[1, 0, 1], [0, 0, 0], [0, 1, 0], [0, 0, 0]])
    assert target.encode_values([], _place).shape == (0, 3)


def test_encode_rejects_an_unseen_label_naming_its_row() -> None:
    target = _fitted(["a|b", "c"])
    with pytest.raises(DataError) as info:
        target.encode_values(["a", "b", "a|zebra"], _place)
    assert info.value.where == "val.csv line 4"
    assert info.value.message == (
        "val.csv line 4: label 'zebra' was not in the training data (known: 'a', 'b', 'c'). "
        "Fix the label, or add examples of it to the training data."
    )


# --- threshold, metrics, decoding ---------------------------------------------------------


def test_tune_threshold_picks_the_f1_best_threshold() -> None:
    # Positives score 0.62 and 0.70, negatives 0.58 and 0.30 (one label per column, 2 columns).
    # t <= 0.55 admits the 0.58 negative (F1 0.8), t = 0.60 is perfect, t >= 0.65 loses 0.62.
    y = np.array([[1, 0], [0, 1], [0, 0], [0, 0]], dtype=np.float32)
    proba = np.array([[0.62, 0.10], [0.20, 0.70], [0.58, 0.05], [0.30, 0.15]])
    target = _fitted(["a", "b"])
    assert target.threshold_ == 0.5
    assert target.tune_threshold(y, proba) == pytest.approx(0.6)
    assert target.threshold_ == pytest.approx(0.6)
    assert target.metrics(y, proba)["f1_micro"] == pytest.approx(1.0)
    assert target.metrics(y, proba)["threshold"] == pytest.approx(0.6)


# Labels a, b, c. At threshold 0.5 the predictions are [[1,0,1], [0,1,1], [1,0,0]]:
# row 1 exact; row 2 adds c (a false positive); row 3 misses b (a false negative).
Y = np.array([[1, 0, 1], [0, 1, 0], [1, 1, 0]], dtype=np.float32)
PROBA = np.array([[0.9, 0.2, 0.6], [0.1, 0.7, 0.55], [0.8, 0.15, 0.1]])


def test_metrics_match_hand_computed_values() -> None:
    target = _fitted(["a|b", "c"])
    m = target.metrics(Y, PROBA)

    assert m["accuracy"] == pytest.approx(1 / 3)  # subset accuracy: only row 1 is exact
    # Micro: TP 4, FP 1, FN 1.
    assert m["precision_micro"] == pytest.approx(0.8)
    assert m["recall_micro"] == pytest.approx(0.8)
    assert m["f1_micro"] == pytest.approx(0.8)
    # Per label: a P1 R1 F1; b P1 R1/2 F2/3; c P1/2 R1 F2/3. Supports 2, 2, 1.
    assert m["precision_macro"] == pytest.approx((1 + 1 + 0.5) / 3)
    assert m["recall_macro"] == pytest.approx((1 + 0.5 + 1) / 3)
    assert m["f1_macro"] == pytest.approx((1 + 2 / 3 + 2 / 3) / 3)
    assert m["f1_weighted"] == pytest.approx((2 * 1 + 2 * 2 / 3 + 1 * 2 / 3) / 5)
    # ROC-AUC: a and c rank perfectly; b's positives (0.7, 0.15) vs its negative (0.2): 1/2.
    assert m["roc_auc"] == pytest.approx((1 + 0.5 + 1) / 3)
    assert m["threshold"] == 0.5
    assert m["n_samples"] == 3
    assert m["per_class"]["c"] == pytest.approx(
        {"precision": 0.5, "recall": 1.0, "f1": 2 / 3, "support": 1}
    )
    assert m["per_class"]["b"]["support"] == 2
    json.dumps(m)  # saved in metrics.json: plain Python types only


def test_roc_auc_skips_labels_with_one_class_only() -> None:
    target = _fitted(["a|b", "c"])
    y = Y.copy()
    y[:, 2] = 1  # c is positive everywhere: AUC undefined for it
    assert target.metrics(y, PROBA)["roc_auc"] == pytest.approx((1 + 0.5) / 2)


def test_decode_returns_every_label_at_or_over_the_threshold() -> None:
    target = _fitted(["a|b", "c"])
    decoded = target.decode(np.array([[0.9, 0.5, 0.2], [0.1, 0.3, 0.4]]))
    assert decoded[0]["labels"] == ["a", "b"]
    assert decoded[1]["labels"] == []
    assert decoded[0]["probabilities"] == {"a": 0.9, "b": 0.5, "c": 0.2}
    target.threshold_ = 0.35
    assert target.decode(np.array([[0.1, 0.3, 0.4]]))[0]["labels"] == ["c"]


# --- saved state --------------------------------------------------------------------------


def test_state_round_trips_through_json() -> None:
    target = _fitted(["x;y", "z", "y"], delimiter=";", class_weight="balanced")
    target.threshold_ = 0.35
    state = json.loads(json.dumps(target.state_dict()))
    restored = target_from_state(state)

    assert isinstance(restored, MultiLabelTarget)
    assert restored.labels_ == ["x", "y", "z"]
    assert restored.delimiter == ";"
    assert restored.threshold_ == 0.35
    assert restored.pos_weight_ == pytest.approx(target.pos_weight_)
    proba = np.array([[0.3, 0.4, 0.9]])
    assert restored.decode(proba) == target.decode(proba)
    np.testing.assert_array_equal(
        restored.encode_values(["x;z"], _place), target.encode_values(["x;z"], _place)
    )

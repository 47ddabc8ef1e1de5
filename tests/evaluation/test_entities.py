"""Entity metrics match seqeval's default (conlleval) mode; scheme conversions round-trip."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from seqeval.metrics import (
    accuracy_score,
    classification_report,
    f1_score,
    precision_score,
    recall_score,
)
from seqeval.metrics.sequence_labeling import get_entities

from trainforge.evaluation.entities import (
    SCHEMES,
    detect_scheme,
    entities,
    entity_metrics,
    from_iob2,
    split_tag,
    to_iob2,
    type_confusion,
)

CONLL = Path(__file__).resolve().parents[3] / "shared" / "data" / "conll2003"
TYPES = ("PER", "ORG", "LOC", "MISC")

Sentences = list[list[str]]


def _seqeval(true: Sentences, pred: Sentences) -> dict[str, Any]:
    """The oracle: seqeval with default arguments, in entity_metrics' layout."""
    with warnings.catch_warnings():
        # seqeval warns on every zero division (and then returns 0.0, which is what we check).
        warnings.simplefilter("ignore")
        report = classification_report(true, pred, output_dict=True)
        micro = (precision_score(true, pred), recall_score(true, pred), f1_score(true, pred))
        accuracy = accuracy_score(true, pred)
    per_type = {
        name: {
            "precision": float(row["precision"]),
            "recall": float(row["recall"]),
            "f1": float(row["f1-score"]),
            "support": int(row["support"]),
        }
        for name, row in report.items()
        if not name.endswith(" avg")
    }
    # report["micro avg"] and the *_score functions must agree; keep both in the comparison.
    assert micro == pytest.approx(
        tuple(report["micro avg"][k] for k in ("precision", "recall", "f1-score")), abs=0
    )
    return {
        "precision": micro[0],
        "recall": micro[1],
        "f1": micro[2],
        # seqeval's macro is NaN when there is no entity at all; ours is 0.0 (JSON-clean).
        "f1_macro": float(report["macro avg"]["f1-score"]) if per_type else 0.0,
        "accuracy": accuracy,
        "support": int(report["micro avg"]["support"]),
        "per_type": per_type,
    }


def _assert_matches_seqeval(true: Sentences, pred: Sentences, tol: float = 0.0) -> None:
    ours = entity_metrics(true, pred)
    expected = _seqeval(true, pred)
    assert list(ours["per_type"]) == list(expected["per_type"])  # same types, sorted
    for name, row in expected["per_type"].items():
        assert ours["per_type"][name]["support"] == row["support"], name
        for key in ("precision", "recall", "f1"):
            assert abs(ours["per_type"][name][key] - row[key]) <= tol, (name, key)
    assert ours["support"] == expected["support"]
    for key in ("precision", "recall", "f1", "f1_macro", "accuracy"):
        assert abs(ours[key] - expected[key]) <= tol, key


# (true, pred) pairs, each probing one way of reading IOB2 that seqeval/conlleval pins down.
EDGE_CASES: dict[str, tuple[Sentences, Sentences]] = {
    "i_after_o_starts_entity": (
        [["O", "B-PER", "I-PER", "O"]],
        [["O", "I-PER", "I-PER", "O"]],
    ),
    "i_at_sentence_start": (
        [["B-LOC", "O"], ["B-LOC", "I-LOC"]],
        [["I-LOC", "O"], ["I-LOC", "I-LOC"]],
    ),
    "type_switch_inside_span": (
        [["B-PER", "I-PER", "I-PER", "O"]],
        [["B-PER", "I-ORG", "I-PER", "O"]],
    ),
    "entity_at_sentence_end": (
        [["O", "O", "B-ORG", "I-ORG"], ["B-MISC"]],
        [["O", "O", "B-ORG", "I-ORG"], ["O"]],
    ),
    "entity_spans_whole_sentence": (
        [["B-ORG", "I-ORG", "I-ORG"]],
        [["B-ORG", "I-ORG", "O"]],
    ),
    "adjacent_b_b": (
        [["B-PER", "B-PER", "I-PER", "O"]],
        [["B-PER", "I-PER", "I-PER", "O"]],
    ),
    "empty_predictions": (
        [["B-PER", "I-PER", "O", "B-LOC"], ["O", "B-MISC"]],
        [["O", "O", "O", "O"], ["O", "O"]],
    ),
    "all_correct": (
        [["B-PER", "I-PER", "O", "B-LOC"], ["B-MISC", "B-ORG", "I-ORG"]],
        [["B-PER", "I-PER", "O", "B-LOC"], ["B-MISC", "B-ORG", "I-ORG"]],
    ),
    "sentences_without_entities": (
        [["O", "O"], ["B-PER"], ["O"], []],
        [["O", "O"], ["B-PER"], ["O"], []],
    ),
    "no_entities_at_all": (
        [["O", "O"], ["O"]],
        [["O", "O"], ["O"]],
    ),
    "only_false_positives": (
        [["O", "O", "O"]],
        [["B-LOC", "O", "I-ORG"]],
    ),
    "no_crossing_sentence_boundary": (
        [["O", "B-PER"], ["I-PER", "O"]],
        [["O", "B-PER"], ["B-PER", "O"]],
    ),
    "type_with_dash": (
        [["B-DATE-TIME", "I-DATE-TIME", "O"]],
        [["B-DATE-TIME", "I-DATE-TIME", "B-DATE"]],
    ),
}


@pytest.mark.parametrize("case", sorted(EDGE_CASES))
def test_edge_cases_match_seqeval(case: str) -> None:
    true, pred = EDGE_CASES[case]
    _assert_matches_seqeval(true, pred)
    for sentence in true + pred:
        expected = [(t, s, e + 1) for t, s, e in get_entities(sentence)]
        assert entities(sentence) == expected


def test_hand_computed_scores() -> None:
    true = [["B-PER", "I-PER", "O", "B-LOC", "O"], ["B-ORG", "O"]]
    pred = [["B-PER", "I-PER", "O", "B-ORG", "O"], ["B-ORG", "B-ORG"]]
    # True: PER(0,2) LOC(3,4) ORG(0,1); predicted: PER(0,2) ORG(3,4) ORG(0,1) ORG(1,2).
    m = entity_metrics(true, pred)
    assert m["precision"] == pytest.approx(2 / 4)
    assert m["recall"] == pytest.approx(2 / 3)
    assert m["f1"] == pytest.approx(2 * (1 / 2) * (2 / 3) / (1 / 2 + 2 / 3))
    assert m["support"] == 3
    assert m["accuracy"] == pytest.approx(5 / 7)
    assert list(m["per_type"]) == ["LOC", "ORG", "PER"]
    assert m["per_type"]["LOC"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
    assert m["per_type"]["ORG"]["precision"] == pytest.approx(1 / 3)
    assert m["per_type"]["ORG"]["recall"] == 1.0
    assert m["per_type"]["PER"] == {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 1}
    assert m["f1_macro"] == pytest.approx((0.0 + 0.5 + 1.0) / 3)
    json.dumps(m)  # plain Python types only
    assert all(type(m[k]) is float for k in ("precision", "recall", "f1", "f1_macro"))


def test_iob1_input_converted_then_scored_matches_seqeval_on_iob2() -> None:
    true_iob1 = [["I-PER", "I-PER", "B-PER", "O", "I-LOC"], ["O", "I-ORG", "I-MISC"]]
    pred_iob1 = [["I-PER", "I-PER", "I-PER", "O", "I-LOC"], ["O", "I-ORG", "B-MISC"]]
    true = [to_iob2(s, "iob1") for s in true_iob1]
    pred = [to_iob2(s, "iob1") for s in pred_iob1]
    assert true == [["B-PER", "I-PER", "B-PER", "O", "B-LOC"], ["O", "B-ORG", "B-MISC"]]
    _assert_matches_seqeval(true, pred)
    # PER(0,2) PER(2,3) LOC ORG MISC true; pred merges the two PERs into one: 3 of 5 correct.
    assert entity_metrics(true, pred)["recall"] == pytest.approx(3 / 5)


def _tag_list(prefixes: tuple[str, ...]) -> list[str]:
    """All tags with these prefixes over TYPES, plus as many O's (so about half are O)."""
    return ["O"] * (len(prefixes) * len(TYPES)) + [f"{p}-{t}" for p in prefixes for t in TYPES]


def _random_sentences(
    rng: np.random.Generator, n: int, prefixes: tuple[str, ...] = ("B", "I")
) -> Sentences:
    """Random tags; invalid starts (I- after O or after another type) included."""
    tags = _tag_list(prefixes)
    lengths = rng.integers(0, 16, size=n)
    return [[tags[i] for i in rng.integers(0, len(tags), size=k)] for k in lengths]


def _perturb(rng: np.random.Generator, true: Sentences, prefixes: tuple[str, ...]) -> Sentences:
    """Predictions: the truth with about a third of the tags replaced, so many entities match."""
    tags = _tag_list(prefixes)
    return [
        [tags[rng.integers(len(tags))] if rng.random() < 0.3 else tag for tag in sentence]
        for sentence in true
    ]


@pytest.mark.parametrize("prefixes", [("B", "I"), ("B", "I", "E", "S")], ids=["iob", "bioes"])
def test_random_sentences_match_seqeval(prefixes: tuple[str, ...]) -> None:
    rng = np.random.default_rng(20240611)
    true = _random_sentences(rng, 300, prefixes)
    pred = _perturb(rng, true, prefixes)
    assert sum(len(s) for s in true) > 1500
    _assert_matches_seqeval(true, pred, tol=1e-12)
    m = entity_metrics(true, pred)
    assert m["support"] > 300 and 0.2 < m["f1"] < 0.9  # a mix of hits and misses
    for sentence in true:
        expected = [(t, s, e + 1) for t, s, e in get_entities(sentence)]
        assert entities(sentence) == expected
        # Conversion keeps exactly the entities seqeval reads from the original tags.
        scheme = "bioes" if "S" in prefixes else "iob1"
        assert entities(to_iob2(sentence, scheme)) == expected


VALID = {
    "iob1": [["I-PER", "I-PER", "B-PER", "O", "I-LOC", "I-ORG", "B-ORG"], [], ["O"]],
    "iob2": [["B-PER", "I-PER", "B-PER", "O", "B-LOC", "B-ORG", "I-ORG"], [], ["O"]],
    "bioes": [["B-PER", "E-PER", "S-PER", "O", "S-LOC", "B-ORG", "I-ORG", "E-ORG"], [], ["O"]],
    "bmes": [["B-PER", "E-PER", "S-PER", "O", "S-LOC", "B-ORG", "M-ORG", "E-ORG"], [], ["O"]],
}


@pytest.mark.parametrize("scheme", SCHEMES)
def test_round_trip_on_valid_sequences(scheme: str) -> None:
    for tags in VALID[scheme]:
        assert from_iob2(to_iob2(tags, scheme), scheme) == tags
    rng = np.random.default_rng(7)
    for iob2 in (to_iob2(s, "iob1") for s in _random_sentences(rng, 200)):
        tags = from_iob2(iob2, scheme)
        assert to_iob2(tags, scheme) == iob2
        assert from_iob2(to_iob2(tags, scheme), scheme) == tags


def test_conversions_by_hand() -> None:
    assert to_iob2(["S-LOC", "E-PER", "B-PER", "E-PER", "I-PER"], "bioes") == [
        "B-LOC",
        "B-PER",
        "B-PER",
        "I-PER",
        "B-PER",
    ]
    assert to_iob2(["I-PER", "I-LOC", "O", "I-LOC"], "iob2") == ["B-PER", "B-LOC", "O", "B-LOC"]
    assert from_iob2(["B-PER", "I-PER", "B-PER", "B-LOC", "O"], "iob1") == [
        "I-PER",
        "I-PER",
        "B-PER",
        "I-LOC",
        "O",
    ]
    assert from_iob2(["B-PER", "I-PER", "I-PER", "B-PER", "I-LOC"], "bioes") == [
        "B-PER",
        "I-PER",
        "E-PER",
        "S-PER",
        "S-LOC",
    ]
    tags = ["B-PER", "O"]
    copy = to_iob2(tags, "iob2")
    assert copy == tags and copy is not tags


def test_detect_scheme() -> None:
    assert detect_scheme([["B-PER", "I-PER", "O"], ["B-LOC", "B-LOC"]]) == "iob2"
    assert detect_scheme([["B-PER", "I-PER"], ["I-LOC"]]) == "iob1"  # I- at sentence start
    assert detect_scheme([["O", "I-LOC"]]) == "iob1"  # I- after O
    assert detect_scheme([["B-PER", "I-LOC"]]) == "iob1"  # I- after another type
    assert detect_scheme([["I-PER"], ["O", "E-PER"]]) == "bioes"
    assert detect_scheme(iter([["S-PER"]])) == "bioes"
    assert detect_scheme([]) == "iob2"


def _read_conll(path: Path) -> Sentences:
    """NER tags (last column) per sentence, -DOCSTART- lines skipped."""
    sentences: Sentences = []
    current: list[str] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            if current:
                sentences.append(current)
            current = []
        elif not line.startswith("-DOCSTART-"):
            current.append(line.split(" ")[-1])
    if current:
        sentences.append(current)
    return sentences


@pytest.mark.skipif(not CONLL.is_dir(), reason="needs ../shared/data/conll2003")
def test_conll2003_iob1_converts_to_the_published_iob2() -> None:
    iob1 = _read_conll(CONLL / "original" / "eng.testb")
    iob2 = _read_conll(CONLL / "test.txt")
    assert len(iob1) == len(iob2) == 3453  # the README's sentence count
    assert detect_scheme(iob1) == "iob1"
    assert detect_scheme(iob2) == "iob2"
    for index, (original, converted) in enumerate(zip(iob1, iob2, strict=True)):
        assert to_iob2(original, "iob1") == converted, f"sentence {index}"
        assert from_iob2(converted, "iob1") == original, f"sentence {index}"
    assert sum(len(entities(s)) for s in iob2) == 5648  # the README's entity count


@pytest.mark.parametrize("tag", ["X-PER", "B", "B-", "PER", "", "b-PER", "O-PER"])
def test_split_tag_rejects_malformed_tags(tag: str) -> None:
    with pytest.raises(ValueError, match="is not valid: expected 'O' or PREFIX-TYPE"):
        split_tag(tag)


def test_split_tag() -> None:
    assert split_tag("O") == ("O", "")
    assert split_tag("B-PER") == ("B", "PER")
    assert split_tag("S-DATE-TIME") == ("S", "DATE-TIME")


def test_errors_name_the_place() -> None:
    with pytest.raises(ValueError, match="sentence 1 has 3 true tags but 2 predicted"):
        entity_metrics([["O"], ["B-PER", "I-PER", "O"]], [["O"], ["B-PER", "O"]])
    with pytest.raises(ValueError, match="'true' has 2 sentences but 'pred' has 1"):
        entity_metrics([["O"], ["O"]], [["O"]])
    with pytest.raises(ValueError, match="sentence 1, token 2: NER tag 'PER' is not valid"):
        entity_metrics([["O"], ["O", "O", "O"]], [["O"], ["O", "O", "PER"]])
    with pytest.raises(ValueError, match="unknown tag scheme 'bilou'"):
        to_iob2(["O"], "bilou")
    with pytest.raises(ValueError, match="token 1: tag 'S-PER' is not valid in scheme 'iob1'"):
        to_iob2(["O", "S-PER"], "iob1")
    with pytest.raises(ValueError, match="sentence 0 has 1 true tags but 2 predicted"):
        type_confusion([["O"]], [["O", "O"]])


def test_type_confusion() -> None:
    true = [["B-PER", "I-PER", "O", "B-LOC"], ["O", "B-ORG"]]
    pred = [["B-PER", "B-LOC", "O", "O"], ["I-ORG", "B-ORG"]]
    labels, matrix = type_confusion(true, pred)
    assert labels == ["LOC", "ORG", "PER", "O"]
    assert matrix.dtype == np.int64
    assert matrix.tolist() == [
        [0, 0, 0, 1],  # LOC -> O
        [0, 1, 0, 0],  # ORG -> ORG
        [1, 0, 1, 0],  # PER -> LOC, PER
        [0, 1, 0, 1],  # O -> ORG, O
    ]
    assert int(matrix.sum()) == 6

"""Scores of generated answers: exact match after normalisation, ROUGE-L, BLEU, and accuracy
and macro-F1 when the answers are labels."""

from __future__ import annotations

import math

import numpy as np
import pytest

from trainforge.evaluation.generation import generation_metrics, loss_metrics
from trainforge.tasks.generation.target import GenerationTarget


def test_exact_match_ignores_case_and_spacing() -> None:
    scores = generation_metrics(
        ["The parcel ships Monday.", "Yes"], ["the  parcel ships monday.\n", "No"]
    )
    assert scores["exact_match"] == 0.5
    assert "accuracy" not in scores  # no label set given


def test_rouge_l_and_bleu_are_those_of_the_libraries() -> None:
    import sacrebleu
    from rouge_score import rouge_scorer

    refs = ["the cat sat on the mat", "delivery takes three days"]
    said = ["the cat sat on a mat", "delivery takes two days"]
    scores = generation_metrics(refs, said)
    scorer = rouge_scorer.RougeScorer(["rougeL"])
    expected = np.mean(
        [scorer.score(r, g)["rougeL"].fmeasure for r, g in zip(refs, said, strict=True)]
    )
    assert scores["rouge_l"] == pytest.approx(expected, abs=1e-6)
    assert scores["bleu"] == pytest.approx(sacrebleu.corpus_bleu(said, [refs]).score, abs=1e-3)
    assert generation_metrics(refs, refs)["bleu"] == pytest.approx(100.0)


def test_chinese_answers_are_scored_by_character() -> None:
    scores = generation_metrics(["明天发货"], ["明天发货"])
    assert scores["rouge_l"] == 1.0 and scores["bleu"] == pytest.approx(100.0)
    assert generation_metrics(["明天发货"], ["今天发货"])["rouge_l"] == pytest.approx(0.75)


def test_label_answers_add_accuracy_and_macro_f1() -> None:
    target = GenerationTarget().fit(["positive", "negative", "Positive", "negative "])
    assert target.label_set_ == ["negative", "positive"]
    scores = generation_metrics(
        ["positive", "negative", "negative"], ["Positive", "positive", "maybe"], target.label_set_
    )
    assert scores["accuracy"] == pytest.approx(1 / 3, abs=1e-6)
    # positive: P=1/2 R=1 F=2/3; negative: P=0 (nothing predicted) F=0.
    assert scores["f1_macro"] == pytest.approx(1 / 3, abs=1e-6)


def test_free_text_answers_have_no_label_set() -> None:
    assert GenerationTarget().fit([f"answer number {i}" for i in range(10)]).label_set_ is None


def test_loss_and_perplexity_are_per_answer_token() -> None:
    target = GenerationTarget()
    output = np.asarray(
        [
            {"nll": 2.0, "tokens": 2, "generated": None},
            {"nll": 4.0, "tokens": 2, "generated": None},
        ],
        dtype=object,
    )
    scores = target.metrics(np.asarray(["a", "b"], dtype=object), output)
    assert scores == loss_metrics(6.0, 4)
    assert scores["perplexity"] == pytest.approx(math.exp(1.5), rel=1e-4)

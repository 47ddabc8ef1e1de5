"""The token-classification target: tag set, scheme round trip, loss, scores, span decoding."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from trainforge.data.conll import Sentences, sentences_from_texts
from trainforge.data.tokens import IGNORE
from trainforge.errors import DataError
from trainforge.tasks import target_from_state
from trainforge.tasks.tagging import TaggingTarget

IOB1 = [["I-PER", "I-PER", "O", "I-LOC"], ["I-ORG", "B-ORG", "O"]]
BIOES = [["B-PER", "E-PER", "O", "S-LOC"], ["S-ORG", "S-ORG", "O"]]


def _place(i: int) -> str:
    return f"train.txt line {10 * i + 1}"


def test_scheme_is_detected_and_tags_are_learned_in_iob2() -> None:
    target = TaggingTarget().fit_tags(IOB1, _place, "train.txt")
    assert target.scheme_ == "iob1"
    assert target.labels_ == ["O", "B-LOC", "I-LOC", "B-ORG", "I-ORG", "B-PER", "I-PER"]
    encoded = target.encode_tags(IOB1, _place)
    assert target.tags(encoded[1]) == ["B-ORG", "B-ORG", "O"]
    assert target.continuation() == {1: 2, 3: 4, 5: 6}


def test_predicted_tags_come_back_in_the_scheme_of_the_files() -> None:
    target = TaggingTarget().fit_tags(BIOES, _place, "train.txt")
    assert target.scheme_ == "bioes"
    truth = target.encode_tags(BIOES, _place)
    output = [np.eye(target.n_outputs)[t] for t in truth]  # a perfect prediction
    sentences = Sentences(
        tokens=[["Ann", "Lee", "in", "Rome"], ["UN", "EU", "met"]],
        tags=None,
        source="input",
        lines=[1, 2],
    )
    decoded = target.decode(output, sentences)
    assert [d["tags"] for d in decoded] == BIOES
    assert decoded[0]["entities"] == [
        {"type": "PER", "start": 0, "end": 2, "text": "Ann Lee", "score": 1.0},
        {"type": "LOC", "start": 3, "end": 4, "text": "Rome", "score": 1.0},
    ]


def test_raw_text_spans_are_character_offsets_of_the_exact_substring() -> None:
    target = TaggingTarget().fit_tags([["B-ORG", "O", "B-LOC", "I-LOC"]], _place, "t")
    text = "  Reuters reported from  São Paulo, Brazil."
    sentences = sentences_from_texts([text])
    words = sentences.tokens[0]
    tags = ["O"] * len(words)
    tags[words.index("Reuters")] = "B-ORG"
    tags[words.index("São")], tags[words.index("Paulo")] = "B-LOC", "I-LOC"
    index = {tag: i for i, tag in enumerate(target.labels_)}
    output = [np.eye(target.n_outputs)[[index[t] for t in tags]] * 0.9 + 0.01]
    (result,) = target.decode(output, sentences)
    assert result["text"] == text
    spans = {(e["type"], e["text"]) for e in result["entities"]}
    assert spans == {("ORG", "Reuters"), ("LOC", "São Paulo")}
    for entity in result["entities"]:
        assert text[entity["start"] : entity["end"]] == entity["text"]
        assert entity["score"] == pytest.approx(0.91)


def test_unknown_tag_at_evaluation_names_the_sentence() -> None:
    target = TaggingTarget().fit_tags([["B-PER", "O"]], _place, "train.txt")
    with pytest.raises(DataError, match=r"train.txt line 11: tag 'B-LOC' was not in the training"):
        target.encode_tags([["O"], ["B-LOC"]], _place)


def test_malformed_tag_and_all_o_training_data_are_errors() -> None:
    with pytest.raises(DataError, match=r"train.txt line 11: 'PERSON' is not a tag"):
        TaggingTarget().fit_tags([["O"], ["PERSON"]], _place, "train.txt")
    with pytest.raises(DataError, match="holds no entity"):
        TaggingTarget().fit_tags([["O", "O"]], _place, "train.txt")


def test_loss_ignores_special_and_later_sub_token_positions() -> None:
    target = TaggingTarget().fit_tags([["B-PER", "O"]], _place, "t")
    loss = target.loss_fn()
    logits = torch.zeros(1, 4, target.n_outputs)
    logits[0, 1, 1] = 10.0  # position 1: confident and right
    labels = torch.tensor([[IGNORE, 1, IGNORE, IGNORE]])
    assert loss(logits, labels).item() < 1e-3
    logits[0, 2, 0] = -50.0  # a wrong, ignored position changes nothing
    assert loss(logits, labels).item() < 1e-3


def test_validation_scores_are_entity_level_over_labelled_positions() -> None:
    target = TaggingTarget().fit_tags([["B-PER", "I-PER", "O"]], _place, "t")
    scores = target.metric_collection()
    b, i, o = (target.labels_.index(t) for t in ("B-PER", "I-PER", "O"))
    labels = torch.tensor([[IGNORE, b, i, o, IGNORE], [IGNORE, b, o, IGNORE, IGNORE]])
    predicted = torch.tensor([[o, b, i, o, o], [o, b, b, o, o]])  # 2nd sentence: one spurious
    scores.update(torch.nn.functional.one_hot(predicted, target.n_outputs).float(), labels)
    result = scores.compute()
    assert result["recall"] == 1.0 and result["precision"] == pytest.approx(2 / 3)
    scores.reset()
    assert scores.true == []


def test_state_round_trip() -> None:
    target = TaggingTarget(class_weight="balanced").fit_tags(IOB1, _place, "t")
    again = target_from_state(target.state_dict())
    assert isinstance(again, TaggingTarget)
    assert again.labels_ == target.labels_ and again.scheme_ == "iob1"
    assert again.class_weights_ == target.class_weights_


BMES = [["B-LOC", "M-LOC", "E-LOC", "O", "S-PER"], ["B-ORG", "E-ORG", "O"]]


def test_bmes_files_are_detected_and_their_tags_come_back_unchanged() -> None:
    target = TaggingTarget().fit_tags(BMES, _place, "msra_train.txt")
    assert target.scheme_ == "bmes"
    assert target.labels_ == ["O", "B-LOC", "I-LOC", "B-ORG", "I-ORG", "B-PER", "I-PER"]
    truth = target.encode_tags(BMES, _place)
    assert target.tags(truth[0]) == ["B-LOC", "I-LOC", "I-LOC", "O", "B-PER"]
    sentences = Sentences(
        tokens=[list("北京市在张"), list("联合国")], tags=None, source="input", lines=[1, 2]
    )
    decoded = target.decode([np.eye(target.n_outputs)[t] for t in truth], sentences)
    assert [d["tags"] for d in decoded] == BMES
    with pytest.raises(DataError, match="M- tags belong to 'bmes'") as info:
        TaggingTarget("bioes").fit_tags(BMES, _place, "t")
    assert info.value.where == "train.txt line 1" and "tag_scheme: auto" in str(info.value)


def test_chinese_entities_of_raw_text_are_character_offsets_of_their_text() -> None:
    target = TaggingTarget().fit_tags(BMES, _place, "t")
    text = "据新华社报道，张三在北京大学演讲。"
    sentences = sentences_from_texts([text])
    assert sentences.tokens[0] == list(text)  # one word per character, no segmenter
    tags = ["O"] * len(text)
    for kind, entity in (("ORG", "新华社"), ("PER", "张三"), ("ORG", "北京大学")):
        start = text.index(entity)
        tags[start] = f"B-{kind}"
        tags[start + 1 : start + len(entity)] = [f"I-{kind}"] * (len(entity) - 1)
    index = {tag: i for i, tag in enumerate(target.labels_)}
    (result,) = target.decode([np.eye(target.n_outputs)[[index[t] for t in tags]]], sentences)
    assert [(e["type"], e["text"]) for e in result["entities"]] == [
        ("ORG", "新华社"),
        ("PER", "张三"),
        ("ORG", "北京大学"),
    ]
    for entity in result["entities"]:
        assert text[entity["start"] : entity["end"]] == entity["text"]
    assert result["tags"][text.index("北") : text.index("演")] == [
        "B-ORG",
        "M-ORG",
        "M-ORG",
        "E-ORG",
    ]

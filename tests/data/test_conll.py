"""NER readers: CoNLL and JSONL read back words, tags and lines; bad files say where and why."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from trainforge.data.conll import read_sentences, sentences_from_texts, split_words
from trainforge.errors import ConfigError, DataError

CONLL2003 = Path(__file__).resolve().parents[3] / "shared" / "data" / "conll2003"

TRAIN = """\
-DOCSTART- -X- O O

EU NNP I-NP B-ORG
rejects VBZ I-VP O
German JJ I-NP B-MISC


Peter NNP I-NP B-PER
Blackburn NNP I-NP I-PER

-DOCSTART- -X- O O

BRUSSELS NNP I-NP B-LOC
"""


def _write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def _jsonl(tmp_path: Path, records: list[Any], name: str = "train.jsonl") -> str:
    return _write(tmp_path, name, "".join(json.dumps(r) + "\n" for r in records))


# --- CoNLL -----------------------------------------------------------------------------------


def test_conll_sentences_skip_docstart_and_start_on_their_line(tmp_path: Path) -> None:
    spec = _write(tmp_path, "train.txt", TRAIN)

    sentences = read_sentences(spec)

    assert sentences.tokens == [["EU", "rejects", "German"], ["Peter", "Blackburn"], ["BRUSSELS"]]
    assert sentences.tags == [["B-ORG", "O", "B-MISC"], ["B-PER", "I-PER"], ["B-LOC"]]
    assert len(sentences) == 3
    assert sentences.lines == [3, 8, 13]
    assert sentences.place(1) == f"{spec} line 8"
    assert sentences.source == spec
    assert sentences.texts is None and sentences.offsets is None


def test_conll_tabs_spaces_and_whitespace_only_lines(tmp_path: Path) -> None:
    text = "EU\tNNP  B-ORG\r\n  \t \r\nPeter \t NNP\tB-PER\r\nBlackburn NNP I-PER\r\n\r\n\r\n"
    spec = _write(tmp_path, "train.conll", text)

    sentences = read_sentences(spec)

    assert sentences.tokens == [["EU"], ["Peter", "Blackburn"]]
    assert sentences.tags == [["B-ORG"], ["B-PER", "I-PER"]]
    assert sentences.lines == [1, 3]


def test_conll_custom_columns(tmp_path: Path) -> None:
    spec = _write(tmp_path, "train.tsv", "1\tEU\tB-ORG\tx\n2\trejects\tO\tx\n")

    sentences = read_sentences(spec, token_column=1, tag_column=2)

    assert sentences.tokens == [["EU", "rejects"]]
    assert sentences.tags == [["B-ORG", "O"]]


def test_conll_utf8_bom_is_not_part_of_the_first_word(tmp_path: Path) -> None:
    path = tmp_path / "train.txt"
    path.write_bytes("\ufeffZürich B-LOC\n".encode())

    assert read_sentences(str(path)).tokens == [["Zürich"]]


def test_conll_wrong_column_count_names_file_and_line(tmp_path: Path) -> None:
    spec = _write(tmp_path, "train.txt", TRAIN.replace("Blackburn NNP I-NP I-PER", "Black burn"))

    with pytest.raises(DataError, match=r"train\.txt line 9: expected 4 columns as on line 3, "):
        read_sentences(spec)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"token_column": 4}, r"line 3: data\.token_column is 4, but the file has 4 columns"),
        ({"tag_column": -5}, r"line 3: data\.tag_column is -5, but the file has 4 columns"),
        ({"token_column": 3}, r"data\.tag_column and data\.token_column both point at column 3"),
    ],
)
def test_conll_column_out_of_range_names_the_setting(
    tmp_path: Path, options: dict[str, int], message: str
) -> None:
    spec = _write(tmp_path, "train.txt", TRAIN)

    with pytest.raises(DataError, match=message):
        read_sentences(spec, **options)


def test_conll_one_column_is_unlabelled_input(tmp_path: Path) -> None:
    spec = _write(tmp_path, "input.txt", "Peter\nBlackburn\n\nBRUSSELS\n")

    sentences = read_sentences(spec, need_tags=False)

    assert sentences.tokens == [["Peter", "Blackburn"], ["BRUSSELS"]]
    assert sentences.tags is None
    with pytest.raises(DataError, match=r"input\.txt line 1: found 1 column, so no tags"):
        read_sentences(spec)


def test_conll_unlabelled_input_keeps_tags_it_has(tmp_path: Path) -> None:
    spec = _write(tmp_path, "test.txt", TRAIN)

    assert read_sentences(spec, need_tags=False).tags == read_sentences(spec).tags


@pytest.mark.parametrize("text", ["", "\n\n", "-DOCSTART- -X- O O\n\n"])
def test_file_without_sentences(tmp_path: Path, text: str) -> None:
    spec = _write(tmp_path, "train.txt", text)

    with pytest.raises(DataError, match=r"train\.txt: no sentences\. The file must hold one"):
        read_sentences(spec)


def test_non_utf8_file_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "train.txt"
    path.write_bytes("EU B-ORG\n\nZürich B-LOC\n".encode("latin-1"))

    with pytest.raises(DataError, match=r"train\.txt line 3 \(byte \d+\): is not valid utf-8"):
        read_sentences(str(path))
    assert read_sentences(str(path), encoding="latin-1").tokens[1] == ["Zürich"]


def test_missing_file_and_unknown_format(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="file not found"):
        read_sentences(str(tmp_path / "nope.txt"))
    spec = _write(tmp_path, "train.txt", TRAIN)
    with pytest.raises(ConfigError, match=r"data\.format: unknown format 'conl'.*'conll'\?"):
        read_sentences(spec, format="conl")


# --- format detection ------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["train.jsonl", "train.json", "TRAIN.NDJSON"])
def test_auto_reads_json_names_as_jsonl(tmp_path: Path, name: str) -> None:
    spec = _jsonl(tmp_path, [{"tokens": ["EU"], "tags": ["B-ORG"]}], name)

    assert read_sentences(spec).tags == [["B-ORG"]]


@pytest.mark.parametrize("name", ["train.txt", "train.iob", "train.bio", "eng.train", "data"])
def test_auto_reads_other_names_as_conll(tmp_path: Path, name: str) -> None:
    spec = _write(tmp_path, name, "EU B-ORG\n")

    assert read_sentences(spec).tags == [["B-ORG"]]


def test_explicit_format_overrides_the_name(tmp_path: Path) -> None:
    spec = _jsonl(tmp_path, [{"tokens": ["EU"], "tags": ["B-ORG"]}], "train.txt")

    assert read_sentences(spec, format="jsonl").tokens == [["EU"]]


# --- JSONL tokens + tags ---------------------------------------------------------------------


def test_jsonl_tokens_and_tags(tmp_path: Path) -> None:
    path = tmp_path / "train.jsonl"
    lines = [
        json.dumps({"tokens": ["EU", "rejects"], "tags": ["B-ORG", "O"]}),
        "",
        json.dumps({"tokens": ["Peter"], "ner_tags": ["B-PER"], "id": 7}),
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")

    sentences = read_sentences(str(path))

    assert sentences.tokens == [["EU", "rejects"], ["Peter"]]
    assert sentences.tags == [["B-ORG", "O"], ["B-PER"]]
    assert sentences.place(1) == f"{path} line 3"


@pytest.mark.parametrize(
    ("record", "message"),
    [
        ({"tokens": ["a", "b", "c"], "tags": ["O", "O"]}, "line 2: 3 tokens but 2 tags"),
        ({"tokens": [], "tags": []}, "line 2: empty sentence"),
        ({"tokens": ["a", " "], "tags": ["O", "O"]}, "line 2: token 1 is ' '"),
        ({"tokens": ["a", 5], "tags": ["O", "O"]}, "line 2: token 1 is 5"),
        ({"tokens": "a b", "tags": ["O"]}, "line 2: 'tokens' must be a list of strings"),
        ({"tokens": ["a"], "ner_tags": [3]}, "line 2: 'ner_tags' holds numbers"),
        ({"tokens": ["a"]}, "line 2: has 'tokens' but no 'tags'"),
        ({"token": ["a"], "tags": ["O"]}, "line 2: has neither 'tokens' nor 'text'.*'token' to"),
        ([1, 2], "line 2: expected a JSON object, got list"),
        ({"text": "Hi"}, "line 2: has 'text' but no 'entities'"),
    ],
)
def test_jsonl_bad_record_names_the_line(tmp_path: Path, record: Any, message: str) -> None:
    spec = _jsonl(tmp_path, [{"tokens": ["EU"], "tags": ["B-ORG"]}, record])

    with pytest.raises(DataError, match=message):
        read_sentences(spec)


def test_jsonl_invalid_json_names_the_line(tmp_path: Path) -> None:
    spec = _write(tmp_path, "train.jsonl", '{"tokens": ["EU"], "tags": ["B-ORG"]}\n{"tokens": [\n')

    with pytest.raises(DataError, match=r"train\.jsonl line 2: not valid JSON"):
        read_sentences(spec)


def test_jsonl_mixed_forms_are_refused(tmp_path: Path) -> None:
    records = [{"tokens": ["EU"], "tags": ["B-ORG"]}, {"text": "EU", "entities": []}]

    with pytest.raises(DataError, match="line 2: has 'text' but line 1 has 'tokens'"):
        read_sentences(_jsonl(tmp_path, records))


def test_jsonl_unlabelled_input(tmp_path: Path) -> None:
    spec = _jsonl(tmp_path, [{"tokens": ["EU"]}, {"tokens": ["Peter"], "tags": ["B-PER"]}])

    sentences = read_sentences(spec, need_tags=False)

    assert sentences.tokens == [["EU"], ["Peter"]]
    assert sentences.tags is None


# --- JSONL text + entities -------------------------------------------------------------------


def test_text_entities_become_iob2_tags_with_offsets(tmp_path: Path) -> None:
    text = "Peter Blackburn works at the European Union, in Brussels."
    entities = [
        {"start": 48, "end": 56, "label": "LOC"},
        {"start": 0, "end": 15, "type": "PER"},
        {"start": 29, "end": 43, "type": "ORG"},
    ]
    spec = _jsonl(tmp_path, [{"text": text, "entities": entities}])

    sentences = read_sentences(spec)

    assert sentences.tokens[0] == [
        "Peter", "Blackburn", "works", "at", "the", "European", "Union", ",", "in", "Brussels", ".",
    ]  # fmt: skip
    assert sentences.tags == [
        ["B-PER", "I-PER", "O", "O", "O", "B-ORG", "I-ORG", "O", "O", "B-LOC", "O"]
    ]
    assert sentences.texts == [text]
    assert sentences.offsets is not None
    assert [text[s:e] for s, e in sentences.offsets[0]] == sentences.tokens[0]


def test_entity_boundary_inside_a_word_splits_the_word(tmp_path: Path) -> None:
    text = "the Anglo-French deal, SonyEricsson"
    entities = [
        {"start": 4, "end": 9, "type": "MISC"},
        {"start": 10, "end": 16, "type": "MISC"},
        {"start": 23, "end": 27, "type": "ORG"},
    ]
    spec = _jsonl(tmp_path, [{"text": text, "entities": entities}])

    sentences = read_sentences(spec)

    assert sentences.tokens == [["the", "Anglo", "-", "French", "deal", ",", "Sony", "Ericsson"]]
    assert sentences.tags == [["O", "B-MISC", "O", "B-MISC", "O", "O", "B-ORG", "O"]]
    assert sentences.offsets is not None
    assert [text[s:e] for s, e in sentences.offsets[0]] == sentences.tokens[0]


@pytest.mark.parametrize(
    ("entities", "message"),
    [
        (
            [{"start": 0, "end": 5, "type": "PER"}, {"start": 3, "end": 9, "type": "ORG"}],
            r"line 1: entities 0 \(0-5\) and 1 \(3-9\) overlap",
        ),
        ([{"start": 4, "end": 40, "type": "PER"}], r"entity 0 \(4-40\) lies outside the text"),
        ([{"start": -1, "end": 3, "type": "PER"}], r"entity 0 \(-1-3\) lies outside the text"),
        ([{"start": 3, "end": 3, "type": "PER"}], "entity 0 starts at 3 but ends at 3"),
        ([{"start": 0, "end": 2}], r"entity 0 needs a 'type' \(or 'label'\) string"),
        ([{"start": "0", "end": 2, "type": "X"}], "entity 0 needs whole-number 'start' and 'end'"),
        ([{"start": 5, "end": 6, "type": "PER"}], r"entity 0 \(5-6, 'PER'\) covers no word"),
    ],
)
def test_bad_entities_name_the_line(tmp_path: Path, entities: Any, message: str) -> None:
    spec = _jsonl(tmp_path, [{"text": "Peter Lee", "entities": entities}])

    with pytest.raises(DataError, match=message):
        read_sentences(spec)


def test_blank_text_is_an_empty_sentence(tmp_path: Path) -> None:
    spec = _jsonl(tmp_path, [{"text": "EU", "entities": []}, {"text": "  ", "entities": []}])

    with pytest.raises(DataError, match=r"train\.jsonl line 2: empty sentence"):
        read_sentences(spec)


# --- raw text --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "words"),
    [
        (
            "Müller visited São Paulo, Brazil.",
            ["Müller", "visited", "São", "Paulo", ",", "Brazil", "."],
        ),
        ("Reuters' U.S. office", ["Reuters", "'", "U", ".", "S", ".", "office"]),
        ("東京で会議 👍🏽 ok!", ["東", "京", "で", "会", "議", "👍🏽", "ok", "!"]),
        (
            "Cafe\u0301 in हिन्दी 👨\u200d👩\u200d👧",
            ["Cafe\u0301", "in", "हिन्दी", "👨\u200d👩\u200d👧"],
        ),
        (" \t\n", []),
    ],
)
def test_split_words_offsets_point_into_the_text(text: str, words: list[str]) -> None:
    found = split_words(text)

    assert [word for word, _, _ in found] == words
    assert all(text[start:end] == word for word, start, end in found)


def test_sentences_from_texts_are_unlabelled_with_offsets() -> None:
    sentences = sentences_from_texts(["Hi Bob", "São Paulo!"], source="request")

    assert sentences.tokens == [["Hi", "Bob"], ["São", "Paulo", "!"]]
    assert sentences.tags is None
    assert sentences.offsets == [[(0, 2), (3, 6)], [(0, 3), (4, 9), (9, 10)]]
    assert sentences.texts == ["Hi Bob", "São Paulo!"]
    assert sentences.place(1) == "request line 2"
    with pytest.raises(DataError, match="request line 2: empty sentence"):
        sentences_from_texts(["Hi", " "], source="request")


# --- the real data set -----------------------------------------------------------------------


@pytest.mark.skipif(not CONLL2003.is_dir(), reason="needs ../shared/data/conll2003")
@pytest.mark.parametrize(
    ("name", "count", "words"),
    [("train.txt", 14_041, 203_621), ("valid.txt", 3_250, 51_362), ("test.txt", 3_453, 46_435)],
)
def test_conll2003_counts_match_its_readme(name: str, count: int, words: int) -> None:
    began = time.perf_counter()
    sentences = read_sentences(str(CONLL2003 / name))
    seconds = time.perf_counter() - began

    assert len(sentences) == count
    assert sum(len(tokens) for tokens in sentences.tokens) == words
    assert sentences.tags is not None
    assert {tag for tags in sentences.tags for tag in tags} <= {
        "O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC",
    }  # fmt: skip
    assert seconds < 2.0, f"reading {name} took {seconds:.2f} s"

"""Token classification (NER) end to end on a slice of CoNLL-2003: train, package, reload, predict.

The runs are small (a few hundred sentences, MiniLM, max length 64) but real: the same path a
user's `trainforge train` takes, through the command line where the test is about the CLI.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from cli_support import check_user_error, run_cli

import trainforge
from trainforge.data.conll import read_sentences
from trainforge.pipeline import Run

pytestmark = [
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore::FutureWarning"),
    pytest.mark.filterwarnings("ignore:.*module\\(s\\) in eval mode.*"),
]

CONLL = Path(__file__).resolve().parents[3] / "shared" / "data" / "conll2003"
TRAIN_SENTENCES = 600


def _slice(source: Path, target: Path, sentences: int) -> None:
    """The first `sentences` sentences of a CoNLL file (document markers kept)."""
    kept, count = [], 0
    for line in source.read_text(encoding="utf-8").splitlines():
        kept.append(line)
        if not line.strip() and kept[-2:-1] and not kept[-2].startswith("-DOCSTART-"):
            count += 1
            if count == sentences:
                break
    target.write_text("\n".join(kept) + "\n", encoding="utf-8")


@pytest.fixture(scope="module")
def conll(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not (CONLL / "train.txt").is_file():
        pytest.skip("needs ../shared/data/conll2003 (the shared data folder next to the repo)")
    folder = tmp_path_factory.mktemp("conll")
    _slice(CONLL / "train.txt", folder / "train.txt", TRAIN_SENTENCES)
    _slice(CONLL / "valid.txt", folder / "valid.txt", 150)
    _slice(CONLL / "test.txt", folder / "test.txt", 150)
    return folder


def _config(folder: Path, **train: object) -> dict:
    return {
        "task": "token_classification",
        "data": {
            "train": str(folder / "train.txt"),
            "validation": str(folder / "valid.txt"),
            "test": str(folder / "test.txt"),
            "format": "conll",
        },
        "model": {"backbone": "minilm", "finetune": "full"},
        "train": {"epochs": 3, "batch_size": 16, "lr": 2e-4, "max_length": 64, "seed": 7, **train},
    }


@pytest.fixture(scope="module")
def full_run(conll: Path, tmp_path_factory: pytest.TempPathFactory) -> Run:
    out = tmp_path_factory.mktemp("runs") / "full"
    return trainforge.train(_config(conll), output=out, progress=False)


def test_metrics_are_entity_level_with_a_table_per_type(full_run: Run) -> None:
    saved = json.loads((full_run.run_dir / "metrics.json").read_text(encoding="utf-8"))
    test = saved["test"]
    assert {"f1", "precision", "recall", "accuracy", "per_type"} <= set(test)
    assert set(test["per_type"]) == {"LOC", "MISC", "ORG", "PER"}
    assert sum(t["support"] for t in test["per_type"].values()) == test["support"]
    # 600 sentences, 3 epochs: far from the full-data score, far above chance.
    assert test["f1"] > 0.5, test
    report = full_run.report_path.read_text(encoding="utf-8")
    assert "Entity-level scores per type" in report and "type_confusion_test.png" not in report
    assert (full_run.run_dir / "plots" / "type_confusion_test.png").is_file()


def test_reloaded_package_predicts_as_the_trained_model(full_run: Run, conll: Path):
    sentences = read_sentences(str(conll / "test.txt")).head(40)
    loaded = trainforge.load(full_run.model_dir)
    before, after = full_run.model.predict(sentences), loaded.predict(sentences)
    assert [p["tags"] for p in before] == [p["tags"] for p in after]
    assert np.allclose(
        [s for p in before for s in p["scores"]], [s for p in after for s in p["scores"]], atol=1e-5
    )
    # `evaluate` on the same file gives the metrics the run reported.
    metrics = loaded.evaluate(str(conll / "test.txt"))
    assert metrics["f1"] == pytest.approx(full_run.metrics["test"]["f1"], abs=1e-9)


def test_package_is_a_plain_transformers_token_classifier(full_run: Run) -> None:
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    hf = full_run.package_dir / "hf"
    model = AutoModelForTokenClassification.from_pretrained(hf).eval()
    tokenizer = AutoTokenizer.from_pretrained(hf)
    words = ["Germany", "'s", "representative", "to", "the", "European", "Union", "said", "."]
    encoded = tokenizer(words, is_split_into_words=True, return_tensors="pt")
    with torch.inference_mode():
        predicted = model(**encoded).logits[0].argmax(-1).tolist()
    firsts, previous = [], None
    for position, word in enumerate(encoded.word_ids(0)):
        if word is not None and word != previous:
            firsts.append(model.config.id2label[predicted[position]])
        previous = word
    ours = full_run.model.predict([words])[0]["tags"]
    assert firsts == ours


def test_raw_text_gives_spans_at_exact_character_offsets(full_run: Run) -> None:
    texts = [
        "Peter Blackburn met officials of the European Commission in Brussels on Tuesday.",
        "  Shares of Reuters Holdings rose in  London , traders said.",
    ]
    predictions = full_run.model.predict(texts)
    assert [p["text"] for p in predictions] == texts
    assert sum(len(p["entities"]) for p in predictions) >= 2
    for prediction in predictions:
        for entity in prediction["entities"]:
            assert prediction["text"][entity["start"] : entity["end"]] == entity["text"]
            assert entity["type"] in {"PER", "ORG", "LOC", "MISC"}
            assert 0.0 < entity["score"] <= 1.0


def test_sentence_longer_than_the_window_gets_a_tag_for_every_word(
    full_run: Run,
) -> None:
    sentence = "The talks in Paris between France and Germany ended without a deal ."
    words = sentence.split() * 20
    (prediction,) = full_run.model.predict([words])
    assert len(prediction["tags"]) == len(words) == 260
    # The same words in the same context are tagged alike in every window.
    assert prediction["tags"][3] == prediction["tags"][3 + 13 * 10]


def test_cli_predict_and_evaluate(full_run: Run, conll: Path, tmp_path: Path) -> None:
    (tmp_path / "texts.jsonl").write_text(
        json.dumps({"text": "EU rejects German call to boycott British lamb."}) + "\n",
        encoding="utf-8",
    )
    result = run_cli(tmp_path, ["predict", str(full_run.model_dir), "texts.jsonl"])
    assert result.returncode == 0, result.stderr
    (line,) = result.stdout.splitlines()
    prediction = json.loads(line)
    assert prediction["tokens"][:3] == ["EU", "rejects", "German"]
    result = run_cli(
        tmp_path,
        ["evaluate", str(full_run.model_dir), str(conll / "test.txt"), "-o", "m.json"],
    )
    assert result.returncode == 0, result.stderr
    saved = json.loads((tmp_path / "m.json").read_text(encoding="utf-8"))
    assert saved["f1"] == pytest.approx(full_run.metrics["test"]["f1"], abs=1e-9)


def test_lora_tagger_reloads_with_the_same_predictions(conll: Path, tmp_path: Path) -> None:
    config = _config(conll, epochs=1, max_steps=6)
    config["model"] = {"finetune": "lora", "peft": {"r": 4}}
    run = trainforge.train(config, output=tmp_path / "lora", progress=False)
    assert run.metrics["test"]["support"] > 0
    manifest = json.loads((run.package_dir / "trainforge.json").read_text(encoding="utf-8"))
    assert manifest["trainable_parameters"] < 0.05 * manifest["total_parameters"]
    sentences = read_sentences(str(conll / "valid.txt")).head(20)
    before = run.model.predict(sentences)
    after = trainforge.load(run.model_dir).predict(sentences)
    assert [p["tags"] for p in before] == [p["tags"] for p in after]
    scores = [s for p in before for s in p["scores"]]
    assert scores == pytest.approx([s for p in after for s in p["scores"]], abs=1e-5)


def test_frozen_tagger_trains_only_the_head(conll: Path, tmp_path: Path) -> None:
    config = _config(conll, epochs=3)
    config["model"] = {"finetune": "frozen"}
    run = trainforge.train(config, output=tmp_path / "frozen", progress=False)
    assert run.metrics["embedding_time_s"] > 0
    manifest = json.loads((run.package_dir / "trainforge.json").read_text(encoding="utf-8"))
    assert manifest["trainable_parameters"] == 384 * 9 + 9  # the linear head over 9 tags
    assert run.metrics["test"]["accuracy"] > 0.8  # most words are O; the head learns that


# --- bad input, through the command line ----------------------------------------------------

CONFIG = """\
task: token_classification
data: {train: train.txt, validation: valid.txt}
train: {max_steps: 1, batch_size: 4, max_length: 32}
"""
GOOD = "EU B-ORG\nrejects O\nGerman B-MISC\ncall O\n\nPeter B-PER\nBlackburn I-PER\n\n"


@pytest.mark.parametrize(
    ("files", "args", "fragments"),
    [
        (
            {"train.txt": GOOD + "BRUSSELS B-LOC\n1996-08-22\n", "valid.txt": GOOD},
            ["train", "exp.yaml"],
            ["train.txt line 10: expected 2 columns as on line 1, found 1"],
        ),
        (
            {
                "train.jsonl": json.dumps({"tokens": ["EU", "rejects"], "tags": ["B-ORG"]}),
                "valid.txt": GOOD,
            },
            ["train", "exp.yaml", "--set", "data.train=train.jsonl"],
            ["train.jsonl line 1: 2 tokens but 1 tags"],
        ),
        (
            {
                "train.jsonl": json.dumps({"tokens": ["EU"], "tags": ["B-ORG"]})
                + "\n"
                + json.dumps({"tokens": [], "tags": []}),
                "valid.txt": GOOD,
            },
            ["train", "exp.yaml", "--set", "data.train=train.jsonl"],
            ["train.jsonl line 2: empty sentence"],
        ),
        (
            {"train.txt": GOOD, "valid.txt": GOOD + "Paris B-CITY\n"},
            ["train", "exp.yaml"],
            ["valid.txt line 9: tag 'B-CITY' was not in the training data"],
        ),
    ],
    ids=["wrong_column_count", "tags_tokens_mismatch", "empty_sentence", "unknown_tag"],
)
def test_bad_token_data_is_a_clear_error(
    tmp_path: Path, files: dict[str, str], args: list[str], fragments: list[str]
) -> None:
    (tmp_path / "exp.yaml").write_text(CONFIG, encoding="utf-8")
    for name, text in files.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    result = run_cli(tmp_path, [*args, "--output", "runs/bad"])
    check_user_error(result, *fragments)
    assert not (tmp_path / "runs").exists(), "a failed run left its folder behind"


def test_unknown_tag_at_evaluation_is_a_clear_error(full_run: Run, tmp_path: Path):
    (tmp_path / "gold.txt").write_text("Paris B-CITY\nis O\n\n", encoding="utf-8")
    result = run_cli(tmp_path, ["evaluate", str(full_run.model_dir), "gold.txt"])
    check_user_error(result, "gold.txt line 1: tag 'B-CITY' was not in the training data")


def test_trains_from_raw_text_with_character_offset_entities(conll: Path, tmp_path: Path) -> None:
    """JSONL {"text", "entities"}: the same sentences as text with spans, tagged on reading."""
    from trainforge.evaluation.entities import entities

    sentences = read_sentences(str(conll / "train.txt")).head(120)
    assert sentences.tags is not None
    lines = []
    for words, tags in zip(sentences.tokens, sentences.tags, strict=True):
        starts = [sum(len(w) + 1 for w in words[:i]) for i in range(len(words))]
        spans = [
            {"start": starts[a], "end": starts[b - 1] + len(words[b - 1]), "type": kind}
            for kind, a, b in entities(tags)
        ]
        lines.append(json.dumps({"text": " ".join(words), "entities": spans}))
    (tmp_path / "train.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    config = _config(conll, epochs=1, max_steps=3)
    config["data"] = {"train": str(tmp_path / "train.jsonl"), "split": {"test": 0.2}}
    run = trainforge.train(config, output=tmp_path / "run", progress=False)
    assert run.metrics["test"]["support"] > 0
    assert set(run.model.labels or []) >= {"B-PER", "I-PER", "B-LOC", "O"}

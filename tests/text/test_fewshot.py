"""Zero-shot and few-shot text classification, `data.shots` sampling, and abstention."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import trainforge
from trainforge.data.split import sample_shots
from trainforge.errors import ConfigError, DataError
from trainforge.tasks.classification import precision_threshold

pytestmark = [
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore::FutureWarning"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
]

SUBJECTS = {
    "sports": ["the striker", "the home team", "the goalkeeper", "the tennis champion"],
    "weather": ["heavy rain", "the storm", "a cold front", "the heatwave"],
    "cooking": ["the chef", "this soup recipe", "the bakery", "a slow-roasted chicken"],
}
EVENTS = {
    "sports": ["scored twice in the final", "won the league", "lost on penalties"],
    "weather": ["is expected over the weekend", "flooded the valley", "brought snow to the hills"],
    "cooking": ["needs fresh basil and garlic", "was simmered for hours", "tastes of butter"],
}


def _rows(seed: int, per_class: int) -> list[dict[str, str]]:
    rng = np.random.default_rng(seed)
    rows = []
    for label in SUBJECTS:
        for _ in range(per_class):
            subject = SUBJECTS[label][rng.integers(len(SUBJECTS[label]))]
            event = EVENTS[label][rng.integers(len(EVENTS[label]))]
            rows.append({"text": f"{subject} {event}", "label": label})
    return rows


@pytest.fixture(scope="module")
def topics(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("topics")
    for name, seed, n in (("train", 0, 12), ("dev", 1, 8), ("test", 2, 8)):
        pd.DataFrame(_rows(seed, n)).to_csv(folder / f"{name}.csv", index=False)
    return folder


def _config(folder: Path, **model: Any) -> dict[str, Any]:
    return {
        "task": "text_classification",
        "data": {
            "train": str(folder / "train.csv"),
            "validation": str(folder / "dev.csv"),
            "test": str(folder / "test.csv"),
        },
        "model": model,
        "train": {"max_length": 32, "eval_batch_size": 32},
    }


def test_zero_shot_makes_a_package_without_training(topics: Path, tmp_path: Path) -> None:
    config = _config(
        topics,
        finetune="zero_shot",
        labels={
            "sports": "sport, a match or a team",
            "weather": "the weather",
            "cooking": "food and cooking",
        },
    )
    run = trainforge.train(config, output=tmp_path / "run", progress=False)
    assert run.metrics["test"]["accuracy"] >= 0.8
    assert run.metrics["train_time_s"] == 0.0
    model = trainforge.load(run.model_dir)
    assert model.labels == ["cooking", "sports", "weather"]
    predicted = model.predict(["the goalkeeper saved a penalty", "a recipe for lemon cake"])
    assert [p["label"] for p in predicted] == ["sports", "cooking"]
    # The package's scores are those of the in-memory model that was evaluated.
    probabilities = np.array([list(p["probabilities"].values()) for p in predicted])
    assert np.allclose(probabilities.sum(axis=1), 1.0, atol=1e-4)


def test_a_label_the_descriptions_do_not_name_is_refused(topics: Path, tmp_path: Path) -> None:
    config = _config(topics, finetune="zero_shot", labels=["sports", "weather"])
    with pytest.raises(DataError, match=r"'cooking' that model\.labels does not name"):
        trainforge.train(config, output=tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    ("model", "message"),
    [
        ({"finetune": "zero_shot", "template": "About: label"}, "has no {label} placeholder"),
        ({"finetune": "zero_shot", "labels": {"a": "x", "b": " "}}, "description of 'b' is empty"),
        ({"finetune": "zero_shot", "pooling": "cls"}, "compares mean-pooled sentence"),
    ],
)
def test_bad_zero_shot_settings_are_refused(
    topics: Path, tmp_path: Path, model: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        trainforge.train(_config(topics, **model), output=tmp_path / "run", progress=False)


def test_shots_are_seeded_balanced_and_nested() -> None:
    labels = np.repeat([0, 1, 2], [50, 30, 9])
    eight = sample_shots(labels, 8, 7, ["a", "b", "c"], "train.csv")
    assert np.bincount(labels[eight]).tolist() == [8, 8, 8]
    assert np.array_equal(eight, sample_shots(labels, 8, 7, ["a", "b", "c"], "train.csv"))
    assert not np.array_equal(eight, sample_shots(labels, 8, 8, ["a", "b", "c"], "train.csv"))
    # A larger sample keeps the smaller one: a ladder of sizes only adds examples.
    assert set(eight) <= set(sample_shots(labels, 9, 7, ["a", "b", "c"], "train.csv"))
    with pytest.raises(DataError, match="the label 'c' has only 9 training rows") as error:
        sample_shots(labels, 10, 7, ["a", "b", "c"], "train.csv")
    assert "at most 9" in str(error.value)


def test_setfit_learns_from_a_few_shots_and_reloads(topics: Path, tmp_path: Path) -> None:
    config = _config(topics, finetune="setfit", pairs=4)
    config["data"]["shots"] = 4
    config["train"] |= {"batch_size": 8}
    run = trainforge.train(config, output=tmp_path / "run", progress=False)
    manifest = json.loads((run.package_dir / "trainforge.json").read_text())
    assert manifest["train_rows"] == 12
    # 12 texts x 4 pairs x 2 directions, one epoch: pairs grow with the data, not its square.
    assert run.metrics["setfit_pairs"] <= 96
    assert run.metrics["test"]["accuracy"] >= 0.8
    model = trainforge.load(run.model_dir)
    texts = pd.read_csv(topics / "test.csv")["text"].tolist()
    reloaded = [p["label"] for p in model.predict(texts)]
    assert np.mean(np.array(reloaded) == pd.read_csv(topics / "test.csv")["label"]) == (
        pytest.approx(run.metrics["test"]["accuracy"])
    )


def test_precision_threshold_is_the_lowest_that_reaches_the_target() -> None:
    truth = np.array([0, 0, 1, 1, 0])
    proba = np.array([[0.95, 0.05], [0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.6, 0.4]])
    # Sorted by top probability: 0.95 ok, 0.9 ok, 0.8 wrong, 0.7 ok, 0.6 ok.
    assert precision_threshold(truth, proba, 1.0) == pytest.approx(0.9)
    assert precision_threshold(truth, proba, 0.85) == pytest.approx(0.9)
    # Precision is not monotone in the threshold: 4 of 5 right at 0.6, 3 of 4 at 0.7.
    assert precision_threshold(truth, proba, 0.8) == pytest.approx(0.6)


def test_abstention_answers_unknown_below_the_threshold(topics: Path, tmp_path: Path) -> None:
    config = _config(topics, finetune="zero_shot", abstain={"precision": 0.95})
    run = trainforge.train(config, output=tmp_path / "run", progress=False)
    validation = run.metrics["validation"]
    assert validation["answered_accuracy"] >= 0.95
    threshold = validation["abstain_threshold"]
    model = trainforge.load(run.model_dir)
    # Off-topic texts: every validation row may be answered right, which puts the threshold at
    # the least confident of them, and in-topic test rows can all clear it.
    off_topic = ["the quarterly report was filed on tuesday", "my laptop needs a new battery"]
    texts = pd.read_csv(topics / "test.csv")["text"].tolist() + off_topic
    predictions = model.predict(texts)
    assert any(p["label"] is None for p in predictions)
    for prediction in predictions:
        if abs(prediction["score"] - threshold) > 1e-5:  # both are rounded to 6 digits
            assert (prediction["label"] is None) == (prediction["score"] < threshold)
    fixed = _config(topics, finetune="zero_shot", abstain={"threshold": 0.999})
    run = trainforge.train(fixed, output=tmp_path / "fixed", progress=False)
    assert {p["label"] for p in trainforge.load(run.model_dir).predict(["the storm"])} == {None}


def test_the_ladder_runs_every_cell_on_the_same_test_rows(topics: Path, tmp_path: Path) -> None:
    from cli_support import run_cli

    config = _config(topics)
    config["train"] |= {"epochs": 1, "batch_size": 8}
    config["model"] = {"pairs": 2}
    (tmp_path / "topics.yaml").write_text(json.dumps(config))
    arguments = [
        "ladder",
        str(tmp_path / "topics.yaml"),
        "--shots",
        "0,2,all",
        "--methods",
        "zero_shot,setfit,frozen",
        "--seeds",
        "2",
        "--set",
        "train.max_steps=2",
        "-o",
        str(tmp_path / "ladder"),
    ]
    result = run_cli(tmp_path, arguments)
    assert result.returncode == 0, result.stderr
    ladder = json.loads((tmp_path / "ladder" / "ladder.json").read_text())
    cells = {(c["method"], c["shots"], c["seed"]) for c in ladder["cells"]}
    # Zero-shot once, at 0; every other method at 2 and all, with both seeds.
    assert cells == {("zero_shot", 0, 42)} | {
        (m, s, seed) for m in ("setfit", "frozen") for s in (2, None) for seed in (42, 43)
    }
    assert all(c["error"] is None and 0.0 <= c["score"] <= 1.0 for c in ladder["cells"])
    per_class = {(c["method"], c["shots"]): c["examples_per_class"] for c in ladder["cells"]}
    assert per_class[("setfit", 2)] == 2 and per_class[("frozen", None)] == 12
    # Every cell saw the same 24 test rows, and no cell kept its (large) package.
    for folder in (tmp_path / "ladder" / "cells").iterdir():
        metrics = json.loads((folder / "metrics.json").read_text())
        assert metrics["test"]["n_samples"] == 24
        assert not (folder / "model").exists()
    assert (tmp_path / "ladder" / "ladder.png").stat().st_size > 10_000
    assert "labelled-data ladder" in (tmp_path / "ladder" / "ladder.html").read_text()
    assert "zero_shot     0 per class" in result.stdout
    # Run again: every finished cell is kept, nothing trains.
    again = run_cli(tmp_path, arguments)
    assert again.returncode == 0, again.stderr
    assert again.stdout.count("(kept)") == len(ladder["cells"])
    assert (
        json.loads((tmp_path / "ladder" / "ladder.json").read_text())["summary"]
        == (ladder["summary"])
    )
    # A ladder stopped early still gets its page from the cells it finished.
    from trainforge.ladder import report_cells

    (tmp_path / "ladder" / "ladder.json").unlink()
    assert report_cells(tmp_path / "ladder").is_file()
    summary = json.loads((tmp_path / "ladder" / "ladder.json").read_text())["summary"]
    key = lambda rows: sorted((r["method"], str(r["shots"]), r["mean"]) for r in rows)  # noqa: E731
    assert key(summary) == key(ladder["summary"])


def test_the_ladder_refuses_unknown_methods_and_sizes() -> None:
    from trainforge.ladder import parse_methods, parse_shots

    assert parse_shots("all,8,0,8") == [0, 8, None]
    with pytest.raises(ConfigError, match="cannot read 'eight'"):
        parse_shots("0,eight")
    with pytest.raises(ConfigError, match=r"unknown method.*'magic'"):
        parse_methods("setfit,magic")


def test_prompting_a_language_model_classifies_and_reloads(topics: Path, tmp_path: Path) -> None:
    config = _config(topics, finetune="prompt_lm", context_examples=3)
    config["data"]["validation"] = None
    config["data"]["split"] = {"validation": 0.0, "test": 0.0}
    run = trainforge.train(config, output=tmp_path / "run", progress=False)
    # A 135M-parameter model asked to pick a topic: well above chance (1/3) on these texts.
    assert run.metrics["test"]["accuracy"] >= 0.5
    assert run.metrics["context_examples"] == 3
    prompt = json.loads((run.package_dir / "prompt.json").read_text())
    assert len(prompt["examples"]) == 3 and "cooking, sports, weather" in prompt["instruction"]
    texts = ["the chef needs fresh basil", "a storm flooded the valley"]
    before = trainforge.load(run.model_dir).predict(texts)
    assert [p["label"] for p in before] == ["cooking", "weather"]
    again = trainforge.load(run.model_dir).predict(texts)
    assert [p["probabilities"] for p in again] == [p["probabilities"] for p in before]


def test_labels_a_language_model_cannot_tell_apart_are_refused(
    topics: Path, tmp_path: Path
) -> None:
    labels = {"sports": "other", "weather": "other", "cooking": "food"}
    config = _config(topics, finetune="prompt_lm", labels=labels)
    with pytest.raises(ConfigError, match="same answer phrase"):
        trainforge.train(config, output=tmp_path / "run", progress=False)


def test_a_zero_shot_package_exports_to_onnx_with_the_same_scores(
    topics: Path, tmp_path: Path
) -> None:
    from trainforge.export import export_onnx

    run = trainforge.train(
        _config(topics, finetune="zero_shot"), output=tmp_path / "run", progress=False
    )
    parity = export_onnx(run.model_dir, samples=["the striker scored twice", "heavy rain"])
    assert parity["models"]["fp32"]["label_agreement"] == 1.0
    texts = pd.read_csv(topics / "test.csv")["text"].tolist()
    eager = trainforge.load(run.model_dir).predict(texts)
    fast = trainforge.load(run.model_dir, onnx=True).predict(texts)
    assert [p["label"] for p in fast] == [p["label"] for p in eager]


def test_lora_on_the_language_model_trains_on_label_answers(topics: Path, tmp_path: Path) -> None:
    config = _config(topics, backbone="smollm2", finetune="lora", peft={"r": 4})
    config["data"]["shots"] = 3
    config["train"] |= {"epochs": 3, "batch_size": 3, "lr": 1e-3, "early_stopping": None}
    run = trainforge.train(config, output=tmp_path / "run", progress=False)
    history = json.loads((run.run_dir / "history.json").read_text())
    losses = [row["train_loss"] for row in history if "train_loss" in row]
    assert len(losses) == 3 and losses[-1] < losses[0]
    assert (run.package_dir / "lm_adapter" / "adapter_config.json").is_file()
    # Asked without examples, the untrained model answers "cooking" to everything (1/3 right);
    # nine labelled rows teach it the task.
    assert run.metrics["test"]["accuracy"] >= 0.6
    model = trainforge.load(run.model_dir)
    accuracy = np.mean(
        [p["label"] for p in model.predict(pd.read_csv(topics / "test.csv")["text"].tolist())]
        == pd.read_csv(topics / "test.csv")["label"]
    )
    assert accuracy == pytest.approx(run.metrics["test"]["accuracy"])


def test_a_language_model_backbone_with_another_finetune_is_refused(
    topics: Path, tmp_path: Path
) -> None:
    from cli_support import check_user_error, run_cli

    config = _config(topics, backbone="smollm2", finetune="full")
    (tmp_path / "lm.yaml").write_text(json.dumps(config))
    result = run_cli(tmp_path, ["train", str(tmp_path / "lm.yaml"), "-o", str(tmp_path / "run")])
    check_user_error(
        result, "is a causal language model", "Set model.finetune to prompt_lm or lora"
    )
    assert not (tmp_path / "run").exists()

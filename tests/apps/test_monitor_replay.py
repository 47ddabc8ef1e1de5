"""The opinion monitor on real financial news: a replayed stream with a burst of negative
sentences alerts, the same stream without it does not; malformed lines and restarts.

A sentiment package is trained once for the module (a frozen MiniLM with a linear head over
300 Financial PhraseBank sentences, seconds); the replayed sentences are others of the set.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pandas as pd
import pytest

import trainforge
from trainforge.apps.monitor.checkpoint import Checkpoint
from trainforge.apps.monitor.classify import load_classifier
from trainforge.apps.monitor.core import MonitorSettings, iso, parse_time
from trainforge.apps.monitor.runner import OpinionMonitor
from trainforge.apps.monitor.sources import FileTail

pytestmark = [
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore::FutureWarning"),
    pytest.mark.filterwarnings("ignore:.*module\\(s\\) in eval mode.*"),
]

PHRASEBANK = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "financial_phrasebank"
START = 1_714_550_400.0  # 2024-05-01T08:00:00Z
SETTINGS = MonitorSettings(window_s=60, steps=6, baseline_windows=5, min_count=20)
LINES = 540  # 9 minutes at one line a second
BURST = (420, 480)  # the minute of negative news, in seconds from the start


@pytest.fixture(scope="module")
def sentences() -> pd.DataFrame:
    """De-duplicated sentences with full annotator agreement, shuffled with a fixed seed."""
    path = PHRASEBANK / "sentences_allagree.csv"
    if not path.is_file():
        pytest.skip(f"Financial PhraseBank is not in {PHRASEBANK.resolve()} (shared data)")
    frame = pd.read_csv(path).drop_duplicates("text", keep=False)
    return frame.sample(frac=1.0, random_state=0).reset_index(drop=True)


@pytest.fixture(scope="module")
def split(sentences: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """100 training and 20 validation sentences per label; the rest is replayed."""
    train = sentences.groupby("label").head(100)
    validation = sentences.drop(train.index).groupby("label").head(20)
    pool = sentences.drop(train.index).drop(validation.index).reset_index(drop=True)
    return {"train": train, "validation": validation, "pool": pool}


@pytest.fixture(scope="module")
def package(split: dict[str, pd.DataFrame], tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("phrasebank")
    for name in ("train", "validation"):
        split[name].to_csv(folder / f"{name}.csv", index=False)
    config = {
        "task": "text_classification",
        "data": {"train": str(folder / "train.csv"), "validation": str(folder / "validation.csv")},
        "model": {"backbone": "minilm", "finetune": "frozen"},
        "train": {"epochs": 20, "batch_size": 16, "lr": 1e-2, "max_length": 48, "seed": 1},
    }
    return Path(trainforge.train(config, output=folder / "run", progress=False).model_dir)


@pytest.fixture(scope="module")
def pool(split: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Sentences the model was neither trained nor validated on."""
    return split["pool"]


def replay(pool: pd.DataFrame, burst: bool) -> list[str]:
    """One line a second in the set's own mix of labels; with `burst`, the lines of the burst
    minute are negative sentences instead. Both replays have the same length and times."""
    calm = pool.head(LINES)
    negatives = iter(pool.iloc[LINES:].query("label == 'negative'")["text"])
    lines = []
    for i, text in enumerate(calm["text"]):
        if burst and BURST[0] <= i < BURST[1]:
            text = next(negatives)
        lines.append(json.dumps({"time": iso(START + i), "text": text, "source": "newswire"}))
    return lines


def monitor_file(
    package: Path, path: Path, state: Path | None = None, alerts: Path | None = None
) -> OpinionMonitor:
    """Read a whole file as `trainforge monitor MODEL --input FILE --no-follow` does."""
    monitor = OpinionMonitor(
        load_classifier(package),
        SETTINGS,
        alerts=alerts,
        checkpoint=Checkpoint(state) if state else None,
    )
    tail = FileTail(path)
    monitor.restore(tail)
    monitor.run(tail, follow=False, stop=threading.Event())
    monitor.close()
    return monitor


def test_a_burst_of_negative_news_alerts_and_a_calm_replay_does_not(
    package: Path, pool: pd.DataFrame, tmp_path: Path
) -> None:
    calm, burst = replay(pool, burst=False), replay(pool, burst=True)
    assert len(calm) == len(burst) == LINES
    (tmp_path / "calm.jsonl").write_text("\n".join(calm) + "\n")
    (tmp_path / "burst.jsonl").write_text("\n".join(burst) + "\n")

    quiet = monitor_file(package, tmp_path / "calm.jsonl", alerts=tmp_path / "calm-alerts.jsonl")
    loud = monitor_file(package, tmp_path / "burst.jsonl", alerts=tmp_path / "alerts.jsonl")

    assert quiet.counters.valid == LINES and quiet.counters.alerts == 0
    assert (tmp_path / "calm-alerts.jsonl").read_text() == ""
    alerts = [json.loads(line) for line in (tmp_path / "alerts.jsonl").read_text().splitlines()]
    assert len(alerts) == loud.counters.alerts == 1
    alert = alerts[0]
    assert START + BURST[0] < parse_time(alert["time"]) <= START + BURST[1]
    assert alert["topic"] == "all" and alert["source"] == "newswire"
    assert alert["negative_share"] > alert["threshold"] > alert["baseline_mean"]
    peak = {
        name: max(p["share"] for p in monitor.status()["topics"]["all"]["series"])
        for name, monitor in (("calm", quiet), ("burst", loud))
    }
    assert peak["burst"] > 2 * peak["calm"]


def test_malformed_lines_are_counted_and_never_stop_the_monitor(
    package: Path, pool: pd.DataFrame, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    good = replay(pool, burst=False)[:40]
    bad = ["{oops", '{"time": "later", "text": "x"}', '{"text": ""}', "[1, 2]", "\xff"]
    lines = [*good[:20], *bad, "", *good[20:]]
    (tmp_path / "mixed.jsonl").write_text("\n".join(lines) + "\n", errors="surrogateescape")

    monitor = monitor_file(package, tmp_path / "mixed.jsonl")

    assert (monitor.counters.lines, monitor.counters.valid, monitor.counters.malformed) == (
        45,
        40,
        5,
    )
    messages = [r.getMessage() for r in caplog.records if "malformed" in r.getMessage()]
    assert len(messages) == 5
    assert "mixed.jsonl line 21: not JSON" in messages[0]
    assert "line 22" in messages[1] and "neither ISO-8601 nor epoch seconds" in messages[1]


def test_a_restart_keeps_the_windows_and_does_not_count_lines_twice(
    package: Path, pool: pd.DataFrame, tmp_path: Path
) -> None:
    lines = replay(pool, burst=True)[:150]
    stream, state = tmp_path / "stream.jsonl", tmp_path / "state.json"
    stream.write_text("\n".join(lines[:100]) + "\n")
    first = monitor_file(package, stream, state=state)
    assert first.counters.lines == 100
    saved = json.loads(state.read_text())
    assert saved["input"]["offset"] == stream.stat().st_size

    with stream.open("a") as out:  # the stream goes on while the monitor is down
        out.write("\n".join(lines[100:]) + "\n")
    second = monitor_file(package, stream, state=state)

    whole = tmp_path / "whole.jsonl"
    whole.write_text("\n".join(lines) + "\n")
    uninterrupted = monitor_file(package, whole)
    assert second.counters.lines == 150
    assert second.status()["topics"] == uninterrupted.status()["topics"]
    assert json.loads(state.read_text())["input"]["offset"] == stream.stat().st_size


def test_a_topic_model_splits_the_windows_by_topic(package: Path, pool: pd.DataFrame) -> None:
    # The sentiment package doubles as a "topic" model here: each sentence's topic is its
    # predicted sentiment, so the negative topic is all negative and the others not at all.
    classifier = load_classifier(package, topic_model=package)
    monitor = OpinionMonitor(classifier, SETTINGS)
    lines = replay(pool, burst=True)[BURST[0] - 30 : BURST[0] + 30]  # the burst's onset
    monitor.feed_lines([line.encode() + b"\n" for line in lines])

    topics = monitor.status()["topics"]
    assert {"all", "negative", "neutral"} <= set(topics) <= {"all", *classifier.sentiment.labels}
    windows = {name: topic["window"] for name, topic in topics.items()}
    assert sum(w["count"] for name, w in windows.items() if name != "all") == 60
    assert windows["negative"]["share"] == 1.0 and windows["neutral"]["share"] == 0.0

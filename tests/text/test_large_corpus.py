"""A million-line training file never sits whole in memory."""

from __future__ import annotations

import csv
import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

WORDS = [
    "good",
    "bad",
    "fine",
    "great",
    "poor",
    "slow",
    "quick",
    "bright",
    "dull",
    "warm",
    "cold",
    "clean",
    "messy",
    "calm",
    "loud",
    "soft",
    "sharp",
    "plain",
    "rich",
    "thin",
    "cheap",
    "pricey",
    "tidy",
    "noisy",
    "fresh",
    "stale",
    "kind",
    "rude",
    "easy",
    "hard",
]


def _write(path: Path, rows: int, seed: int) -> None:
    rng = random.Random(seed)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        for _ in range(rows):
            words = rng.choices(WORDS, k=rng.randint(3, 12))
            label = "positive" if words.count("good") + words.count("great") else "negative"
            writer.writerow([" ".join(words), label])


@pytest.mark.slow
def test_million_line_csv_trains_under_3_gb(tmp_path: Path) -> None:
    _write(tmp_path / "train.csv", 1_000_000, 0)
    _write(tmp_path / "dev.csv", 200, 1)
    _write(tmp_path / "test.csv", 200, 2)
    config = tmp_path / "big.yaml"
    config.write_text(
        f"""
task: text_classification
data: {{train: {tmp_path / "train.csv"}, validation: {tmp_path / "dev.csv"},
        test: {tmp_path / "test.csv"}}}
model: {{finetune: full}}
train: {{epochs: 1, max_steps: 5, batch_size: 16, max_length: 32}}
""",
        encoding="utf-8",
    )
    env = {**os.environ, "HF_DATASETS_CACHE": str(tmp_path / "cache")}
    command = [sys.executable, "-m", "trainforge.cli", "train", str(config)]
    result = subprocess.run(
        [*command, "--output", str(tmp_path / "run")], capture_output=True, text=True, env=env
    )
    assert result.returncode == 0, result.stderr[-3000:]
    # The training process's own peak (VmHWM). The peaks that getrusage gives for a child
    # include the process that started it, here the whole test session.
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text(encoding="utf-8"))
    assert 0 < metrics["peak_rss_mb"] < 3000, f"peak RSS {metrics['peak_rss_mb']:.0f} MB"

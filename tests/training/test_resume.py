"""A run killed with SIGKILL mid-training and resumed ends exactly like an uninterrupted run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from trainforge.pipeline import TIMING_KEYS


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "trainforge.cli", *args]


@pytest.fixture()
def slow_config(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    n = 6000
    x = rng.normal(size=(n, 8))
    y = (x[:, 0] + 0.5 * x[:, 1] - x[:, 2] + rng.normal(scale=0.5, size=n) > 0).astype(int)
    frame = pd.DataFrame(x, columns=[f"f{i}" for i in range(8)])
    frame["label"] = np.where(y == 1, "yes", "no")
    frame.to_csv(tmp_path / "data.csv", index=False)
    config = tmp_path / "config.yaml"
    config.write_text(
        f"""
task: tabular_classification
data: {{train: {tmp_path / "data.csv"}, label_column: label}}
model: {{type: mlp, hidden_sizes: [64, 64], dropout: 0.2}}
train:
  epochs: 6
  batch_size: 8
  scheduler: cosine
  early_stopping: {{monitor: val_loss, patience: 2}}
  seed: 7
""",
        encoding="utf-8",
    )
    return config


def _metrics(run_dir: Path) -> dict:
    metrics = json.loads((run_dir / "metrics.json").read_text())
    return {k: v for k, v in metrics.items() if k not in TIMING_KEYS}


@pytest.mark.slow
def test_sigkill_then_resume_matches_uninterrupted_run(slow_config: Path, tmp_path: Path) -> None:
    killed = tmp_path / "killed"
    proc = subprocess.Popen(
        _cli("train", str(slow_config), "--output", str(killed)),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    checkpoint = killed / "checkpoints" / "last.ckpt"
    deadline = time.monotonic() + 120
    while not checkpoint.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, "training finished before it could be killed; make it slower"
    time.sleep(0.3)  # into the second epoch, mid-way
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (killed / "metrics.json").exists()

    resumed = subprocess.run(
        _cli("train", str(slow_config), "--output", str(killed), "--resume"),
        capture_output=True,
        text=True,
    )
    assert resumed.returncode == 0, resumed.stderr
    straight = tmp_path / "straight"
    plain = subprocess.run(
        _cli("train", str(slow_config), "--output", str(straight)), capture_output=True, text=True
    )
    assert plain.returncode == 0, plain.stderr
    assert _metrics(killed) == _metrics(straight)
    assert (killed / "model" / "v1" / "model.safetensors").read_bytes() == (
        straight / "model" / "v1" / "model.safetensors"
    ).read_bytes()


def test_resume_without_checkpoint_is_a_clear_error(slow_config: Path, tmp_path: Path) -> None:
    result = subprocess.run(
        _cli("train", str(slow_config), "--output", str(tmp_path / "none"), "--resume"),
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert "no checkpoint to resume from" in result.stderr
    assert "Drop --resume" in result.stderr

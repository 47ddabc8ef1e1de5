"""Two CPU processes (DDP over gloo) train like one process with the same global batch size."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from trainforge.config import load_config
from trainforge.errors import ConfigError
from trainforge.training.callbacks import EpochShuffleSampler
from trainforge.training.distributed import ShardSampler, is_primary, topology
from trainforge.training.text_data import LengthGroupedBatchSampler

CURVES = ("val_loss", "val_accuracy", "val_f1_macro", "train_loss")


@pytest.fixture()
def config(tmp_path: Path) -> dict:
    rng = np.random.default_rng(0)
    n = 1000  # 700 training rows: even, so two shards need no padding
    x = rng.normal(size=(n, 6))
    y = (x[:, 0] + 0.5 * x[:, 1] - x[:, 2] + rng.normal(scale=0.7, size=n) > 0).astype(int)
    frame = pd.DataFrame(x, columns=[f"f{i}" for i in range(6)])
    frame["label"] = np.where(y == 1, "yes", "no")
    frame.to_csv(tmp_path / "data.csv", index=False)
    return {
        "task": "tabular_classification",
        "data": {"train": str(tmp_path / "data.csv"), "label_column": "label"},
        "model": {"type": "mlp", "hidden_sizes": [32], "dropout": 0.0},
        "train": {
            "epochs": 3,
            "batch_size": 32,
            "seed": 3,
            "early_stopping": None,
            "accelerator": "cpu",
            "scheduler": "cosine",
        },
    }


def test_ddp_two_processes_match_one_process(config: dict, tmp_path: Path) -> None:
    import yaml

    from trainforge.pipeline import train

    one = train(config, output=tmp_path / "one", progress=False)

    config_file = tmp_path / "ddp.yaml"
    config_file.write_text(yaml.safe_dump(config), encoding="utf-8")
    two_dir = tmp_path / "two"
    sets = ["train.devices=2", "train.strategy=ddp", "train.batch_size=16"]
    result = subprocess.run(
        [sys.executable, "-m", "trainforge.cli", "train", str(config_file), "-o", str(two_dir)]
        + [arg for s in sets for arg in ("--set", s)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    # Only rank 0 reports, and only its run folder exists.
    assert result.stdout.count("Model:") == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.csv", "ddp.yaml", "one", "two"]

    two = json.loads((two_dir / "metrics.json").read_text())
    for split in ("validation", "test"):
        for key in ("accuracy", "f1_macro", "log_loss", "roc_auc"):
            assert two[split][key] == pytest.approx(one.metrics[split][key], abs=1e-5), key
    curves_one = json.loads((one.run_dir / "history.json").read_text())
    curves_two = json.loads((two_dir / "history.json").read_text())
    assert len(curves_one) == len(curves_two) == 3
    for a, b in zip(curves_one, curves_two, strict=True):
        for key in CURVES:
            assert b[key] == pytest.approx(a[key], abs=1e-5), key


@pytest.mark.slow
def test_torchrun_follows_the_launcher(config: dict, tmp_path: Path) -> None:
    import yaml

    from trainforge.pipeline import train

    one = train(config, output=tmp_path / "one", progress=False)
    config_file = tmp_path / "ddp.yaml"
    # devices: 1 (the default) follows torchrun's --nproc-per-node
    config["train"]["batch_size"] = 16
    config_file.write_text(yaml.safe_dump(config), encoding="utf-8")
    torchrun = str(Path(sys.executable).with_name("torchrun"))
    launch = [torchrun, "--standalone", "--nproc-per-node", "2", "-m", "trainforge.cli"]
    result = subprocess.run(
        [*launch, "train", str(config_file), "-o", str(tmp_path / "two")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.count("Model:") == 1
    two = json.loads((tmp_path / "two" / "metrics.json").read_text())
    assert two["test"]["log_loss"] == pytest.approx(one.metrics["test"]["log_loss"], abs=1e-5)


def test_shards_make_the_global_batches_of_one_process() -> None:
    n, world, per_device = 103, 2, 8
    whole = list(EpochShuffleSampler(n, seed=5))
    shards = [list(ShardSampler(EpochShuffleSampler(n, 5), r, world, pad=True)) for r in (0, 1)]
    assert len(shards[0]) == len(shards[1]) == 52  # padded by one repeated row
    padded = whole + whole[:1]
    for i in range(0, 52, per_device):
        union = sorted(shards[0][i : i + per_device] + shards[1][i : i + per_device])
        assert union == sorted(padded[i * world : (i + per_device) * world])
    # Evaluation shards are not padded: every row exactly once.
    evaluation = [list(ShardSampler(range(n), r, world, pad=False)) for r in (0, 1)]
    assert sorted(evaluation[0] + evaluation[1]) == list(range(n))


def test_length_grouped_shards_split_the_same_batches() -> None:
    lengths = [int(v) for v in np.random.default_rng(1).integers(3, 60, size=200)]
    single = LengthGroupedBatchSampler(lengths, 16, seed=2)
    shards = [single.resized(8).sharded(rank, 2) for rank in (0, 1)]
    for sampler in (single, *shards):
        sampler.sampler.set_epoch(1)
    batches = list(single)
    parts = [list(s) for s in shards]
    assert len(parts[0]) == len(parts[1]) == len(batches) == len(shards[0])
    for whole, a, b in zip(batches, *parts, strict=True):
        assert sorted(a + b) == sorted(whole)


def test_scaling_settings_are_checked(config: dict) -> None:
    for train, message in [
        ({"accelerator": "cpu", "precision": "16-mixed"}, "16-mixed' needs a GPU"),
        ({"accelerator": "cpu", "strategy": "fsdp"}, "does not run on the CPU"),
        ({"batch_size": "auto", "devices": 2}, "runs on one device only"),
    ]:
        with pytest.raises(ConfigError, match=message):
            load_config({**config, "train": {**config["train"], **train}})
    cfg = load_config({**config, "train": {"batch_size": "auto", "precision": 32}})
    assert cfg.train.auto_batch_size and cfg.train.precision == "32"


def test_launcher_decides_devices(config: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    torchrun = {"RANK": "1", "GROUP_RANK": "0", "LOCAL_RANK": "1", "LOCAL_WORLD_SIZE": "2"}
    for name, value in {**torchrun, "WORLD_SIZE": "2"}.items():
        monkeypatch.setenv(name, value)
    train = load_config(config).train
    assert topology(train).devices == 2 and topology(train).launcher == "torchrun"
    assert not is_primary(train)
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("LOCAL_RANK", "0")
    assert is_primary(train)
    with pytest.raises(ConfigError, match="torchrun started 2 process"):
        topology(load_config({**config, "train": {**config["train"], "devices": 4}}).train)

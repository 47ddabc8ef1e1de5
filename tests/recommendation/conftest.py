"""Recommenders trained once per session: on the UCI restaurant ratings and on synthetic clicks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import trainforge
from trainforge.data.synthetic import SyntheticSpec, write_recommendations

REPO = Path(__file__).resolve().parents[2]
UCI = REPO.parent / "shared" / "data" / "restaurant_consumer_uci"


@pytest.fixture(scope="session")
def uci_run(tmp_path_factory: pytest.TempPathFactory) -> Any:
    if not (UCI / "rating_final.csv").is_file():
        pytest.skip(f"the UCI restaurant data is not in {UCI}")
    out = tmp_path_factory.mktemp("uci") / "run"
    overrides = [
        f"data.train={UCI / 'rating_final.csv'}",
        f"data.items={UCI / 'geoplaces2.csv'}",
    ]
    return trainforge.train(
        REPO / "examples" / "restaurants.yaml", overrides=overrides, output=out, progress=False
    )


@pytest.fixture(scope="session")
def synthetic_run(tmp_path_factory: pytest.TempPathFactory) -> Any:
    folder = tmp_path_factory.mktemp("synthetic")
    spec = SyntheticSpec(users=400, items=300, interactions=20_000, genres=8, seed=3)
    interactions, items = write_recommendations(folder / "data", spec)
    config = {
        "task": "recommendation",
        "data": {
            "train": str(interactions),
            "items": str(items),
            "time_column": "time",
            "split": {"validation": 0.1, "test": 0.2},
        },
        "train": {"epochs": 6, "batch_size": 256, "lr": 0.01, "seed": 1},
    }
    return trainforge.train(config, output=folder / "run", progress=False)

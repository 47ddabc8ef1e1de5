"""End to end: train, metrics against popularity, package, predict, evaluate."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import trainforge
from trainforge.data.synthetic import SyntheticSpec, make_recommendations

RANKING_KEYS = ("ndcg_at_10", "hr_at_10", "map_at_10", "auc")


def check_metrics(metrics: dict[str, Any]) -> None:
    for split in ("validation", "test"):
        for key in RANKING_KEYS:
            assert 0.0 <= metrics[split][key] <= 1.0
            assert 0.0 <= metrics[split]["popularity"][key] <= 1.0


def test_uci_beats_popularity_and_writes_the_keys(uci_run: Any) -> None:
    metrics = json.loads((uci_run.run_dir / "metrics.json").read_text())
    check_metrics(metrics)
    test = metrics["test"]
    assert test["ndcg_at_10"] > test["popularity"]["ndcg_at_10"]
    assert test["split"] == "random"  # no time column in the UCI ratings
    assert metrics["positive_threshold"] == 1.0
    assert metrics["data_users"] == 138
    report = (uci_run.run_dir / "report.html").read_text()
    assert "Model vs popularity" in report and "data:image/png;base64" in report


def test_synthetic_beats_popularity_with_a_time_split(synthetic_run: Any) -> None:
    metrics = synthetic_run.metrics
    check_metrics(metrics)
    assert metrics["test"]["split"] == "time"
    assert metrics["test"]["ndcg_at_10"] > metrics["test"]["popularity"]["ndcg_at_10"]
    assert metrics["validation"]["ndcg_at_10"] > metrics["validation"]["popularity"]["ndcg_at_10"]


def test_predict_excludes_seen_items_and_flags_unknown_users(synthetic_run: Any) -> None:
    model = trainforge.load(synthetic_run.model_dir)
    interactions = pd.read_csv(synthetic_run.model.config.data.train)
    seen = set(interactions.loc[interactions["user"] == "u7", "item"])
    (known, unknown) = model.predict([{"user": "u7"}, {"user": "nobody"}], k=25)
    assert known["known_user"] and known["fallback"] is None
    items = [entry["item"] for entry in known["items"]]
    assert len(items) == 25 and not seen & set(items)
    scores = [entry["score"] for entry in known["items"]]
    assert scores == sorted(scores, reverse=True)
    assert {"title", "genres"} <= set(known["items"][0])
    assert unknown["fallback"] == "popularity" and not unknown["known_user"]
    everything = model.predict(["u7"], k=25, exclude_seen=False)[0]["items"]
    assert seen & {entry["item"] for entry in everything}


def test_loaded_package_predicts_as_the_trained_model(synthetic_run: Any) -> None:
    loaded = trainforge.load(synthetic_run.model_dir)
    assert loaded.predict(["u3"], k=5) == synthetic_run.model.predict(["u3"], k=5)


def test_evaluate_on_held_out_interactions(synthetic_run: Any) -> None:
    model = trainforge.load(synthetic_run.model_dir)
    metrics = model.evaluate(synthetic_run.model.config.data.train)
    assert metrics["ndcg_at_10"] > metrics["popularity"]["ndcg_at_10"]
    assert metrics["unknown_rows"] == 0


def test_generator_is_seeded_and_structured() -> None:
    spec = SyntheticSpec(users=200, items=100, interactions=5_000, genres=4, noise=0.0, seed=5)
    first, items = make_recommendations(spec)
    again, _ = make_recommendations(spec)
    pd.testing.assert_frame_equal(first, again)
    assert len(first) == 5_000 and first["user"].nunique() == 200
    # Without noise a user's clicks concentrate on the genres they like.
    genre = items.set_index("item")["genres"].str.split("|").str[0]
    clicked = first.assign(genre=first["item"].map(genre))
    top_share = clicked.groupby("user")["genre"].agg(lambda g: g.value_counts().iloc[0] / len(g))
    assert float(np.mean(top_share)) > 0.5  # four genres: 0.25 by chance


def test_cold_item_is_scored_from_its_features(tmp_path: Path) -> None:
    spec = SyntheticSpec(users=150, items=60, interactions=4_000, genres=3, noise=0.0, seed=2)
    interactions, items = make_recommendations(spec)
    cold = "i0"
    interactions[interactions["item"] != cold].to_csv(tmp_path / "clicks.csv", index=False)
    items.to_csv(tmp_path / "items.csv", index=False)
    config = {
        "task": "recommendation",
        "data": {"train": str(tmp_path / "clicks.csv"), "items": str(tmp_path / "items.csv")},
        "train": {"epochs": 3, "seed": 0},
    }
    run = trainforge.train(config, output=tmp_path / "run", progress=False)
    model = trainforge.load(run.model_dir)
    index = model.catalog.item_index[cold]
    # Never interacted with: its id embedding kept its zero start, the features score it.
    assert not model.network.items.weight[index].any()
    users = np.arange(len(model.catalog.user_ids))
    scores = model.user_scores(users)[:, index]
    assert np.isfinite(scores).all() and scores.std() > 0
    ranked = [model.predict([u], k=60)[0]["items"] for u in model.catalog.user_ids[:20]]
    assert any(entry["item"] == cold for listing in ranked for entry in listing)


def test_onnx_export_and_plan_are_refused_clearly(synthetic_run: Any) -> None:
    from trainforge.errors import ConfigError, PackageError
    from trainforge.export import export_onnx
    from trainforge.plan import plan

    with pytest.raises(PackageError, match="not supported for recommenders yet"):
        export_onnx(synthetic_run.model_dir)
    with pytest.raises(PackageError, match="PyTorch only"):
        trainforge.load(synthetic_run.model_dir, onnx=True)
    with pytest.raises(ConfigError, match="does not cover task 'recommendation'"):
        plan(synthetic_run.model.config)

"""Recommendation: the hybrid recommender against the popularity baseline.

    python benchmarks/recommend.py [--only uci synthetic] [--interactions N] [--out FILE]

uci        the UCI restaurant-consumer ratings (../shared/data/restaurant_consumer_uci) with
           examples/restaurants.yaml: 1,161 ratings, seeded per-user hold-out (no times).
synthetic  the seeded synthetic generator (`trainforge make-data recommendations`), 1,000,000
           clicks of 20,000 users on 5,000 items by default; examples/synthetic_recommendations
           .yaml: each user's last 10% / 20% of clicks by time are validation / test. Also
           the test metrics of the generator's own click probabilities (an oracle: the ceiling).

Every metric ranks the whole catalog per user, minus the items the user met before the split.
Writes one JSON file (default benchmarks/results/recommend.json): model and popularity NDCG@10,
HR@10, MAP@10 and AUC on validation and test, train and wall time, with the configs.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

import trainforge
from trainforge.data.synthetic import SyntheticSpec, SyntheticTruth, draw_recommendations

REPO = Path(__file__).resolve().parents[1]
UCI = REPO.parent / "shared" / "data" / "restaurant_consumer_uci"
RESULTS = REPO / "benchmarks" / "results" / "recommend.json"
KEYS = ("ndcg_at_10", "hr_at_10", "map_at_10", "auc")


def _example(name: str) -> dict[str, Any]:
    config: dict[str, Any] = yaml.safe_load((REPO / "examples" / f"{name}.yaml").read_text())
    return config


def _without_folders(config: dict[str, Any]) -> dict[str, Any]:
    """The config with data paths cut to file names (no machine paths in the results)."""
    data = {
        key: Path(value).name if key in ("train", "validation", "test", "items") else value
        for key, value in config.get("data", {}).items()
    }
    return {**config, "data": data}


def _run(config: dict[str, Any], folder: Path, name: str) -> dict[str, Any]:
    start = time.perf_counter()
    run = trainforge.train(config, output=folder / name, overwrite=True, progress=False)
    wall = time.perf_counter() - start
    metrics = run.metrics
    result: dict[str, Any] = {}
    for split in ("validation", "test"):
        scores = metrics[split]
        result[split] = {
            "model": {k: scores[k] for k in KEYS},
            "popularity": {k: scores["popularity"][k] for k in KEYS},
            "users": scores["users"],
            "candidates_per_user": scores["candidates_per_user"],
            "split": scores["split"],
        }
    result |= {
        "train_time_s": metrics["train_time_s"],
        "samples_per_second": metrics["samples_per_second"],
        "epochs_run": metrics.get("epochs_run"),
        "best_epoch": metrics.get("best_epoch"),
        "wall_s": round(wall, 1),
        "peak_rss_mb": metrics["peak_rss_mb"],
        "config": _without_folders(config),
    }
    test = result["test"]
    print(
        f"{name}: test NDCG@10 {test['model']['ndcg_at_10']:.4f} vs popularity "
        f"{test['popularity']['ndcg_at_10']:.4f}; HR@10 {test['model']['hr_at_10']:.4f} vs "
        f"{test['popularity']['hr_at_10']:.4f}; train {result['train_time_s']} s, "
        f"wall {result['wall_s']} s",
        flush=True,
    )
    return result


def uci(folder: Path) -> dict[str, Any]:
    config = _example("restaurants")
    config["data"]["train"] = str(UCI / "rating_final.csv")
    config["data"]["items"] = str(UCI / "geoplaces2.csv")
    return _run(config, folder, "uci")


def synthetic(folder: Path, interactions: int) -> dict[str, Any]:
    spec = SyntheticSpec(interactions=interactions)
    start = time.perf_counter()
    clicks, items, truth = draw_recommendations(spec)
    generate_s = round(time.perf_counter() - start, 1)
    data = folder / "synthetic_data"
    data.mkdir()
    clicks.to_csv(data / "interactions.csv", index=False)
    items.to_csv(data / "items.csv", index=False)
    config = _example("synthetic_recommendations")
    config["data"]["train"] = str(data / "interactions.csv")
    config["data"]["items"] = str(data / "items.csv")
    result = _run(config, folder, "synthetic")
    result["test"]["oracle"] = _oracle(config, truth)
    print(f"synthetic: oracle (the generator's own probabilities) {result['test']['oracle']}")
    result["data"] = {
        "users": spec.users,
        "items": spec.items,
        "interactions": spec.interactions,
        "genres": spec.genres,
        "noise": spec.noise,
        "seed": spec.seed,
        "generate_s": generate_s,
    }
    return result


def _oracle(config: dict[str, Any], truth: SyntheticTruth) -> dict[str, float]:
    """Test metrics of the generator's own click probabilities: the ceiling of any model."""
    import numpy as np

    from trainforge.config import load_config
    from trainforge.data.interactions import load_recommendation_data
    from trainforge.evaluation.ranking import rank_relevant, ranking_metrics, tie_order
    from trainforge.tasks.recommendation.prepare import _ranking_set

    cfg = load_config(config)
    data = load_recommendation_data(cfg.data, cfg.split_seed)
    test = _ranking_set(data, "test")
    # Catalog index -> the generator's numbers ("u17" -> 17, "i5" -> 5).
    user_number = np.array([int(u[1:]) for u in data.catalog.user_ids])
    item_number = np.array([int(i[1:]) for i in data.catalog.item_ids])

    def scores(users: np.ndarray) -> np.ndarray:
        return truth.scores(user_number[users])[:, item_number]

    metrics = ranking_metrics(rank_relevant(test, scores, tie_order(test.n_items)))
    return {k: round(metrics[k], 6) for k in KEYS}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", nargs="+", choices=("uci", "synthetic"))
    parser.add_argument("--interactions", type=int, default=1_000_000)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    chosen = args.only or ["uci", "synthetic"]
    results: dict[str, Any] = {
        "machine": {"platform": platform.platform(), "python": platform.python_version()},
    }
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        if "uci" in chosen:
            if (UCI / "rating_final.csv").is_file():
                results["uci"] = uci(folder)
            else:
                print(f"uci: skipped, no data in {UCI}")
        if "synthetic" in chosen:
            results["synthetic"] = synthetic(folder, args.interactions)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"Wrote {args.out}")


if __name__ == "__main__":
    main()

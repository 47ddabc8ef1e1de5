"""Text regression on the VADER sentiment-intensity ratings: TF-IDF + ridge against trainforge.

    python benchmarks/text_regression.py [--epochs 3] [--train-rows N] [--frozen]

Data: the ground truth of Hutto & Gilbert (ICWSM 2014), shipped (MIT) inside the PyPI sdist
of vaderSentiment 3.3.2: every text's target is the mean sentiment intensity given by at least
20 human raters, from -4 to +4. The Amazon review, New York Times editorial and tweet subsets
(13,098 texts); a text that occurs more than once keeps the mean of its ratings (13,016 left),
then a seeded 80/10/10 split. The sdist is fetched with `pip download` (no install) into
--cache, unless --sdist names a copy.

Sides, on the same rows: (a) scikit-learn TF-IDF of word 1-2 grams + Ridge, alpha chosen on
validation RMSE; (b) trainforge `text_regression`, MiniLM fully fine-tuned (max_length 64,
batch 32); (c) with --frozen, a linear head on frozen MiniLM embeddings. Test Spearman, MAE,
RMSE and R² and each side's training time go to benchmarks/results/text_regression.json.
"""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import trainforge
from trainforge.evaluation import regression_metrics

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
VERSION = "3.3.2"
SDIST = f"vaderSentiment-{VERSION}.tar.gz"
INNER = f"vaderSentiment-{VERSION}/additional_resources/hutto_ICWSM_2014.tar.gz"
SUBSETS = {
    "amazon": "amazonReviewSnippets_GroundTruth.txt",
    "nyt": "nytEditorialSnippets_GroundTruth.txt",
    "tweets": "tweets_GroundTruth.txt",
}
ALPHAS = (0.1, 0.3, 1.0, 3.0, 10.0, 30.0)
SPLIT_SEED = 0


def fetch_sdist(cache: Path) -> Path:
    """The vaderSentiment sdist in `cache`, downloaded with pip (no dependencies, no build)."""
    path = cache / SDIST
    if path.is_file():
        return path
    cache.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:"]
    subprocess.run([*command, f"vaderSentiment=={VERSION}", "-d", str(cache)], check=True)
    return path


def read_vader(sdist: Path, subsets: tuple[str, ...] = tuple(SUBSETS)) -> pd.DataFrame:
    """text, target (mean rating, -4..+4), subset; one row per distinct text."""
    with tarfile.open(sdist, "r:gz") as outer:
        member = outer.extractfile(INNER)
        assert member is not None, f"{INNER} is not in {sdist}"
        inner_bytes = member.read()
    frames = []
    with tarfile.open(fileobj=io.BytesIO(inner_bytes), mode="r:gz") as inner:
        for name in subsets:
            member = inner.extractfile(f"hutto_ICWSM_2014/{SUBSETS[name]}")
            assert member is not None, SUBSETS[name]
            lines = member.read().decode("utf-8").splitlines()
            # ID<TAB>MEAN-RATING<TAB>TEXT, no header; the text may itself hold tabs.
            rows = [line.split("\t", 2) for line in lines if line.strip()]
            frame = pd.DataFrame(rows, columns=["id", "target", "text"])
            frame["target"] = frame["target"].astype(float)
            frame["text"] = frame["text"].str.strip()
            frame["subset"] = name
            frames.append(frame[frame["text"] != ""])
    rows = pd.concat(frames, ignore_index=True)
    # A repeated text in two splits would leak; keep one row with the mean of its ratings.
    return rows.groupby("text", as_index=False, sort=False).agg(
        target=("target", "mean"), subset=("subset", "first")
    )


def write_splits(frame: pd.DataFrame, folder: Path, train_rows: int | None) -> dict[str, Path]:
    """Seeded 80/10/10 split as CSVs (text, target); `train_rows` subsamples the training part."""
    shuffled = frame.sample(frac=1.0, random_state=SPLIT_SEED).reset_index(drop=True)
    n = len(shuffled)
    parts = {
        "test": shuffled[: n // 10],
        "validation": shuffled[n // 10 : n // 5],
        "train": shuffled[n // 5 :],
    }
    if train_rows is not None:
        parts["train"] = parts["train"].head(train_rows)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for split, part in parts.items():
        paths[split] = folder / f"{split}.csv"
        part[["text", "target"]].to_csv(paths[split], index=False)
    return paths


def _scores(y: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    m = regression_metrics(y, pred)
    return {k: round(float(m[k]), 4) for k in ("spearman", "mae", "rmse", "r2")}


def tfidf_ridge(paths: dict[str, Path]) -> dict[str, Any]:
    """TF-IDF word 1-2 grams + Ridge; alpha by validation RMSE, refitted on train alone."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import make_pipeline

    train, val, test = (pd.read_csv(paths[s]) for s in ("train", "validation", "test"))

    def model(alpha: float) -> Any:
        vectorizer = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True)
        return make_pipeline(vectorizer, Ridge(alpha=alpha))

    start = time.perf_counter()
    search = {}
    for alpha in ALPHAS:
        fitted = model(alpha).fit(train["text"], train["target"])
        search[alpha] = _scores(val["target"].to_numpy(), fitted.predict(val["text"]))["rmse"]
    search_s = time.perf_counter() - start
    best = min(search, key=lambda a: search[a])
    start = time.perf_counter()
    fitted = model(best).fit(train["text"], train["target"])
    train_s = time.perf_counter() - start
    return {
        "alpha": best,
        "validation_rmse_by_alpha": {str(a): r for a, r in search.items()},
        "test": _scores(test["target"].to_numpy(), fitted.predict(test["text"])),
        "train_time_s": round(train_s, 2),
        "alpha_search_time_s": round(search_s, 2),
    }


def trainforge_side(
    paths: dict[str, Path], work: Path, finetune: str, epochs: int | None
) -> dict[str, Any]:
    """One `trainforge.train` run of task text_regression on MiniLM."""
    train: dict[str, Any] = {"max_length": 64, "batch_size": 32, "seed": 42}
    if epochs is not None and finetune != "frozen":
        train["epochs"] = epochs
    config = {
        "task": "text_regression",
        "name": f"vader_{finetune}",
        "data": {**{s: str(p) for s, p in paths.items()}, "label_column": "target"},
        "model": {"backbone": "minilm", "finetune": finetune},
        "train": train,
    }
    start = time.perf_counter()
    run = trainforge.train(config, output=work / finetune, progress=False)
    wall = time.perf_counter() - start
    metrics = run.metrics
    result = {
        "config": config["train"] | {"finetune": finetune},
        "test": {k: round(float(metrics["test"][k]), 4) for k in ("spearman", "mae", "rmse", "r2")},
        "validation_spearman": round(float(metrics["validation"]["spearman"]), 4),
        "train_time_s": metrics["train_time_s"],
        "run_wall_s": round(wall, 1),
        "epochs_run": metrics.get("epochs_run"),
        "best_epoch": metrics.get("best_epoch"),
        "precision": metrics.get("precision"),
    }
    if "embedding_time_s" in metrics:
        result["embedding_time_s"] = metrics["embedding_time_s"]
    return result


def cpu_flags() -> list[str]:
    """What `lscpu | grep -o -E 'avx512_bf16|amx|avx2' | sort -u` prints."""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return []
    import re

    return sorted(set(re.findall(r"avx512_bf16|amx|avx2", out)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=3, help="full fine-tuning epochs")
    parser.add_argument("--train-rows", type=int, default=None, help="subsample train rows")
    parser.add_argument("--frozen", action="store_true", help="also a frozen-backbone head")
    parser.add_argument("--sdist", type=Path, default=None, help="a local vaderSentiment sdist")
    parser.add_argument(
        "--cache", type=Path, default=Path(tempfile.gettempdir()) / "trainforge-benchmarks"
    )
    parser.add_argument("--out", type=Path, default=RESULTS / "text_regression.json")
    args = parser.parse_args()

    import torch

    sdist = args.sdist or fetch_sdist(args.cache)
    frame = read_vader(sdist)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        paths = write_splits(frame, work / "data", args.train_rows)
        rows = {s: len(pd.read_csv(p)) for s, p in paths.items()}
        results: dict[str, Any] = {
            "data": f"VADER ground truth (amazon + nyt + tweets), {len(frame)} distinct texts, "
            "target -4..+4 (mean of >= 20 raters)",
            "rows": rows,
            "machine": {
                "cpu_flags": cpu_flags(),
                "torch_threads": torch.get_num_threads(),
                "cuda": torch.cuda.is_available(),
            },
        }
        print(json.dumps(results, indent=1), flush=True)
        results["tfidf_ridge"] = tfidf_ridge(paths)
        print("tfidf_ridge", json.dumps(results["tfidf_ridge"]), flush=True)
        sides = ["full", *(["frozen"] if args.frozen else [])]
        for finetune in sides:
            results[f"trainforge_{finetune}"] = trainforge_side(paths, work, finetune, args.epochs)
            print(f"trainforge_{finetune}", json.dumps(results[f"trainforge_{finetune}"]))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()

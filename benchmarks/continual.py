"""Continual updates: class-incremental on Banking77, domain-incremental SST-2 -> finance.

    python benchmarks/continual.py [--strategies naive replay] [--epochs 3] [--out FILE]
    python benchmarks/continual.py --scenario domain [--strategies naive replay ewc lwf]

class (default): trains v1 on the train rows of the first 40 intents (sorted by name), then,
from a copy of that model folder per strategy, runs `trainforge update` with the train rows of
the other 37. Accuracy is measured on the full Banking77 test split: old intents, new intents
and all. Forgetting = accuracy on the old intents before minus after the update.

domain: v1 on SST-2 movie reviews (positive/negative), then an update on the positive and
negative sentences of Financial PhraseBank (all annotators agree; 80% train, 20% test, seeded).
Accuracy on the SST-2 test split and on the finance test rows before and after: the matrix.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

import trainforge
from trainforge.continual.update import update

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "banking77"
RESULTS = REPO / "benchmarks" / "results" / "continual.json"
SST2 = REPO.parent / "shared" / "data" / "sst2"
PHRASEBANK = REPO.parent / "shared" / "data" / "financial_phrasebank"


def _accuracy(model_dir: Path, frame: pd.DataFrame) -> float:
    model = trainforge.load(model_dir)
    predicted = [p["label"] for p in model.predict(frame[["text"]])]
    return float((pd.Series(predicted, index=frame.index) == frame["label"]).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", choices=["class", "domain"], default="class")
    parser.add_argument("--strategies", nargs="+", default=["naive", "replay"])
    parser.add_argument("--old-intents", type=int, default=40)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--replay-size", type=int, default=1000, help="rows kept for replay")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    if args.scenario == "domain":
        domain(args)
        return
    args.out = args.out or RESULTS
    if not DATA.is_dir():
        sys.exit(f"Banking77 not found at {DATA} (the development data sets)")

    train, test = pd.read_csv(DATA / "train.csv"), pd.read_csv(DATA / "test.csv")
    intents = sorted(train["label"].unique())
    old_intents = set(intents[: args.old_intents])
    split = {
        name: (frame[frame.label.isin(old_intents)], frame[~frame.label.isin(old_intents)])
        for name, frame in (("train", train), ("test", test))
    }
    results: dict[str, object] = {
        "data": "banking77",
        "old_intents": len(old_intents),
        "new_intents": len(intents) - len(old_intents),
        "epochs": args.epochs,
        "replay_size": args.replay_size,
        "test_rows": {"old": len(split["test"][0]), "new": len(split["test"][1])},
    }
    with tempfile.TemporaryDirectory() as work:
        folder = Path(work)
        split["train"][0].to_csv(folder / "old_train.csv", index=False)
        split["test"][0].to_csv(folder / "old_test.csv", index=False)
        split["train"][1].to_csv(folder / "new_train.csv", index=False)
        config = {
            "task": "text_classification",
            "data": {
                "train": str(folder / "old_train.csv"),
                "test": str(folder / "old_test.csv"),
                "split": {"validation": 0.1, "stratify": True},
            },
            "model": {"backbone": "minilm", "finetune": "full"},
            "train": {
                "epochs": args.epochs,
                "batch_size": 32,
                "lr": 1e-4,
                "max_length": 64,
                "seed": 42,
            },
            "continual": {"replay_size": args.replay_size},
        }
        start = time.perf_counter()
        run = trainforge.train(config, output=folder / "v1", progress=False)
        v1_old = _accuracy(run.model_dir, split["test"][0])
        results["v1"] = {"old_accuracy": v1_old, "train_time_s": time.perf_counter() - start}
        print(f"v1: accuracy on the {len(old_intents)} old intents {v1_old:.4f}", flush=True)
        for strategy in args.strategies:
            model_dir = folder / f"model-{strategy}"
            shutil.copytree(run.model_dir, model_dir)
            start = time.perf_counter()
            result = update(model_dir, folder / "new_train.csv", strategy=strategy, progress=False)
            seconds = time.perf_counter() - start
            package = model_dir / result.version
            old, new = _accuracy(package, split["test"][0]), _accuracy(package, split["test"][1])
            overall = _accuracy(package, test)
            results[strategy] = {
                "old_accuracy": old,
                "new_accuracy": new,
                "overall_accuracy": overall,
                "forgetting": v1_old - old,
                "update_time_s": seconds,
                "continual": result.continual,
            }
            print(
                f"{strategy}: old {old:.4f} (forgetting {v1_old - old:+.4f}), new {new:.4f}, "
                f"all {overall:.4f}, {seconds:.0f} s",
                flush=True,
            )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"Wrote {args.out.relative_to(REPO) if args.out.is_relative_to(REPO) else args.out}")


def domain(args: argparse.Namespace) -> None:
    """v1 on SST-2, then an update per strategy on finance sentences; the accuracy matrix."""
    if not SST2.is_dir() or not PHRASEBANK.is_dir():
        sys.exit(f"SST-2 or Financial PhraseBank not found under {SST2.parent}")
    finance = pd.read_csv(PHRASEBANK / "sentences_allagree.csv")
    finance = finance[finance.label != "neutral"].sample(frac=1.0, random_state=42)
    cut = int(len(finance) * 0.8)
    data = {
        "movies": pd.read_csv(SST2 / "test.csv"),
        "finance": finance.iloc[cut:],
    }
    results: dict[str, object] = {
        "data": "sst2 -> financial_phrasebank (allagree, positive/negative)",
        "epochs": args.epochs,
        "replay_size": args.replay_size,
        "rows": {"sst2_train": 6920, "finance_train": cut, "finance_test": len(finance) - cut},
    }
    with tempfile.TemporaryDirectory() as work:
        folder = Path(work)
        finance.iloc[:cut].to_csv(folder / "finance_train.csv", index=False)
        config = {
            "task": "text_classification",
            "data": {
                "train": str(SST2 / "train.csv"),
                "validation": str(SST2 / "dev.csv"),
                "test": str(SST2 / "test.csv"),
            },
            "model": {"backbone": "minilm", "finetune": "full"},
            "train": {"epochs": args.epochs, "batch_size": 32, "max_length": 64, "seed": 42},
            "continual": {"replay_size": args.replay_size},
        }
        start = time.perf_counter()
        run = trainforge.train(config, output=folder / "v1", progress=False)
        before = {name: _accuracy(run.model_dir, frame) for name, frame in data.items()}
        results["v1"] = {**before, "train_time_s": time.perf_counter() - start}
        print(f"v1: movies {before['movies']:.4f}, finance {before['finance']:.4f}", flush=True)
        for strategy in args.strategies:
            model_dir = folder / f"model-{strategy}"
            shutil.copytree(run.model_dir, model_dir)
            start = time.perf_counter()
            result = update(
                model_dir, folder / "finance_train.csv", strategy=strategy, progress=False
            )
            seconds = time.perf_counter() - start
            after = {name: _accuracy(result.package, frame) for name, frame in data.items()}
            results[strategy] = {
                **after,
                "forgetting": before["movies"] - after["movies"],
                "update_time_s": seconds,
                # Rows: v1 and the update; columns: movie reviews, finance.
                "matrix": [list(before.values()), list(after.values())],
                "continual": result.continual,
            }
            print(
                f"{strategy}: movies {after['movies']:.4f} "
                f"(forgetting {before['movies'] - after['movies']:+.4f}), "
                f"finance {after['finance']:.4f}, {seconds:.0f} s",
                flush=True,
            )
    out = args.out or RESULTS.with_name("continual_domain.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"Wrote {out.relative_to(REPO) if out.is_relative_to(REPO) else out}")


if __name__ == "__main__":
    main()

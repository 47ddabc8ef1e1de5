"""Opinion monitor throughput: lines a minute through `trainforge monitor --onnx` (int8).

Writes N lines of Financial PhraseBank sentences as a JSON-lines stream (20 lines a second of
event time, with one minute of negative sentences injected two thirds of the way through),
then reads the whole file the way `trainforge monitor MODEL --input FILE --no-follow --onnx`
does (`FileTail` → `OpinionMonitor.run`: chunks of 1,024 lines, sorted by length, model calls of
--batch-size texts) and reports lines per
minute over the whole run and over its slowest stretch of 1,000 lines, plus the alerts.

    OMP_NUM_THREADS=1 python benchmarks/monitor.py                      # trains a package first
    OMP_NUM_THREADS=1 python benchmarks/monitor.py --model RUN_DIR/model --lines 20000

Exports the package to ONNX (fp32 + int8, `trainforge export --quantize int8`) when it has no
int8 model yet. Loading the model is not timed; everything after it is.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import threading
import time
from pathlib import Path
from typing import Any

from trainforge.apps.monitor.runner import CHUNK_LINES

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
PHRASEBANK = SHARED_DATA / "financial_phrasebank"
GOAL_LINES_PER_MINUTE = 10_000
START = 1_714_550_400.0  # 2024-05-01T08:00:00Z
RATE = 20  # lines per second of event time: 20,000 lines span 16 one-minute windows
STRETCH = 1000  # lines in the stretch the sustained rate is measured over


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=None, help="package (RUN_DIR/model)")
    parser.add_argument("--lines", type=int, default=20_000)
    parser.add_argument("--batch-size", type=int, default=32, help="texts per model call")
    parser.add_argument("--threads", type=int, default=None, help="default torch's thread count")
    parser.add_argument("--work", type=Path, default=REPO / "runs" / "bench-monitor")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks/results/monitor.json")
    args = parser.parse_args()

    import pandas as pd
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)  # ONNX Runtime sessions read this too
    sentences = PHRASEBANK / "sentences_50agree.csv"
    if not sentences.is_file():
        sys.exit(f"{sentences} not found: the benchmark replays Financial PhraseBank")
    frame = pd.read_csv(sentences)
    package = args.model or _train_model(args.work)
    _ensure_exported(package)

    stream = args.work / "stream.jsonl"
    burst = _write_stream(frame, args.lines, stream)
    load_before = os.getloadavg()[0]
    result = _replay(package, stream, args.batch_size, args.work / "alerts.jsonl")
    alerts = result.pop("alerts")
    first = alerts[0]["time"] if alerts else None
    first_s = _seconds(first) if first else None
    report = {
        "model": _describe(package),
        "runtime": "onnx int8",
        "lines": args.lines,
        "batch_size": args.batch_size,
        "chunk_lines": CHUNK_LINES,
        "threads": torch.get_num_threads(),
        "machine": f"{platform.machine()} {platform.processor()} ({platform.system()})",
        "cpus": os.cpu_count(),
        # Other work on the machine slows the replay: the load average before and after it.
        "load_average_1m": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        **result,
        "burst": {"from": _iso(burst[0]), "to": _iso(burst[1])},
        "alerts": len(alerts),
        "first_alert": first,
        "alert_in_burst": first_s is not None and burst[0] < first_s <= burst[1] + 60,
        "goal": {
            "lines_per_minute": GOAL_LINES_PER_MINUTE,
            "met": result["sustained_lines_per_minute"] >= GOAL_LINES_PER_MINUTE,
        },
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(report, indent=2))
    print(f"Wrote {args.out}")


def _write_stream(frame: Any, lines: int, path: Path) -> tuple[float, float]:
    """The stream file; returns the burst's (start, end) in epoch seconds."""
    # Shuffled (seeded): the file's own order clusters related news, i.e. real bursts.
    frame = frame.sample(frac=1.0, random_state=0)
    texts = frame["text"].astype(str).tolist()
    negatives = frame.loc[frame["label"] == "negative", "text"].astype(str).tolist()
    burst = (2 * lines // 3, 2 * lines // 3 + 60 * RATE)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as out:
        for i in range(lines):
            inside = burst[0] <= i < burst[1]
            text = negatives[i % len(negatives)] if inside else texts[i % len(texts)]
            item = {"time": _iso(START + i / RATE), "text": text, "source": "newswire"}
            out.write(json.dumps(item) + "\n")
    return START + burst[0] / RATE, START + burst[1] / RATE


def _replay(package: Path, stream: Path, batch_size: int, alerts: Path) -> dict[str, Any]:
    from trainforge.apps.monitor.classify import load_classifier
    from trainforge.apps.monitor.core import MonitorSettings
    from trainforge.apps.monitor.runner import OpinionMonitor
    from trainforge.apps.monitor.sources import FileTail

    alerts.unlink(missing_ok=True)
    classifier = load_classifier(package, onnx="int8", batch_size=batch_size)
    # The CLI's defaults, but one-minute windows: the stream spans minutes, not hours.
    monitor = OpinionMonitor(classifier, MonitorSettings(window_s=60), alerts=alerts)
    classifier.classify(["Warm-up sentence for the first call."])
    chunks: list[tuple[int, float]] = []  # (lines, seconds) per chunk
    feed = monitor.feed_lines

    def timed(lines: list[bytes]) -> Any:
        start = time.perf_counter()
        result = feed(lines)
        chunks.append((len(lines), time.perf_counter() - start))
        return result

    monitor.feed_lines = timed  # type: ignore[method-assign]
    tail = FileTail(stream)
    monitor.restore(tail)
    start = time.perf_counter()
    monitor.run(tail, follow=False, stop=threading.Event())
    seconds = time.perf_counter() - start
    monitor.close()
    lines = monitor.counters.lines
    return {
        "seconds": round(seconds, 2),
        "lines_per_minute": round(60 * lines / seconds),
        "sustained_lines_per_minute": round(_slowest_stretch(chunks)),
        "malformed": monitor.counters.malformed,
        "alerts": [json.loads(line) for line in alerts.read_text().splitlines()],
    }


def _slowest_stretch(chunks: list[tuple[int, float]]) -> float:
    """Lines a minute over the slowest run of consecutive chunks holding >= STRETCH lines."""
    slowest = float("inf")
    for first in range(len(chunks)):
        lines, seconds = 0, 0.0
        for n, s in chunks[first:]:
            lines, seconds = lines + n, seconds + s
            if lines >= STRETCH:
                slowest = min(slowest, 60 * lines / seconds)
                break
    return slowest if slowest != float("inf") else 0.0


def _train_model(work: Path) -> Path:
    """A frozen MiniLM with a linear head on 100 sentences per label (the network is the one
    a full fine-tune exports; only the weights differ)."""
    import pandas as pd

    import trainforge

    frame = pd.read_csv(PHRASEBANK / "sentences_allagree.csv").drop_duplicates("text")
    train = frame.sample(frac=1.0, random_state=0).groupby("label").head(100)
    work.mkdir(parents=True, exist_ok=True)
    train.to_csv(work / "train.csv", index=False)
    config = {
        "task": "text_classification",
        "data": {"train": str(work / "train.csv")},
        "model": {"backbone": "minilm", "finetune": "frozen"},
        "train": {"epochs": 20, "batch_size": 16, "lr": 1e-2, "max_length": 128, "seed": 1},
    }
    run = trainforge.train(config, output=work / "run", overwrite=True, progress=False)
    return Path(run.model_dir)


def _ensure_exported(package: Path) -> None:
    from trainforge.versions import resolve

    if not (resolve(package) / "onnx" / "model.int8.onnx").is_file():
        from trainforge.export import export_onnx

        export_onnx(package, quantize="int8")


def _iso(seconds: float) -> str:
    from trainforge.apps.monitor.core import iso

    return iso(seconds)


def _seconds(time: str) -> float:
    from trainforge.apps.monitor.core import parse_time

    return parse_time(time)


def _describe(package: Path) -> str:
    from trainforge.versions import resolve

    manifest = json.loads((resolve(package) / "trainforge.json").read_text(encoding="utf-8"))
    train = Path(str(manifest.get("train_source", "?"))).name
    return f"{manifest.get('task')} {manifest.get('backbone', '')}, trained on {train}"


if __name__ == "__main__":
    main()

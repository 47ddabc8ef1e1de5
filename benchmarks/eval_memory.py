"""Peak memory of evaluating and predicting many rows of text: flat in the number of rows?

    python benchmarks/eval_memory.py [--rows 20000 50000 200000] [--backbone tiny] [--out FILE]

Trains a small text classifier once (SST-2 train split, `finetune: frozen`, max_length 32),
then synthesises inputs of each size by drawing SST-2 sentences (train, dev and test) with
replacement, and measures, each in a fresh process after the model is loaded and the input
table read (`input_mb`: the table's own memory), the peak resident memory of the work alone
(`work_peak_mb`: VmHWM, reset after reading, less the memory then) of:

- evaluate:        `trainforge.load(model).evaluate(csv)`: outputs (n × 2 floats) and metrics;
- predict_stream:  what `trainforge predict MODEL CSV -o out.jsonl` does: predictions computed
                   8,192 rows at a time and written as JSON lines while computed;
- predict_list:    the former `trainforge predict`: every prediction as a dict in one list,
                   then one string of all lines, then the file (for comparison).

The input table is read whole in each case (the CLI does the same); what must not grow with
the rows is the work on it. `--backbone tiny` (default) is a 2-layer BERT with MiniLM's tokenizer
and random weights, saved to a local folder, so 200,000 rows take a minute on one CPU thread;
`--backbone minilm` uses the real default backbone (about 10 times slower).
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

REPO = Path(__file__).resolve().parents[1]
SST2 = REPO.parent / "shared" / "data" / "sst2"
RESULTS = REPO / "benchmarks" / "results" / "eval_memory.json"
MODES = ("evaluate", "predict_stream", "predict_list")


def _status_mb(field: str) -> float:
    """VmRSS (now) or VmHWM (peak) of this process, from /proc (Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return round(int(line.split()[1]) / 1024, 1)
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def _reset_peak() -> None:
    """Start VmHWM afresh from the current RSS, so the peak is that of the rows alone (the
    imports and the model load peak higher than a small evaluation)."""
    Path("/proc/self/clear_refs").write_text("5")


def child(mode: str, model_dir: str, csv: str, out: str) -> None:
    """One measurement, in its own process so that the peak is this mode's alone."""
    import trainforge
    from trainforge.predict import write_predictions

    model = trainforge.load(model_dir)
    model.predict(["warm up"])
    before = _status_mb("VmRSS")
    frame = model.frame(csv)  # the input table itself: its strings are in memory
    _reset_peak()
    read = _status_mb("VmRSS")
    start = time.perf_counter()
    accuracy = None
    if mode == "evaluate":
        accuracy = model.evaluate(frame)["accuracy"]
    elif mode == "predict_stream":
        write_predictions(model.predict_stream(frame), out)
    else:
        lines = "".join(json.dumps(p) + "\n" for p in model.predict(frame))
        Path(out).write_text(lines, encoding="utf-8")
    seconds = time.perf_counter() - start
    peak = _status_mb("VmHWM")
    result = {
        "input_mb": round(read - before, 1),
        "work_peak_mb": round(peak - read, 1),
        "peak_rss_mb": peak,
        "seconds": round(seconds, 1),
        "accuracy": accuracy,
    }
    print(json.dumps(result))


def _tiny_backbone(folder: Path) -> str:
    """A 2-layer, 128-wide BERT with MiniLM's tokenizer (random weights), saved locally."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    from trainforge.models.transformer import resolve_backbone

    torch.manual_seed(0)
    source = resolve_backbone("minilm")
    config = BertConfig.from_pretrained(source)
    config.update(
        {
            "hidden_size": 128,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "intermediate_size": 256,
        }
    )
    BertModel(config).save_pretrained(folder)
    AutoTokenizer.from_pretrained(source).save_pretrained(folder)
    return str(folder)


def _train(work: Path, backbone: str) -> Path:
    import trainforge

    config = {
        "task": "text_classification",
        "data": {
            "train": str(SST2 / "train.csv"),
            "validation": str(SST2 / "dev.csv"),
            "test": str(SST2 / "test.csv"),
        },
        "model": {"backbone": backbone, "finetune": "frozen"},
        "train": {"epochs": 20, "max_length": 32, "eval_batch_size": 256, "accelerator": "cpu"},
    }
    run = trainforge.train(config, output=work / "run", overwrite=True, progress=False)
    print(f"trained: test accuracy {run.metrics['test']['accuracy']:.3f}", file=sys.stderr)
    return run.model_dir


def _synthesise(work: Path, rows: int) -> Path:
    import pandas as pd

    sentences = pd.concat(pd.read_csv(SST2 / f"{s}.csv") for s in ("train", "dev", "test"))
    path = work / f"rows_{rows}.csv"
    sentences.sample(n=rows, replace=True, random_state=0).to_csv(path, index=False)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[20_000, 50_000, 200_000])
    parser.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    parser.add_argument("--backbone", choices=["tiny", "minilm"], default="tiny")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--child", nargs=4, metavar=("MODE", "MODEL", "CSV", "OUT"))
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    if not SST2.is_dir():
        sys.exit(f"SST-2 not found at {SST2} (the development data sets)")
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    results: dict[str, object] = {
        "backbone": args.backbone,
        "max_length": 32,
        "omp_num_threads": env["OMP_NUM_THREADS"],
        "runs": [],
    }
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        backbone = _tiny_backbone(work / "tiny") if args.backbone == "tiny" else "minilm"
        model_dir = _train(work, backbone)
        for rows in args.rows:
            csv = _synthesise(work, rows)
            for mode in args.modes:
                out = subprocess.run(
                    [
                        sys.executable,
                        __file__,
                        "--child",
                        mode,
                        str(model_dir),
                        str(csv),
                        str(work / "out.jsonl"),
                    ],
                    capture_output=True,
                    text=True,
                    env=env,
                    check=False,
                )
                if out.returncode != 0:
                    sys.exit(out.stderr[-3000:])
                result = {"rows": rows, "mode": mode, **json.loads(out.stdout.splitlines()[-1])}
                print(json.dumps(result))
                results["runs"].append(result)  # type: ignore[attr-defined]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()

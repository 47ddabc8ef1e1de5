"""Zero-shot, few-shot and the labelled-data ladder on rt-polarity and Banking77.

    python benchmarks/fewshot.py banking77-zero-shot     # zero-shot and SetFit 8/class, full test
    python benchmarks/fewshot.py ladder rt_polarity [--seeds 2]
    python benchmarks/fewshot.py ladder banking77 [--seeds 1]

Results go to benchmarks/results/fewshot_*.json and the ladder plots to docs/images/.
rt-polarity has no official split: 500 rows are held out for test and 500 for validation
(seeded), the rest is the training pool. Banking77 uses its own test split (3,080 rows);
validation is 10% of train.
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
from trainforge.ladder import ladder

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
RESULTS = REPO / "benchmarks" / "results"
IMAGES = REPO / "docs" / "images"

LADDERS = {
    "rt_polarity": {
        "shots": [0, 8, 32, 128, None],
        "methods": ["zero_shot", "prompt_lm", "setfit", "frozen", "lora", "full"],
    },
    "banking77": {
        "shots": [0, 8, 32, None],
        "methods": ["zero_shot", "setfit", "frozen", "full"],
    },
}


def _files(name: str, folder: Path) -> dict[str, str]:
    """train / validation / test files of a data set, written into `folder`."""
    if name == "rt_polarity":
        frame = pd.read_csv(DATA / "rt_polarity" / "rt_polarity.csv").sample(
            frac=1.0, random_state=0
        )
        parts = {"test": frame[:500], "validation": frame[500:1000], "train": frame[1000:]}
        for split, part in parts.items():
            part.to_csv(folder / f"{split}.csv", index=False)
        return {split: str(folder / f"{split}.csv") for split in parts}
    return {"train": str(DATA / name / "train.csv"), "test": str(DATA / name / "test.csv")}


def _config(name: str, folder: Path) -> dict[str, object]:
    return {
        "task": "text_classification",
        "name": name,
        "data": {**_files(name, folder), "split": {"validation": 0.1, "seed": 0}},
        "model": {"backbone": "minilm"},
        "train": {"max_length": 64, "seed": 42},
    }


def banking77_zero_shot(args: argparse.Namespace) -> None:
    """Zero-shot with label names as phrases, and SetFit with 8 examples per class."""
    results: dict[str, object] = {"data": "banking77 test (3,080 rows, 77 intents)"}
    with tempfile.TemporaryDirectory() as work:
        folder = Path(work)
        for method, extra in (("zero_shot", {}), ("setfit", {"shots": 8})):
            config = _config("banking77", folder)
            config["model"] = {"finetune": method}
            config["data"] |= extra  # type: ignore[operator]
            start = time.perf_counter()
            run = trainforge.train(config, output=folder / method, progress=False)
            test = run.metrics["test"]
            results[method] = {
                "accuracy": test["accuracy"],
                "f1_macro": test["f1_macro"],
                "train_time_s": run.metrics["train_time_s"],
                "wall_time_s": round(time.perf_counter() - start, 1),
                **({"shots": extra["shots"]} if extra else {}),
            }
            print(f"{method}: accuracy {test['accuracy']:.4f}", flush=True)
    _save("fewshot_banking77.json", results)


def run_ladder(args: argparse.Namespace) -> None:
    from trainforge.ladder import parse_methods, parse_shots, report_cells

    if args.report_only:
        report_cells(args.work, title=args.data)
        IMAGES.mkdir(parents=True, exist_ok=True)
        shutil.copy(args.work / "ladder.png", IMAGES / f"ladder_{args.data}.png")
        payload = json.loads((args.work / "ladder.json").read_text(encoding="utf-8"))
        _save(f"fewshot_ladder_{args.data}.json", payload)
        return

    settings = dict(LADDERS[args.data])
    if args.shots:
        settings["shots"] = parse_shots(args.shots)
    if args.methods:
        settings["methods"] = parse_methods(args.methods)
    with tempfile.TemporaryDirectory() as work:
        folder = Path(work)
        result = ladder(
            _config(args.data, folder),
            shots=settings["shots"],
            methods=settings["methods"],
            seeds=args.seeds,
            output=args.work or folder / "ladder",
        )
        IMAGES.mkdir(parents=True, exist_ok=True)
        shutil.copy(result.folder / "ladder.png", IMAGES / f"ladder_{args.data}.png")
        payload = json.loads((result.folder / "ladder.json").read_text(encoding="utf-8"))
    _save(f"fewshot_ladder_{args.data}.json", payload)


def _save(name: str, payload: object) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / name).write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    print(f"Wrote benchmarks/results/{name}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("banking77-zero-shot")
    ladder_parser = commands.add_parser("ladder")
    ladder_parser.add_argument("data", choices=sorted(LADDERS))
    ladder_parser.add_argument("--seeds", type=int, default=2)
    ladder_parser.add_argument("--shots", default=None, help="e.g. 0,8,32,all")
    ladder_parser.add_argument("--methods", default=None, help="e.g. zero_shot,setfit")
    ladder_parser.add_argument(
        "--work", type=Path, default=None, help="keep the ladder folder here (resumable)"
    )
    ladder_parser.add_argument(
        "--report-only", action="store_true", help="write results from the --work cells so far"
    )
    args = parser.parse_args()
    if not DATA.is_dir():
        sys.exit(f"the shared data sets are not at {DATA}")
    if args.command == "ladder":
        run_ladder(args)
    else:
        banking77_zero_shot(args)


if __name__ == "__main__":
    main()

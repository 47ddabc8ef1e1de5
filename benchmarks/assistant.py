"""The customer-service assistant on Banking77: answers, hand-offs, and their precision.

    OMP_NUM_THREADS=1 python benchmarks/assistant.py [--precision 0.96] [--work DIR]

Trains `examples/assistant/banking77_frozen.yaml` (a linear probe on MiniLM sentence embeddings
of the whole training set, the abstention threshold tuned on validation for `--precision`)
into WORK/run (default runs/assistant_banking77_pPRECISION), unless WORK/run/model already
exists (then it is reused), and asks every Banking77 test question (3,080) through
`Assistant.ask_many` with `examples/assistant/banking77_faq.jsonl`.

Reported, at the package's threshold:
- answer accuracy: questions answered with their true intent's FAQ answer / all questions;
- hand-off rate: questions handed off / all;
- precision on answered questions: right answers / answered questions.
The same at other thresholds, computed from the replies' confidences (with every intent in
the FAQ, a reply at threshold t is the FAQ answer of its intent when its confidence >= t).

Retrieval: the FAQ entries of `--renamed` intents (seeded choice) get names the model does not
know, so their questions can only be answered by retrieval over the FAQ questions; their test
questions are asked again and scored the same way, also at other `min_similarity` values.

The JSON goes to benchmarks/results/assistant_banking77_pPRECISION.json.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "banking77"
CONFIG = REPO / "examples" / "assistant" / "banking77_frozen.yaml"
FAQ = REPO / "examples" / "assistant" / "banking77_faq.jsonl"
RESULTS = REPO / "benchmarks" / "results"
IMAGES = REPO / "docs" / "images"
THRESHOLDS = (0.0, 0.3, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95)
SIMILARITIES = (0.0, 0.5, 0.6, 0.7, 0.8)


def package(work: Path, precision: float) -> tuple[Path, float | None]:
    """WORK/run/model, trained now unless it exists; and the time its training took (None:
    unknown, a package this script did not train)."""
    import trainforge

    model, timing = work / "run" / "model", work / "train_time_s.txt"
    if model.exists():
        return model, float(timing.read_text()) if timing.is_file() else None
    overrides = [
        f"data.train={DATA / 'train.csv'}",
        f"data.test={DATA / 'test.csv'}",
        f"model.abstain.precision={precision}",
    ]
    start = time.perf_counter()
    run = trainforge.train(CONFIG, overrides=overrides, output=work / "run", progress=False)
    seconds = time.perf_counter() - start
    timing.write_text(f"{seconds:.1f}\n")
    return Path(run.model_dir), seconds


def score(replies: list[Any], truth: list[str], answers: dict[str, str]) -> dict[str, Any]:
    """Answer accuracy, hand-off rate and precision on the answered questions."""
    answered = [r for r in replies if not r.handoff]
    right = sum(
        1 for r, t in zip(replies, truth, strict=True) if not r.handoff and r.answer == answers[t]
    )
    n = len(replies)
    return {
        "questions": n,
        "answered": len(answered),
        "answer_accuracy": right / n,
        "handoff_rate": (n - len(answered)) / n,
        "answered_precision": right / len(answered) if answered else None,
    }


def sweep(replies: list[Any], truth: list[str]) -> list[dict[str, Any]]:
    """The scores at other thresholds, from the replies' intents and confidences."""
    rows = []
    for threshold in THRESHOLDS:
        answered = [
            (r, t) for r, t in zip(replies, truth, strict=True) if r.confidence >= threshold
        ]
        right = sum(1 for r, t in answered if r.intent == t)
        rows.append(
            {
                "threshold": threshold,
                "answer_accuracy": right / len(replies),
                "handoff_rate": 1 - len(answered) / len(replies),
                "answered_precision": right / len(answered) if answered else None,
            }
        )
    return rows


def plot(replies: list[Any], truth: list[str], chosen: float, path: Path) -> Path:
    """Answer accuracy and precision on answered questions against the hand-off rate, as the
    threshold goes from 0 to 1; the chosen threshold marked."""
    import numpy as np

    from trainforge.evaluation.plots import new_figure, save_figure

    confidence = np.array([r.confidence for r in replies])
    right = np.array([r.intent == t for r, t in zip(replies, truth, strict=True)])
    handoff, accuracy, precision = [], [], []
    for threshold in np.linspace(0.0, 0.99, 100):
        answered = confidence >= threshold
        handoff.append(1 - answered.mean())
        accuracy.append((right & answered).mean())
        precision.append(right[answered].mean() if answered.any() else np.nan)
    fig = new_figure(5.5, 3.6)
    axes = fig.add_subplot()
    axes.plot(handoff, precision, label="precision on answered")
    axes.plot(handoff, accuracy, label="answer accuracy (all questions)")
    axes.axhline(0.95, color="grey", linestyle=":", linewidth=1)
    at = confidence >= chosen
    axes.scatter(
        [1 - at.mean()], [right[at].mean()], color="black", zorder=3,
        label=f"package threshold {chosen:.3f}",
    )  # fmt: skip
    axes.set_xlabel("hand-off rate")
    axes.set_ylabel("share of questions")
    axes.set_title("Banking77 test questions: answer or hand off")
    axes.legend(loc="lower right", fontsize=8)
    return save_figure(fig, path)


def similarity_sweep(
    replies: list[Any], truth: list[str], faq_intents: dict[str, str]
) -> list[dict[str, Any]]:
    """Retrieval scores at other `min_similarity` values, from the replies' matches.

    `faq_intents` maps each FAQ question to the true intent its entry answers."""
    rows = []
    for floor in SIMILARITIES:
        answered = right = 0
        for reply, true in zip(replies, truth, strict=True):
            if reply.source == "intent":
                answered += 1
                right += reply.intent == true
            elif reply.similarity is not None and reply.similarity >= floor:
                answered += 1
                right += faq_intents[reply.matched_question] == true
        rows.append(
            {
                "min_similarity": floor,
                "answer_accuracy": right / len(replies),
                "handoff_rate": 1 - answered / len(replies),
                "answered_precision": right / answered if answered else None,
            }
        )
    return rows


def renamed_faq(faq: Path, intents: list[str], folder: Path) -> Path:
    """A copy of the FAQ whose entries for `intents` are named 'faq_<intent>' (unknown)."""
    lines = []
    for line in faq.read_text(encoding="utf-8").splitlines():
        entry = json.loads(line)
        if entry["intent"] in intents:
            entry["intent"] = f"faq_{entry['intent']}"
        lines.append(json.dumps(entry))
    path = folder / "faq_renamed.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--precision", type=float, default=0.96, help="model.abstain.precision")
    parser.add_argument("--work", type=Path, help="default runs/assistant_banking77_pPRECISION")
    parser.add_argument("--renamed", type=int, default=10, help="Intents answered by retrieval.")
    parser.add_argument("--out", type=Path, help="default under benchmarks/results/")
    args = parser.parse_args()
    tag = f"p{round(args.precision * 100):03d}"
    work = args.work or REPO / "runs" / f"assistant_banking77_{tag}"
    out = args.out or RESULTS / f"assistant_banking77_{tag}.json"
    if not DATA.is_dir():
        sys.exit(f"Banking77 not found at {DATA}")

    from trainforge.apps.assistant import Assistant

    model_dir, train_time = package(work, args.precision)
    test = pd.read_csv(DATA / "test.csv")
    questions, truth = test["text"].tolist(), test["label"].tolist()
    entries = [json.loads(line) for line in FAQ.open(encoding="utf-8")]
    answers = {e["intent"]: e["answer"] for e in entries}
    faq_intents = {q: e["intent"] for e in entries for q in e["questions"]}

    start = time.perf_counter()
    assistant = Assistant.from_files(model_dir, FAQ)
    load_time = time.perf_counter() - start
    start = time.perf_counter()
    replies = assistant.ask_many(questions)
    ask_time = time.perf_counter() - start
    main_scores = score(replies, truth, answers)
    sources = pd.Series([r.source for r in replies]).value_counts().to_dict()

    renamed = sorted(random.Random(0).sample(sorted(answers), args.renamed))
    subset = [i for i, t in enumerate(truth) if t in renamed]
    with tempfile.TemporaryDirectory() as folder, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the renamed intents are unknown on purpose
        retrieval = Assistant.from_files(model_dir, renamed_faq(FAQ, renamed, Path(folder)))
        retrieval_replies = retrieval.ask_many([questions[i] for i in subset])
    retrieval_scores = score(retrieval_replies, [truth[i] for i in subset], answers)

    retrieval_sources = pd.Series([r.source for r in retrieval_replies]).value_counts().to_dict()
    similarities = [r.similarity for r in retrieval_replies if r.similarity is not None]
    retrieval_truth = [truth[i] for i in subset]

    metrics = json.loads((model_dir.parent / "metrics.json").read_text(encoding="utf-8"))
    result = {
        "benchmark": "assistant_banking77",
        "config": str(CONFIG.relative_to(REPO)),
        "faq": str(FAQ.relative_to(REPO)),
        "abstain_precision": args.precision,
        "train_time_s": train_time,
        "model_test_accuracy": metrics["test"]["accuracy"],
        "threshold": assistant.threshold.value,
        "threshold_source": assistant.threshold.source,
        "min_similarity": assistant.min_similarity,
        "load_time_s": load_time,
        "ask_time_s": ask_time,
        "questions_per_second": len(questions) / ask_time,
        "at_package_threshold": {**main_scores, "sources": sources},
        "sweep": sweep(replies, truth),
        "retrieval": {
            "renamed_intents": renamed,
            **retrieval_scores,
            "sources": retrieval_sources,
            "mean_similarity": sum(similarities) / len(similarities) if similarities else None,
            "sweep": similarity_sweep(retrieval_replies, retrieval_truth, faq_intents),
        },
    }
    plot(replies, truth, assistant.threshold.value, IMAGES / f"assistant_banking77_{tag}.png")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()

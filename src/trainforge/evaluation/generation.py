"""Scores of generated answers against references: exact match, ROUGE-L (rouge-score), BLEU
(sacrebleu), and accuracy and macro-F1 when the answers are labels.

Text in scripts without spaces between words (Chinese, Japanese) is scored by character:
rouge-score's default tokenizer keeps ASCII letters and digits only, and sacrebleu's 'zh'
tokenisation splits CJK characters.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af]")
_WORD = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af]|\w+")


def normalize(text: str) -> str:
    """Lower case, whitespace collapsed, ends stripped: how exact match compares answers."""
    return " ".join(str(text).lower().split())


class _Words:
    """A rouge-score tokenizer that keeps every script's words (CJK: one per character)."""

    def tokenize(self, text: str) -> list[str]:
        return _WORD.findall(str(text).lower())


def generation_metrics(
    references: Sequence[str], generated: Sequence[str], labels: Sequence[str] | None = None
) -> dict[str, Any]:
    """Scores of `generated` against `references` (same order).

    Args:
        references: the expected answers.
        generated: the model's answers.
        labels: the answers' label set (normalised), when every answer is one of a few labels:
            accuracy and macro-F1 over it are added (an answer outside it counts as wrong).

    Example:
        >>> generation_metrics(["Paris"], ["paris "])["exact_match"]
        1.0
    """
    import sacrebleu
    from rouge_score import rouge_scorer

    if len(references) != len(generated):
        raise ValueError(f"{len(references)} references but {len(generated)} generations")
    if not references:
        return {}
    truth = [normalize(r) for r in references]
    said = [normalize(g) for g in generated]
    scorer = rouge_scorer.RougeScorer(["rougeL"], tokenizer=_Words())
    rouge = [
        scorer.score(r, g)["rougeL"].fmeasure for r, g in zip(references, generated, strict=True)
    ]
    cjk = any(_CJK.search(r) for r in references)
    bleu = sacrebleu.corpus_bleu(
        list(generated), [list(references)], tokenize="zh" if cjk else "13a"
    )
    metrics: dict[str, Any] = {
        "exact_match": _mean([t == s for t, s in zip(truth, said, strict=True)]),
        "rouge_l": _mean(rouge),
        "bleu": round(float(bleu.score), 4),
        "generated_rows": len(generated),
    }
    if labels and all(t in labels for t in truth):
        from sklearn.metrics import f1_score

        metrics["accuracy"] = metrics["exact_match"]
        metrics["f1_macro"] = round(
            float(f1_score(truth, said, labels=sorted(labels), average="macro", zero_division=0)),
            6,
        )
    return metrics


def loss_metrics(nll: float, tokens: int) -> dict[str, float]:
    """Mean loss per answer token and its perplexity."""
    if tokens == 0:
        return {}
    loss = nll / tokens
    return {"loss": round(loss, 6), "perplexity": round(math.exp(min(loss, 50.0)), 4)}


def _mean(values: Sequence[float]) -> float:
    return round(float(sum(values)) / len(values), 6) if values else 0.0

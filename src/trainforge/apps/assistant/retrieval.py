"""The retrieval fallback: the FAQ question nearest to a new question, by sentence embeddings.

The encoder is a sentence-embedding backbone used as it was trained: mean of the token states,
scaled to unit length, so the dot product of two embeddings is their cosine similarity. By
default it is chosen by the script of the FAQ's questions, as `model.backbone: auto` chooses by
the training text: the embedded all-MiniLM-L6-v2 for Latin script, multilingual-e5-small for
Chinese and other scripts (MiniLM reads most Chinese characters as unknown tokens and finds the
right FAQ question for about a third of Chinese questions). FAQ questions are embedded once,
when the index is built.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from trainforge.apps.assistant.faq import Faq, FaqEntry
from trainforge.data.language import count_scripts
from trainforge.models.multilingual import MULTILINGUAL_E5

# Questions per encoder call; FAQ files of thousands of questions embed in bounded memory.
BATCH = 64
AUTO = "auto"
MINILM = "minilm"
# The cosine similarity under which retrieval hands off, per encoder. MiniLM: paraphrases of one
# request score about 0.6 and more, unrelated banking questions mostly under 0.5 (see
# docs/benchmarks.md). e5 packs every similarity high: on the Chinese shop FAQ of examples/zh,
# right matches average 0.90 and unrelated questions 0.86; at 0.88, 93% of the questions it
# answers get the right entry (90% with no floor) and 80% of unrelated ones hand off.
MIN_SIMILARITY = {MINILM: 0.6, MULTILINGUAL_E5: 0.88}
Role = Literal["query", "passage"]


def choose_backbone(faq: Faq) -> str:
    """The retrieval encoder for the FAQ's questions: MiniLM when they are mostly in Latin
    script (or there are none), multilingual-e5-small otherwise."""
    scripts = count_scripts(question for question, _ in faq.questions())
    return MINILM if scripts.latin else MULTILINGUAL_E5


def default_min_similarity(backbone: str) -> float:
    """The similarity floor for `backbone` (MiniLM's 0.6 for encoders not measured)."""
    return MIN_SIMILARITY.get(backbone, MIN_SIMILARITY[MINILM])


def prefixes(backbone: str) -> dict[Role, str]:
    """What goes before a text by its role: e5 models were trained with "query: " before what
    is asked and "passage: " before what is searched; other encoders read the bare text."""
    if backbone == MULTILINGUAL_E5:
        return {"query": "query: ", "passage": "passage: "}
    return {"query": "", "passage": ""}


class SentenceEncoder:
    """Unit-length sentence embeddings from a mean-pooling transformer backbone.

    Args:
        backbone: "minilm" (the embedded default), "multilingual-e5-small" (embedded, Chinese
            and about 100 other languages), a local transformers folder, or a hub name
            (resolved as `model.backbone` is).
        max_length: truncation length in tokens (all-MiniLM-L6-v2 was trained on 128).

    Example:
        >>> SentenceEncoder().encode(["my card has not arrived"]).shape
        (1, 384)
    """

    def __init__(self, backbone: str = "minilm", max_length: int = 128) -> None:
        from trainforge.models.transformer import (
            TextClassifier,
            load_encoder,
            load_tokenizer,
            resolve_backbone,
        )

        source = resolve_backbone(backbone)
        self.backbone = backbone
        self.max_length = max_length
        self.prefixes = prefixes(backbone)
        self.tokenizer = load_tokenizer(source)
        encoder = load_encoder(source, "mean", None, 1, False)
        self.network = TextClassifier(encoder, "mean", 1, 0.0, normalize=True).eval()

    def encode(self, texts: list[str], role: Role = "query") -> np.ndarray:
        """Embeddings (n, hidden) as float32, each of unit length.

        Args:
            role: "query" for questions asked, "passage" for the texts searched (e5 prefixes
                them differently).
        """
        import torch

        prefix = self.prefixes[role]
        texts = [prefix + text for text in texts] if prefix else texts
        parts = []
        with torch.inference_mode():
            for start in range(0, len(texts), BATCH):
                batch = self.tokenizer(
                    texts[start : start + BATCH],
                    padding=True,
                    truncation=True,
                    max_length=self.max_length,
                    return_tensors="pt",
                )
                parts.append(self.network.embed(**batch).float().numpy())
        return np.concatenate(parts) if parts else np.zeros((0, 0), np.float32)


@dataclass(frozen=True)
class Match:
    """The FAQ question nearest to a question, its entry, and their cosine similarity."""

    question: str
    entry: FaqEntry
    similarity: float


class QuestionIndex:
    """Every example question of an FAQ, embedded once; `nearest` finds the closest.

    Args:
        faq: the FAQ whose `questions` are indexed.
        encoder: the sentence encoder (shared with the queries).
    """

    def __init__(self, faq: Faq, encoder: SentenceEncoder) -> None:
        pairs = faq.questions()
        self.encoder = encoder
        self.questions = [q for q, _ in pairs]
        self.entries = [entry for _, entry in pairs]
        self.embeddings = encoder.encode(self.questions, role="passage")

    def __len__(self) -> int:
        return len(self.questions)

    def nearest(self, questions: list[str]) -> list[Match | None]:
        """For each question, the most similar FAQ question (None when nothing is indexed)."""
        if not self.questions or not questions:
            return [None] * len(questions)
        similarity: Any = self.encoder.encode(questions, role="query") @ self.embeddings.T
        best = similarity.argmax(axis=1)
        return [
            Match(self.questions[b], self.entries[b], float(row[b]))
            for b, row in zip(best, similarity, strict=True)
        ]

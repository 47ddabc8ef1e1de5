"""The retrieval fallback: the FAQ question nearest to a new question, by sentence embeddings.

The encoder is a sentence-embedding backbone (the embedded all-MiniLM-L6-v2 by default) used
as it was trained: mean of the token states, scaled to unit length, so the dot product of two
embeddings is their cosine similarity. FAQ questions are embedded once, when the index is built.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from trainforge.apps.assistant.faq import Faq, FaqEntry

# Questions per encoder call; FAQ files of thousands of questions embed in bounded memory.
BATCH = 64


class SentenceEncoder:
    """Unit-length sentence embeddings from a mean-pooling transformer backbone.

    Args:
        backbone: "minilm" (the embedded default), a local transformers folder, or a hub name
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
        self.tokenizer = load_tokenizer(source)
        encoder = load_encoder(source, "mean", None, 1, False)
        self.network = TextClassifier(encoder, "mean", 1, 0.0, normalize=True).eval()

    def encode(self, texts: list[str]) -> np.ndarray:
        """Embeddings (n, hidden) as float32, each of unit length."""
        import torch

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
        self.embeddings = encoder.encode(self.questions)

    def __len__(self) -> int:
        return len(self.questions)

    def nearest(self, questions: list[str]) -> list[Match | None]:
        """For each question, the most similar FAQ question (None when nothing is indexed)."""
        if not self.questions or not questions:
            return [None] * len(questions)
        similarity: Any = self.encoder.encode(questions) @ self.embeddings.T
        best = similarity.argmax(axis=1)
        return [
            Match(self.questions[b], self.entries[b], float(row[b]))
            for b, row in zip(best, similarity, strict=True)
        ]

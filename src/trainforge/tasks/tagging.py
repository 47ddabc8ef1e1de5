"""The token-classification target: a tag per word in, entity spans and scores out.

Files may use IOB1, IOB2, BIOES or BMES; the model learns IOB2 tags (every scheme converts to it
without loss), metrics are entity-level as conlleval/seqeval compute them, and predicted tags
come back in the scheme of the training files.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from trainforge.data.tokens import IGNORE
from trainforge.errors import DataError, format_choices
from trainforge.evaluation.entities import (
    detect_scheme,
    entities,
    entity_metrics,
    from_iob2,
    split_tag,
    to_iob2,
    type_confusion,
)
from trainforge.tasks.classification import balanced_weights


class TaggingTarget:
    """Tags of words: the tag set, scheme conversion, loss, entity metrics and span decoding.

    Args:
        scheme: tag scheme of the data files ("auto" detects it from the training tags).
        class_weight: "balanced" weighs the loss by inverse tag frequency.
        label_smoothing: for the cross-entropy.
    """

    kind = "token_classification"

    def __init__(
        self, scheme: str = "auto", class_weight: str = "none", label_smoothing: float = 0.0
    ) -> None:
        self.scheme = scheme
        self.class_weight = class_weight
        self.label_smoothing = label_smoothing

    # --- learned state ----------------------------------------------------------------------

    def fit_tags(
        self, tags: Sequence[Sequence[str]], place: Callable[[int], str], source: str
    ) -> TaggingTarget:
        """Learn the scheme (if "auto") and the IOB2 tag set from the training tags.

        Args:
            tags: the tags of every training sentence, as in the files.
            place: names sentence i in errors ("train.txt line 12").
            source: names the training data in errors.
        """
        _check_tags(tags, place)
        self.scheme_: str = detect_scheme(tags) if self.scheme == "auto" else self.scheme
        counts: Counter[str] = Counter()
        for i, sentence in enumerate(tags):
            try:
                counts.update(to_iob2(sentence, self.scheme_))
            except ValueError as exc:
                fix = f"{_TAG_FIX}; or set data.tag_scheme: auto to detect the files' scheme"
                raise DataError(str(exc), where=place(i), fix=fix) from None
        types = sorted({split_tag(tag)[1] for tag in counts if tag != "O"})
        if not types:
            raise DataError(
                "the training data holds no entity: every tag is 'O'",
                where=source,
                fix="Check data.tag_column (the tag is the last column by default)",
            )
        self.labels_: list[str] = ["O"] + [f"{p}-{t}" for t in types for p in ("B", "I")]
        self.class_weights_: list[float] | None = (
            balanced_weights(counts, self.labels_) if self.class_weight == "balanced" else None
        )
        return self

    def state_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "scheme": self.scheme_,
            "labels": self.labels_,
            "class_weights": self.class_weights_,
            "label_smoothing": self.label_smoothing,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> TaggingTarget:
        target = cls(state["scheme"], label_smoothing=state["label_smoothing"])
        target.scheme_ = state["scheme"]
        target.labels_ = state["labels"]
        target.class_weights_ = state["class_weights"]
        return target

    # --- data ---------------------------------------------------------------------------------

    @property
    def n_outputs(self) -> int:
        return len(self.labels_)

    @property
    def types(self) -> list[str]:
        return sorted({split_tag(tag)[1] for tag in self.labels_ if tag != "O"})

    def encode_tags(
        self, tags: Sequence[Sequence[str]], place: Callable[[int], str]
    ) -> list[np.ndarray]:
        """Tag indices per sentence; a tag unseen in training is an error naming the sentence."""
        index = {tag: i for i, tag in enumerate(self.labels_)}
        encoded = []
        for i, sentence in enumerate(tags):
            try:
                iob2 = to_iob2(sentence, self.scheme_)
            except ValueError as exc:
                raise DataError(str(exc), where=place(i), fix=_TAG_FIX) from None
            unknown = next((tag for tag in iob2 if tag not in index), None)
            if unknown is not None:
                raise DataError(
                    f"tag {unknown!r} was not in the training data "
                    f"(known: {format_choices(self.labels_)})",
                    where=place(i),
                    fix="Fix the tag, or add sentences with it to the training data",
                )
            encoded.append(np.asarray([index[tag] for tag in iob2], dtype=np.int64))
        return encoded

    def continuation(self) -> dict[int, int]:
        """Tag of a word's later sub-tokens given its first: B-X -> I-X (for label_all_tokens)."""
        index = {tag: i for i, tag in enumerate(self.labels_)}
        return {i: index["I-" + tag[2:]] for i, tag in enumerate(self.labels_) if tag[:2] == "B-"}

    # --- model outputs ------------------------------------------------------------------------

    def loss_fn(self) -> Any:
        """Cross-entropy over the labelled positions of (batch, length, tags) logits."""
        import torch
        from torch import nn

        weight = (
            torch.tensor(self.class_weights_, dtype=torch.float32)
            if self.class_weights_ is not None
            else None
        )
        loss = nn.CrossEntropyLoss(
            weight=weight, ignore_index=IGNORE, label_smoothing=self.label_smoothing
        )
        return lambda logits, labels: loss(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1))

    def probabilities(self, logits: Any) -> Any:
        import torch

        return torch.softmax(logits.float(), dim=-1)

    def metric_collection(self) -> EntityScores:
        return EntityScores(self.labels_)

    def metric_target(self, labels: Any) -> Any:
        return labels

    def rescale_metric(self, name: str, value: float) -> float:
        return value

    def tags(self, indices: np.ndarray) -> list[str]:
        return [self.labels_[i] for i in indices]

    def metrics(
        self, y_true: Sequence[np.ndarray] | np.ndarray, output: Sequence[np.ndarray] | np.ndarray
    ) -> dict[str, Any]:
        """Entity-level precision/recall/F1 (micro and per type), token accuracy, type confusion."""
        true = [self.tags(t) for t in y_true]
        pred = [self.tags(o.argmax(axis=1)) for o in output]
        scores = entity_metrics(true, pred)
        labels, matrix = type_confusion(true, pred)
        scores["type_confusion"] = {"labels": labels, "matrix": matrix.tolist()}
        return scores

    def decode(self, output: Sequence[np.ndarray], sentences: Any = None) -> list[dict[str, Any]]:
        """Per sentence: tags in the training files' scheme with their scores, and entity
        spans (character offsets into the text for raw-text input, word indices otherwise)."""
        results = []
        for i, probs in enumerate(output):
            best = probs.argmax(axis=1)
            iob2 = self.tags(best)
            scores = probs[np.arange(len(best)), best]
            words = sentences.tokens[i]
            result: dict[str, Any] = {}
            raw = sentences.texts is not None
            if raw:
                result["text"] = sentences.texts[i]
            spans = []
            for kind, start, end in entities(iob2):
                span: dict[str, Any] = {"type": kind}
                if raw:
                    first, last = sentences.offsets[i][start], sentences.offsets[i][end - 1]
                    span |= {"start": first[0], "end": last[1]}
                    span["text"] = sentences.texts[i][first[0] : last[1]]
                else:
                    span |= {"start": start, "end": end, "text": " ".join(words[start:end])}
                span["score"] = round(float(scores[start:end].mean()), 6)
                spans.append(span)
            result["entities"] = spans
            result["tokens"] = list(words)
            result["tags"] = from_iob2(iob2, self.scheme_)
            result["scores"] = [round(float(s), 6) for s in scores]
            results.append(result)
        return results

    def display_labels(self) -> Sequence[str]:
        return self.labels_


class EntityScores:
    """Entity-level F1, precision, recall and token accuracy over validation batches.

    The same `update` / `compute` / `reset` interface as a torchmetrics collection; positions
    labelled IGNORE (special and later sub-tokens) are left out.
    """

    def __init__(self, labels: Sequence[str]) -> None:
        self.labels = list(labels)
        self.reset()

    def reset(self) -> None:
        self.true: list[list[str]] = []
        self.pred: list[list[str]] = []

    def update(self, probabilities: Any, labels: Any) -> None:
        predicted = probabilities.argmax(dim=-1).cpu().numpy()
        truth = labels.cpu().numpy()
        if truth.ndim == 1:  # cached features of a frozen backbone: one word per row
            predicted, truth = predicted[None], truth[None]
        for p, t in zip(predicted, truth, strict=True):
            keep = t != IGNORE
            self.true.append([self.labels[i] for i in t[keep]])
            self.pred.append([self.labels[i] for i in p[keep]])

    def compute(self) -> dict[str, float]:
        from trainforge.training.distributed import gather_objects

        # With several processes, entities of every process's sentences are scored together.
        scores = entity_metrics(gather_objects(self.true), gather_objects(self.pred))
        return {key: float(scores[key]) for key in ("f1", "precision", "recall", "accuracy")}

    def to(self, device: Any) -> EntityScores:
        return self


_TAG_FIX = "Tags are 'O' or PREFIX-TYPE with PREFIX one of B, I, M, E, S (e.g. B-PER)"


def _check_tags(tags: Sequence[Sequence[str]], place: Callable[[int], str]) -> None:
    for i, sentence in enumerate(tags):
        for tag in sentence:
            try:
                split_tag(tag)
            except ValueError:
                raise DataError(
                    f"{tag!r} is not a tag",
                    where=place(i),
                    fix=_TAG_FIX + "; check data.tag_column",
                ) from None

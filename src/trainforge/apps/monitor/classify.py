"""Sentiment (and topic) of a batch of texts, with the packages `trainforge.load` reads."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trainforge.apps.monitor.core import ALL_TOPICS
from trainforge.errors import ConfigError, format_choices

# Labels taken as negative without --negative-label: English names, and the Chinese ones that
# review and opinion data sets use ("负面" negative, "消极" pessimistic, "差评" bad review).
NEGATIVE_NAMES = ("negative", "neg", "负面", "消极", "差评", "负向", "负")


@dataclass(frozen=True)
class Verdict:
    """What the models said about one text."""

    label: str
    negative: bool
    topic: str


class Classifier:
    """A sentiment model, its negative label, and an optional topic model.

    Args:
        sentiment: a loaded single-label classification `Model`.
        negative_label: the sentiment label counted as negative.
        topic: a loaded classification `Model` whose label is the topic, or None ("all").
    """

    def __init__(self, sentiment: Any, negative_label: str, topic: Any = None) -> None:
        self.sentiment = sentiment
        self.negative_label = negative_label
        self.topic = topic

    def classify(self, texts: list[str]) -> list[Verdict]:
        """One verdict per text, in order (one batched model call per model)."""
        if not texts:
            return []
        labels = [p["label"] for p in self.sentiment.predict(texts)]
        topics = (
            [str(p["label"]) for p in self.topic.predict(texts)]
            if self.topic is not None
            else [ALL_TOPICS] * len(texts)
        )
        return [
            Verdict(label=str(label), negative=label == self.negative_label, topic=topic)
            for label, topic in zip(labels, topics, strict=True)
        ]


def load_classifier(
    model: Path,
    *,
    topic_model: Path | None = None,
    negative_label: str | None = None,
    onnx: bool | str = False,
    batch_size: int = 32,
) -> Classifier:
    """Load the packages and pick the negative label.

    Args:
        model: the sentiment package (RUN_DIR/model).
        topic_model: a package predicting the topic of a text, or None.
        negative_label: the label counted as negative; default: the one named like "negative".
        onnx: run the networks with ONNX Runtime (`trainforge export` first).
        batch_size: texts per network call (default 32).

    Raises:
        ConfigError: when a model is not a single-label classifier, or no label is negative.
    """
    sentiment = _load(model, onnx, batch_size, "MODEL")
    label = pick_negative_label(sentiment.labels, negative_label, str(model))
    topic = _load(topic_model, onnx, batch_size, "--topic-model") if topic_model else None
    return Classifier(sentiment, label, topic)


def pick_negative_label(labels: list[str] | None, wanted: str | None, where: str) -> str:
    """`wanted` when the model has it, else the label named like "negative" (`NEGATIVE_NAMES`).

    Raises:
        ConfigError: listing the model's labels when none fits.
    """
    labels = [str(label) for label in labels or []]
    if wanted is not None:
        if wanted in labels:
            return wanted
        raise ConfigError(
            f"the model has no label {wanted!r}",
            where="--negative-label",
            fix=f"Choose one of the model's labels: {format_choices(labels)}",
        )
    named = [label for label in labels if label.lower() in NEGATIVE_NAMES]
    named = named or [label for label in labels if label.lower().startswith("neg")]
    if len(named) == 1:
        return named[0]
    raise ConfigError(
        "no label of the model is named like 'negative'",
        where=where,
        fix="Name the label to count as negative with --negative-label; the model's labels: "
        f"{format_choices(labels)}",
    )


def _load(path: Path, onnx: bool | str, batch_size: int, where: str) -> Any:
    import trainforge

    model = trainforge.load(path, onnx=onnx)
    from trainforge.tasks.text.model import TextModel

    if not isinstance(model, TextModel) or model.target.kind != "classification":
        raise ConfigError(
            f"{path} is a {model.config.task} model with {model.target.kind} outputs",
            where=where,
            fix="Pass a single-label text classification package (trained with "
            "task: text_classification)",
        )
    train = model.config.train.model_copy(update={"eval_batch_size": batch_size})
    model.config = model.config.model_copy(update={"train": train})
    return model

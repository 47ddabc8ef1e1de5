"""The generation target: the loss on answer tokens, perplexity per epoch, and the scores of
generated answers (`trainforge.evaluation.generation`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

MAX_LABELS = 50  # answers are "labels" when there are at most this many distinct ones


class GenerationTarget:
    """What a generation task predicts: the answer's text.

    `fit` learns whether the training answers are labels (few distinct answers, each given
    several times, as a generative classifier's): then test scores add accuracy and macro-F1
    over them.

    Args:
        label_set: the normalised answers when they are labels, else None.
    """

    kind = "generation"
    n_outputs = 0

    def __init__(self, label_set: list[str] | None = None) -> None:
        self.label_set_ = label_set

    def fit(self, answers: Sequence[str]) -> GenerationTarget:
        """Learn the label set of the training answers (None when they are free text)."""
        from trainforge.evaluation.generation import normalize

        distinct = sorted({normalize(a) for a in answers})
        labels = 2 <= len(distinct) <= MAX_LABELS and 2 * len(distinct) <= len(answers)
        self.label_set_ = distinct if labels else None
        return self

    def state_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "label_set": self.label_set_}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> GenerationTarget:
        return cls(state.get("label_set"))

    def loss_fn(self) -> Any:
        from trainforge.models.causal_lm import shifted_loss

        return shifted_loss

    def metric_collection(self) -> Any:
        from torchmetrics import MetricCollection
        from torchmetrics.text import Perplexity

        from trainforge.data.chat_tokens import IGNORE

        return MetricCollection({"perplexity": Perplexity(ignore_index=IGNORE)})

    def probabilities(self, output: Any) -> Any:
        """The logits of the labelled next tokens (`CausalLM` with labels), as one sequence."""
        return output.float().unsqueeze(0)

    def metric_target(self, labels: Any) -> Any:
        from trainforge.models.causal_lm import scored_labels

        return scored_labels(labels).unsqueeze(0)

    def rescale_metric(self, name: str, value: float) -> float:
        return value

    def metrics(self, y_true: np.ndarray, output: np.ndarray) -> dict[str, Any]:
        """Loss and perplexity of the references' tokens; scores of the generated answers
        where the split was generated.

        Args:
            y_true: the reference answers.
            output: per row {"nll": summed loss, "tokens": answer tokens, "generated": the
                model's answer or None}.
        """
        from trainforge.evaluation.generation import generation_metrics, loss_metrics

        rows = list(output)
        metrics: dict[str, Any] = loss_metrics(
            sum(r["nll"] for r in rows), sum(r["tokens"] for r in rows)
        )
        generated = [(str(t), r["generated"]) for t, r in zip(y_true, rows, strict=True)]
        scored = [(t, g) for t, g in generated if g is not None]
        if scored:
            references, answers = zip(*scored, strict=True)
            metrics |= generation_metrics(references, answers, self.label_set_)
        return metrics

    def decode(self, output: Any, rows: Any = None) -> list[dict[str, Any]]:
        return [{"text": str(text)} for text in output]

    def display_labels(self) -> Sequence[str] | None:
        return None

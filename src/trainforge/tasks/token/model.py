"""`TokenModel`: a `Model` whose inputs are sentences (raw texts, word lists, CoNLL or JSONL
files) and whose outputs are tag probabilities per word."""

from __future__ import annotations

from typing import Any

import numpy as np

from trainforge.errors import DataError
from trainforge.tasks.model import Rows
from trainforge.tasks.text.model import TextModel


class TokenModel(TextModel):
    """A tagger: sentences are cut into sub-word windows and the windows' tag probabilities
    merged back into one row per word."""

    def frame(self, rows: Rows) -> Any:
        """`trainforge.data.conll.Sentences` of raw texts, word lists or a file."""
        return self.inputs.read(rows)

    def output(self, frame: Any) -> Any:
        """One (words, tags) array of probabilities per sentence."""
        return self.word_outputs(self.inputs.windows(frame))

    def input_batches(self, frame: Any, batch_size: int | None = None) -> Any:
        """(window positions, network inputs) per batch of the sentences' windows."""
        windows = self.inputs.windows(frame)
        return self.inputs.batches(windows, batch_size or self.config.train.eval_batch_size)

    def word_outputs(self, windows: Any) -> list[np.ndarray]:
        """Tag probabilities of every word of every sentence, from its sub-word windows."""
        import torch

        from trainforge.data.tokens import merge_windows

        self.network.eval()
        device = next(self.network.parameters()).device

        def per_window() -> Any:
            with torch.inference_mode():
                for chosen, batch in self.inputs.batches(
                    windows, self.config.train.eval_batch_size
                ):
                    logits = self.network(**{k: v.to(device) for k, v in batch.items()})
                    probabilities = self.target.probabilities(logits).double().cpu().numpy()
                    yield from zip(chosen, probabilities, strict=True)

        return merge_windows(windows, per_window())

    def evaluate(self, rows: Rows) -> dict[str, Any]:
        """Entity-level metrics on tagged sentences."""
        sentences = self.frame(rows)
        if sentences.tags is None:
            raise DataError(
                "the sentences carry no tags; evaluation needs tagged data",
                where=sentences.source,
                fix="Pass a CoNLL file with a tag column or JSONL with 'tags' (or 'entities'), "
                "or use `trainforge predict` for untagged text",
            )
        truth = self.target.encode_tags(sentences.tags, sentences.place)  # type: ignore[union-attr]
        return self.target.metrics(truth, self.output(sentences))  # type: ignore[arg-type]

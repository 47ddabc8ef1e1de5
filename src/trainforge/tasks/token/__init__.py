"""Token classification (NER): one tag per word from the backbone's token-classification head,
sentences cut into overlapping sub-word windows and merged back per word."""

from __future__ import annotations

from typing import Any

from trainforge.tasks.family import InputKind, LoadPackage, Prepared
from trainforge.tasks.model import Model
from trainforge.tasks.text import FALLBACK_TEXTS, TextFamily


class TokenFamily(TextFamily):
    """`token_classification`: the text family's backbones, package layout and plan, with
    sentences for rows."""

    name = "token"
    input_kind: InputKind = "token"
    token_head = True

    def prepare(self, cfg: Any, load_package: LoadPackage) -> Prepared:
        from trainforge.tasks.token.prepare import prepare

        return prepare(cfg, load_package)

    def model(self, cfg: Any, inputs: Any, target: Any, network: Any) -> Model:
        from trainforge.tasks.token.model import TokenModel

        return TokenModel(cfg, inputs, target, network=network)

    def sample_batches(self, model: Model, frame: Any) -> list[dict[str, Any]]:
        windows = model.inputs.windows(frame)
        batches = [b for _, b in model.inputs.batches(windows, 16)]
        return [b for _, b in model.inputs.batches(windows, 1)][-1:] + batches

    def fallback_samples(self, model: Model) -> Any:
        return model.frame(FALLBACK_TEXTS)

    def input_schema(self, model: Model) -> dict[str, Any]:
        return {
            "anyOf": [
                {"type": "string", "description": "raw text; entities come back as spans"},
                {"type": "array", "items": {"type": "string"}, "description": "words"},
            ]
        }


FAMILY = TokenFamily()

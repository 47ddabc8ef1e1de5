"""Text classification (single- and multi-label, sentence pairs) on a pretrained transformer:
full, frozen, parameter-efficient, zero-shot, SetFit, or a prompted language model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from trainforge.errors import PackageError
from trainforge.tasks.family import (
    PROBE_ROWS,
    InputKind,
    LoadPackage,
    Prepared,
    TaskFamily,
    assumed_labels,
)
from trainforge.tasks.model import Model

# Sample inputs for the export's parity check where the config's data files are not reachable.
FALLBACK_TEXTS = [
    "a gripping , funny and thoroughly moving film .",
    "dull , lifeless and far too long .",
    "the cast is fine but the script is a mess",
    "one of the best films of the year",
    "meh",
    "Angela Merkel visited Paris on Monday to meet the French president .",
]


class TextFamily(TaskFamily):
    """`text_classification`; the token and text-regression families build on it.

    Attributes:
        token_head: the network is the backbone's token-classification model (one output per
            token) rather than a pooled sequence head.
    """

    name = "text"
    input_kind: InputKind = "text"
    token_head = False

    def prepare(self, cfg: Any, load_package: LoadPackage) -> Prepared:
        from trainforge.tasks.text.prepare import prepare

        return prepare(cfg, load_package)

    def load(
        self, path: Path, cfg: Any, manifest: dict[str, Any], target: Any, onnx: bool | str = False
    ) -> Model:
        from trainforge.models.text_package import load_text_inputs, load_text_model

        if onnx is not False:
            network: Any = self.onnx_network(path, cfg, onnx)
            inputs: Any = load_text_inputs(path, cfg, manifest)
        elif manifest["network"].get("kind") == "prompt_lm":
            from trainforge.tasks.text.prompt import load_prompt_model

            inputs, network = load_prompt_model(path, cfg, manifest)
        else:
            inputs, network = load_text_model(path, cfg, manifest)
        return self.model(cfg, inputs, target, network)

    def model(self, cfg: Any, inputs: Any, target: Any, network: Any) -> Model:
        """The family's `Model` around loaded parts."""
        from trainforge.tasks.text.model import TextModel

        return TextModel(cfg, inputs, target, network=network)

    def describe(self, cfg: Any) -> str:
        return f"{cfg.model.backbone} ({cfg.model.finetune})"

    def check_exportable(self, path: Path, cfg: Any) -> None:
        from trainforge.tasks.text.prompt import PROMPT

        if (path / PROMPT).is_file():
            raise PackageError(
                "ONNX export and --onnx are not supported for prompted language models "
                "(model.finetune: prompt_lm): each text is scored answer by answer on a cache",
                where=str(path),
                fix="Predict with PyTorch (drop --onnx), or export a zero_shot or setfit model",
            )

    def fallback_samples(self, model: Model) -> Any:
        import pandas as pd

        data = model.config.data
        frame = pd.DataFrame({data.text_column: FALLBACK_TEXTS})
        if data.text_pair_column:
            frame[data.text_pair_column] = list(reversed(FALLBACK_TEXTS))
        return frame

    def input_schema(self, model: Model) -> dict[str, Any]:
        data = model.config.data
        columns = [data.text_column, *([data.text_pair_column] if data.text_pair_column else [])]
        row = {
            "type": "object",
            "properties": {c: {"type": "string"} for c in columns},
            "required": columns,
        }
        if data.text_pair_column:
            return row
        return {"anyOf": [{"type": "string"}, row]}

    def warmup_input(self, model: Model) -> Any:
        return "warm up"

    def plan_network(self, cfg: Any, notes: list[str]) -> tuple[Any, dict[str, Any], str]:
        from trainforge.models import finetune
        from trainforge.models.transformer import (
            TextClassifier,
            load_encoder,
            load_tokenizer,
            resolve_backbone,
        )
        from trainforge.tasks.text.backbone import AUTO

        name = cfg.model.backbone
        if name == AUTO:
            name = "minilm"
            notes.append(
                "backbone auto: planned with minilm; text in a non-Latin script gets "
                "multilingual-e5-small (118 M parameters, 96 M of them embeddings)"
            )
        if cfg.model.trim_vocab:
            notes.append("trim_vocab: the embedding table shrinks to the pieces the data uses")
        backbone = resolve_backbone(name)
        outputs = assumed_labels(cfg, notes)
        names = [str(label) for label in cfg.model.labels] if cfg.model.labels else None
        encoder = load_encoder(
            backbone, cfg.pooling, names, outputs, cfg.data.multi_label, tokens=self.token_head
        )
        network = TextClassifier(encoder, cfg.pooling, outputs, cfg.model.dropout)
        finetune.prepare(network, cfg.model, total_steps=1000)
        tokenizer = load_tokenizer(backbone)
        length = cfg.train.max_length
        probe = dict(
            tokenizer(
                ["word " * length] * PROBE_ROWS,
                truncation=True,
                max_length=length,
                padding="max_length",
                return_tensors="pt",
            )
        )
        if cfg.model.finetune == "frozen":
            notes.append("frozen: the backbone embeds each text once without gradients first")
        notes.append(f"texts at the full max_length ({length} tokens); real batches are shorter")
        return network, probe, f"{name} ({cfg.model.finetune})"


FAMILY = TextFamily()

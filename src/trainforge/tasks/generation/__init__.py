"""Text generation: supervised fine-tuning (full or LoRA) of a causal language model on
prompt/response, alpaca or chat rows, or direct preference optimisation on prompt/chosen/
rejected rows, with the backbone's own chat template, or continued pre-training on unlabelled
text; packages load in plain transformers and answer with `predict`, `generate` and `chat`,
whichever the objective."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from trainforge.errors import PackageError
from trainforge.tasks.family import PROBE_ROWS, InputKind, LoadPackage, Prepared, TaskFamily
from trainforge.tasks.model import Model


class GenerationFamily(TaskFamily):
    """`text_generation`: a language model that writes the answers."""

    name = "generation"
    input_kind: InputKind = "text"

    def prepare(self, cfg: Any, load_package: LoadPackage) -> Prepared:
        if cfg.model.objective == "dpo":
            from trainforge.tasks.generation import prepare_dpo

            return prepare_dpo.prepare(cfg, load_package)
        if cfg.model.objective == "causal_lm":
            from trainforge.tasks.generation import pretrain

            return pretrain.prepare(cfg, load_package)
        from trainforge.tasks.generation.prepare import prepare

        return prepare(cfg, load_package)

    def load(
        self, path: Path, cfg: Any, manifest: dict[str, Any], target: Any, onnx: bool | str = False
    ) -> Model:
        from trainforge.data.chat_tokens import end_ids
        from trainforge.models.causal_lm import load_package_lm
        from trainforge.tasks.generation.model import GenerationModel

        if onnx is not False:
            self.check_exportable(path, cfg)
        tokenizer, network = load_package_lm(path, cfg.model.backbone)
        ends = end_ids(tokenizer, network.encoder.generation_config)
        return GenerationModel(cfg, tokenizer, target, network, ends)

    def describe(self, cfg: Any) -> str:
        return f"{cfg.model.backbone} ({cfg.model.objective}, {cfg.model.finetune})"

    def check_exportable(self, path: Path, cfg: Any) -> None:
        raise PackageError(
            "ONNX export and --onnx are not supported for text generation packages yet "
            "(generation runs a key/value cache step by step)",
            where=str(path),
            fix="Predict with PyTorch (drop --onnx); the package's hf/ folder is a plain "
            "transformers model for other runtimes",
        )

    def check_updatable(self, model: Model, model_dir: Path) -> None:
        raise PackageError(
            "trainforge update is not supported for text generation packages yet",
            where=str(model_dir),
            fix="Train again on the old and new conversations together",
        )

    def input_schema(self, model: Model) -> dict[str, Any]:
        data = model.config.data
        turn = {
            "type": "object",
            "properties": {"role": {"type": "string"}, "content": {"type": "string"}},
            "required": ["role", "content"],
        }
        row = {
            "type": "object",
            "properties": {
                data.prompt_column: {"type": "string"},
                data.messages_column: {"type": "array", "items": turn},
            },
        }
        return {"anyOf": [{"type": "string"}, row]}

    def warmup_input(self, model: Model) -> Any:
        return "Hello"

    def preview(self, cfg: Any, rows: int) -> Any:
        from trainforge.tasks.generation.preview import preview

        return preview(cfg, rows)

    def plan_network(self, cfg: Any, notes: list[str]) -> tuple[Any, dict[str, Any], str]:
        from trainforge.models import finetune
        from trainforge.models.causal_lm import load_causal_lm, probe_batch

        tokenizer, network = load_causal_lm(cfg.model.backbone)
        finetune.prepare(network, cfg.model, total_steps=1000)
        length = cfg.train.max_length
        vocabulary = network.encoder.get_output_embeddings().weight.shape[0]
        notes.append(
            f"conversations at the full max_length ({length} tokens); real batches are shorter"
        )
        notes.append(
            f"the activations include the logits over the whole vocabulary ({vocabulary:,} "
            "tokens) at every position"
        )
        # A DPO row is a pair: its chosen and its rejected sequence go through together.
        sequences = PROBE_ROWS * (2 if cfg.model.objective == "dpo" else 1)
        if sequences > PROBE_ROWS:
            notes.append("model.objective dpo: a row is a preference pair, two sequences")
        probe = probe_batch(tokenizer, length, sequences)
        return network, probe, self.describe(cfg)


FAMILY = GenerationFamily()

"""Text classification by prompting a language model (`model.finetune: prompt_lm`), or by
LoRA on it (`model.finetune: lora` with a causal language model as `model.backbone`).

The data is read, checked and split as for any text classifier (`tasks/text.py`). Prompting
trains nothing: the training rows only supply the in-context examples
(`model.context_examples`, balanced across labels, seeded). LoRA trains adapters on the
language model with the labels as text: the loss is the cross-entropy over the label
answers' scores (mean log-probability of each label's tokens after the prompt), so training
and prediction score the answers the same way.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from trainforge.config import ExperimentConfig, label_words
from trainforge.errors import ConfigError
from trainforge.package import write_json
from trainforge.tasks.family import FitOptions, Fitted, Prepared
from trainforge.tasks.text.model import TextModel

PROMPT = "prompt.json"
ADAPTER = "lm_adapter"


def prepare_prompt(
    cfg: ExperimentConfig, datasets: dict[str, Any], labels: dict[str, np.ndarray], target: Any
) -> Prepared:
    """The prompted classifier over the target's labels, with examples from the train rows."""
    from trainforge.data.split import balanced_indices
    from trainforge.models.prompt_lm import build

    if cfg.model.finetune not in ("prompt_lm", "lora"):
        raise ConfigError(
            f"model.backbone {cfg.model.backbone!r} is a causal language model; it classifies "
            f"by prompting (finetune: prompt_lm) or with LoRA on the answers (finetune: lora), "
            f"not with finetune {cfg.model.finetune!r}",
            where="model.finetune",
            fix="Set model.finetune to prompt_lm or lora, or use an encoder backbone (minilm)",
        )
    phrases = answer_phrases(cfg, target.labels_)
    data = cfg.data
    chosen = balanced_indices(labels["train"], cfg.model.context_examples, cfg.train.seed)
    train = datasets["train"].select(chosen).to_pandas() if len(chosen) else None
    examples = (
        [
            (str(text), phrases[int(label)])
            for text, label in zip(train[data.text_column], labels["train"][chosen], strict=True)
        ]
        if train is not None
        else []
    )
    inputs, network = build(
        cfg.model.backbone, data.text_column, cfg.train.max_length, phrases, examples
    )
    lora = cfg.model.finetune == "lora"
    if lora:
        network.lm = _lora(network.lm, cfg)
    model = TextModel(cfg, inputs, target, network=network)
    frames = {split: ds.to_pandas() for split, ds in datasets.items() if lora or split != "train"}

    def fit(run_dir: Path, options: FitOptions) -> Fitted:
        if not lora:
            return Fitted([], 0.0, 0.0, {"context_examples": len(examples)})
        from trainforge.training.fit import fit_network

        loaders = (
            _loader(inputs, frames["train"], labels["train"], cfg, shuffle=True),
            _loader(inputs, frames["validation"], labels["validation"], cfg, shuffle=False)
            if "validation" in frames
            else None,
        )
        fitted = fit_network(network, target, cfg.train, loaders, run_dir, options)
        fitted.extra["context_examples"] = len(examples)
        return fitted

    def write_files(folder: Path) -> None:
        write_json(folder / PROMPT, inputs.state_dict())
        if lora:
            network.lm.save_pretrained(folder / ADAPTER)

    def evaluate(split: str) -> tuple[np.ndarray, np.ndarray]:
        return labels[split], model.output(frames[split])

    spec = {"kind": "prompt_lm", "phrases": phrases, "n_outputs": len(phrases), "lora": lora}
    return Prepared(
        model=model,
        rows={split: len(ds) for split, ds in datasets.items()},
        fit=fit,
        evaluate=evaluate,
        manifest={
            "network": spec,
            "backbone": cfg.model.backbone,
            "finetune": cfg.model.finetune,
        },
        write_files=write_files,
    )


def _lora(lm: Any, cfg: ExperimentConfig) -> Any:
    """The language model with LoRA adapters (peft); only the adapters train."""
    import peft

    options = cfg.model.peft
    config = peft.LoraConfig(
        task_type="CAUSAL_LM",
        r=options.r,
        lora_alpha=options.alpha,  # type: ignore[arg-type]  # peft annotates int, takes float
        lora_dropout=options.dropout,
        target_modules=list(options.target_modules) if options.target_modules else None,
    )
    return peft.get_peft_model(lm, config)


def _loader(
    inputs: Any, frame: Any, labels: np.ndarray, cfg: ExperimentConfig, *, shuffle: bool
) -> Any:
    """Batches of prompts (right-padded) with their label indices."""
    import torch
    from torch.utils.data import DataLoader

    texts, _ = inputs.texts(frame)
    rows = [(inputs.prompt(text), int(label)) for text, label in zip(texts, labels, strict=True)]
    pad = inputs.tokenizer.pad_token_id or 0

    def collate(batch: list[tuple[list[int], int]]) -> dict[str, Any]:
        width = max(len(ids) for ids, _ in batch)
        ids = torch.full((len(batch), width), pad, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for i, (prompt, _) in enumerate(batch):
            ids[i, : len(prompt)] = torch.tensor(prompt)
            mask[i, : len(prompt)] = 1
        target = torch.tensor([label for _, label in batch], dtype=torch.long)
        return {"input_ids": ids, "attention_mask": mask, "labels": target}

    generator = torch.Generator().manual_seed(cfg.train.seed) if shuffle else None
    train = cfg.train
    return DataLoader(
        rows,  # type: ignore[arg-type]
        batch_size=train.batch_size if shuffle else train.eval_batch_size,
        shuffle=shuffle,
        generator=generator,
        collate_fn=collate,
    )


def answer_phrases(cfg: ExperimentConfig, labels: list[str]) -> list[str]:
    """What the model should answer for each label: its description, else its name as words."""
    described = cfg.model.label_prompts or {}
    phrases = [described.get(label, label_words(label)) for label in labels]
    if len(set(phrases)) < len(phrases):
        raise ConfigError(
            "two labels have the same answer phrase, so the language model cannot tell them "
            f"apart: {phrases}",
            where="model.labels",
            fix="Give each label a distinct description in model.labels",
        )
    return phrases


def load_prompt_model(folder: Path, cfg: ExperimentConfig, manifest: dict[str, Any]) -> Any:
    """(inputs, network) of a prompted classifier package; the language model comes from the
    installed package or folder named by `model.backbone`."""
    import json

    from trainforge.models.prompt_lm import build

    state = json.loads((folder / PROMPT).read_text(encoding="utf-8"))
    phrases = manifest["network"]["phrases"]
    examples = [(str(text), str(answer)) for text, answer in state["examples"]]
    inputs, network = build(
        cfg.model.backbone,
        state["text_column"],
        state["max_length"],
        phrases,
        examples,
        instruction=state["instruction"],
    )
    if manifest["network"].get("lora"):
        import peft

        network.lm = peft.PeftModel.from_pretrained(network.lm, folder / ADAPTER)
        network.lm = network.lm.merge_and_unload()
        network.eval()
    return inputs, network

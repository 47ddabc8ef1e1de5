"""Saving and loading text models inside a package.

hf/                  cls pooling: a plain transformers folder
                     (AutoModelForSequenceClassification, or AutoModelForTokenClassification
                     for token classification, + AutoTokenizer load it as is);
                     mean pooling: the backbone (AutoModel) and tokenizer
head.safetensors     mean pooling: the linear head over mean-pooled token states
adapters.safetensors bottleneck adapters (finetune: adapter)
adapter/             peft adapter with the trained head (model.peft.adapter_only)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

from torch import nn

from trainforge.config import ExperimentConfig
from trainforge.data.text import TextInputs
from trainforge.data.tokens import TokenInputs
from trainforge.models.transformer import TextClassifier

HF = "hf"
BACKBONE = "backbone"
HEAD = "head.safetensors"
ADAPTERS = "adapters.safetensors"
PEFT_ADAPTER = "adapter"


def network_spec(
    net: TextClassifier, cfg: ExperimentConfig, n_outputs: int, head: str = "sequence"
) -> dict[str, Any]:
    """The manifest entry that tells `load_text_model` how to rebuild the network."""
    return {
        "pooling": net.pooling,
        "normalize": net.normalize,
        "head": head,
        "n_outputs": n_outputs,
        "adapters": hasattr(net, "adapters"),
        "adapter_only": cfg.model.peft.adapter_only
        and cfg.model.finetune in ("lora", "adalora", "ia3"),
    }


def save_text_model(
    folder: Path, net: TextClassifier, inputs: TextInputs, spec: dict[str, Any]
) -> None:
    """Write the network and tokenizer into a package folder."""
    from safetensors.torch import save_file

    if spec["adapter_only"]:
        net.encoder.save_pretrained(folder / PEFT_ADAPTER)  # type: ignore[operator]
        inputs.tokenizer.save_pretrained(folder / PEFT_ADAPTER)
    else:
        standalone = net.head is None and not spec["adapters"]
        target = folder / (HF if standalone else BACKBONE)
        net.encoder.save_pretrained(target)  # type: ignore[operator]
        inputs.tokenizer.save_pretrained(target)
    if net.head is not None:
        save_file(_contiguous(net.head), folder / HEAD)
    if spec["adapters"]:
        save_file(_contiguous(cast(nn.ModuleDict, net.adapters)), folder / ADAPTERS)


def load_text_model(
    folder: Path, cfg: ExperimentConfig, manifest: dict[str, Any]
) -> tuple[TextInputs | TokenInputs, TextClassifier]:
    """Rebuild (inputs, network) from a package folder."""
    from safetensors.torch import load_file

    from trainforge.models.adapters import add_adapters
    from trainforge.models.transformer import load_encoder, resolve_backbone

    spec = manifest["network"]
    multi = manifest["target"]["kind"] == "multilabel"
    tokens = spec.get("head") == "token"
    if spec["adapter_only"]:
        import peft

        base = load_encoder(
            resolve_backbone(cfg.model.backbone),
            spec["pooling"],
            manifest.get("labels"),
            spec["n_outputs"],
            multi,
            tokens=tokens,
        )
        encoder = peft.PeftModel.from_pretrained(base, folder / PEFT_ADAPTER).merge_and_unload()
    else:
        encoder = load_encoder(
            str(package_source(folder)),
            spec["pooling"],
            manifest.get("labels"),
            spec["n_outputs"],
            multi,
            tokens=tokens,
        )
    net = TextClassifier(
        encoder,
        spec["pooling"],
        spec["n_outputs"],
        cfg.model.dropout,
        normalize=spec.get("normalize", False),
    )
    if net.head is not None:
        net.head.load_state_dict(load_file(folder / HEAD))
    if spec["adapters"]:
        net.adapters = add_adapters(
            net.encoder, cfg.model.adapter.size, list(cfg.model.adapter.target_modules)
        )
        net.adapters.load_state_dict(load_file(folder / ADAPTERS))
    net.eval()
    return load_text_inputs(folder, cfg, manifest), net


def load_text_inputs(
    folder: Path, cfg: ExperimentConfig, manifest: dict[str, Any]
) -> TextInputs | TokenInputs:
    """The tokenizer and input handling of a package, without the network (ONNX Runtime
    brings its own)."""
    from trainforge.models.transformer import load_tokenizer

    tokenizer = load_tokenizer(str(package_source(folder)))
    if manifest["network"].get("head") == "token":
        return TokenInputs(tokenizer, cfg)
    from trainforge.models.multilingual import text_prefix

    prefix = text_prefix(str(manifest.get("backbone", "")), str(manifest.get("finetune", "")))
    return TextInputs(
        tokenizer, cfg.data.text_column, cfg.data.text_pair_column, cfg.train.max_length, prefix
    )


def package_source(folder: Path) -> Path:
    """The folder holding the tokenizer (and the encoder weights, unless adapter-only)."""
    if (folder / PEFT_ADAPTER).is_dir():
        return folder / PEFT_ADAPTER
    return folder / HF if (folder / HF).is_dir() else folder / BACKBONE


def _contiguous(module: nn.Module) -> dict[str, Any]:
    return {k: v.contiguous() for k, v in module.state_dict().items()}

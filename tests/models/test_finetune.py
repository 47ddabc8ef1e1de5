"""Ways to fit a text backbone: which weights train, adapters start neutral, merging is exact.

A tiny randomly initialised BERT stands in for real backbones (no download); one test checks the
trainable share on the embedded MiniLM.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from transformers import BertConfig, BertForSequenceClassification, BertModel

from trainforge.config import AdapterConfig, ModelConfig, PeftConfig
from trainforge.errors import ConfigError
from trainforge.models import finetune
from trainforge.models.transformer import TextClassifier

LAYERS = 3
PEFT = ("lora", "adalora", "ia3")

pytestmark = pytest.mark.filterwarnings("ignore:.*is_gradient_checkpointing.*:FutureWarning")


def _bert_config() -> BertConfig:
    return BertConfig(
        num_hidden_layers=LAYERS,
        hidden_size=32,
        num_attention_heads=2,
        intermediate_size=64,
        vocab_size=100,
    )


def _tiny(pooling: str = "cls") -> TextClassifier:
    torch.manual_seed(0)
    if pooling == "mean":
        return TextClassifier(BertModel(_bert_config()), "mean", 2, 0.1)
    return TextClassifier(BertForSequenceClassification(_bert_config()), "cls", 2, 0.1)


def _prepare(net: TextClassifier, method: str, **options: object) -> TextClassifier:
    return finetune.prepare(
        net, ModelConfig(type="transformer", finetune=method, **options), total_steps=100
    )


def _inputs() -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(1)
    ids = torch.randint(1, 100, (4, 12), generator=generator)
    mask = torch.ones_like(ids)
    mask[1, 7:] = 0
    mask[3, 4:] = 0
    return {"input_ids": ids, "attention_mask": mask}


def _logits(net: torch.nn.Module) -> torch.Tensor:
    net.eval()
    with torch.no_grad():
        return net(**_inputs())


def _trainable(net: torch.nn.Module) -> list[str]:
    return [n for n, p in net.named_parameters() if p.requires_grad]


def _perturb_trainable(net: torch.nn.Module) -> None:
    """Stand-in for training: move every trainable weight."""
    generator = torch.Generator().manual_seed(2)
    with torch.no_grad():
        for param in net.parameters():
            if param.requires_grad:
                param.add_(0.3 * torch.randn(param.shape, generator=generator))


# --- which weights train ------------------------------------------------------------------


def test_full_trains_everything() -> None:
    net = _prepare(_tiny(), "full")
    assert all(p.requires_grad for p in net.parameters())


def test_frozen_freezes_the_whole_encoder_and_trains_the_head() -> None:
    net = _prepare(_tiny("mean"), "frozen")
    assert not any(p.requires_grad for p in net.encoder.parameters())
    assert _trainable(net) == ["head.1.weight", "head.1.bias"]


@pytest.mark.parametrize("method", PEFT)
def test_peft_trains_the_head_and_freezes_the_base_weights(method: str) -> None:
    net = _prepare(_tiny(), method)
    trainable = _trainable(net)
    # The classifier and pooler train (as modules_to_save copies) and are saved with the adapter;
    # IA3 keeps the pretrained pooler (peft cannot merge IA3 with a pooler copy).
    assert any(".classifier.modules_to_save." in n and n.endswith("weight") for n in trainable)
    pooler_trains = any(".pooler.modules_to_save." in n for n in trainable)
    assert pooler_trains == (method != "ia3")
    marker = {"lora": "lora_", "adalora": "lora_", "ia3": "ia3_"}[method]
    assert any(marker in n for n in trainable)
    for name, param in net.named_parameters():
        if ".attention.self." in name and marker not in name:
            assert not param.requires_grad, name  # base query/key/value weights
        if "embeddings" in name or ".original_module." in name:
            assert not param.requires_grad, name
    assert all(marker in n or ".modules_to_save." in n for n in trainable)
    trained, total = finetune.trainable_fraction(net)
    assert 0 < trained < total


@pytest.mark.parametrize("method", PEFT)
def test_peft_leaves_under_5_percent_of_minilm_trainable(method: str) -> None:
    from trainforge.models.transformer import load_encoder, resolve_backbone

    encoder = load_encoder(resolve_backbone("minilm"), "cls", ["neg", "pos"], 2, False)
    net = _prepare(TextClassifier(encoder, "cls", 2, 0.1), method)
    trained, total = finetune.trainable_fraction(net)
    assert 0 < trained / total < 0.05


def test_peft_on_mean_pooling_keeps_the_outer_head_trainable() -> None:
    net = _prepare(_tiny("mean"), "lora")
    trainable = _trainable(net)
    assert {"head.1.weight", "head.1.bias"} <= set(trainable)
    assert not any("modules_to_save" in n for n in trainable)  # no head inside the encoder
    assert any("lora_" in n for n in trainable)


def test_peft_with_unknown_target_modules_is_a_config_error() -> None:
    with pytest.raises(ConfigError) as info:
        _prepare(_tiny(), "lora", peft=PeftConfig(target_modules=["no_such_layer"]))
    assert info.value.where == "model.peft.target_modules"
    assert "query, key, value, dense" in info.value.message


# --- bottleneck adapters ------------------------------------------------------------------


def test_zero_initialised_adapters_leave_the_output_unchanged() -> None:
    net = _tiny()
    before = _logits(net)
    _prepare(net, "adapter", adapter=AdapterConfig(size=8))
    torch.testing.assert_close(_logits(net), before, rtol=0, atol=1e-6)
    # The adapters do sit in the forward pass: once trained, the output moves.
    _perturb_trainable(net.adapters)
    assert not torch.allclose(_logits(net), before, atol=1e-3)


def test_adapter_trains_only_adapters_layer_norms_and_head() -> None:
    net = _prepare(_tiny(), "adapter", adapter=AdapterConfig(size=8))
    # One adapter after the attention output and one after the feed-forward output per layer.
    assert len(net.adapters) == 2 * LAYERS
    for name, param in net.named_parameters():
        expected = (
            name.startswith("adapters.")
            or "LayerNorm" in name
            or name.startswith(("encoder.classifier.", "encoder.bert.pooler."))
        )
        assert param.requires_grad == expected, name


def test_adapter_targets_that_match_nothing_are_a_config_error() -> None:
    with pytest.raises(ConfigError) as info:
        _prepare(_tiny(), "adapter", adapter=AdapterConfig(target_modules=["ffn.out"]))
    assert info.value.where == "model.adapter.target_modules"
    assert "output.dense" in info.value.message


# --- merging ------------------------------------------------------------------------------


def _merge_case(method: str) -> tuple[TextClassifier, torch.Tensor, torch.Tensor]:
    net = _tiny()
    base = _logits(net)
    _prepare(net, method)
    _perturb_trainable(net)
    unmerged = _logits(net)
    assert not torch.allclose(unmerged, base, atol=1e-3)  # the test must not be vacuous
    return finetune.merge(net), unmerged, base


@pytest.mark.parametrize(
    "method",
    [
        "lora",
        "adalora",
        "ia3",
    ],
)
def test_merge_gives_the_same_logits_as_the_peft_model(method: str, tmp_path: Path) -> None:
    net, unmerged, _ = _merge_case(method)
    assert type(net.encoder) is BertForSequenceClassification
    keys = list(net.encoder.state_dict())
    assert not any(part in k for k in keys for part in ("lora_", "ia3_", "base_layer", "modules"))
    torch.testing.assert_close(_logits(net), unmerged, rtol=1e-4, atol=1e-5)
    # The merged backbone saves and reloads as a plain transformers model.
    net.encoder.save_pretrained(tmp_path)
    reloaded = BertForSequenceClassification.from_pretrained(tmp_path)
    torch.testing.assert_close(_logits(reloaded).logits, unmerged, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("method", ["full", "adapter"])
def test_merge_leaves_a_model_without_peft_as_it_is(method: str) -> None:
    net = _prepare(_tiny(), method)
    encoder = net.encoder
    before = _logits(net)
    assert finetune.merge(net).encoder is encoder
    torch.testing.assert_close(_logits(net), before, rtol=0, atol=0)

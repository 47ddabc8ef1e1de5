"""Parameter groups (weight decay, layer-wise lr decay) and learning-rate schedules."""

from __future__ import annotations

from itertools import pairwise

import pytest
import torch
from transformers import BertConfig, BertForSequenceClassification

from trainforge.config import TrainConfig
from trainforge.training.optim import build_scheduler, parameter_groups

LAYERS = 3
LR, DECAY = 1e-3, 0.8


def _tiny_bert() -> BertForSequenceClassification:
    torch.manual_seed(0)
    return BertForSequenceClassification(
        BertConfig(
            num_hidden_layers=LAYERS,
            hidden_size=32,
            num_attention_heads=2,
            intermediate_size=64,
            vocab_size=100,
        )
    )


def _group_of(model: torch.nn.Module, groups: list[dict]) -> dict[str, dict]:
    """Parameter name -> the group holding it."""
    by_id = {id(p): g for g in groups for p in g["params"]}
    return {n: by_id[id(p)] for n, p in model.named_parameters() if id(p) in by_id}


def _layer_lr(model: torch.nn.Module, groups: list[dict], layer: int, kind: str) -> float:
    of = _group_of(model, groups)
    return of[f"bert.encoder.layer.{layer}.attention.self.query.{kind}"]["lr"]


def test_every_trainable_parameter_is_in_exactly_one_group() -> None:
    model = _tiny_bert()
    for param in model.bert.embeddings.parameters():
        param.requires_grad = False
    for layer_decay in (None, DECAY):
        groups = parameter_groups(model, 0.01, LR, layer_decay)
        ids = [id(p) for g in groups for p in g["params"]]
        trainable = [id(p) for p in model.parameters() if p.requires_grad]
        assert sorted(ids) == sorted(trainable)  # frozen embeddings left out


def test_no_weight_decay_on_biases_and_norms() -> None:
    model = _tiny_bert()
    of = _group_of(model, parameter_groups(model, 0.01, LR))
    for name, group in of.items():
        if name.endswith(".bias") or "LayerNorm" in name:
            assert group["weight_decay"] == 0.0, name
        else:
            assert group["weight_decay"] == 0.01, name
    assert of["classifier.weight"]["weight_decay"] == 0.01
    assert of["bert.embeddings.LayerNorm.weight"]["weight_decay"] == 0.0
    assert all(group["lr"] == LR for group in of.values())  # no layer decay asked for


def test_layer_decay_gives_embeddings_the_least_lr_and_the_head_the_full_lr() -> None:
    model = _tiny_bert()
    groups = parameter_groups(model, 0.01, LR, layer_decay=DECAY)
    of = _group_of(model, groups)

    embeddings = of["bert.embeddings.word_embeddings.weight"]["lr"]
    layers = [_layer_lr(model, groups, i, "weight") for i in range(LAYERS)]
    head = of["classifier.weight"]["lr"]
    assert of["classifier.bias"]["lr"] == head == pytest.approx(LR)
    assert of["bert.pooler.dense.weight"]["lr"] == pytest.approx(LR)  # the pooler is head
    lrs = [embeddings, *layers, head]
    assert all(a < b for a, b in pairwise(lrs)), lrs
    assert min(g["lr"] for g in groups) == embeddings
    # Biases and norms share their layer's lr (only their weight decay differs).
    for i in range(LAYERS):
        assert _layer_lr(model, groups, i, "bias") == layers[i]
    assert of["bert.embeddings.LayerNorm.weight"]["lr"] == embeddings
    # Consecutive layers differ by the decay factor.
    for lower, upper in pairwise(layers):
        assert lower / upper == pytest.approx(DECAY)
    assert embeddings / layers[0] == pytest.approx(DECAY)


def test_layer_decay_follows_the_documented_formula() -> None:
    # Docstring: layer i of L gets lr * decay^(L + 1 - i); embeddings i = 0; heads i = L + 1.
    model = _tiny_bert()
    groups = parameter_groups(model, 0.01, LR, layer_decay=DECAY)
    of = _group_of(model, groups)
    assert of["bert.embeddings.word_embeddings.weight"]["lr"] == pytest.approx(
        LR * DECAY ** (LAYERS + 1)
    )
    for layer in range(LAYERS):  # transformer layer k is i = k + 1
        expected = LR * DECAY ** (LAYERS - layer)
        assert _layer_lr(model, groups, layer, "weight") == pytest.approx(expected)


def _lrs(scheduler_name: str, total: int, warmup_ratio: float = 0.1) -> list[float]:
    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([param], lr=LR)
    cfg = TrainConfig(scheduler=scheduler_name, warmup_ratio=warmup_ratio, lr=LR)
    config = build_scheduler(optimizer, cfg, total, "val_loss")
    assert config is not None and config["interval"] == "step"
    scheduler = config["scheduler"]
    lrs = []
    for _ in range(total + 1):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return lrs


def test_linear_warmup_rises_to_the_peak_then_decays_to_zero() -> None:
    lrs = _lrs("linear_warmup", total=100)  # 10 warm-up steps
    warmup = lrs[:11]
    assert all(a < b for a, b in pairwise(warmup))
    assert 0 < lrs[0] < 0.2 * LR
    assert max(lrs) == pytest.approx(LR)
    assert lrs.index(max(lrs)) == 10
    decay = lrs[10:]
    assert all(a > b for a, b in pairwise(decay))
    assert lrs[55] == pytest.approx(LR / 2)  # linear: halfway through the decay
    assert lrs[100] == pytest.approx(0.0, abs=1e-12)


def test_cosine_decays_along_half_a_cosine_to_zero() -> None:
    lrs = _lrs("cosine", total=100, warmup_ratio=0.0)
    assert lrs[0] == pytest.approx(LR)
    assert all(a > b for a, b in pairwise(lrs))
    assert lrs[50] == pytest.approx(LR / 2)
    assert lrs[25] == pytest.approx(LR * (1 + 2**-0.5) / 2)  # above the linear line
    assert lrs[100] == pytest.approx(0.0, abs=1e-12)


def test_cosine_with_warmup_rises_first() -> None:
    lrs = _lrs("cosine", total=50, warmup_ratio=0.2)  # 10 warm-up steps
    assert all(a < b for a, b in pairwise(lrs[:11]))
    assert lrs[10] == pytest.approx(LR)
    assert lrs[30] == pytest.approx(LR / 2)
    assert lrs[50] == pytest.approx(0.0, abs=1e-12)


def test_scheduler_none_gives_a_constant_lr() -> None:
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=LR)
    assert build_scheduler(optimizer, TrainConfig(scheduler="none"), 100, "val_loss") is None

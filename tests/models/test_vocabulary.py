"""Trimming a backbone's vocabulary to the training text, and the unknown-token share."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from chinese_support import needs_e5

from trainforge.data.language import count_scripts
from trainforge.models.transformer import load_tokenizer, resolve_backbone
from trainforge.models.vocabulary import trim_backbone, unknown_share

ENGLISH = ["a gripping film with a superb cast", "dull and far too long", "the cast was superb"]
CHINESE = ["这家餐厅的菜很好吃，服务也很周到。", "物流太慢了，包装也破了，非常失望。"]


def _encode(texts: list[str]):  # type: ignore[no-untyped-def]
    return lambda tokenizer, limit=None: tokenizer(texts[:limit], add_special_tokens=False)[
        "input_ids"
    ]


@pytest.fixture()
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Trimmed copies go to a fresh folder (the embedded backbones stay in the shared cache)."""
    from trainforge.models import cache

    monkeypatch.setattr(cache, "cache_root", lambda: tmp_path)
    return tmp_path


def _trimmed(backbone: str, texts: list[str], reserve: int) -> tuple[object, object, str, dict]:
    source = resolve_backbone(backbone)
    tokenizer = load_tokenizer(source)
    folder, stats = trim_backbone(source, tokenizer, _encode(texts), reserve, count_scripts(texts))
    return source, tokenizer, folder, stats


@pytest.mark.parametrize(
    ("backbone", "texts"),
    [("minilm", ENGLISH), pytest.param("multilingual-e5-small", CHINESE, marks=needs_e5)],
)
def test_a_trimmed_backbone_reads_the_training_text_as_before_with_the_same_embeddings(
    cache: Path, backbone: str, texts: list[str]
) -> None:
    from transformers import AutoModel

    source, tokenizer, folder, stats = _trimmed(backbone, texts, reserve=50)
    small = load_tokenizer(folder)
    assert stats["pieces_before"] == len(tokenizer)  # type: ignore[arg-type]
    assert stats["pieces_after"] == len(small) < 400
    full_model, small_model = AutoModel.from_pretrained(source), AutoModel.from_pretrained(folder)
    assert small_model.config.vocab_size == len(small)
    for text in texts:
        before = tokenizer([text], return_tensors="pt")  # type: ignore[operator]
        after = small([text], return_tensors="pt")
        pieces = tokenizer.convert_ids_to_tokens(before["input_ids"][0])  # type: ignore[attr-defined]
        assert small.convert_ids_to_tokens(after["input_ids"][0]) == pieces
        with torch.no_grad():
            a = full_model(**before).last_hidden_state
            b = small_model(**after).last_hidden_state
        torch.testing.assert_close(a, b)
    # A second run on the same text reuses the folder.
    assert _trimmed(backbone, texts, reserve=50)[2] == folder


def test_words_the_training_text_lacks_split_into_kept_pieces_or_unknown(cache: Path) -> None:
    _, _, folder, _ = _trimmed("minilm", ENGLISH, reserve=0)
    small = load_tokenizer(folder)
    pieces = small.tokenize("superb films")
    assert pieces[0] == "superb" and all(p in small.get_vocab() for p in pieces)
    assert small.tokenize("zebra") == [small.unk_token]
    assert json.loads((Path(folder) / "config.json").read_text())["vocab_size"] == len(small)


def test_the_reserve_adds_frequent_pieces_of_the_text_scripts_only(cache: Path) -> None:
    _, _, few, _ = _trimmed("minilm", ENGLISH, reserve=0)
    _, _, more, stats = _trimmed("minilm", ENGLISH, reserve=300)
    added = set(load_tokenizer(more).get_vocab()) - set(load_tokenizer(few).get_vocab())
    assert len(added) == 300 == stats["reserve"]
    assert "the" in load_tokenizer(few).get_vocab() and "zebra" not in added
    assert all(count_scripts([piece]).main in ("Latin", None) for piece in added)


def test_unknown_share_counts_unknown_tokens_among_all() -> None:
    tokenizer = load_tokenizer(resolve_backbone("minilm"))
    assert unknown_share(tokenizer, _encode(ENGLISH)(tokenizer, None)) == 0.0
    assert unknown_share(tokenizer, _encode(CHINESE)(tokenizer, None)) > 0.3

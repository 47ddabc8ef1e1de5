"""Plot functions write PNGs where asked and handle edge cases without crashing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from trainforge.evaluation import (
    plot_confusion_matrix,
    plot_learning_curves,
    plot_regression,
    plot_roc,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _png_size(path: Path) -> tuple[int, int]:
    """Width and height from the PNG IHDR chunk."""
    header = path.read_bytes()[:24]
    assert header.startswith(PNG_MAGIC)
    return int.from_bytes(header[16:20], "big"), int.from_bytes(header[20:24], "big")


def test_learning_curves_skip_missing_and_nan_values(tmp_path: Path) -> None:
    history = [
        {"epoch": 0, "train_loss": 1.0},
        {"epoch": 0, "val_loss": 0.9, "val_rmse": float("nan")},
        {"epoch": 1, "train_loss": 0.7, "val_loss": 0.6, "val_rmse": 2.5},
    ]
    target = tmp_path / "nested" / "dir" / "curves.png"
    assert plot_learning_curves(history, target) == target
    width, _ = _png_size(target)
    assert width > 900  # two panels: losses and val metrics


def test_learning_curves_empty_history_writes_nothing(tmp_path: Path) -> None:
    target = tmp_path / "curves.png"
    assert plot_learning_curves([], target) is None
    assert plot_learning_curves([{"epoch": 0}], target) is None
    assert not target.exists()


def test_confusion_matrix_grows_with_class_count(tmp_path: Path) -> None:
    small = plot_confusion_matrix([[3, 1], [0, 4]], ["a$b", "<b>&x"], tmp_path / "small.png")
    rng = np.random.default_rng(0)
    matrix = rng.integers(0, 5, size=(77, 77)) + np.eye(77, dtype=int) * 20
    labels = [f"intent_with_a_long_name_{i}" for i in range(77)]
    big = plot_confusion_matrix(matrix.tolist(), labels, tmp_path / "big.png")

    assert _png_size(big)[0] > 2 * _png_size(small)[0]


def test_confusion_matrix_handles_empty_rows_and_rejects_bad_shape(tmp_path: Path) -> None:
    path = plot_confusion_matrix([[2, 0, 0], [0, 1, 1], [0, 0, 0]], "abc", tmp_path / "cm.png")
    assert path.is_file()
    with pytest.raises(ValueError, match="must be 3×3"):
        plot_confusion_matrix([[1, 0], [0, 1]], "abc", tmp_path / "bad.png")


@pytest.mark.parametrize("k", [2, 5, 12])
def test_roc_binary_multiclass_and_many_classes(tmp_path: Path, k: int) -> None:
    rng = np.random.default_rng(k)
    y = np.arange(60) % k
    proba = rng.dirichlet(np.ones(k), size=60)
    path = plot_roc(y, proba, [f"c{i}" for i in range(k)], tmp_path / f"roc{k}.png")
    assert path is not None and path.read_bytes().startswith(PNG_MAGIC)


def test_roc_single_class_returns_none(tmp_path: Path) -> None:
    target = tmp_path / "roc.png"
    proba = np.array([[0.8, 0.2], [0.4, 0.6]])
    assert plot_roc(np.array([1, 1]), proba, ["a", "b"], target) is None
    assert not target.exists()


def test_regression_plot(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    y = rng.normal(size=500)
    path = plot_regression(y, y + rng.normal(scale=0.1, size=500), tmp_path / "reg.png")
    assert path.read_bytes().startswith(PNG_MAGIC)
    with pytest.raises(ValueError, match="same length"):
        plot_regression(y, y[:10], tmp_path / "bad.png")


def test_import_is_cheap_and_plotting_avoids_pyplot(tmp_path: Path) -> None:
    # Run in a fresh interpreter: other tests in the session may have imported these.
    code = (
        "import sys\n"
        "import trainforge.evaluation as ev\n"
        "heavy = [m for m in ('matplotlib', 'sklearn') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
        f"ev.plot_confusion_matrix([[1, 0], [0, 1]], ['a', 'b'], {str(tmp_path / 'cm.png')!r})\n"
        "assert 'matplotlib.pyplot' not in sys.modules\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr

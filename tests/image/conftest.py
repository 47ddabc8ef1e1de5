"""Small image data made on the fly, and a digits model trained once per session (seconds)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import trainforge
from trainforge.pipeline import Run

REPO = Path(__file__).resolve().parents[2]
MNIST = REPO / ".." / "shared" / "data" / "mnist_t10k"


def write_png(path: Path, array: np.ndarray) -> Path:
    """Save a uint8 array (h, w) or (h, w, c) as an image file (format from the suffix)."""
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)
    return path


def digit_images(
    n_per_class: int, classes: tuple[int, ...] = (0, 1, 2)
) -> list[tuple[int, np.ndarray]]:
    """(label, 8x8 uint8 image) pairs from scikit-learn's digits."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    pairs = []
    for label in classes:
        rows = np.flatnonzero(digits.target == label)[:n_per_class]
        pairs += [(label, np.rint(digits.images[r] * 255 / 16).astype(np.uint8)) for r in rows]
    return pairs


@pytest.fixture
def class_folder(tmp_path: Path) -> Path:
    """data/<label>/<i>.png for 3 digit classes, 12 images each."""
    root = tmp_path / "data"
    for i, (label, image) in enumerate(digit_images(12)):
        write_png(root / str(label) / f"{i}.png", image)
    return root


@pytest.fixture(scope="session")
def digits_run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """A small CNN on sklearn digits: 3 epochs, narrow layers."""
    config = {
        "task": "image_classification",
        "data": {"train": "sklearn:digits", "label_column": "target"},
        "model": {"type": "cnn", "channels": [16, 32]},
        "train": {"epochs": 3, "seed": 3},
    }
    return trainforge.train(
        config, output=tmp_path_factory.mktemp("digits") / "run", progress=False
    )


@pytest.fixture(scope="session")
def digits_package(digits_run: Run) -> Path:
    return Path(digits_run.package_dir)

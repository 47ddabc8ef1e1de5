"""Text regression: one number per text (review scores, ratings, readability, prices) from a
pretrained transformer with a one-output head; full, frozen, parameter-efficient or adapters."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from trainforge.errors import PackageError
from trainforge.tasks.family import LoadPackage, Prepared
from trainforge.tasks.model import Model
from trainforge.tasks.text import TextFamily


class TextRegressionFamily(TextFamily):
    """`text_regression`: the text family's backbones, ways to fit, package layout, loading,
    export, serving and plan, with a standardised number for a target instead of labels."""

    name = "text_regression"

    def prepare(self, cfg: Any, load_package: LoadPackage) -> Prepared:
        from trainforge.tasks.text_regression.prepare import prepare

        return prepare(cfg, load_package)

    def check_updatable(self, model: Model, model_dir: Path) -> None:
        raise PackageError(
            "text regression packages keep no replay memory and cannot be updated yet",
            where=str(model_dir),
            fix="Train a new model on the old and new rows together",
        )


FAMILY = TextRegressionFamily()

"""Inference on a model package: `trainforge.load(path).predict(rows)`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from trainforge.config import ExperimentConfig, load_config
from trainforge.data.readers import read_table
from trainforge.data.tabular import TabularPreprocessor
from trainforge.errors import DataError
from trainforge.package import ESTIMATOR, WEIGHTS, read_manifest
from trainforge.tasks import Target, target_from_state

Rows = pd.DataFrame | list[dict[str, Any]] | dict[str, Any] | str | Path


class Model:
    """A trained model: preprocessing, network or estimator, and output decoding together.

    Built by training (in memory) or by `load` (from a package); both predict the same way.

    Args:
        config: the resolved experiment config.
        preprocessor: the fitted input preprocessing.
        target: the fitted target handler (labels / scaling).
        network: a torch module (torch models) or None.
        estimator: a fitted scikit-learn estimator (classical models) or None.
        batch_size: rows per forward pass when predicting.
    """

    def __init__(
        self,
        config: ExperimentConfig,
        preprocessor: TabularPreprocessor,
        target: Target,
        network: Any = None,
        estimator: Any = None,
        batch_size: int = 1024,
    ) -> None:
        self.config = config
        self.preprocessor = preprocessor
        self.target = target
        self.network = network
        self.estimator = estimator
        self.batch_size = batch_size

    @property
    def labels(self) -> list[str] | None:
        labels = self.target.display_labels()
        return list(labels) if labels is not None else None

    def predict(self, rows: Rows) -> list[dict[str, Any]]:
        """One dict per row: {"label", "score", "probabilities"} or {"value"} for regression.

        Example:
            >>> model.predict([{"sepal length (cm)": 5.1, ...}])[0]["label"]
            'setosa'
        """
        frame = as_frame(rows, self.config.data.encoding)
        return self.target.decode(self.output(frame))

    def output(self, frame: pd.DataFrame) -> np.ndarray:
        """Raw task output: class probabilities (n, k), or standardised values (n,)."""
        features = self.preprocessor.transform(frame)
        if self.estimator is not None:
            if self.target.kind == "classification":
                return np.asarray(self.estimator.predict_proba(features), dtype=np.float64)
            return np.asarray(self.estimator.predict(features), dtype=np.float64)
        import torch

        self.network.eval()
        device = next(self.network.parameters()).device
        outputs = []
        with torch.inference_mode():
            for start in range(0, len(features), self.batch_size):
                batch = torch.from_numpy(features[start : start + self.batch_size]).to(device)
                outputs.append(self.target.probabilities(self.network(features=batch)).cpu())
        if not outputs:
            return np.zeros((0, len(self.labels or [])) if self.labels else (0,))
        return torch.cat(outputs).double().numpy()

    def evaluate(self, rows: Rows) -> dict[str, Any]:
        """Metrics on labelled rows (the label column must be present)."""
        frame = as_frame(rows, self.config.data.encoding)
        column = self.config.data.label_column
        if column not in frame.columns:
            raise DataError(
                f"label column {column!r} not found; evaluation needs labelled rows",
                where=str(frame.attrs.get("source", "input")),
                fix=f"Add the {column!r} column, or use `trainforge predict` for unlabelled data",
            )
        return self.target.metrics(self.target.encode(frame), self.output(frame))


def as_frame(rows: Rows, encoding: str = "utf-8") -> pd.DataFrame:
    """Accept a DataFrame, records, one record, or a file path / "sklearn:NAME"."""
    if isinstance(rows, pd.DataFrame):
        frame = rows
    elif isinstance(rows, (str, Path)):
        frame = read_table(str(rows), encoding=encoding)
    elif isinstance(rows, dict):
        frame = pd.DataFrame([rows])
    elif isinstance(rows, list) and all(isinstance(r, dict) for r in rows):
        frame = pd.DataFrame.from_records(rows)
    else:
        raise DataError(
            f"cannot predict on a {type(rows).__name__}",
            where="predict(rows)",
            fix="Pass a DataFrame, a list of dicts (one per row), or a file path",
        )
    if frame.empty:
        raise DataError(
            "no rows to predict on",
            where=str(frame.attrs.get("source", "input")),
            fix="Pass at least one row",
        )
    frame.attrs.setdefault("source", "input")
    return frame


def load(path: str | Path) -> Model:
    """Load a model package written by `trainforge train`.

    Args:
        path: the package folder (RUN_DIR/model).

    Example:
        >>> model = trainforge.load("runs/iris/model")
    """
    path = Path(path)
    manifest = read_manifest(path)
    config = load_config(path / "config.yaml")
    preprocessor = TabularPreprocessor.from_state(
        json.loads((path / "preprocessor.json").read_text(encoding="utf-8"))
    )
    target = target_from_state(manifest["target"])
    if (path / ESTIMATOR).is_file():
        from trainforge.models.classical import load_estimator

        return Model(config, preprocessor, target, estimator=load_estimator(path / ESTIMATOR))
    from safetensors.torch import load_file

    from trainforge.models import build_network

    spec = manifest["network"]
    network = build_network(config.model, spec["in_features"], spec["out_features"])
    network.load_state_dict(load_file(path / WEIGHTS))
    network.eval()
    return Model(config, preprocessor, target, network=network)

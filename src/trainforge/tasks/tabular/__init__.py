"""Tabular classification and regression: a table's columns preprocessed into features, an MLP
(or a linear model) trained by the shared loop, or a scikit-learn estimator."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from trainforge.errors import PackageError
from trainforge.package import ESTIMATOR, WEIGHTS
from trainforge.tasks.family import PROBE_ROWS, InputKind, LoadPackage, Prepared, TaskFamily
from trainforge.tasks.model import Model


class TabularFamily(TaskFamily):
    """`tabular_classification` and `tabular_regression`."""

    name = "tabular"
    input_kind: InputKind = "tabular"

    def prepare(self, cfg: Any, load_package: LoadPackage) -> Prepared:
        from trainforge.tasks.tabular.prepare import prepare

        return prepare(cfg, load_package)

    def load(
        self, path: Path, cfg: Any, manifest: dict[str, Any], target: Any, onnx: bool | str = False
    ) -> Model:
        from trainforge.data.tabular import TabularPreprocessor

        preprocessor = TabularPreprocessor.from_state(
            json.loads((path / "preprocessor.json").read_text(encoding="utf-8"))
        )
        if onnx is not False:
            network = self.onnx_network(path, cfg, onnx)
            return Model(cfg, preprocessor, target, network=network)
        if (path / ESTIMATOR).is_file():
            from trainforge.models.classical import load_estimator

            return Model(cfg, preprocessor, target, estimator=load_estimator(path / ESTIMATOR))
        from safetensors.torch import load_file

        from trainforge.models import build_network

        spec = manifest["network"]
        network = build_network(cfg.model, spec["in_features"], spec["out_features"])
        network.load_state_dict(load_file(path / WEIGHTS))
        network.eval()
        return Model(cfg, preprocessor, target, network=network)

    def check_exportable(self, path: Path, cfg: Any) -> None:
        if (path / ESTIMATOR).is_file():
            raise PackageError(
                "ONNX export and --onnx are not supported for scikit-learn models (this package "
                f"holds {ESTIMATOR})",
                where=str(path),
                fix="Predict with PyTorch-free scikit-learn as is (drop --onnx), or train a "
                "torch model (model.type: mlp or linear) to export",
            )

    def sample_batches(self, model: Model, frame: Any) -> list[dict[str, Any]]:
        if frame is not None:
            return super().sample_batches(model, frame)
        # No data reachable: standardised features are ~N(0, 1).
        import numpy as np
        import torch

        width = len(model.inputs.feature_names_out_)
        features = torch.from_numpy(np.random.default_rng(0).normal(size=(33, width)))
        chunks = [features[:1], features[1:17], features[17:]]
        return [{"features": chunk.float()} for chunk in chunks]

    def input_schema(self, model: Model) -> dict[str, Any]:
        properties: dict[str, Any] = {
            c["name"]: {"type": ["number", "null"]} for c in model.inputs.numeric_
        }
        for column in model.inputs.categorical_:
            properties[column["name"]] = {
                "type": ["string", "number", "boolean", "null"],
                "examples": column["categories"][:20],
            }
        return {
            "type": "object",
            "properties": {c: properties[c] for c in model.inputs.columns_},
            "required": list(model.inputs.columns_),
        }

    def warmup_input(self, model: Model) -> Any:
        """A table row of the training fill values."""
        row: dict[str, Any] = {c["name"]: c["fill"] for c in model.inputs.numeric_}
        row.update({c["name"]: c["fill"] for c in model.inputs.categorical_})
        return row

    def plan_network(self, cfg: Any, notes: list[str]) -> tuple[Any, dict[str, Any], str]:
        import torch

        from trainforge.data.split import load_splits
        from trainforge.data.tabular import TabularPreprocessor
        from trainforge.models import build_network, is_classical
        from trainforge.tasks import make_target

        if is_classical(cfg.model):
            return None, {}, f"{cfg.model.type} (scikit-learn)"
        # Tabular files are read whole by training too; the one-hot columns size the network.
        splits = load_splits(cfg.data, stratify_labels=cfg.is_classification, seed=cfg.split_seed)
        target: Any = make_target(cfg)
        target = target.fit(splits.train)
        prep = TabularPreprocessor(
            cfg.data.feature_columns,
            cfg.data.label_column,
            cfg.data.missing,
            cfg.data.unknown_category,
        ).fit(splits.train)
        n_features = prep.transform(splits.train.head(1)).shape[1]
        network = build_network(cfg.model, n_features, target.n_outputs)
        probe = {"features": torch.randn(PROBE_ROWS, n_features)}
        return network, probe, f"{cfg.model.type} on {n_features} features"


FAMILY = TabularFamily()

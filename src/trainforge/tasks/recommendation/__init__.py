"""Recommendation: user and item embeddings (with a tower of hashed item features) trained on
interactions with a pairwise ranking loss; top-k items per user, popularity for unknown users."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from trainforge.errors import ConfigError, PackageError
from trainforge.tasks.family import InputKind, LoadPackage, Prepared, TaskFamily
from trainforge.tasks.model import Model


class RecommendationFamily(TaskFamily):
    """`recommendation`."""

    name = "recommendation"
    input_kind: InputKind = "recommendation"

    def prepare(self, cfg: Any, load_package: LoadPackage) -> Prepared:
        from trainforge.tasks.recommendation.prepare import prepare

        return prepare(cfg, load_package)

    def load(
        self, path: Path, cfg: Any, manifest: dict[str, Any], target: Any, onnx: bool | str = False
    ) -> Model:
        if onnx is not False:
            raise PackageError(
                "recommender packages run with PyTorch only",
                where=str(path),
                fix="Drop --onnx",
            )
        from trainforge.models.recommender_package import load_recommender
        from trainforge.tasks.recommendation.model import RecommenderModel

        catalog, recommender = load_recommender(path, manifest)
        return RecommenderModel(cfg, catalog, target, network=recommender)

    def check_exportable(self, path: Path, cfg: Any) -> None:
        raise PackageError(
            "ONNX export and --onnx are not supported for recommenders yet",
            where=str(path),
            fix="Predict and serve with PyTorch (drop --onnx): a request is one matrix product",
        )

    def input_schema(self, model: Model) -> dict[str, Any]:
        from trainforge.tasks.recommendation.model import MAX_K

        return {
            "type": "object",
            "properties": {
                "user": {"type": ["string", "number"], "description": "a user id"},
                "k": {"type": "integer", "minimum": 1, "maximum": MAX_K, "default": 10},
            },
            "required": ["user"],
        }

    def warmup_input(self, model: Model) -> Any:
        return {"user": model.catalog.user_ids[0]}  # type: ignore[attr-defined]

    def plan_network(self, cfg: Any, notes: list[str]) -> tuple[Any, dict[str, Any], str]:
        raise ConfigError(
            "trainforge plan does not cover task 'recommendation' yet",
            where="task",
            fix="Train it directly: its memory grows with users × embedding_dim, and "
            "`metrics.json` records peak_rss_mb",
        )


FAMILY = RecommendationFamily()

"""Target handlers (labels, head size, loss, metrics, outputs), shared by the task families."""

from __future__ import annotations

from typing import Any

from trainforge.config import ExperimentConfig
from trainforge.tasks.classification import ClassificationTarget
from trainforge.tasks.multilabel import MultiLabelTarget
from trainforge.tasks.regression import RegressionTarget
from trainforge.tasks.tagging import TaggingTarget

Target = ClassificationTarget | RegressionTarget | MultiLabelTarget | TaggingTarget


def make_target(config: ExperimentConfig) -> Target:
    """The (unfitted) target handler for the config's task."""
    if config.data.multi_label:
        return MultiLabelTarget(
            config.data.label_column, config.data.label_delimiter, config.train.class_weight
        )
    if config.is_classification:
        return ClassificationTarget(
            config.data.label_column,
            loss=config.loss,
            class_weight=config.train.class_weight,
            label_smoothing=config.train.label_smoothing,
            abstain_precision=config.model.abstain.precision,
            threshold=config.model.abstain.threshold,
        )
    return RegressionTarget(config.data.label_column, loss=config.loss)


def target_from_state(state: dict[str, Any]) -> Target:
    """Rebuild a fitted target from its saved state."""
    kinds: dict[str, Any] = {
        "classification": ClassificationTarget,
        "regression": RegressionTarget,
        "multilabel": MultiLabelTarget,
        "token_classification": TaggingTarget,
    }
    if state["kind"] == "generation":
        from trainforge.tasks.generation.target import GenerationTarget

        return GenerationTarget.from_state(state)  # type: ignore[return-value]
    if state["kind"] == "recommendation":
        from trainforge.tasks.ranking import RankingTarget

        return RankingTarget.from_state(state)  # type: ignore[return-value]
    return kinds[state["kind"]].from_state(state)

"""The task registry: one `TaskSpec` per task, all that the config layer knows about it.

Adding a task is one line in `TASKS` (plus its hooks, if it needs any); the task's training
code lives in its family module, named by `TaskSpec.family`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from trainforge.config.generation import (
    GENERATION_FAMILY,
    GENERATION_METRICS,
    GENERATION_MODELS,
    check_generation_settings,
    generation_defaults,
)
from trainforge.config.image import (
    IMAGE_FAMILY,
    IMAGE_MODELS,
    check_image_settings,
    image_defaults,
)
from trainforge.config.recommendation import (
    RECOMMENDATION_FAMILY,
    RECOMMENDER_MODELS,
    check_recommendation_settings,
    recommendation_defaults,
)
from trainforge.config.tabular import TABULAR_MODELS
from trainforge.config.text import TEXT_MODELS, check_text_settings, text_defaults
from trainforge.errors import did_you_mean, format_choices

if TYPE_CHECKING:
    from trainforge.config.experiment import ExperimentConfig

# Metrics logged every epoch, by what the task predicts.
CLASSIFICATION_METRICS = ("val_loss", "val_accuracy", "val_f1_macro", "train_loss")
REGRESSION_METRICS = ("val_loss", "val_rmse", "val_mae", "val_r2", "train_loss")
TAGGING_METRICS = (
    "val_loss",
    "val_f1",
    "val_precision",
    "val_recall",
    "val_accuracy",
    "train_loss",
)
RANKING_METRICS = ("val_loss", "val_pair_accuracy", "train_loss")


@dataclass(frozen=True)
class TaskSpec:
    """What the config layer knows about one task; the rest of the family lives in `family`.

    Args:
        name: the `task:` value, e.g. "text_classification".
        family: dotted module holding the family's training code, e.g. "trainforge.tasks.text".
        target: what the task predicts.
        model_types: the `model.type` values that fit, the default first.
        metrics: metrics logged every epoch, which early stopping and tuning can watch.
        defaults: fills task defaults into the raw config (before validation), given the spec.
        check: raises ValueError for settings that do not fit; called with every validated
            config, whatever its task, so that a family also refuses its keys on other tasks.
        pooling: a pooling the task fixes, else None (`model.pooling` decides).
        text: the task reads text through a tokenizer.
    """

    name: str
    family: str
    target: Literal["classification", "regression", "tagging", "ranking", "generation"]
    model_types: tuple[str, ...]
    metrics: tuple[str, ...]
    defaults: Callable[[dict[str, Any], TaskSpec], dict[str, Any]] | None = None
    check: Callable[[ExperimentConfig], None] | None = None
    pooling: str | None = None
    text: bool = False

    @property
    def classification(self) -> bool:
        """Whether the task predicts classes (one per row, or one per word)."""
        return self.target in ("classification", "tagging")


TASKS: dict[str, TaskSpec] = {
    spec.name: spec
    for spec in (
        TaskSpec(
            name="tabular_classification",
            family="trainforge.tasks.tabular",
            target="classification",
            model_types=TABULAR_MODELS,
            metrics=CLASSIFICATION_METRICS,
        ),
        TaskSpec(
            name="tabular_regression",
            family="trainforge.tasks.tabular",
            target="regression",
            model_types=TABULAR_MODELS,
            metrics=REGRESSION_METRICS,
        ),
        TaskSpec(
            name="text_classification",
            family="trainforge.tasks.text",
            target="classification",
            model_types=TEXT_MODELS,
            metrics=CLASSIFICATION_METRICS,
            defaults=text_defaults,
            check=check_text_settings,
            text=True,
        ),
        # Pooling fixed: the tags come from the backbone's own token-classification head.
        TaskSpec(
            name="token_classification",
            family="trainforge.tasks.token",
            target="tagging",
            model_types=TEXT_MODELS,
            metrics=TAGGING_METRICS,
            defaults=text_defaults,
            check=check_text_settings,
            pooling="cls",
            text=True,
        ),
        TaskSpec(
            name="image_classification",
            family=IMAGE_FAMILY,
            target="classification",
            model_types=IMAGE_MODELS,
            metrics=CLASSIFICATION_METRICS,
            defaults=image_defaults,
            check=check_image_settings,
        ),
        TaskSpec(
            name="recommendation",
            family=RECOMMENDATION_FAMILY,
            target="ranking",
            model_types=RECOMMENDER_MODELS,
            metrics=RANKING_METRICS,
            defaults=recommendation_defaults,
            check=check_recommendation_settings,
        ),
        TaskSpec(
            name="text_regression",
            family="trainforge.tasks.text_regression",
            target="regression",
            model_types=TEXT_MODELS,
            metrics=REGRESSION_METRICS,
            defaults=text_defaults,
            check=check_text_settings,
            text=True,
        ),
        TaskSpec(
            name="text_generation",
            family=GENERATION_FAMILY,
            target="generation",
            model_types=GENERATION_MODELS,
            metrics=GENERATION_METRICS,
            defaults=generation_defaults,
            check=check_generation_settings,
        ),
    )
}

# For code that still asks by set; derived, so they follow TASKS.
CLASSIFICATION_TASKS = frozenset(name for name, spec in TASKS.items() if spec.classification)
TEXT_TASKS = frozenset(name for name, spec in TASKS.items() if spec.text)
IMAGE_TASKS = frozenset(name for name, spec in TASKS.items() if spec.family == IMAGE_FAMILY)
RECOMMENDATION_TASKS = frozenset(
    name for name, spec in TASKS.items() if spec.family == RECOMMENDATION_FAMILY
)


def task_spec(task: str) -> TaskSpec:
    """The spec of a task, by its `task:` value.

    Example:
        >>> task_spec("token_classification").pooling
        'cls'
    """
    spec = TASKS.get(task)
    if spec is None:
        raise ValueError(
            f"task {task!r} is not a task here; use one of {format_choices(list(TASKS))}."
            f"{did_you_mean(task, list(TASKS))}"
        )
    return spec


def family_checks() -> list[Callable[[ExperimentConfig], None]]:
    """Every family's check, each once, in the order of the family names.

    Not in TASKS order (that is the schema's enum): a config with problems in several families
    is told first about the one it was told about before the registry (image, recommendation,
    then text settings), and a task's place in TASKS does not change that.
    """
    families = sorted(TASKS.values(), key=lambda spec: spec.family)
    return list(dict.fromkeys(spec.check for spec in families if spec.check is not None))


def model_types(task: str) -> list[str]:
    """The `model.type` values that fit a task."""
    return list(task_spec(task).model_types)


def monitorable_metrics(task: str) -> list[str]:
    """Metrics logged every epoch, which early stopping and tuning can watch."""
    return list(task_spec(task).metrics)

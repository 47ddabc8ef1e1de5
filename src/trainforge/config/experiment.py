"""The whole experiment config: its sections, the task's defaults, and checks across sections."""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, ValidationError, model_validator

from trainforge.config.continual import ContinualConfig
from trainforge.config.data import DataConfig
from trainforge.config.generation import GenerationConfig
from trainforge.config.keys import key_error, set_key
from trainforge.config.model import ModelConfig
from trainforge.config.section import Section
from trainforge.config.tabular import SKLEARN_MODELS
from trainforge.config.tasks import (
    TASKS,
    TaskSpec,
    family_checks,
    task_spec,
)
from trainforge.config.text import SENTENCE_METHODS
from trainforge.config.track import TrackConfig
from trainforge.config.train import TrainConfig
from trainforge.config.tune import TuneConfig
from trainforge.errors import did_you_mean, format_choices

if TYPE_CHECKING:
    Task = str
else:
    # Built from the registry, so that a new task is one line in TASKS; also the schema's enum.
    Task = Literal[tuple(TASKS)]


class ExperimentConfig(Section):
    """A whole experiment: task, data, model and training."""

    task: Task
    name: str | None = Field(
        default=None, description="Run name; the config file's stem by default."
    )
    data: DataConfig
    model: ModelConfig = ModelConfig()
    train: TrainConfig = TrainConfig()
    track: TrackConfig = TrackConfig()
    continual: ContinualConfig = ContinualConfig()
    generation: GenerationConfig = Field(
        default=GenerationConfig(),
        description="text_generation: how answers are decoded (test split, predict).",
    )
    tune: TuneConfig | None = Field(
        default=None, description="Hyper-parameter search space and settings (trainforge tune)."
    )

    @property
    def spec(self) -> TaskSpec:
        """What the task registry says about this config's task."""
        return task_spec(self.task)

    @property
    def is_classification(self) -> bool:
        return self.spec.classification

    @property
    def loss(self) -> str:
        if self.train.loss != "auto":
            return self.train.loss
        return "cross_entropy" if self.is_classification else "mse"

    @model_validator(mode="before")
    @classmethod
    def _task_defaults(cls, raw: Any) -> Any:
        """Defaults that differ by task, filled in only where the user gave no value."""
        if not isinstance(raw, dict) or raw.get("task") not in TASKS:
            return raw
        spec = TASKS[raw["task"]]
        return raw if spec.defaults is None else spec.defaults(raw, spec)

    @property
    def split_seed(self) -> int:
        """The seed that carves validation/test from train and samples `data.shots`."""
        seed = self.data.split.seed
        return self.train.seed if seed is None else seed

    @property
    def pooling(self) -> str:
        if self.spec.pooling is not None:
            return self.spec.pooling
        if self.model.pooling != "auto":
            return self.model.pooling
        return "mean" if self.model.finetune in SENTENCE_METHODS else "cls"

    @model_validator(mode="after")
    def _consistent(self) -> ExperimentConfig:
        classification_losses = {"cross_entropy", "bce"}
        if self.train.loss != "auto" and (self.loss in classification_losses) != (
            self.is_classification
        ):
            allowed = classification_losses if self.is_classification else {"mse", "mae", "huber"}
            raise ValueError(
                f"train.loss {self.train.loss!r} does not fit task {self.task!r}; "
                f"use one of {format_choices(sorted(allowed))} or 'auto'"
            )
        fitting = list(self.spec.model_types)
        if self.model.type not in fitting:
            raise ValueError(
                f"model.type {self.model.type!r} does not fit task {self.task!r}; use one of "
                f"{format_choices(fitting)}"
            )
        for check in family_checks():
            check(self)
        transformer = self.spec.text or self.spec.target == "generation"
        if self.train.gradient_checkpointing and not transformer:
            raise ValueError(
                "train.gradient_checkpointing applies to pretrained transformers (text tasks "
                f"and text_generation); remove it from task {self.task!r}"
            )
        if self.model.type == "logistic_regression" and not self.is_classification:
            raise ValueError(
                "model.type 'logistic_regression' is a classifier; for task "
                f"{self.task!r} use 'linear', 'mlp', 'random_forest' or 'hist_gradient_boosting'"
            )
        if self.tune is not None:
            self._check_search()
        if self.train.early_stopping is not None:
            metrics = list(self.spec.metrics)
            monitor = self.train.early_stopping.monitor
            if monitor not in metrics:
                raise ValueError(
                    f"train.early_stopping.monitor {monitor!r} is not a logged metric; "
                    f"use one of {format_choices(metrics)}.{did_you_mean(monitor, metrics)}"
                )
        return self

    @property
    def tune_metric(self) -> str:
        """The metric a search optimises: `tune.metric`, else the early-stopping monitor."""
        if self.tune is not None and self.tune.metric is not None:
            return self.tune.metric
        stopping = self.train.early_stopping
        return stopping.monitor if stopping is not None else "val_loss"

    def _check_search(self) -> None:
        assert self.tune is not None
        metrics = [m for m in self.spec.metrics if m.startswith("val_")]
        if self.tune_metric not in metrics:
            raise ValueError(
                f"tune.metric {self.tune_metric!r} is not a validation metric of task "
                f"{self.task!r}; use one of {format_choices(metrics)}."
                f"{did_you_mean(self.tune_metric, metrics)}"
            )
        if self.model.type in SKLEARN_MODELS and self.tune_metric == "val_loss":
            raise ValueError(
                f"tune.metric 'val_loss' is logged per epoch by neural models only; for "
                f"model.type {self.model.type!r} use one of "
                f"{format_choices([m for m in metrics if m != 'val_loss'])}"
            )
        base = self.model_dump(mode="json", exclude={"tune"})
        for key, param in self.tune.space.items():
            problem = key_error(key, ExperimentConfig)
            if problem is not None:
                raise ValueError(f"tune.space: {problem}")
            for value in param.extremes():
                _check_value(base, key, value)


def _check_value(base: dict[str, Any], key: str, value: Any) -> None:
    """Raise when setting `key` to `value` (a bound of its search range) breaks the config."""
    raw = copy.deepcopy(base)
    set_key(raw, key, value)
    try:
        ExperimentConfig.model_validate(raw)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(p) for p in error["loc"])
        reason = error["msg"].removeprefix("Value error, ")
        raise ValueError(
            f"tune.space.{key}: the value {value!r} makes the config invalid "
            f"({where + ': ' if where else ''}{reason}); narrow the range or the choices"
        ) from None

"""The experiment config: its sections, the task registry, and how a YAML file becomes one.

Validated once, here, at the boundary; everything downstream receives frozen, typed objects.
`experiment.py` holds the whole config, one module each its sections (`data.py`, `model.py`,
`train.py`, ...), `tasks.py` the registry of tasks, and `loading.py` the reading of YAML.
"""

from trainforge.config.continual import ContinualConfig
from trainforge.config.data import AugmentConfig, DataConfig, SplitConfig
from trainforge.config.experiment import ExperimentConfig
from trainforge.config.generation import GenerationConfig
from trainforge.config.keys import set_key
from trainforge.config.loading import config_to_yaml, json_schema, load_config, load_raw
from trainforge.config.model import (
    AbstainConfig,
    AdapterConfig,
    DPOConfig,
    ModelConfig,
    PeftConfig,
    label_words,
)
from trainforge.config.tabular import SKLEARN_MODELS
from trainforge.config.tasks import (
    CLASSIFICATION_TASKS,
    IMAGE_TASKS,
    RECOMMENDATION_TASKS,
    TASKS,
    TEXT_TASKS,
    TaskSpec,
    model_types,
    monitorable_metrics,
    task_spec,
)
from trainforge.config.track import MlflowConfig, TrackConfig
from trainforge.config.train import EarlyStoppingConfig, TrainConfig
from trainforge.config.tune import SearchParam, TuneConfig

__all__ = [
    "CLASSIFICATION_TASKS",
    "IMAGE_TASKS",
    "RECOMMENDATION_TASKS",
    "SKLEARN_MODELS",
    "TASKS",
    "TEXT_TASKS",
    "AbstainConfig",
    "AdapterConfig",
    "AugmentConfig",
    "ContinualConfig",
    "DPOConfig",
    "DataConfig",
    "EarlyStoppingConfig",
    "ExperimentConfig",
    "GenerationConfig",
    "MlflowConfig",
    "ModelConfig",
    "PeftConfig",
    "SearchParam",
    "SplitConfig",
    "TaskSpec",
    "TrackConfig",
    "TrainConfig",
    "TuneConfig",
    "config_to_yaml",
    "json_schema",
    "label_words",
    "load_config",
    "load_raw",
    "model_types",
    "monitorable_metrics",
    "set_key",
    "task_spec",
]

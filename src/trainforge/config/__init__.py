"""The experiment config: the schema (`schema.py`) and how a YAML file becomes one (`loading.py`).

Validated once, here, at the boundary; everything downstream receives frozen, typed objects.
"""

from trainforge.config.loading import config_to_yaml, json_schema, load_config
from trainforge.config.schema import (
    CLASSIFICATION_TASKS,
    SKLEARN_MODELS,
    TEXT_TASKS,
    AdapterConfig,
    AugmentConfig,
    DataConfig,
    EarlyStoppingConfig,
    ExperimentConfig,
    ModelConfig,
    PeftConfig,
    SplitConfig,
    TrainConfig,
    monitorable_metrics,
)

__all__ = [
    "CLASSIFICATION_TASKS",
    "SKLEARN_MODELS",
    "TEXT_TASKS",
    "AdapterConfig",
    "AugmentConfig",
    "DataConfig",
    "EarlyStoppingConfig",
    "ExperimentConfig",
    "ModelConfig",
    "PeftConfig",
    "SplitConfig",
    "TrainConfig",
    "config_to_yaml",
    "json_schema",
    "load_config",
    "monitorable_metrics",
]

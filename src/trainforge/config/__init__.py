"""The experiment config: the schema (`schema.py`) and how a YAML file becomes one (`loading.py`).

Validated once, here, at the boundary; everything downstream receives frozen, typed objects.
"""

from trainforge.config.continual import ContinualConfig
from trainforge.config.loading import config_to_yaml, json_schema, load_config, load_raw, set_key
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
from trainforge.config.track import MlflowConfig, TrackConfig
from trainforge.config.tune import SearchParam, TuneConfig

__all__ = [
    "CLASSIFICATION_TASKS",
    "SKLEARN_MODELS",
    "TEXT_TASKS",
    "AdapterConfig",
    "AugmentConfig",
    "ContinualConfig",
    "DataConfig",
    "EarlyStoppingConfig",
    "ExperimentConfig",
    "MlflowConfig",
    "ModelConfig",
    "PeftConfig",
    "SearchParam",
    "SplitConfig",
    "TrackConfig",
    "TrainConfig",
    "TuneConfig",
    "config_to_yaml",
    "json_schema",
    "load_config",
    "load_raw",
    "monitorable_metrics",
    "set_key",
]

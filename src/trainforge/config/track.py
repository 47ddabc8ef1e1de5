"""The `track:` section: where a run's parameters, curves, metrics and package are recorded.

Lightning's CSV logger always writes RUN_DIR/logs; TensorBoard and MLflow are opt-in.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator


class MlflowConfig(BaseModel):
    """An MLflow run per training run: params, per-epoch metrics, final metrics, artifacts."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tracking_uri: str | None = Field(
        default=None,
        description="MLflow tracking URI (sqlite:///mlruns.db, http://host:5000, ...); default "
        "a SQLite file mlruns.db in the folder that holds the run folder.",
    )
    experiment: str | None = Field(
        default=None, description="MLflow experiment; default the run name."
    )
    registered_model: str | None = Field(
        default=None,
        min_length=1,
        description="Register the model package in the MLflow model registry under this name.",
    )


class TrackConfig(BaseModel):
    """Experiment tracking beyond the CSV log every run keeps."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tensorboard: bool = Field(
        default=False, description="Also log to TensorBoard (RUN_DIR/tensorboard)."
    )
    mlflow: MlflowConfig | None = Field(
        default=None, description="Log to MLflow; `mlflow: true` takes every default."
    )

    @field_validator("mlflow", mode="before")
    @classmethod
    def _switch(cls, value: Any) -> Any:
        if value is True:
            return {}
        return None if value is False else value

"""The `continual:` section: what a package keeps so that it can be updated later, and the
settings of the update strategies (`trainforge update`)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class ContinualConfig(BaseModel):
    """What a package keeps so that it can later be updated without forgetting."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    replay_size: int = Field(
        default=1000,
        ge=0,
        description="Training rows kept in the package (class-balanced) to replay in updates.",
    )
    replay_bytes: int = Field(
        default=5_000_000, ge=0, description="Upper bound on the size of the kept rows."
    )
    heldout_size: int = Field(
        default=1000,
        ge=0,
        description="Held-out rows kept in the package, to measure forgetting after an update.",
    )
    ewc_lambda: float = Field(
        default=1000.0, gt=0.0, description="Update strategy ewc: strength of the penalty."
    )
    lwf_alpha: float = Field(
        default=1.0, gt=0.0, description="Update strategy lwf: weight of the distillation loss."
    )
    lwf_temperature: float = Field(
        default=2.0, gt=0.0, description="Update strategy lwf: softmax temperature."
    )

"""The `tune:` section: what a hyper-parameter search optimises, how, and over which space."""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

# Optuna stores categorical choices as these types only; others travel as JSON strings.
_PLAIN_CHOICE = (type(None), bool, int, float, str)


class SearchParam(BaseModel):
    """One dimension of the search space, named by the dotted config key it sets."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["float", "int", "categorical"]
    low: float | None = Field(default=None, description="float/int: smallest value.")
    high: float | None = Field(default=None, description="float/int: largest value.")
    log: bool = Field(default=False, description="float/int: sample on a log scale.")
    step: float | None = Field(
        default=None, gt=0.0, description="float/int: spacing of the values (int default 1)."
    )
    choices: list[Any] | None = Field(default=None, description="categorical: the values.")

    @model_validator(mode="after")
    def _coherent(self) -> SearchParam:
        if self.type == "categorical":
            if not self.choices:
                raise ValueError("type 'categorical' needs a non-empty list of 'choices'")
            if self.low is not None or self.high is not None or self.log:
                raise ValueError(
                    "type 'categorical' takes 'choices' only; 'low', 'high' and 'log' are for "
                    "float and int"
                )
            return self
        if self.choices is not None:
            raise ValueError(f"type {self.type!r} takes 'low' and 'high', not 'choices'")
        if self.low is None or self.high is None:
            raise ValueError(f"type {self.type!r} needs both 'low' and 'high'")
        if self.low > self.high:
            raise ValueError(f"'low' ({self.low:g}) must not be above 'high' ({self.high:g})")
        if self.log and self.low <= 0:
            raise ValueError(f"'log: true' needs 'low' above 0, got {self.low:g}")
        if self.log and self.step is not None:
            raise ValueError("'log' and 'step' cannot be combined; drop one")
        if self.type == "int":
            bounds = [self.low, self.high, *([self.step] if self.step is not None else [])]
            if any(value != int(value) for value in bounds):
                raise ValueError("type 'int' needs whole numbers for 'low', 'high' and 'step'")
        return self

    @property
    def plain_choices(self) -> bool:
        """Whether Optuna can store the choices as they are (else they go as JSON strings)."""
        return all(isinstance(c, _PLAIN_CHOICE) for c in self.choices or [])

    def extremes(self) -> list[Any]:
        """The values that bound this dimension, to check the config accepts them."""
        if self.type == "categorical":
            return list(self.choices or [])
        assert self.low is not None and self.high is not None  # checked in _coherent
        cast = int if self.type == "int" else float
        return [cast(self.low), cast(self.high)]

    def suggest(self, trial: Any, key: str) -> Any:
        """Draw this dimension's value for an Optuna trial."""
        if self.type != "categorical":
            low, high = self.extremes()
            if self.type == "float":
                return trial.suggest_float(key, low, high, step=self.step, log=self.log)
            step = int(self.step) if self.step is not None else 1
            return trial.suggest_int(key, low, high, step=step, log=self.log)
        if self.plain_choices:
            return trial.suggest_categorical(key, self.choices)
        encoded = [json.dumps(choice) for choice in self.choices or []]
        return json.loads(trial.suggest_categorical(key, encoded))

    def contains(self, value: Any) -> bool:
        """Whether `value` is one this dimension can draw."""
        if self.type == "categorical":
            return value in (self.choices or [])
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        low, high = self.extremes()
        return bool(low <= value <= high) and (self.type == "float" or value == int(value))

    def encode(self, value: Any) -> Any:
        """A config value as Optuna stores it (the inverse of `decode`)."""
        if self.type == "categorical" and not self.plain_choices:
            return json.dumps(value)
        return value

    def decode(self, stored: Any) -> Any:
        """A value as Optuna stored it (trial.params) back to the config value."""
        if self.type == "categorical" and not self.plain_choices:
            return json.loads(stored)
        return stored


class TuneConfig(BaseModel):
    """A hyper-parameter search (`trainforge tune`): objective, sampler, pruner, space."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    metric: str | None = Field(
        default=None,
        description="Validation metric to optimise; default the early-stopping monitor.",
    )
    direction: Literal["auto", "maximize", "minimize"] = Field(
        default="auto", description="'auto': minimize losses and errors, maximize scores."
    )
    sampler: Literal["tpe", "random", "gp"] = Field(
        default="tpe", description="Optuna sampler: tpe, random, or gp (Gaussian process)."
    )
    pruner: Literal["median", "hyperband", "successive_halving", "none"] = Field(
        default="median", description="Stops unpromising trials after an epoch."
    )
    startup_trials: int = Field(
        default=5,
        ge=0,
        description="Trials sampled at random, and never pruned, before the sampler and pruner "
        "learn from earlier ones.",
    )
    warmup_epochs: int = Field(
        default=1, ge=0, description="Epochs of each trial that are never pruned."
    )
    seed: int | None = Field(default=None, description="Sampler seed; default train.seed.")
    baseline: bool = Field(
        default=True,
        description="Trial 0 of a new study runs the config's own values (those inside the "
        "space), so the search never ends below the config it started from.",
    )
    space: dict[str, SearchParam] = Field(
        min_length=1,
        description="Dotted config key → dimension, e.g. "
        "{train.lr: {type: float, low: 1.0e-5, high: 1.0e-3, log: true}}.",
    )

    def resolved_direction(self, metric: str) -> Literal["maximize", "minimize"]:
        if self.direction != "auto":
            return self.direction
        lower_is_better = ("loss", "rmse", "mse", "mae")
        return "minimize" if metric.endswith(lower_is_better) else "maximize"

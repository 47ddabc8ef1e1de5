"""Request and response bodies. Anything else is refused with a 422 naming the field."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

# One table cell. A union, not `Any`: objects or lists inside a row are refused up front.
Cell = str | int | float | bool | None
# One input: a text (text and token tasks), a list of words (token tasks), or a table row
# (tabular tasks; text tasks with their text column(s) as keys).
Input = str | list[str] | dict[str, Cell]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PredictRequest(_Body):
    """Inputs to predict, in the order the predictions come back."""

    inputs: list[Input] = Field(
        min_length=1,
        description="Texts (text tasks), texts or word lists (token classification), or "
        "objects with one key per feature column (tabular tasks). GET /v1/metadata gives the "
        "schema of one input for the model being served.",
        examples=[["a gripping, funny film"], [{"age": 41, "colour": "red"}]],
    )


class PredictResponse(BaseModel):
    """One prediction per input, as `trainforge predict` writes them."""

    predictions: list[dict[str, Any]] = Field(
        description='{"label", "score", "probabilities"} (classification), {"labels", '
        '"probabilities"} (multi-label), {"value"} (regression), or entity spans and tags '
        "(token classification)."
    )
    model_version: str = Field(description="The version that computed these predictions.")


class Health(BaseModel):
    """The process is up and answering."""

    status: Literal["ok"] = "ok"


class Ready(BaseModel):
    """A model is loaded and warmed up."""

    status: Literal["ready"] = "ready"
    model_version: str


class Limits(BaseModel):
    """The limits requests must stay within, and how batching is set."""

    max_inputs: int
    max_text_length: int
    max_body_bytes: int
    request_timeout_s: float
    max_batch_size: int
    max_wait_ms: float


class Metadata(BaseModel):
    """What the served model is, what it expects and how well it did in its run."""

    model_version: str
    task: str
    name: str | None = None
    model_type: str | None = None
    labels: list[str] | None = Field(default=None, description="Classes; null for regression.")
    input_schema: dict[str, Any] = Field(description="JSON schema of one element of `inputs`.")
    metrics: dict[str, Any] = Field(description="The package's metrics.json.")
    created: str | None = None
    format_version: int | None = None
    versions: dict[str, str] = Field(default_factory=dict, description="Library versions.")
    runtime: Literal["torch", "onnx"]
    limits: Limits


class ReloadRequest(_Body):
    """Which package to switch to."""

    path: str | None = Field(
        default=None,
        description="A package, or a folder of versions with a `current` pointer; relative to "
        "MODEL_DIR. Absent: MODEL_DIR again (follows its `current` pointer).",
        examples=["v2"],
    )


class ReloadResponse(BaseModel):
    """The version now served."""

    model_version: str
    previous_version: str | None
    path: str
    changed: bool = Field(description="False when that package was already being served.")


class Error(BaseModel):
    """An error: a message, or (422) a list of {loc, msg, type} naming the fields."""

    detail: str | list[dict[str, Any]]


class Recommendation(BaseModel):
    """The top-k items for one user, best first (GET /v1/recommend)."""

    user: str
    known_user: bool = Field(description="False: the user is unknown to the model.")
    fallback: Literal["popularity"] | None = Field(
        description='"popularity" when the items are the most popular ones (unknown user).'
    )
    items: list[dict[str, Any]] = Field(
        description='{"item", "score", ...the item\'s fields from the item file}, best first.'
    )
    model_version: str = Field(description="The version that computed these recommendations.")

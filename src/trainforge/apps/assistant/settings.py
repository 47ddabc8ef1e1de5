"""Every option of `trainforge assistant`, validated once and handed to the app."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from trainforge.apps.assistant.retrieval import AUTO
from trainforge.serving.settings import api_key_from_env


class AssistantSettings(BaseModel):
    """Options of the assistant service (defaults are what `trainforge assistant` uses).

    Example:
        >>> AssistantSettings(model_dir=Path("runs/intents/model"), faq=Path("faq.jsonl"))
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    model_dir: Path = Field(description="The intent model package (or a folder of versions).")
    faq: Path = Field(description="FAQ file: JSON lines {intent, answer, questions?}.")
    threshold: float | None = Field(
        default=None, ge=0.0, le=1.0, description="Abstention threshold (default: the package's)."
    )
    precision: float | None = Field(
        default=None, gt=0.0, le=1.0, description="Set the threshold for this precision instead."
    )
    calibration: str | None = Field(
        default=None, description="Labelled questions the --precision threshold is set on."
    )
    min_similarity: float | None = Field(
        default=None,
        ge=-1.0,
        le=1.0,
        description="Retrieval answers only at this cosine similarity or more (default: 0.6 "
        "for MiniLM, 0.88 for multilingual-e5-small).",
    )
    retrieval_backbone: str = Field(
        default=AUTO,
        min_length=1,
        description="Retrieval encoder: 'auto' (by the script of the FAQ's questions), "
        "'minilm', 'multilingual-e5-small', a local folder or a hub name.",
    )
    log: Path | None = Field(default=None, description="Append every exchange here (JSON lines).")
    host: str = Field(default="127.0.0.1", description="Interface to bind; loopback by default.")
    port: int = Field(default=8000, ge=0, le=65535)
    api_key_env: str | None = Field(
        default=None, description="Environment variable holding the API key (401 without it)."
    )
    max_question_length: int = Field(default=2_000, ge=1, description="Most characters.")
    max_body_bytes: int = Field(default=65_536, ge=1, description="Larger bodies get 413.")
    request_timeout_s: float = Field(default=30.0, gt=0, description="Slower replies get 504.")
    max_batch_size: int = Field(default=32, ge=1, description="Questions per model call.")
    max_wait_ms: float = Field(default=2.0, ge=0, description="Wait for others to batch.")
    log_level: Literal["critical", "error", "warning", "info", "debug", "trace"] = "info"
    access_log: bool = True

    def api_key(self) -> str | None:
        """The API key from the variable `api_key_env` names (None: no auth)."""
        return api_key_from_env(self.api_key_env)

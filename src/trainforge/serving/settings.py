"""Every option of `trainforge serve`, validated once and injected into the app.

The CLI builds `ServeSettings` from its options; uvicorn workers (separate processes) receive them
as JSON in the `TRAINFORGE_SERVE_SETTINGS` environment variable, which `create_app()` reads when
it is given no settings. Tests build settings directly and pass them to `create_app`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from trainforge.errors import ConfigError

ENV_SETTINGS = "TRAINFORGE_SERVE_SETTINGS"


class ServeSettings(BaseModel):
    """Options of the HTTP service (defaults are what `trainforge serve` uses).

    Example:
        >>> ServeSettings(model_dir=Path("runs/iris/model"), max_batch_size=1)  # no batching
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    model_dir: Path = Field(
        description="A model package, or a folder of versions (v1/, v2/, ...) with a `current` "
        "pointer (a symlink or a text file naming the version folder)."
    )
    host: str = Field(default="127.0.0.1", description="Interface to bind; loopback by default.")
    port: int = Field(default=8000, ge=0, le=65535)
    workers: int = Field(default=1, ge=1, description="uvicorn worker processes.")
    onnx: bool = Field(default=False, description="Predict with ONNX Runtime (package's onnx/).")
    api_key_env: str | None = Field(
        default=None,
        description="Name of the environment variable holding the API key; requests without "
        "the key get 401. No auth when absent.",
    )
    max_inputs: int = Field(default=256, ge=1, description="Most inputs in one request.")
    max_text_length: int = Field(
        default=10_000, ge=1, description="Most characters in one text (or one input's words)."
    )
    max_body_bytes: int = Field(default=1_048_576, ge=1, description="Larger bodies get 413.")
    request_timeout_s: float = Field(
        default=30.0, gt=0, description="A prediction not answered in time gets 504."
    )
    max_new_tokens: int = Field(
        default=512,
        ge=1,
        description="Generation: most tokens one answer may have; a larger max_tokens gets 422.",
    )
    max_batch_size: int = Field(
        default=32, ge=1, description="Most inputs per model call; 1 turns batching off."
    )
    max_wait_ms: float = Field(
        default=2.0,
        ge=0,
        description="How long the first request of a batch waits for others to join it.",
    )
    watch_interval_s: float = Field(
        default=1.0, ge=0, description="Polling period of the `current` pointer; 0: no watching."
    )
    log_level: Literal["critical", "error", "warning", "info", "debug", "trace"] = Field(
        default="info", description="uvicorn log level."
    )
    access_log: bool = Field(default=True, description="Log every request (uvicorn).")

    def to_env(self) -> str:
        """The settings as JSON, for `ENV_SETTINGS`."""
        return self.model_dump_json()

    @classmethod
    def from_env(cls) -> ServeSettings:
        """Settings from `ENV_SETTINGS` (set by `trainforge serve` for its uvicorn workers)."""
        raw = os.environ.get(ENV_SETTINGS)
        if not raw:
            raise ConfigError(
                f"no serving settings: the environment variable {ENV_SETTINGS} is not set",
                where="trainforge.serving.app:create_app",
                fix="Start the server with `trainforge serve MODEL_DIR`, or pass "
                "create_app(ServeSettings(model_dir=...))",
            )
        try:
            return cls.model_validate_json(raw)
        except ValidationError as exc:
            raise ConfigError(
                f"invalid serving settings ({exc.errors()[0]['msg']})",
                where=ENV_SETTINGS,
                fix="Start the server with `trainforge serve MODEL_DIR`",
            ) from None

    def api_key(self) -> str | None:
        """The API key from the environment variable `api_key_env` names (None: no auth)."""
        return api_key_from_env(self.api_key_env)


def api_key_from_env(variable: str | None) -> str | None:
    """The API key held by the environment variable `variable` (None: no auth).

    Raises:
        ConfigError: the variable is named (`--api-key-env`) but not set or empty.
    """
    if variable is None:
        return None
    key = os.environ.get(variable, "")
    if not key:
        raise ConfigError(
            f"the environment variable {variable!r} is not set or empty",
            where="--api-key-env",
            fix=f"Export the key first: export {variable}=...; or leave out "
            "--api-key-env to serve without auth",
        )
    return key

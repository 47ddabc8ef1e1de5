"""`trainforge preview CONFIG`: a few training examples as the model will read them, before
any training (see `trainforge.tasks.preview`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from trainforge.config import ExperimentConfig, load_config
from trainforge.tasks.preview import Preview

PREVIEW_ROWS = 3


def preview(
    config: str | Path | dict[str, Any] | ExperimentConfig,
    overrides: list[str] | tuple[str, ...] = (),
    rows: int = PREVIEW_ROWS,
) -> Preview:
    """Read the config's data exactly as `train` would and show the first `rows` examples.

    Args:
        config: a YAML path, a dict, or a validated ExperimentConfig.
        overrides: "dotted.key=value" strings applied on top of the config.
        rows: how many training examples to show.

    Example:
        >>> print(preview("examples/support_chat.yaml").text())
    """
    cfg = config if isinstance(config, ExperimentConfig) else load_config(config, overrides)
    from trainforge.tasks.registry import family_of

    return family_of(cfg).preview(cfg, rows)

"""User-facing errors: what went wrong, where, and how to fix it.

Every error a user can cause (bad config, bad data, bad request) is a `TrainforgeError`. The CLI
prints its message and exits with code 2; no traceback unless `--debug`.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any


class TrainforgeError(Exception):
    """An error caused by the user's input, with the place and the fix in its message.

    Args:
        what: what happened, e.g. "column 'lable' not found".
        where: the place: a file (and line/row/column), or a config field.
        fix: what to do about it.
    """

    exit_code = 2

    def __init__(self, what: str, *, where: str | None = None, fix: str | None = None) -> None:
        self.what = what
        self.where = where
        self.fix = fix
        super().__init__(self.message)

    @property
    def message(self) -> str:
        parts = [f"{self.where}: {self.what}" if self.where else self.what]
        if self.fix:
            parts.append(self.fix)
        text = ""
        for part in parts:
            part = part if part.endswith((".", "?", "!")) else part + "."
            # A fix that starts on its own line gets no space before it (no trailing blanks).
            text += part if not text or part.startswith("\n") else " " + part
        return text


class ConfigError(TrainforgeError):
    """The experiment config is invalid."""


class DataError(TrainforgeError):
    """A data file or its contents are unusable."""


class PackageError(TrainforgeError):
    """A model package is missing, incomplete or from an incompatible version."""


def option_error(exc: Any, command: str) -> TrainforgeError:
    """A command's options refused by its pydantic settings, as an error naming the option.

    Args:
        exc: the `pydantic.ValidationError`; its first error is reported.
        command: the command, for the fix ("See trainforge COMMAND --help").

    Example:
        >>> raise option_error(exc, "serve") from None  # "--max-wait-ms: ..., got -1"
    """
    error = exc.errors()[0]
    # Settings fields are the options' names, with seconds suffixed `_s` (request_timeout_s).
    option = "--" + str(error["loc"][0]).removesuffix("_s").replace("_", "-")
    return TrainforgeError(
        f"{error['msg']}, got {error.get('input')!r}",
        where=option,
        fix=f"See trainforge {command} --help",
    )


def closest(name: str, choices: Iterable[str]) -> str | None:
    """The choice closest to `name` (for "did you mean ...?"), or None when nothing is close."""
    matches = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.6)
    if not matches:
        lowered = {c.lower(): c for c in choices}
        matches = [lowered[name.lower()]] if name.lower() in lowered else []
    return matches[0] if matches else None


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """' Did you mean 'x'?' or '' — appended to messages about unknown names."""
    choices = list(choices)
    match = closest(name, choices)
    return f" Did you mean '{match}'?" if match else ""


def format_choices(choices: Iterable[object], limit: int = 12) -> str:
    """Quote and join allowed values, shortening long lists."""
    items = [repr(c) if isinstance(c, str) else str(c) for c in choices]
    if len(items) > limit:
        items = [*items[:limit], f"... ({len(items) - limit} more)"]
    return ", ".join(items)

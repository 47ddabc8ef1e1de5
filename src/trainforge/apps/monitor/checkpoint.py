"""The monitor's state on disk: written atomically, read back on start.

The file holds the windows and alerts (`WindowMonitor.state_dict`), the line counters and the
input's byte offset. It is written to a temporary file and renamed into place, so a crash
leaves the previous checkpoint, never half of one.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from trainforge.errors import DataError

FORMAT = "trainforge-monitor-state"


class Checkpoint:
    """Saves the state every `every_s` seconds or `every_lines` lines, whichever comes first.

    Args:
        path: the state file.
        every_s: seconds between saves (default 10).
        every_lines: lines between saves (default 10,000).
    """

    def __init__(self, path: Path, every_s: float = 10.0, every_lines: int = 10_000) -> None:
        self.path = path
        self.every_s = every_s
        self.every_lines = every_lines
        self._saved_at = time.monotonic()
        self._lines_since = 0

    def load(self) -> dict[str, Any] | None:
        """The saved state, or None when there is no file yet.

        Raises:
            DataError: when the file is not a monitor state.
        """
        if not self.path.is_file():
            return None
        try:
            state = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise self.unreadable(str(exc)) from None
        if not isinstance(state, dict) or state.get("format") != FORMAT:
            raise self.unreadable("it is not a monitor state file")
        return state

    def due(self, lines: int) -> bool:
        """Count `lines` more lines; True when a save is due."""
        self._lines_since += lines
        return (
            self._lines_since >= self.every_lines
            or time.monotonic() - self._saved_at >= self.every_s
        )

    def save(self, state: dict[str, Any]) -> None:
        """Write `state` atomically (temporary file in the same folder, then rename)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        tmp.write_text(
            json.dumps({"format": FORMAT, **state}, ensure_ascii=False), encoding="utf-8"
        )
        os.replace(tmp, self.path)
        self._saved_at = time.monotonic()
        self._lines_since = 0

    def unreadable(self, why: str) -> DataError:
        return DataError(
            f"cannot read the monitor state ({why})",
            where=str(self.path),
            fix="Pass another --state file, or delete this one to start with empty windows",
        )

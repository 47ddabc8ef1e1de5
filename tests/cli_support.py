"""Running the real `trainforge` command in tests, and checking how it reports user errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

Result = subprocess.CompletedProcess[str]


def run_cli(root: Path, args: list[str], timeout: int = 300) -> Result:
    """`trainforge ARGS` in `root`, as a user runs it (no colour, UTF-8 output)."""
    env = {**os.environ, "NO_COLOR": "1", "PYTHONIOENCODING": "utf-8"}
    command = [sys.executable, "-m", "trainforge.cli", *args]
    return subprocess.run(
        command, cwd=root, env=env, capture_output=True, text=True, timeout=timeout
    )


def check_user_error(result: Result, *fragments: str) -> str:
    """Assert a user error: exit 2, one 'Error:' message holding `fragments`, no traceback."""
    stderr = result.stderr
    assert result.returncode == 2, f"exit {result.returncode}\n{stderr}"
    assert stderr.startswith("Error: "), stderr
    assert "Traceback" not in stderr, stderr
    assert result.stdout == "", result.stdout
    for fragment in fragments:
        assert fragment in stderr, f"{fragment!r} not in:\n{stderr}"
    return stderr

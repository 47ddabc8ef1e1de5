"""Running the real `trainforge` command in tests, and checking how it reports user errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

Result = subprocess.CompletedProcess[str]


def cli_command() -> list[str]:
    """The installed console script next to this Python, else `python -m trainforge.cli`."""
    script = Path(sys.executable).with_name("trainforge")
    if script.is_file():
        return [str(script)]
    return [sys.executable, "-m", "trainforge.cli"]


def run_cli(root: Path, args: list[str], timeout: int = 300) -> Result:
    """`trainforge ARGS` in `root`, as a user runs it (no colour, UTF-8 output)."""
    env = {**os.environ, "NO_COLOR": "1", "PYTHONIOENCODING": "utf-8"}
    command = [*cli_command(), *args]
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

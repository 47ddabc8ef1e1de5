"""The command line: parses arguments, calls the core, prints. No work of its own.

Heavy libraries (torch, lightning) are imported inside commands so `--help` stays instant.
Commands are grouped in modules by what they work on; importing them registers them on `app`.
"""

from __future__ import annotations

from trainforge.cli.app import app, main

# Importing the command modules registers their commands; `--help` lists them in this order.
# isort: off
from trainforge.cli import run  # noqa: F401
from trainforge.cli import versions  # noqa: F401
from trainforge.cli import experiments  # noqa: F401
from trainforge.cli import serve  # noqa: F401
from trainforge.cli import data  # noqa: F401

# isort: on

__all__ = ["app", "main"]

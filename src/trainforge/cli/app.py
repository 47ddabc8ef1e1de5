"""The typer app, the global options, and the entry point that turns user errors into exit 2.

Commands live in the modules beside this one, by what they work on; `trainforge.cli` imports
them all, so they register on `app` in the order of `trainforge --help`.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from trainforge.errors import TrainforgeError
from trainforge.messages import text

app = typer.Typer(
    name="trainforge",
    help="Train, evaluate, package and serve models from one config.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
_state = {"debug": False}


@app.callback()
def _main(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")] = False,
) -> None:
    _state["debug"] = debug


def print_metrics(metrics: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    splits = {k: v for k, v in metrics.items() if isinstance(v, dict)}
    table = Table(title=text("cli.metrics"))
    table.add_column(text("cli.metric"))
    for split in splits:
        table.add_column(split, justify="right")
    keys = [k for k, v in next(iter(splits.values()), {}).items() if isinstance(v, (int, float))]
    for key in keys:
        row = [splits[s].get(key) for s in splits]
        table.add_row(key, *[f"{v:.4f}" if isinstance(v, float) else str(v) for v in row])
    console = Console()
    console.print(table)
    for key, value in metrics.items():
        if not isinstance(value, dict):
            console.print(f"{key}: {value}")


def write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def main() -> None:
    """Console entry point: user errors print one message and exit 2, no traceback."""
    try:
        app(standalone_mode=False)
    except TrainforgeError as exc:
        if _state["debug"]:
            raise
        typer.echo(text("cli.error", message=exc.message), err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        typer.echo(text("cli.interrupted"), err=True)
        sys.exit(130)
    except Exception as exc:
        # Usage errors and exits of the command-line parser: click's, or the copy of click
        # that newer typer versions carry (`typer._click`), so matched by module, not class.
        code = getattr(exc, "exit_code", None)
        if not isinstance(code, int) or not type(exc).__module__.startswith(("click", "typer")):
            raise
        if hasattr(exc, "show"):  # "Usage: ...", "Error: Invalid value for '--port': ..."
            exc.show()
        sys.exit(code)

"""The command line: parses arguments, calls the core, prints. No work of its own.

Heavy libraries (torch, lightning) are imported inside commands so `--help` stays instant.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from trainforge.errors import TrainforgeError

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


@app.command()
def train(
    config: Annotated[Path, typer.Argument(help="Experiment config (YAML).")],
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="Override a config key: --set train.epochs=5 (repeatable)."),
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Run folder (default runs/NAME).")
    ] = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue an unfinished run from its checkpoint.")
    ] = False,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace a finished run in --output.")
    ] = False,
    adapter_only: Annotated[
        bool,
        typer.Option(
            "--adapter-only",
            help="LoRA/AdaLoRA/IA3: package the small adapter instead of merged weights.",
        ),
    ] = False,
) -> None:
    """Train a model; writes RUN_DIR/metrics.json, report.html and model/."""
    from trainforge.pipeline import train as run_training

    overrides = [*(set_ or []), *(["model.peft.adapter_only=true"] if adapter_only else [])]
    run = run_training(
        config, overrides=overrides, output=output, resume=resume, overwrite=overwrite
    )
    _print_metrics(run.metrics)
    typer.echo(f"Model:   {run.model_dir}")
    typer.echo(f"Report:  {run.report_path}")


@app.command()
def evaluate(
    model_dir: Annotated[Path, typer.Argument(help="Model package folder (RUN_DIR/model).")],
    data: Annotated[str, typer.Argument(help="Labelled data: a file or sklearn:NAME.")],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the metrics as JSON here.")
    ] = None,
) -> None:
    """Compute metrics of a trained model on labelled data."""
    from trainforge.predict import load

    metrics = load(model_dir).evaluate(data)
    _print_metrics({"evaluation": metrics})
    if output is not None:
        _write_atomic(output, json.dumps(metrics, indent=2) + "\n")
        typer.echo(f"Metrics: {output}")


@app.command()
def predict(
    model_dir: Annotated[Path, typer.Argument(help="Model package folder (RUN_DIR/model).")],
    data: Annotated[str, typer.Argument(help="Rows to predict: a file or sklearn:NAME.")],
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Write JSON lines here instead of stdout."),
    ] = None,
    limit: Annotated[
        int | None, typer.Option("--limit", min=1, help="Predict only the first N rows.")
    ] = None,
) -> None:
    """Predict rows with a trained model: one JSON object per row."""
    from trainforge.predict import load

    model = load(model_dir)
    frame = model.frame(data)
    if limit is not None:
        frame = frame.head(limit)
    lines = "".join(json.dumps(p) + "\n" for p in model.predict(frame))
    if output is None:
        typer.echo(lines, nl=False)
    else:
        _write_atomic(output, lines)
        typer.echo(f"Wrote {len(frame)} predictions to {output}", err=True)


@app.command()
def schema() -> None:
    """Print the JSON schema of the experiment config."""
    from trainforge.config import json_schema

    typer.echo(json.dumps(json_schema(), indent=2))


def _print_metrics(metrics: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    splits = {k: v for k, v in metrics.items() if isinstance(v, dict)}
    table = Table(title="Metrics")
    table.add_column("metric")
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


def _write_atomic(path: Path, text: str) -> None:
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
        typer.echo(f"Error: {exc.message}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        typer.echo("Interrupted. An unfinished run can be continued with --resume.", err=True)
        sys.exit(130)
    except Exception as exc:
        import click

        if isinstance(exc, click.exceptions.Exit):
            sys.exit(exc.exit_code)
        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        raise


if __name__ == "__main__":
    main()

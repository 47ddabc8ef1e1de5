"""Data and config helpers: synthetic data sets and the config's JSON schema."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from trainforge.cli.app import app


def _make_data(
    kind: Annotated[str, typer.Argument(help="Which data set: recommendations.")],
    out_dir: Annotated[Path, typer.Argument(help="Folder to write the files into.")],
    users: Annotated[int, typer.Option("--users", min=1)] = 20_000,
    items: Annotated[int, typer.Option("--items", min=1)] = 5_000,
    interactions: Annotated[int, typer.Option("--interactions", min=1)] = 1_000_000,
    genres: Annotated[int, typer.Option("--genres", min=1, help="Latent genres (<= 16).")] = 12,
    noise: Annotated[float, typer.Option("--noise", help="Share of popularity-only clicks.")] = 0.1,
    seed: Annotated[int, typer.Option("--seed")] = 0,
) -> None:
    """Write seeded synthetic data with a known structure (interactions.csv, items.csv)."""
    from trainforge.data.synthetic import make_data_command

    make_data_command(kind, out_dir, users, items, interactions, genres, noise, seed)


app.command("make-data")(_make_data)


@app.command()
def schema() -> None:
    """Print the JSON schema of the experiment config."""
    from trainforge.config import json_schema

    typer.echo(json.dumps(json_schema(), indent=2))


@app.command()
def preview(
    config: Annotated[Path, typer.Argument(help="Experiment config (YAML).")],
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="Override a config key: --set train.max_length=256."),
    ] = None,
    rows: Annotated[int, typer.Option("--rows", min=1, help="Training examples shown.")] = 3,
    html: Annotated[
        Path | None, typer.Option("--html", help="Also write the preview as an HTML page.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the preview as JSON.")] = False,
) -> None:
    """Training examples as the model will read them (loss-carrying tokens marked), the
    counts cut to train.max_length and the padding of the batches, without training."""
    import sys

    from trainforge.cli.app import write_atomic
    from trainforge.dry_run import preview as make_preview

    result = make_preview(config, set_ or [], rows=rows)
    if html is not None:
        write_atomic(html, result.html())
    typer.echo(result.to_json() if as_json else result.text(colour=sys.stdout.isatty()), nl=False)

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

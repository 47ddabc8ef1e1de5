"""A model's versions: list them, roll back, train the next one on new data (`update`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from trainforge.cli.app import app
from trainforge.messages import text


@app.command()
def versions(
    model_dir: Annotated[Path, typer.Argument(help="Model folder (RUN_DIR/model).")],
) -> None:
    """List the versions of a model folder with their metrics; * marks the current one."""
    from rich.console import Console
    from rich.table import Table

    from trainforge.versions import list_versions

    found = list_versions(model_dir)
    table = Table(title=f"Versions of {model_dir}")
    for column in ("", "version", "trained on", "rows", "validation", "test"):
        table.add_column(column)
    for version in found:
        metrics = version.metrics
        table.add_row(
            "*" if version.current else "",
            version.name,
            str(_manifest_value(version.path, "train_source")),
            str(_manifest_value(version.path, "train_rows")),
            _headline(metrics.get("validation")),
            _headline(metrics.get("test")),
        )
    Console().print(table)


@app.command()
def rollback(
    model_dir: Annotated[Path, typer.Argument(help="Model folder (RUN_DIR/model).")],
    to: Annotated[
        str | None,
        typer.Option("--to", help="Version to make current (default: the previous current)."),
    ] = None,
) -> None:
    """Make an earlier version current again; `serve` follows within a second."""
    from trainforge.versions import rollback as roll_back

    name = roll_back(model_dir, to)
    typer.echo(f"Current: {name} ({model_dir / name})")


def _manifest_value(package: Path, key: str) -> Any:
    from trainforge.package import read_manifest

    return read_manifest(package).get(key, "")


def _headline(split: Any) -> str:
    """The main score of a split's metrics: F1 for NER, accuracy/F1 for classification, RMSE."""
    if not isinstance(split, dict):
        return ""
    shown = [
        f"{key} {split[key]:.4f}"
        for key in ("accuracy", "f1_macro", "f1", "rmse", "r2")
        if isinstance(split.get(key), (int, float))
    ]
    return ", ".join(shown[:2])


@app.command()
def update(
    model_dir: Annotated[Path, typer.Argument(help="Model folder (RUN_DIR/model) to update.")],
    data: Annotated[
        str, typer.Option("--data", help="New labelled data, with the training columns.")
    ],
    validation: Annotated[
        str | None,
        typer.Option("--validation", help="New validation data (default: split from --data)."),
    ] = None,
    strategy: Annotated[
        str,
        typer.Option(
            "--strategy",
            help="replay (mix in kept training rows), ewc, lwf, or naive (new data only).",
        ),
    ] = "replay",
    replay_size: Annotated[
        int | None,
        typer.Option("--replay-size", min=0, help="Rows the new version keeps for replay."),
    ] = None,
    gate: Annotated[
        str | None,
        typer.Option(
            "--gate",
            help="Conditions to become current, e.g. 'old_f1_drop<=0.02,new_f1>=0.80'.",
        ),
    ] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="Override a key of the model's config (repeatable)."),
    ] = None,
) -> None:
    """Train the next version on new data; it becomes current if it passes the gate."""
    from trainforge.continual.update import update as run_update

    overrides = [
        *(set_ or []),
        *([f"continual.replay_size={replay_size}"] if replay_size is not None else []),
    ]
    result = run_update(
        model_dir,
        data,
        validation=validation,
        strategy=strategy,  # type: ignore[arg-type]  # checked inside
        gate=gate,
        overrides=overrides,
    )
    scores = result.continual
    for name in ("old", "new"):
        if name in scores:
            part = scores[name]
            typer.echo(
                f"{name} data: accuracy {part['accuracy_before']:.4f} -> {part['accuracy']:.4f}, "
                f"macro F1 {part['f1_macro_before']:.4f} -> {part['f1_macro']:.4f} "
                f"({part['rows']} held-out rows)"
            )
    if "forgetting" in scores:
        typer.echo(f"forgetting: {scores['forgetting']:.4f}")
    if result.promoted:
        typer.echo(f"Version: {result.version} (current)")
    else:
        typer.echo(
            f"Version: {result.version} (candidate: the gate failed: {'; '.join(result.gate)})"
        )
    typer.echo(text("cli.report", path=result.run_dir / "report.html"))

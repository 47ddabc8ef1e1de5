"""Many runs: hyper-parameter search, the tracking UI, comparing runs, the few-shot ladder."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from trainforge.cli.app import app
from trainforge.messages import text


@app.command()
def tune(
    config: Annotated[Path, typer.Argument(help="Experiment config with a `tune:` section.")],
    trials: Annotated[
        int,
        typer.Option(
            "--trials", min=1, help="Finished (complete or pruned) trials the study should hold."
        ),
    ],
    n_jobs: Annotated[
        int, typer.Option("--n-jobs", min=1, help="Worker processes on this machine.")
    ] = 1,
    storage: Annotated[
        str | None,
        typer.Option(
            "--storage",
            help="Optuna storage shared by workers: sqlite:///FILE, postgresql://..., or "
            "journal:FILE (default OUTPUT/study.db).",
        ),
    ] = None,
    study: Annotated[
        str | None,
        typer.Option("--study", help="Study name (default the config's name); reuse to continue."),
    ] = None,
    timeout: Annotated[
        float | None, typer.Option("--timeout", min=0.0, help="Start no trial after S seconds.")
    ] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="Override a config key: --set train.epochs=5 (repeatable)."),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Output folder (default runs/NAME-tune)."),
    ] = None,
) -> None:
    """Search hyper-parameters with Optuna; writes best.yaml, best_model/ and tune_report.html."""
    from trainforge.tuning.search import tune as run_search
    from trainforge.tuning.study import StudySettings

    settings = StudySettings(trials, n_jobs, storage, study, timeout)
    result = run_search(config, settings, overrides=set_ or [], output=output)
    counts = ", ".join(f"{n} {state}" for state, n in result.counts.items() if n)
    typer.echo(f"Study:   {result.study} ({counts})")
    if result.best_trial is None:
        typer.echo("No trial completed; see the messages above.")
    else:
        typer.echo(f"Best:    trial {result.best_trial}, {result.metric} {result.best_value:.4f}")
        for key, value in result.best_params.items():
            typer.echo(f"         {key} = {value}")
        typer.echo(f"Config:  {result.best_config}")
        typer.echo(text("cli.model", path=result.best_model))
    typer.echo(text("cli.report", path=result.report))


@app.command()
def ui(
    folder: Annotated[
        Path, typer.Argument(help="The folder that holds the runs (and mlruns.db).")
    ] = Path("runs"),
    tensorboard: Annotated[
        bool, typer.Option("--tensorboard", help="Start TensorBoard instead of MLflow.")
    ] = False,
    port: Annotated[
        int | None,
        typer.Option(
            "--port", min=0, max=65535, help="Port (default 5000, TensorBoard 6006; 0: any free)."
        ),
    ] = None,
    backend_store_uri: Annotated[
        str | None,
        typer.Option(
            "--backend-store-uri",
            help="MLflow tracking store (default sqlite:///FOLDER/mlruns.db).",
        ),
    ] = None,
) -> None:
    """Start the MLflow UI (or TensorBoard) on 127.0.0.1 and print its address."""
    from trainforge.tracking import serve_ui

    serve_ui(
        folder,
        tensorboard=tensorboard,
        port=port,
        backend_store_uri=backend_store_uri,
        ready=lambda url: typer.echo(f"Serving {url} (Ctrl-C to stop)"),
    )


@app.command()
def compare(
    run_dirs: Annotated[
        list[Path], typer.Argument(help="Finished run folders (written by `trainforge train`).")
    ],
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="HTML page to write (default: compare.html beside the runs when they share "
            "a parent folder, else in the current folder).",
        ),
    ] = None,
) -> None:
    """Compare runs: metrics, settings that differ, time and memory; writes compare.html."""
    from rich.console import Console

    from trainforge.compare import compare_runs, comparison_tables, write_comparison

    comparison = compare_runs(run_dirs)
    for table in comparison_tables(comparison):
        Console().print(table)
    typer.echo(f"Comparison: {write_comparison(comparison, output)}")


@app.command()
def ladder(
    config: Annotated[Path, typer.Argument(help="A text_classification config (YAML).")],
    shots: Annotated[
        str, typer.Option(help="Labelled examples per class: numbers and 'all'.")
    ] = "0,8,32,128,all",
    methods: Annotated[
        str, typer.Option(help="model.finetune values to compare, comma-separated.")
    ] = "zero_shot,setfit,frozen,lora,full",
    seeds: Annotated[int, typer.Option(min=1, help="Training seeds per cell.")] = 3,
    metric: Annotated[str, typer.Option(help="Test metric to compare.")] = "accuracy",
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Folder (default runs/NAME-ladder).")
    ] = None,
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="Override a config key: key=value.")
    ] = None,
    keep_models: Annotated[
        bool, typer.Option(help="Keep every cell's model package (large).")
    ] = False,
) -> None:
    """Every method at every number of labels per class: a table and a plot of test score (and
    time) against labelled examples, on the same validation and test rows."""
    from trainforge.ladder import ladder as run_ladder
    from trainforge.ladder import parse_methods, parse_shots

    result = run_ladder(
        config,
        shots=parse_shots(shots),
        methods=parse_methods(methods),
        seeds=seeds,
        metric=metric,
        output=output,
        overrides=set_ or [],
        keep_models=keep_models,
    )
    for row in result.summary:
        typer.echo(
            f"{row['method']:>10} {row['shots']!s:>5} per class: {metric} "
            f"{row['mean']:.4f} ± {row['std']:.4f} ({row['seeds']} seed(s), "
            f"{row['train_time_s']:.1f} s)"
        )
    typer.echo(f"Ladder: {result.html}")

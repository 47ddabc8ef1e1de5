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

from trainforge.apps.assistant.cli import assistant_command
from trainforge.apps.monitor.cli import monitor_command
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
    if not run.primary:
        return  # another process of a distributed run; rank 0 reports
    _print_metrics(run.metrics)
    typer.echo(f"Model:   {run.model_dir}")
    typer.echo(f"Report:  {run.report_path}")


@app.command()
def plan(
    config: Annotated[Path, typer.Argument(help="Experiment config (YAML).")],
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="Override a config key: --set train.batch_size=64."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the plan as JSON.")] = False,
) -> None:
    """Parameters, memory per device and a suggested batch size, without training."""
    from trainforge.plan import plan as make_plan

    result = make_plan(config, set_ or [])
    typer.echo(result.to_json() if as_json else result.text())


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
    onnx: Annotated[
        bool,
        typer.Option(
            "--onnx",
            help="Run with ONNX Runtime (int8 if exported so); needs `trainforge export` first.",
        ),
    ] = False,
) -> None:
    """Predict rows with a trained model: one JSON object per row."""
    from trainforge.predict import load, write_predictions

    model = load(model_dir, onnx=onnx)
    frame = model.frame(data)
    if limit is not None:
        frame = frame.head(limit)
    # Streamed: each line is written as soon as its chunk of rows is predicted.
    predictions = model.predict_stream(frame)
    if output is None:
        for prediction in predictions:
            sys.stdout.write(json.dumps(prediction) + "\n")
    else:
        count = write_predictions(predictions, output)
        typer.echo(f"Wrote {count} predictions to {output}", err=True)


@app.command()
def export(
    model_dir: Annotated[Path, typer.Argument(help="Model package folder (RUN_DIR/model).")],
    format_: Annotated[
        str, typer.Option("--format", help="Export format; only 'onnx' for now.")
    ] = "onnx",
    quantize: Annotated[
        str | None,
        typer.Option("--quantize", help="Also write an int8 model: --quantize int8."),
    ] = None,
    samples: Annotated[
        str | None,
        typer.Option(
            "--samples", help="Rows for the parity check (default: the config's test data)."
        ),
    ] = None,
) -> None:
    """Export the network to MODEL_DIR/onnx/ and check it against PyTorch (parity.json)."""
    if format_ != "onnx":
        raise TrainforgeError(
            f"unknown export format {format_!r}",
            where="--format",
            fix="Use --format onnx",
        )
    from trainforge.export import export_onnx
    from trainforge.versions import resolve

    report = export_onnx(model_dir, quantize=quantize, samples=samples)
    package = resolve(model_dir)
    for precision, result in report["models"].items():
        agreement = result["label_agreement"]
        agrees = "" if agreement is None else f", label agreement {agreement:.1%}"
        typer.echo(
            f"{precision}: {package / 'onnx' / result['file']} (max |logit diff| "
            f"{result['max_abs_diff']:.2g}{agrees} on {result['rows']} rows)"
        )


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
    typer.echo(f"Report:  {result.run_dir / 'report.html'}")


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
        typer.echo(f"Model:   {result.best_model}")
    typer.echo(f"Report:  {result.report}")


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
def serve(
    model_dir: Annotated[
        Path,
        typer.Argument(
            help="Model package, or a folder of versions (v1/, v2/, ...) with a `current` "
            "pointer, watched for changes."
        ),
    ],
    host: Annotated[
        str, typer.Option("--host", help="Interface to bind; 0.0.0.0 exposes it to the network.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=0, max=65535)] = 8000,
    workers: Annotated[int, typer.Option("--workers", min=1, help="Worker processes.")] = 1,
    onnx: Annotated[
        bool, typer.Option("--onnx", help="Predict with ONNX Runtime (`trainforge export` first).")
    ] = False,
    api_key_env: Annotated[
        str | None,
        typer.Option(
            "--api-key-env",
            help="Environment variable holding the API key; requests without it get 401.",
        ),
    ] = None,
    max_batch_size: Annotated[
        int,
        typer.Option("--max-batch-size", min=1, help="Inputs per model call; 1: no batching."),
    ] = 32,
    max_wait_ms: Annotated[
        float,
        typer.Option("--max-wait-ms", min=0, help="How long a request waits for others to batch."),
    ] = 2.0,
    max_inputs: Annotated[
        int, typer.Option("--max-inputs", min=1, help="Most inputs per request.")
    ] = 256,
    max_text_length: Annotated[
        int, typer.Option("--max-text-length", min=1, help="Most characters per text.")
    ] = 10_000,
    max_body_bytes: Annotated[
        int, typer.Option("--max-body-bytes", min=1, help="Larger request bodies get 413.")
    ] = 1_048_576,
    request_timeout: Annotated[
        float,
        typer.Option("--request-timeout", min=0.0, help="Seconds before a prediction gets 504."),
    ] = 30.0,
    watch_interval: Annotated[
        float,
        typer.Option("--watch-interval", min=0.0, help="Seconds between `current` checks; 0: off."),
    ] = 1.0,
    log_level: Annotated[str, typer.Option("--log-level", help="uvicorn log level.")] = "info",
    access_log: Annotated[
        bool, typer.Option("--access-log/--no-access-log", help="Log every request.")
    ] = True,
) -> None:
    """Serve a model over HTTP (FastAPI): POST /v1/predict, /docs, /metrics."""
    from pydantic import ValidationError

    from trainforge.serving.server import run
    from trainforge.serving.settings import ServeSettings

    try:
        settings = ServeSettings(
            model_dir=model_dir,
            host=host,
            port=port,
            workers=workers,
            onnx=onnx,
            api_key_env=api_key_env,
            max_batch_size=max_batch_size,
            max_wait_ms=max_wait_ms,
            max_inputs=max_inputs,
            max_text_length=max_text_length,
            max_body_bytes=max_body_bytes,
            request_timeout_s=request_timeout,
            watch_interval_s=watch_interval,
            log_level=log_level,  # type: ignore[arg-type]  # pydantic checks the value
            access_log=access_log,
        )
    except ValidationError as exc:
        error = exc.errors()[0]
        option = "--" + str(error["loc"][0]).removesuffix("_s").replace("_", "-")
        raise TrainforgeError(
            f"{error['msg']}, got {error.get('input')!r}",
            where=option,
            fix="See trainforge serve --help",
        ) from None
    run(settings)


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


app.command("monitor")(monitor_command)
app.command("assistant")(assistant_command)


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

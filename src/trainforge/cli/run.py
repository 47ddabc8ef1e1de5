"""Train a model, plan it, evaluate it, predict with it, export it."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from trainforge.cli.app import app, print_metrics, write_atomic
from trainforge.errors import TrainforgeError
from trainforge.messages import text


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
    print_metrics(run.metrics)
    typer.echo(text("cli.model", path=run.model_dir))
    typer.echo(text("cli.report", path=run.report_path))


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
    print_metrics({"evaluation": metrics})
    if output is not None:
        write_atomic(output, json.dumps(metrics, indent=2) + "\n")
        typer.echo(f"Metrics: {output}")


@app.command()
def predict(
    model_dir: Annotated[Path, typer.Argument(help="Model package folder (RUN_DIR/model).")],
    data: Annotated[
        str | None,
        typer.Argument(help="Rows to predict: a file or sklearn:NAME (or --prompt)."),
    ] = None,
    prompt: Annotated[
        list[str] | None,
        typer.Option(
            "--prompt",
            "-p",
            help="Generation: answer this prompt, written to the terminal as it is generated "
            "(repeatable; instead of DATA).",
        ),
    ] = None,
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
    max_new_tokens: Annotated[
        int | None,
        typer.Option("--max-new-tokens", min=1, help="Generation: tokens generated at most."),
    ] = None,
    temperature: Annotated[
        float | None,
        typer.Option("--temperature", min=0.0, help="Generation: 0 greedy, above 0 sampling."),
    ] = None,
    top_p: Annotated[
        float | None,
        typer.Option("--top-p", min=0.0, max=1.0, help="Generation: nucleus sampling mass."),
    ] = None,
    stop: Annotated[
        list[str] | None,
        typer.Option("--stop", help="Generation: a string that ends an answer (repeatable)."),
    ] = None,
    seed: Annotated[
        int | None, typer.Option("--seed", help="Generation: seed of sampling.")
    ] = None,
) -> None:
    """Predict rows with a trained model: one JSON object per row ({"text": ...} for
    text_generation packages, whose decoding the --max-new-tokens ... --seed options set).
    With --prompt, a text_generation package's answers are written as they are generated."""
    from trainforge.predict import load, write_predictions

    if (data is None) == (prompt is None):
        raise TrainforgeError(
            "give the rows to predict (DATA) or --prompt, one of the two",
            where="trainforge predict",
            fix="trainforge predict MODEL_DIR rows.csv, or trainforge predict MODEL_DIR "
            "--prompt 'How do I reset my PIN?'",
        )
    model = load(model_dir, onnx=onnx)
    decoding = {
        "max_new_tokens": max_new_tokens,
        "temperature": temperature,
        "top_p": top_p,
        "stop": stop,
        "seed": seed,
    }
    decoding = {key: value for key, value in decoding.items() if value is not None}
    if decoding or prompt:
        model = _with_decoding(model, decoding, "--prompt")
    if prompt is not None and output is None:
        _stream_answers(model, prompt)
        return
    column = model.config.data.prompt_column
    frame = model.frame(data if prompt is None else [{column: p} for p in prompt])
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


def _stream_answers(model: Any, prompts: list[str]) -> None:
    """Each prompt's answer written to stdout piece by piece, a blank line between answers."""
    for i, prompt in enumerate(prompts):
        if i:
            sys.stdout.write("\n")
        stream = model.stream(prompt)
        for piece in stream:
            sys.stdout.write(piece)
            sys.stdout.flush()
        sys.stdout.write("\n")
        if stream.finish_reason == "length":
            typer.echo(
                f"(cut at {stream.completion_tokens} tokens: raise --max-new-tokens for more)",
                err=True,
            )


def _with_decoding(model: Any, decoding: dict[str, Any], asked: str) -> Any:
    """The model with the decoding options of `predict`; refused for non-generative models
    (`asked`: the option that names the generation when `decoding` is empty)."""
    if not hasattr(model, "with_decoding"):
        option = "--" + next(iter(decoding)).replace("_", "-") if decoding else asked
        raise TrainforgeError(
            f"{option} sets how answers are generated; this package (task "
            f"{model.config.task!r}) does not generate text",
            where=option,
            fix="Drop the generation options, or pass a text_generation package",
        )
    from pydantic import ValidationError

    from trainforge.errors import option_error

    try:
        return model.with_decoding(**decoding)
    except ValidationError as exc:
        raise option_error(exc, "predict") from None


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

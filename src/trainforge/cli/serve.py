"""Services over HTTP: the model server, the opinion monitor and the customer-service assistant."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from trainforge.apps.assistant.cli import assistant_command
from trainforge.apps.monitor.cli import monitor_command
from trainforge.cli.app import app
from trainforge.errors import option_error


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
    max_new_tokens: Annotated[
        int,
        typer.Option(
            "--max-new-tokens", min=1, help="Generation: most tokens per answer (max_tokens)."
        ),
    ] = 512,
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
    """Serve a model over HTTP (FastAPI): POST /v1/predict, /docs, /metrics; text generation
    packages also POST /v1/generate and the OpenAI-compatible /v1/chat/completions."""
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
            max_new_tokens=max_new_tokens,
            max_body_bytes=max_body_bytes,
            request_timeout_s=request_timeout,
            watch_interval_s=watch_interval,
            log_level=log_level,  # type: ignore[arg-type]  # pydantic checks the value
            access_log=access_log,
        )
    except ValidationError as exc:
        raise option_error(exc, "serve") from None
    run(settings)


app.command("monitor")(monitor_command)
app.command("assistant")(assistant_command)

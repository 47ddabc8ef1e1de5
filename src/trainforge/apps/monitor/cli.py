"""`trainforge monitor MODEL --input STREAM`: the command, registered in `trainforge.cli`.

Parses options, builds the monitor, then reads the input until it ends (or forever when
following a file), or serves HTTP with `--serve`. Heavy imports happen inside the command.
"""

from __future__ import annotations

import json
import logging
import signal
import sys
import threading
from pathlib import Path
from typing import Annotated, Any

import typer

from trainforge.errors import ConfigError, DataError, option_error

LOG_LEVELS = ("debug", "info", "warning", "error", "critical")


def monitor_command(
    model: Annotated[Path, typer.Argument(help="Sentiment model package (RUN_DIR/model).")],
    input_: Annotated[
        str | None,
        typer.Option(
            "--input",
            help="JSON lines {time, text, source}: a file (followed as it grows) or '-' for "
            "stdin. Optional with --serve (POST /v1/ingest).",
        ),
    ] = None,
    topic_model: Annotated[
        Path | None, typer.Option("--topic-model", help="Package predicting each text's topic.")
    ] = None,
    window: Annotated[str, typer.Option("--window", help="Window length: 90s, 5m, 1h.")] = "5m",
    steps: Annotated[
        int, typer.Option("--steps", min=1, max=60, help="Steps a window slides by per length.")
    ] = 5,
    baseline_windows: Annotated[
        int, typer.Option("--baseline-windows", min=1, help="Past windows forming the baseline.")
    ] = 12,
    threshold_std: Annotated[
        float, typer.Option("--threshold-std", help="Deviations above the baseline to alert.")
    ] = 3.0,
    min_count: Annotated[
        int, typer.Option("--min-count", min=1, help="Fewest lines in a window to alert.")
    ] = 20,
    cooldown: Annotated[
        str | None,
        typer.Option("--cooldown", help="Quiet time per topic after an alert (default: window)."),
    ] = None,
    negative_label: Annotated[
        str | None,
        typer.Option("--negative-label", help="Label counted as negative (default: 'negative')."),
    ] = None,
    alerts: Annotated[
        Path, typer.Option("--alerts", help="JSON-lines file alerts are appended to; '-': stdout.")
    ] = Path("-"),
    webhook: Annotated[
        str | None, typer.Option("--webhook", help="URL each alert is POSTed to as JSON.")
    ] = None,
    state: Annotated[
        Path | None,
        typer.Option("--state", help="Checkpoint file: windows and input offset survive restarts."),
    ] = None,
    checkpoint_every: Annotated[
        str, typer.Option("--checkpoint-every", help="Time between checkpoints.")
    ] = "10s",
    follow: Annotated[
        bool,
        typer.Option(
            "--follow/--no-follow", help="Keep reading a file as it grows, or stop at its end."
        ),
    ] = True,
    batch_size: Annotated[
        int,
        typer.Option("--batch-size", min=1, help="Texts per model call (chunks sorted by length)."),
    ] = 32,
    onnx: Annotated[
        bool, typer.Option("--onnx", help="Classify with ONNX Runtime (`trainforge export` first).")
    ] = False,
    serve: Annotated[
        bool, typer.Option("--serve", help="Serve /v1/ingest, /v1/status and the dashboard.")
    ] = False,
    host: Annotated[str, typer.Option("--host", help="Interface to bind (--serve).")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=0, max=65535)] = 8000,
    api_key_env: Annotated[
        str | None,
        typer.Option("--api-key-env", help="Variable holding the key POST /v1/ingest requires."),
    ] = None,
    log_level: Annotated[
        str, typer.Option("--log-level", help="debug, info, warning, error.")
    ] = "info",
) -> None:
    """Watch the sentiment of a stream of texts: windows per topic, alerts on negative bursts."""
    from trainforge.apps.monitor.checkpoint import Checkpoint
    from trainforge.apps.monitor.classify import load_classifier
    from trainforge.apps.monitor.runner import OpinionMonitor

    if log_level.lower() not in LOG_LEVELS:
        raise ConfigError(
            f"unknown log level {log_level!r}",
            where="--log-level",
            fix=f"Choose one of {', '.join(LOG_LEVELS)}",
        )
    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    settings = _settings(window, steps, baseline_windows, threshold_std, min_count, cooldown)
    if input_ is None and not serve:
        raise ConfigError(
            "no input", where="--input", fix="Pass --input FILE, --input - for stdin, or --serve"
        )
    source = _source(input_, follow)
    _check_webhook(webhook)
    from trainforge.serving.settings import api_key_from_env

    key = api_key_from_env(api_key_env)
    every_s = parse_checkpoint_every(checkpoint_every)
    classifier = load_classifier(
        model,
        topic_model=topic_model,
        negative_label=negative_label,
        onnx=onnx,
        batch_size=batch_size,
    )
    monitor = OpinionMonitor(
        classifier,
        settings,
        alerts=alerts,
        webhook=webhook,
        checkpoint=Checkpoint(state, every_s=every_s) if state else None,
    )
    monitor.restore(source)
    if serve:
        from trainforge.apps.monitor.service import create_monitor_app

        app = create_monitor_app(monitor, source=source, follow=follow, api_key=key)
        _serve(app, host, port, log_level)
    else:
        assert source is not None
        _read(monitor, source, follow)
    typer.echo(json.dumps(monitor.status()["counters"]), err=True)


def _settings(
    window: str,
    steps: int,
    baseline_windows: int,
    threshold_std: float,
    min_count: int,
    cooldown: str | None,
) -> Any:
    from pydantic import ValidationError

    from trainforge.apps.monitor.core import MonitorSettings, parse_duration

    try:
        return MonitorSettings(
            window_s=parse_duration(window, "--window"),
            steps=steps,
            baseline_windows=baseline_windows,
            threshold_std=threshold_std,
            min_count=min_count,
            cooldown_s=parse_duration(cooldown, "--cooldown") if cooldown is not None else None,
        )
    except ValidationError as exc:
        raise option_error(exc, "monitor") from None


def parse_checkpoint_every(value: str) -> float:
    from trainforge.apps.monitor.core import parse_duration

    seconds = parse_duration(value, "--checkpoint-every")
    if seconds <= 0:
        raise ConfigError(
            f"must be longer than 0, got {value!r}", where="--checkpoint-every", fix="E.g. 10s"
        )
    return seconds


def _source(input_: str | None, follow: bool) -> Any:
    from trainforge.apps.monitor.sources import FileTail, StdinLines

    if input_ is None:
        return None
    if input_ == "-":
        return StdinLines()
    path = Path(input_)
    if path.is_dir() or (not follow and not path.is_file()):
        raise DataError(
            "no such file" if not path.exists() else "a folder, not a file",
            where=str(path),
            fix="Pass a JSON-lines file with --input (with --follow it may appear later), or "
            "'-' for stdin",
        )
    return FileTail(path)


def _check_webhook(url: str | None) -> None:
    if url is not None and not url.startswith(("http://", "https://")):
        raise ConfigError(
            f"{url!r} is not an http(s) URL",
            where="--webhook",
            fix="Pass a URL such as http://127.0.0.1:9000/alerts",
        )


def _read(monitor: Any, source: Any, follow: bool) -> None:
    """Read the input in this thread; SIGTERM and Ctrl-C stop it with the state saved."""
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        monitor.run(source, follow=follow, stop=stop)
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        monitor.close()


def _serve(app: Any, host: str, port: int, log_level: str) -> None:
    """Serve until SIGTERM or Ctrl-C; the app's lifespan saves the state on the way out."""
    import uvicorn

    typer.echo(f"Dashboard: http://{host}:{port}/", err=True)
    sys.stderr.flush()
    uvicorn.run(app, host=host, port=port, log_level=log_level.lower(), access_log=False)

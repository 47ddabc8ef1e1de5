"""`trainforge assistant MODEL --faq FAQ`: check everything, then serve (or answer --ask)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from trainforge.errors import option_error


def assistant_command(
    model_dir: Annotated[Path, typer.Argument(help="Intent model package (RUN_DIR/model).")],
    faq: Annotated[
        Path, typer.Option("--faq", help="FAQ file: JSON lines {intent, answer, questions?}.")
    ],
    threshold: Annotated[
        float | None,
        typer.Option(
            "--threshold", help="Hand off under this confidence (default: the package's)."
        ),
    ] = None,
    precision: Annotated[
        float | None,
        typer.Option("--precision", help="Set the threshold for this precision on --calibration."),
    ] = None,
    calibration: Annotated[
        str | None,
        typer.Option("--calibration", help="Labelled questions (the model's columns)."),
    ] = None,
    min_similarity: Annotated[
        float | None,
        typer.Option(
            "--min-similarity",
            help="Retrieval answers only at this cosine similarity or more (default: 0.6 for "
            "MiniLM, 0.88 for multilingual-e5-small).",
        ),
    ] = None,
    retrieval_backbone: Annotated[
        str,
        typer.Option(
            "--retrieval-backbone",
            help="Retrieval encoder: auto (by the FAQ's script: minilm for English, "
            "multilingual-e5-small for Chinese and others), a backbone name or a folder.",
        ),
    ] = "auto",
    log: Annotated[
        Path | None, typer.Option("--log", help="Append every exchange here (JSON lines).")
    ] = None,
    ask: Annotated[
        list[str] | None,
        typer.Option("--ask", help="Answer this question, print the reply and exit (repeatable)."),
    ] = None,
    host: Annotated[str, typer.Option("--host", help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=0, max=65535)] = 8000,
    api_key_env: Annotated[
        str | None,
        typer.Option("--api-key-env", help="Environment variable holding the API key."),
    ] = None,
    max_question_length: Annotated[
        int, typer.Option("--max-question-length", min=1, help="Most characters per question.")
    ] = 2_000,
    max_body_bytes: Annotated[
        int, typer.Option("--max-body-bytes", min=1, help="Larger request bodies get 413.")
    ] = 65_536,
    request_timeout: Annotated[
        float, typer.Option("--request-timeout", min=0.0, help="Seconds before a 504.")
    ] = 30.0,
    max_batch_size: Annotated[
        int, typer.Option("--max-batch-size", min=1, help="Questions per model call.")
    ] = 32,
    max_wait_ms: Annotated[
        float, typer.Option("--max-wait-ms", min=0, help="How long a question waits to batch.")
    ] = 2.0,
    log_level: Annotated[str, typer.Option("--log-level", help="uvicorn log level.")] = "info",
    access_log: Annotated[
        bool, typer.Option("--access-log/--no-access-log", help="Log every request.")
    ] = True,
) -> None:
    """Customer-service assistant over HTTP: POST /v1/ask answers from the FAQ or hands off."""
    from trainforge.apps.assistant.settings import AssistantSettings

    settings = _settings(
        AssistantSettings,
        model_dir=model_dir,
        faq=faq,
        threshold=threshold,
        precision=precision,
        calibration=calibration,
        min_similarity=min_similarity,
        retrieval_backbone=retrieval_backbone,
        log=log,
        host=host,
        port=port,
        api_key_env=api_key_env,
        max_question_length=max_question_length,
        max_body_bytes=max_body_bytes,
        request_timeout_s=request_timeout,
        max_batch_size=max_batch_size,
        max_wait_ms=max_wait_ms,
        log_level=log_level,
        access_log=access_log,
    )
    settings.api_key()  # a missing key stops here, before the model loads
    assistant = _load(settings)
    if ask:
        for reply in assistant.ask_many(ask):
            typer.echo(json.dumps(reply.to_dict(), ensure_ascii=False))
        return
    _serve(assistant, settings)


def _settings(cls: Any, **values: Any) -> Any:
    from pydantic import ValidationError

    try:
        return cls(**values)
    except ValidationError as exc:
        raise option_error(exc, "assistant") from None


def _load(settings: Any) -> Any:
    """The assistant, with the FAQ's warnings printed as such."""
    import warnings

    from trainforge.apps.assistant.assistant import Assistant, FaqWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", FaqWarning)
        assistant = Assistant.from_files(
            settings.model_dir,
            settings.faq,
            threshold=settings.threshold,
            precision=settings.precision,
            calibration=settings.calibration,
            min_similarity=settings.min_similarity,
            retrieval_backbone=settings.retrieval_backbone,
            log=settings.log,
        )
    for warning in caught:
        if issubclass(warning.category, FaqWarning):
            typer.echo(f"Warning: {warning.message}", err=True)
        else:
            warnings.showwarning(
                warning.message, warning.category, warning.filename, warning.lineno
            )
    return assistant


def _serve(assistant: Any, settings: Any) -> None:
    import uvicorn

    from trainforge.apps.assistant.app import create_app

    info = assistant.info()
    missing = len(info["intents_without_answer"])
    typer.echo(
        f"Threshold {info['threshold']:.4f} ({info['threshold_source']}); "
        f"{info['faq_entries']} FAQ answers, {missing} intent(s) without one "
        f"(retrieval over {info['faq_questions']} questions with "
        f"{info['retrieval_encoder']}, min similarity {info['min_similarity']})",
        err=True,
    )
    uvicorn.run(
        create_app(assistant, settings),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        access_log=settings.access_log,
    )

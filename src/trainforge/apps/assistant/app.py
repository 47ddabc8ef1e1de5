"""The assistant's HTTP service: POST /v1/ask, plus health, readiness, metadata and metrics.

Built from the serving pieces of `trainforge serve`: the body limit (413), the API key (401),
Prometheus metrics, the 422 handler that names the field, and the batcher, which joins
concurrent questions into one model call on its own thread.

The assistant (model, FAQ, question embeddings) is loaded before the app is built, so every
mistake in the files stops `trainforge assistant` before it listens (exit 2).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Literal

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, Counter, generate_latest
from pydantic import BaseModel, ConfigDict, Field

from trainforge import __version__
from trainforge.apps.assistant.assistant import Assistant
from trainforge.apps.assistant.settings import AssistantSettings
from trainforge.errors import TrainforgeError
from trainforge.serving.app import invalid_request
from trainforge.serving.batching import Batcher
from trainforge.serving.limits import BodyLimitMiddleware, require_api_key
from trainforge.serving.metrics import MetricsMiddleware, ServiceMetrics
from trainforge.serving.schemas import Error, Health

DESCRIPTION = """A customer-service assistant: an intent model answers from an FAQ, or hands off.

Send `{"question": "...", "conversation_id": "..."}` to `POST /v1/ask` (the id is optional: a new
one comes back when absent). `handoff: true` means a person should answer.
"""


class AskRequest(BaseModel):
    """A customer's question, and the conversation it belongs to."""

    model_config = ConfigDict(extra="forbid")

    question: str = Field(min_length=1, examples=["My new card still has not arrived"])
    conversation_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=128,
        pattern=r"^[A-Za-z0-9._:-]+$",
        description="Carried into the reply and the log; a new one is made when absent.",
    )


class AskResponse(BaseModel):
    """The assistant's reply (see `trainforge.apps.assistant.Reply`)."""

    answer: str | None = Field(description="The FAQ answer; null on hand-off.")
    intent: str = Field(description="The most probable intent (also on hand-off).")
    confidence: float = Field(description="Its probability.")
    handoff: bool = Field(description="True: a person should answer.")
    source: Literal["intent", "retrieval", "handoff"]
    conversation_id: str
    matched_question: str | None = Field(
        default=None, description="Retrieval: the FAQ question matched."
    )
    similarity: float | None = Field(
        default=None, description="Retrieval: cosine similarity to the matched question."
    )


class Ready(BaseModel):
    """The assistant is loaded and answering."""

    status: Literal["ready"] = "ready"


def create_app(assistant: Assistant, settings: AssistantSettings) -> FastAPI:
    """The FastAPI app around a loaded assistant.

    Example:
        >>> app = create_app(Assistant.from_files("runs/intents/model", "faq.jsonl"), settings)
    """
    metrics = ServiceMetrics()
    app = FastAPI(
        title="trainforge assistant",
        version=__version__,
        description=DESCRIPTION,
        lifespan=_lifespan,
    )
    app.state.assistant = assistant
    app.state.settings = settings
    app.state.api_key = settings.api_key()
    app.state.metrics = metrics
    app.state.replies = _reply_counter(metrics)
    app.add_exception_handler(RequestValidationError, invalid_request)  # type: ignore[arg-type]
    app.include_router(router)
    known_paths = {getattr(route, "path", "") for route in router.routes}
    known_paths |= {str(url) for url in (app.docs_url, app.redoc_url, app.openapi_url) if url}
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(MetricsMiddleware, metrics=metrics, known_paths=known_paths)
    return app


def _reply_counter(metrics: ServiceMetrics) -> Counter:
    return Counter(
        "trainforge_assistant_replies",
        "Replies by source: intent, retrieval or handoff.",
        ["source"],
        registry=metrics.registry,
    )


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    assistant: Assistant = app.state.assistant
    settings: AssistantSettings = app.state.settings

    def call(inputs: list[tuple[str, str | None]]) -> tuple[list[Any], str]:
        replies = assistant.ask_many([q for q, _ in inputs], [c for _, c in inputs])
        return replies, "assistant"

    batcher = Batcher(
        call,
        max_batch_size=settings.max_batch_size,
        max_wait_ms=settings.max_wait_ms,
        on_batch=app.state.metrics.batch_size.observe,
    )
    app.state.batcher = batcher
    await batcher.start()
    try:
        yield
    finally:
        await batcher.stop()


router = APIRouter()


@router.post(
    "/v1/ask",
    dependencies=[Depends(require_api_key)],
    responses={
        401: {"model": Error, "description": "Missing or wrong API key."},
        413: {"model": Error, "description": "Body larger than --max-body-bytes."},
        422: {"model": Error, "description": "A bad request; `loc` names the field."},
        504: {"model": Error, "description": "Not answered within --request-timeout."},
    },
    tags=["assistant"],
)
async def ask(body: AskRequest, request: Request) -> AskResponse:
    """Answer a question from the FAQ, or hand it off to a person."""
    settings: AssistantSettings = request.app.state.settings
    question = body.question
    if not question.strip():
        raise _invalid(("body", "question"), "the question is empty or only whitespace")
    if len(question) > settings.max_question_length:
        raise _invalid(
            ("body", "question"),
            f"{len(question)} characters, more than --max-question-length "
            f"{settings.max_question_length}; shorten it",
        )
    batcher: Batcher = request.app.state.batcher
    try:
        result = await asyncio.wait_for(
            batcher.submit([(question, body.conversation_id)], "question"),
            settings.request_timeout_s,
        )
    except TimeoutError:
        raise HTTPException(
            504, detail=f"no reply within {settings.request_timeout_s} s; try again"
        ) from None
    except TrainforgeError as exc:  # the model refused the question: the client's to fix
        raise _invalid(("body", "question"), exc.message) from None
    reply = result.outputs[0]
    request.app.state.replies.labels(reply.source).inc()
    return AskResponse(**reply.to_dict())


@router.get("/v1/health", tags=["status"])
async def health() -> Health:
    """The process is alive."""
    return Health()


@router.get("/v1/ready", tags=["status"])
async def ready() -> Ready:
    """The assistant answers (its model and FAQ were loaded before the server started)."""
    return Ready()


@router.get(
    "/v1/metadata",
    dependencies=[Depends(require_api_key)],
    responses={401: {"model": Error}},
    tags=["status"],
)
async def metadata(request: Request) -> dict[str, Any]:
    """The model, its intents, which have no FAQ answer, the threshold and retrieval settings."""
    assistant: Assistant = request.app.state.assistant
    settings: AssistantSettings = request.app.state.settings
    return {
        "model_dir": str(settings.model_dir),
        "task": assistant.model.config.task,
        **assistant.info(),
        "limits": {
            "max_question_length": settings.max_question_length,
            "max_body_bytes": settings.max_body_bytes,
            "request_timeout_s": settings.request_timeout_s,
        },
    }


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus text."}},
    tags=["status"],
)
async def metrics(request: Request) -> Response:
    """Prometheus metrics: requests by status, latency, batch sizes, replies by source."""
    body = generate_latest(request.app.state.metrics.registry)
    return Response(content=body, media_type=CONTENT_TYPE_LATEST)


def _invalid(loc: tuple[str | int, ...], message: str) -> RequestValidationError:
    return RequestValidationError([{"loc": loc, "msg": message, "type": "value_error"}])

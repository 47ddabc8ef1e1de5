"""Generative packages: POST /v1/generate, and the OpenAI-compatible POST /v1/chat/completions
and GET /v1/models, each answered whole or streamed as server-sent events (`stream: true`).

Answers not streamed are batched with those of concurrent requests. Limits: a request's
`max_tokens` above --max-new-tokens, a prompt longer than --max-text-length characters or than
the model's context in tokens, get 422; larger bodies 413 (as for /v1/predict).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import StreamingResponse

from trainforge.errors import TrainforgeError
from trainforge.serving.deps import BatcherDep, Holder, Settings
from trainforge.serving.generation import Ask, event, pieces
from trainforge.serving.generation_schemas import (
    AssistantMessage,
    ChatCompletion,
    ChatRequest,
    Choice,
    Completion,
    Decoding,
    GenerateRequest,
    GenerateResponse,
    ModelCard,
    ModelList,
    Usage,
)
from trainforge.serving.holder import ModelHolder
from trainforge.serving.limits import require_api_key
from trainforge.serving.loader import LoadedModel
from trainforge.serving.metrics import ServiceMetrics
from trainforge.serving.routes.predict import _invalid, current_model, run_batch
from trainforge.serving.schemas import Error
from trainforge.serving.settings import ServeSettings

router = APIRouter(prefix="/v1", tags=["generate"], dependencies=[Depends(require_api_key)])

_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": Error, "description": "Missing or wrong API key."},
    404: {"model": Error, "description": "The model being served does not generate text."},
    413: {"model": Error, "description": "Body larger than --max-body-bytes."},
    422: {"model": Error, "description": "A field out of range, or a prompt over the limits."},
    503: {"model": Error, "description": "No model loaded yet."},
    504: {"model": Error, "description": "Not answered within --request-timeout."},
}
_STREAMED: dict[str, Any] = {"text/event-stream": {}}
# The roles a chat request may use; OpenAI's "developer" is the system turn.
_ROLES = {"developer": "system"}


async def _metrics(request: Request) -> ServiceMetrics:
    metrics: ServiceMetrics = request.app.state.metrics
    return metrics


Metrics = Annotated[ServiceMetrics, Depends(_metrics)]


@router.post("/generate", responses={**_RESPONSES, 200: {"content": _STREAMED}})
async def generate(
    body: GenerateRequest,
    request: Request,
    settings: Settings,
    holder: Holder,
    batcher: BatcherDep,
    metrics: Metrics,
) -> Any:
    """Answer each prompt (the user's turn) with the package's chat template.

    With `stream: true` (one prompt), the answer comes as server-sent events
    `data: {"text": "..."}`, then `data: {"finish_reason", "prompt_tokens",
    "completion_tokens"}` and `data: [DONE]`.
    """
    loaded = _generative(holder)
    prompts = [body.prompt] if isinstance(body.prompt, str) else body.prompt
    if not prompts:
        raise _invalid(("body", "prompt"), "give at least one prompt")
    if body.stream and len(prompts) > 1:
        raise _invalid(("body", "stream"), "stream one prompt at a time, or drop stream")
    options = _options(body, body.max_tokens, loaded, settings, ("body", "max_tokens"))
    asks = []
    for i, prompt in enumerate(prompts):
        loc = ("body", "prompt") if isinstance(body.prompt, str) else ("body", "prompt", i)
        asks.append(_ask([{"role": "user", "content": prompt}], options, loaded, settings, loc))
    if body.stream:
        stream = loaded.model.stream(asks[0].turns, **options)
        return _events(_generate_events(stream, request, metrics))
    result = await _answered(request, batcher, asks, settings)
    return GenerateResponse(
        completions=[Completion(**vars(c)) for c in result.outputs],
        model_version=result.version,
    )


@router.post("/chat/completions", responses={**_RESPONSES, 200: {"content": _STREAMED}})
async def chat_completions(
    body: ChatRequest,
    request: Request,
    settings: Settings,
    holder: Holder,
    batcher: BatcherDep,
    metrics: Metrics,
) -> Any:
    """OpenAI-compatible chat completion: the official `openai` client works unchanged
    (`base_url=".../v1"`, the API key as its `api_key`).

    With `stream: true`, `chat.completion.chunk` events as OpenAI sends them, then
    `data: [DONE]`; `stream_options.include_usage` adds the token counts at the end.
    """
    loaded = _generative(holder)
    turns = [{"role": _ROLES.get(m.role, m.role), "content": m.text()} for m in body.messages]
    limit_loc = ("body", "max_completion_tokens" if body.max_completion_tokens else "max_tokens")
    options = _options(body, body.limit(), loaded, settings, limit_loc)
    ask = _ask(turns, options, loaded, settings, ("body", "messages"))
    identity: dict[str, Any] = {
        "id": f"chatcmpl-{uuid.uuid4().hex}",
        "created": int(time.time()),
        "model": body.model or _name(loaded),
        "system_fingerprint": loaded.version,
    }
    if body.stream:
        usage = bool(body.stream_options and body.stream_options.include_usage)
        stream = loaded.model.stream(ask.turns, **options)
        return _events(_chat_events(stream, request, metrics, identity, usage))
    result = await _answered(request, batcher, [ask], settings)
    answer = result.outputs[0]
    return ChatCompletion(
        **identity,
        choices=[
            Choice(
                message=AssistantMessage(content=answer.text), finish_reason=answer.finish_reason
            )
        ],
        usage=_usage(answer),
    )


@router.get("/models", responses={401: _RESPONSES[401], 503: _RESPONSES[503]})
async def models(holder: Holder) -> ModelList:
    """The model being served, as OpenAI lists models (any name is answered by it)."""
    loaded = current_model(holder)
    created = int(loaded.path.stat().st_mtime)
    return ModelList(data=[ModelCard(id=_name(loaded), created=created)])


def _generative(holder: ModelHolder) -> LoadedModel:
    loaded = current_model(holder)
    if not hasattr(loaded.model, "stream"):
        task = loaded.manifest.get("task", "another task")
        raise HTTPException(
            404,
            detail=f"the model being served ({task}) does not generate text; use POST "
            "/v1/predict, or serve a text_generation package",
        )
    return loaded


def _options(
    body: Decoding,
    max_tokens: int | None,
    loaded: LoadedModel,
    settings: ServeSettings,
    loc: tuple[str, ...],
) -> dict[str, Any]:
    """The request's decoding options, its answer length held within --max-new-tokens
    (by default the package's `generation.max_new_tokens`, or --max-new-tokens if lower)."""
    if max_tokens is not None and max_tokens > settings.max_new_tokens:
        raise _invalid(
            loc,
            f"{max_tokens} tokens, more than the {settings.max_new_tokens} this server "
            "generates per answer; ask for fewer (or start it with a larger --max-new-tokens)",
        )
    options = body.options(max_tokens)
    own = loaded.model.decoding.max_new_tokens
    options.setdefault("max_new_tokens", min(own, settings.max_new_tokens))
    return options


def _ask(
    turns: list[dict[str, str]],
    options: dict[str, Any],
    loaded: LoadedModel,
    settings: ServeSettings,
    loc: tuple[str | int, ...],
) -> Ask:
    """The conversation checked: answerable, within --max-text-length and the context."""
    length = sum(len(turn["content"]) for turn in turns)
    if length > settings.max_text_length:
        raise _invalid(
            loc,
            f"{length} characters of text, more than --max-text-length "
            f"{settings.max_text_length}; shorten it",
        )
    model = loaded.model
    try:
        checked = model.conversation(turns, "request")
        model.prompt_ids(checked, "request")
    except TrainforgeError as exc:
        raise _invalid(loc, f"{exc.what}; {exc.fix}" if exc.fix else exc.what) from None
    return Ask.of(checked, options)


async def _answered(
    request: Request, batcher: Any, asks: list[Ask], settings: ServeSettings
) -> Any:
    """The completions of `asks` through the batcher; dropped if the client goes away first."""
    waiting = asyncio.ensure_future(
        run_batch(batcher, list(asks), asks[0].key, settings, ("body",), "answer")
    )
    while True:
        done, _ = await asyncio.wait({waiting}, timeout=0.5)
        if done:
            return waiting.result()
        if await request.is_disconnected():
            waiting.cancel()  # leaves the queue if its batch has not started
            raise HTTPException(499, detail="the client closed the connection")


def _events(events: AsyncIterator[str]) -> StreamingResponse:
    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return StreamingResponse(events, media_type="text/event-stream", headers=headers)


async def _generate_events(
    stream: Any, request: Request, metrics: ServiceMetrics
) -> AsyncIterator[str]:
    turns = request.app.state.turns
    try:
        async for got in pieces(stream, turns, metrics):
            yield event({"text": "".join(got)})
    except Exception as exc:  # headers are sent: the error goes in the stream
        yield event({"error": {"message": _message(exc)}})
        return
    yield event(
        {
            "finish_reason": stream.finish_reason,
            "prompt_tokens": stream.prompt_tokens,
            "completion_tokens": stream.completion_tokens,
        }
    )
    yield event("[DONE]")


async def _chat_events(
    stream: Any,
    request: Request,
    metrics: ServiceMetrics,
    identity: dict[str, Any],
    usage: bool,
) -> AsyncIterator[str]:
    turns = request.app.state.turns

    def chunk(delta: dict[str, str], finish: str | None = None) -> dict[str, Any]:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        return {**identity, "object": "chat.completion.chunk", "choices": [choice]}

    yield event(chunk({"role": "assistant", "content": ""}))
    try:
        async for got in pieces(stream, turns, metrics):
            yield event(chunk({"content": "".join(got)}))
    except Exception as exc:
        yield event({"error": {"message": _message(exc), "type": "server_error"}})
        return
    yield event(chunk({}, stream.finish_reason))
    if usage:
        yield event(
            {
                **identity,
                "object": "chat.completion.chunk",
                "choices": [],
                "usage": _usage(stream).model_dump(),
            }
        )
    yield event("[DONE]")


def _usage(answer: Any) -> Usage:
    return Usage(
        prompt_tokens=answer.prompt_tokens,
        completion_tokens=answer.completion_tokens,
        total_tokens=answer.prompt_tokens + answer.completion_tokens,
    )


def _name(loaded: LoadedModel) -> str:
    return str(loaded.manifest.get("name") or loaded.path.name)


def _message(exc: Exception) -> str:
    return exc.message if isinstance(exc, TrainforgeError) else f"{type(exc).__name__}: {exc}"

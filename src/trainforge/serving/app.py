"""The FastAPI app: `create_app(settings)` wires routers, middleware and the lifespan.

The model is loaded in the lifespan, in the background: GET /v1/health answers at once and
GET /v1/ready turns 200 once the model is loaded and warmed up. Nothing loads at import.

    uvicorn --factory trainforge.serving.app:create_app   # settings from TRAINFORGE_SERVE_SETTINGS
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from trainforge import __version__
from trainforge.models.turns import Turns
from trainforge.package import MANIFEST
from trainforge.serving.batching import Batcher
from trainforge.serving.generation import model_call
from trainforge.serving.holder import ModelHolder, ReloadError
from trainforge.serving.limits import BodyLimitMiddleware
from trainforge.serving.metrics import MetricsMiddleware, ServiceMetrics
from trainforge.serving.routes import admin, generate, predict, recommend, status
from trainforge.serving.settings import ServeSettings

DESCRIPTION = """Predictions from a trainforge model package.

Send `{"inputs": [...]}` to `POST /v1/predict`: texts for text models, objects with one key per
feature column for tabular models, `{"user": ..., "k": 10}` for recommenders (which also answer
`GET /v1/recommend?user=..&k=..`); `GET /v1/metadata` gives the schema of one input.
Text generation packages also answer `POST /v1/generate` and the OpenAI-compatible
`POST /v1/chat/completions` (whole, or streamed with `"stream": true`). When the
server runs with `--api-key-env`, send the key as `X-API-Key: KEY` or `Authorization: Bearer KEY`.
"""


def create_app(settings: ServeSettings | None = None) -> FastAPI:
    """Build the app; the model loads when it starts (lifespan), not here.

    Args:
        settings: the service settings; default: read from the environment (set by
            `trainforge serve` for its uvicorn workers).

    Example:
        >>> app = create_app(ServeSettings(model_dir=Path("runs/iris/model")))
    """
    settings = settings or ServeSettings.from_env()
    metrics = ServiceMetrics()
    app = FastAPI(
        title="trainforge",
        version=__version__,
        description=DESCRIPTION,
        lifespan=_lifespan,
    )
    app.state.settings = settings
    app.state.api_key = settings.api_key()
    app.state.metrics = metrics
    app.add_exception_handler(RequestValidationError, invalid_request)  # type: ignore[arg-type]
    routers = (predict.router, generate.router, recommend.router, status.router, admin.router)
    for router in routers:
        app.include_router(router)
    known_paths = {getattr(route, "path", "") for router in routers for route in router.routes}
    known_paths |= {str(url) for url in (app.docs_url, app.redoc_url, app.openapi_url) if url}
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    # Added last, so outermost: it also counts the 413s and 401s answered inside it.
    app.add_middleware(MetricsMiddleware, metrics=metrics, known_paths=known_paths)
    return app


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: ServeSettings = app.state.settings
    metrics: ServiceMetrics = app.state.metrics
    holder = ModelHolder(settings, on_swap=metrics.swapped, on_refused=metrics.refused)
    turns = Turns()  # one model call at a time: the batcher's and every stream's steps
    batcher = Batcher(
        model_call(holder, turns, metrics),
        max_batch_size=settings.max_batch_size,
        max_wait_ms=settings.max_wait_ms,
        on_batch=metrics.batch_size.observe,
    )
    app.state.holder, app.state.batcher, app.state.turns = holder, batcher, turns
    await batcher.start()
    task = asyncio.create_task(_load_then_watch(holder, settings), name="trainforge-model")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await batcher.stop()


async def _load_then_watch(holder: ModelHolder, settings: ServeSettings) -> None:
    # A failed first load leaves /v1/ready at 503 with the reason; the watcher (or a reload)
    # can still bring a good version in.
    with contextlib.suppress(ReloadError):
        await holder.reload()
    watched = not (settings.model_dir / MANIFEST).is_file()
    if watched and settings.watch_interval_s > 0:
        await holder.watch()


async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
    """422 with {loc, msg, type} per error; the offending input is not echoed back (it can be
    a megabyte of text), and a body that is not JSON gets a hint about the content type."""
    errors = [{k: e[k] for k in ("loc", "msg", "type") if k in e} for e in exc.errors()]
    content_type = request.headers.get("content-type", "")
    if "json" not in content_type and any(tuple(e.get("loc", ())) == ("body",) for e in errors):
        for error in errors:
            error["msg"] = (
                f"{error['msg']}; send a JSON object with Content-Type: application/json "
                f"(got {content_type or 'no content type'!r})"
            )
    return JSONResponse(status_code=422, content={"detail": jsonable_encoder(errors)})

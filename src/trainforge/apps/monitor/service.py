"""The monitor as a service: POST /v1/ingest, GET /v1/status, the dashboard at / and /metrics.

Built from the serving package's pieces (body-size limit, API key, Prometheus metrics). An
input file or stdin, when given, is read by a background thread started in the lifespan; the
state is checkpointed when the app stops.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import asdict
from typing import Annotated, Any

from fastapi import Body, Depends, FastAPI, HTTPException
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, Field

from trainforge import __version__
from trainforge.apps.monitor.dashboard import DASHBOARD_HTML
from trainforge.apps.monitor.runner import OpinionMonitor
from trainforge.apps.monitor.sources import FileTail, StdinLines
from trainforge.serving.app import invalid_request
from trainforge.serving.limits import BodyLimitMiddleware, require_api_key
from trainforge.serving.metrics import MetricsMiddleware, ServiceMetrics
from trainforge.serving.schemas import Error, Health

MAX_ITEMS = 10_000  # items in one ingest request


class IngestResponse(BaseModel):
    """What an ingest request did."""

    accepted: int = Field(description="Items classified and counted.")
    malformed: int = Field(description="Items refused (counted, not classified).")
    errors: list[dict[str, Any]] = Field(description='{"index", "error"} per malformed item.')
    alerts: list[dict[str, Any]] = Field(description="Alerts these items raised.")


def create_monitor_app(
    monitor: OpinionMonitor,
    *,
    source: FileTail | StdinLines | None = None,
    follow: bool = True,
    api_key: str | None = None,
    max_body_bytes: int = 8 * 1_048_576,
) -> FastAPI:
    """The FastAPI app of a monitor; an input `source` is read in the background while it runs.

    Args:
        monitor: the monitor (restored from its checkpoint already).
        source: a file tail or stdin to read besides HTTP ingest, or None.
        follow: keep reading a file as it grows (else stop at its end).
        api_key: the key POST /v1/ingest requires, or None.
        max_body_bytes: larger request bodies get 413.
    """
    stop = threading.Event()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        reader = None
        if source is not None:
            reader = threading.Thread(
                target=monitor.run,
                args=(source,),
                kwargs={"follow": follow, "stop": stop},
                name="monitor-input",
                daemon=True,
            )
            reader.start()
        try:
            yield
        finally:
            stop.set()
            if reader is not None:
                reader.join(timeout=30)
            monitor.close()

    app = FastAPI(
        title="trainforge opinion monitor",
        version=__version__,
        description="Sentiment of a stream of texts in sliding windows per topic, with alerts.",
        lifespan=lifespan,
    )
    app.state.api_key = api_key
    # serve's 422: each error's place and message, without echoing the (possibly huge) body.
    app.add_exception_handler(RequestValidationError, invalid_request)  # type: ignore[arg-type]
    metrics = ServiceMetrics()
    app.state.metrics = metrics

    @app.get("/v1/health")
    async def health() -> Health:
        """The process is alive."""
        return Health()

    @app.post(
        "/v1/ingest",
        dependencies=[Depends(require_api_key)],
        responses={401: {"model": Error}, 413: {"model": Error}, 422: {"model": Error}},
    )
    def ingest(
        body: Annotated[
            dict[str, Any] | list[Any],
            Body(
                description='One line as an object {"time", "text", "source"} or a list of them.',
                examples=[{"time": "2024-05-01T09:30:00Z", "text": "Shares fell 8 %."}],
            ),
        ],
    ) -> IngestResponse:
        """Classify and count lines; malformed items are counted and reported, and refused
        with 422 only when no item is valid."""
        items = body if isinstance(body, list) else [body]
        if not items:
            raise HTTPException(422, detail="the list is empty: send at least one line")
        if len(items) > MAX_ITEMS:
            raise HTTPException(
                413, detail=f"{len(items)} items in one request; send at most {MAX_ITEMS}"
            )
        result = monitor.feed_items(items)
        if result.accepted == 0:
            raise HTTPException(
                422,
                detail={
                    "message": "no valid line: each needs a non-empty 'text', and 'time' as "
                    "ISO-8601 or epoch seconds when present",
                    "errors": result.errors[:100],
                },
            )
        return IngestResponse(**asdict(result))

    @app.get("/v1/status")
    def status() -> dict[str, Any]:
        """Counters, per-topic windows with their baseline and series, and recent alerts."""
        return monitor.status()

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    @app.get("/dashboard", response_class=HTMLResponse, include_in_schema=False)
    async def dashboard() -> HTMLResponse:
        return HTMLResponse(DASHBOARD_HTML)

    @app.get("/metrics", include_in_schema=False)
    async def prometheus() -> Response:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    known = {"/v1/health", "/v1/ingest", "/v1/status", "/", "/dashboard", "/metrics"}
    app.add_middleware(BodyLimitMiddleware, max_bytes=max_body_bytes)
    app.add_middleware(MetricsMiddleware, metrics=metrics, known_paths=known)
    return app

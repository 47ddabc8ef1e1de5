"""Health, readiness, metadata and Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from trainforge.serving.deps import Holder, Settings
from trainforge.serving.limits import require_api_key
from trainforge.serving.schemas import Error, Health, Limits, Metadata, Ready

router = APIRouter(tags=["status"])


@router.get("/v1/health")
async def health() -> Health:
    """The process is alive (says nothing about the model: see /v1/ready)."""
    return Health()


@router.get("/v1/ready", responses={503: {"model": Error, "description": "Not ready yet."}})
async def ready(holder: Holder) -> Ready:
    """A model is loaded and warmed up: requests will be answered."""
    loaded = holder.current
    if loaded is None:
        reason = f"model failed to load: {holder.error}" if holder.error else "model loading"
        raise HTTPException(503, detail=reason)
    return Ready(model_version=loaded.version)


@router.get(
    "/v1/metadata",
    dependencies=[Depends(require_api_key)],
    responses={401: {"model": Error}, 503: {"model": Error}},
)
async def metadata(holder: Holder, settings: Settings) -> Metadata:
    """Task, labels, the schema of one input, the version and the run's metrics."""
    loaded = holder.current
    if loaded is None:
        raise HTTPException(503, detail="model loading; retry when GET /v1/ready answers 200")
    manifest = loaded.manifest
    return Metadata(
        model_version=loaded.version,
        task=str(manifest.get("task", loaded.model.config.task)),
        name=manifest.get("name"),
        model_type=manifest.get("model_type"),
        labels=loaded.model.labels,
        input_schema=loaded.input_schema,
        metrics=loaded.metrics,
        created=manifest.get("created"),
        format_version=manifest.get("format_version"),
        versions=manifest.get("versions", {}),
        runtime="onnx" if settings.onnx else "torch",
        limits=Limits(
            max_inputs=settings.max_inputs,
            max_text_length=settings.max_text_length,
            max_body_bytes=settings.max_body_bytes,
            request_timeout_s=settings.request_timeout_s,
            max_batch_size=settings.max_batch_size,
            max_wait_ms=settings.max_wait_ms,
        ),
    )


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus text."}},
)
async def metrics(request: Request) -> Response:
    """Prometheus metrics: requests by status, latency histogram, batch sizes, reloads."""
    body = generate_latest(request.app.state.metrics.registry)
    return Response(content=body, media_type=CONTENT_TYPE_LATEST)

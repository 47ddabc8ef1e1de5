"""Prometheus metrics of the service, served as text at GET /metrics.

Each app owns its registry (tests start several apps in one process). With `--workers N`, every
worker process counts its own requests; scrape them separately or run one worker per container.
"""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from trainforge.serving.loader import LoadedModel

# Seconds: from a few milliseconds (a batched tabular row) to the default 30 s timeout.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)


class ServiceMetrics:
    """Request counts by path and status, request latency, model-call batch sizes, reloads."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "trainforge_requests",
            "HTTP requests by path, method and status code.",
            ["path", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "trainforge_request_duration_seconds",
            "Time from request to response, by path.",
            ["path"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.batch_size = Histogram(
            "trainforge_batch_size",
            "Inputs per model call (dynamic batching joins concurrent requests).",
            buckets=BATCH_BUCKETS,
            registry=self.registry,
        )
        self.reloads = Counter(
            "trainforge_model_reloads",
            "Model loads by result: ok, or refused (the old model kept serving).",
            ["result"],
            registry=self.registry,
        )
        self.model_info = Gauge(
            "trainforge_model_info",
            "The model version being served (value 1).",
            ["version", "task"],
            registry=self.registry,
        )

        self.tokens = Counter(
            "trainforge_tokens",
            "Tokens of generation requests: prompt, or completion (generated).",
            ["kind"],
            registry=self.registry,
        )
        self.answers = Counter(
            "trainforge_generations",
            "Generated answers by finish reason: stop, length, or cancelled (the client left).",
            ["finish_reason"],
            registry=self.registry,
        )

    def generated(self, answer: Any) -> None:
        """Record one answer (a `Completion`, or a `TextStream` that is over)."""
        self.tokens.labels("prompt").inc(answer.prompt_tokens)
        self.tokens.labels("completion").inc(answer.completion_tokens)
        self.answers.labels(answer.finish_reason or "cancelled").inc()

    def swapped(self, loaded: LoadedModel) -> None:
        """Record a switch to a new model version."""
        self.reloads.labels("ok").inc()
        self.model_info.clear()
        self.model_info.labels(loaded.version, str(loaded.manifest.get("task", ""))).set(1)

    def refused(self, reason: str) -> None:
        """Record a refused package."""
        self.reloads.labels("refused").inc()


class MetricsMiddleware:
    """ASGI middleware counting every HTTP response (401s and 413s included) and its latency.

    Paths outside `known_paths` are counted as "other", so random URLs cannot grow the number
    of time series without bound.
    """

    def __init__(self, app: Any, metrics: ServiceMetrics, known_paths: set[str]) -> None:
        self.app = app
        self.metrics = metrics
        self.known_paths = known_paths

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"] if scope["path"] in self.known_paths else "other"
        status = 500  # unless a response starts
        start = time.perf_counter()

        async def send_and_record(message: Any) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_record)
        finally:
            self.metrics.requests.labels(path, scope["method"], str(status)).inc()
            self.metrics.latency.labels(path).observe(time.perf_counter() - start)

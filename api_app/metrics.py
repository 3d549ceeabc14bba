"""`GET /metrics` (Prometheus text) and the middleware that records every request.

Requests are counted by route template (never the raw path, so ids do not explode the label set)
and status; model routes also feed a latency histogram labelled `model`. Job and queue figures are
read live at scrape time from the job backend: from Redis they are cluster-wide, so the same
numbers come out of whichever uvicorn worker answers the scrape.
"""

import asyncio
import logging
import os
import time
from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api_app.routes import readiness
from common.jobs.types import JobStats
from common.metrics import HTTP_REQUESTS, MODEL_LATENCY, model_label, request_kind
from common.metrics_folder import multiprocess_mode

log = logging.getLogger(__name__)
access_log = logging.getLogger("sids.access")
router = APIRouter(tags=["Platform"])
UNMATCHED = "<unmatched>"
STATS_TIMEOUT = 1.0
SERIES_KEPT = 4096
"""Seconds a scrape waits for the job figures from Redis before answering without them."""


class MetricsMiddleware:
    """Counts every request, times model requests, and logs one line per request (route, status,
    duration, model, request id)."""

    def __init__(self, app: ASGIApp, prefixes: dict[str, str]) -> None:
        self.app = app
        self.prefixes = prefixes
        self._series: dict[tuple[str, str, int], tuple[str | None, Any, Any]] = {}

    def _series_of(self, route: str, method: str, status: int) -> tuple[str | None, Any, Any]:
        """The model label, request counter and latency histogram (None for platform routes) of a
        (route template, method, status), kept after the first lookup."""
        key = (route, method, status)
        series = self._series.get(key)
        if series is None:
            model = model_label(self.prefixes, route) if route != UNMATCHED else None
            requests = HTTP_REQUESTS.labels(route, method, str(status), model or "")
            latency = None
            if model is not None:
                latency = MODEL_LATENCY.labels(model, route, request_kind(method, status))
            series = (model, requests, latency)
            if len(self._series) < SERIES_KEPT:
                self._series[key] = series
        return series

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def record_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, record_status)
        finally:
            elapsed = time.perf_counter() - started
            method = scope["method"]
            route = getattr(scope.get("route"), "path", None) or UNMATCHED
            model, requests, latency = self._series_of(route, method, status)
            requests.inc()
            if latency is not None:
                latency.observe(elapsed)
            if access_log.isEnabledFor(logging.INFO):
                _log_request(scope, model, route, method, status, elapsed)


def _log_request(
    scope: Scope, model: str | None, route: str, method: str, status: int, elapsed: float
) -> None:
    fields = {
        "request_id": scope.get("state", {}).get("request_id"),
        "model": model,
        "route": route,
        "method": method,
        "status": status,
        "duration_ms": round(elapsed * 1000, 1),
    }
    access_log.info(
        "%s %s %d %.0f ms",
        method,
        route,
        status,
        elapsed * 1000,
        extra={k: v for k, v in fields.items() if v is not None},
    )


class JobsCollector:
    """Job counts and queue depth, read from the executor when scraped; for Redis also the live queue
    workers and the age of the oldest waiting job."""

    def __init__(self, stats: JobStats | None, backend: str) -> None:
        self.stats = stats
        self.backend = backend

    def collect(self) -> Iterator[Metric]:
        if self.stats is None:
            return
        if "workers" in self.stats:
            yield GaugeMetricFamily(
                "sids_queue_workers",
                "Queue workers alive (heartbeating) on the job queue, cluster-wide.",
                value=self.stats["workers"],
            )
            yield GaugeMetricFamily(
                "sids_job_queue_oldest_seconds",
                "How long the oldest waiting job has waited (0 when the queue is empty).",
                value=self.stats["oldest_seconds"],
            )
        jobs = GaugeMetricFamily(
            "sids_jobs",
            "Jobs now queued or running (backend label: local = this process, redis = the whole cluster).",
            labels=["status", "backend"],
        )
        for status in ("queued", "running"):
            jobs.add_metric([status, self.backend], self.stats[status])
        yield jobs
        depth = GaugeMetricFamily(
            "sids_job_queue_depth",
            "Jobs waiting for a worker (for redis: the length of the list KEDA scales on).",
            labels=["backend"],
        )
        depth.add_metric([self.backend], self.stats["queue_depth"])
        yield depth
        done = CounterMetricFamily(
            "sids_jobs_completed", "Jobs that ended, by outcome.", labels=["status", "backend"]
        )
        for status in ("succeeded", "failed", "cancelled"):
            done.add_metric([status, self.backend], self.stats["completed"].get(status, 0))
        yield done


class ReadinessCollector:
    """`sids_ready` and `sids_model_ready{model}` of this process, as /health/ready reports them."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app

    def collect(self) -> Iterator[Metric]:
        report = readiness(self.app)
        yield GaugeMetricFamily(
            "sids_ready",
            "1 when this process is ready (GET /health/ready is 200).",
            value=1 if report.status == "ready" else 0,
        )
        models = GaugeMetricFamily(
            "sids_model_ready", "1 when the model and its data are loaded.", labels=["model"]
        )
        for name, state in report.models.items():
            models.add_metric([name], 1 if state.state == "ready" else 0)
        yield models


def process_exit() -> None:
    """Drop this process's live gauges from the shared multiprocess folder (uvicorn worker exit)."""
    if multiprocess_mode():
        mark_process_dead(os.getpid())


def _process_metrics() -> bytes:
    if multiprocess_mode():
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        return generate_latest(registry)
    return generate_latest(REGISTRY)


@router.get(
    "/metrics",
    response_class=Response,
    summary="Prometheus metrics (text exposition format)",
    responses={200: {"content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}}}},
)
async def metrics(request: Request) -> Response:
    return await render(request.app)


async def render(app: FastAPI) -> Response:
    """The exposition of `app`'s metrics (also served on the internal METRICS_PORT)."""
    executor = app.state.jobs
    text = await asyncio.to_thread(_process_metrics)
    try:
        stats = await asyncio.wait_for(executor.stats(), STATS_TIMEOUT)
    except Exception as exc:
        log.warning("job figures unavailable for /metrics: %s", exc)
        stats = None
    live = CollectorRegistry()
    live.register(JobsCollector(stats, executor.backend))
    live.register(ReadinessCollector(app))
    text += generate_latest(live)
    return Response(text, media_type=CONTENT_TYPE_LATEST)

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

from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from common.metrics import HTTP_REQUESTS, MODEL_LATENCY, model_label

log = logging.getLogger(__name__)
router = APIRouter(tags=["Platform"])
UNMATCHED = "<unmatched>"
STATS_TIMEOUT = 1.0
"""Seconds a scrape waits for the job figures from Redis before answering without them."""


class MetricsMiddleware:
    def __init__(self, app: ASGIApp, prefixes: dict[str, str]) -> None:
        self.app = app
        self.prefixes = prefixes

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
            route = getattr(scope.get("route"), "path", None) or UNMATCHED
            HTTP_REQUESTS.labels(route, scope["method"], str(status)).inc()
            model = model_label(self.prefixes, route) if route != UNMATCHED else None
            if model is not None:
                MODEL_LATENCY.labels(model, route).observe(time.perf_counter() - started)


class JobsCollector:
    """Job counts and queue depth, read from the executor when scraped."""

    def __init__(self, stats: dict, backend: str) -> None:
        self.stats = stats
        self.backend = backend

    def collect(self):
        jobs = GaugeMetricFamily("sids_jobs", "Jobs now queued or running (backend label: local = this "
                                 "process, redis = the whole cluster).", labels=["status", "backend"])
        for status in ("queued", "running"):
            jobs.add_metric([status, self.backend], self.stats[status])
        yield jobs
        depth = GaugeMetricFamily("sids_job_queue_depth", "Jobs waiting for a worker (for redis: the "
                                  "length of the list KEDA scales on).", labels=["backend"])
        depth.add_metric([self.backend], self.stats["queue_depth"])
        yield depth
        done = CounterMetricFamily("sids_jobs_completed", "Jobs that ended, by outcome.",
                                   labels=["status", "backend"])
        for status in ("succeeded", "failed", "cancelled"):
            done.add_metric([status, self.backend], self.stats["completed"].get(status, 0))
        yield done


def process_exit() -> None:
    """Drop this process's live gauges from the shared multiprocess folder (uvicorn worker exit)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        mark_process_dead(os.getpid())


def _process_metrics() -> bytes:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        return generate_latest(registry)
    return generate_latest(REGISTRY)


@router.get("/metrics", response_class=Response, summary="Prometheus metrics (text exposition format)",
            responses={200: {"content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}}}})
async def metrics(request: Request) -> Response:
    return await render(request.app)


async def render(app) -> Response:
    """The exposition of `app`'s metrics (also served on the internal METRICS_PORT)."""
    executor = app.state.jobs
    text = await asyncio.to_thread(_process_metrics)
    try:
        stats = (await asyncio.wait_for(executor.link.call(executor.stats, what="reading job figures"), STATS_TIMEOUT)
                 if executor.backend == "redis" else executor.stats())
    except Exception as exc:
        log.warning("job figures unavailable for /metrics: %s", exc)
    else:
        live = CollectorRegistry()
        live.register(JobsCollector(stats, executor.backend))
        text += generate_latest(live)
    return Response(text, media_type=CONTENT_TYPE_LATEST)

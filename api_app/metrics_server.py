"""The internal metrics server: `GET /metrics` on METRICS_PORT for Prometheus, beside the public port.

The public port's `/metrics` needs `admin`; this one is reached only inside the cluster (the Gateway does
not route it). With several uvicorn workers the first one binds the port; the samples are shared through
PROMETHEUS_MULTIPROC_DIR, so its answer covers every worker.
"""

import asyncio
import contextlib
import logging
import socket
from collections.abc import Iterator

import uvicorn
from fastapi import FastAPI
from fastapi.responses import Response
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.routing import Route

from api_app import metrics

log = logging.getLogger(__name__)


class _EmbeddedServer(uvicorn.Server):
    """A uvicorn server inside the API process: the process's own server handles the signals."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class MetricsServer:
    def __init__(self, api_app: FastAPI, port: int | None, host: str = "0.0.0.0") -> None:
        self.api_app = api_app
        self.port = port
        self.host = host
        self.server: uvicorn.Server | None = None
        self.task: asyncio.Task[None] | None = None

    async def _metrics(self, request: Request) -> Response:
        return await metrics.render(self.api_app)

    async def start(self) -> None:
        if not self.port:
            return
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self.port))
        except OSError as exc:
            sock.close()
            log.info(
                "metrics port %s not bound by this process (%s); another worker serves it", self.port, exc
            )
            return
        app = Starlette(routes=[Route("/metrics", self._metrics)])
        config = uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False)
        self.server = _EmbeddedServer(config)
        self.task = asyncio.create_task(self.server.serve(sockets=[sock]))
        log.info("internal metrics server on port %s", self.port)

    async def stop(self) -> None:
        if self.server is not None and self.task is not None:
            self.server.should_exit = True
            await asyncio.wait({self.task}, timeout=5)

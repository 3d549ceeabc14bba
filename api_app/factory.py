"""create_app(settings): middleware, error handlers, lifespan (data loading) and model routers."""

import asyncio
import functools
import json
import logging
import multiprocessing
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import TYPE_CHECKING, Any

from fastapi import Depends, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.utils import get_openapi

from api_app import docs, error_handlers, jobs, metrics, playground, routes
from api_app.audit import routes as audit_routes
from api_app.audit.middleware import AuditMiddleware
from api_app.audit.writer import AuditWriter
from api_app.cached_route import CachedAnswers
from api_app.database import make_engine, upgrade_to_head
from api_app.discovery import DiscoveredPackage, Discovery, discover
from api_app.metrics_server import MetricsServer
from api_app.middleware import ALLOWED_METHODS, RequestGuard
from api_app.openapi_security import document_security
from api_app.security import admin as key_admin
from api_app.security.access import AccessControl, authorize
from api_app.security.headers import SecurityHeaders
from api_app.security.keys import KeyStore
from common.calls import Call, register_context
from common.compute import ComputePool, install_pool, install_processes, uninstall_pool, uninstall_processes
from common.errors import ErrorResponse
from common.jobs import build_jobs
from common.machine_speed import HOST, probe
from common.model_package import Resources
from common.processes import DataLoader, ProcessPool
from common.resources import READY, ResourceStore
from common.settings import Settings, get_settings
from common.telemetry import (
    build_tracer_provider,
    compute_context,
    configure_logging,
    install,
    resumed_compute,
    tag_process,
    uninstall,
)
from shared_dataloader import LOADERS, DatasetError

if TYPE_CHECKING:  # the OpenTelemetry SDK is imported only when tracing is on
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter

log = logging.getLogger(__name__)

VERSION = "1.1.0"
DESCRIPTION = """Machine-learning models for the SIDS data dashboard.

`GET /params` describes every model's inputs; each model's endpoints are grouped by tag below.
Enum fields are sent by member NAME. Errors share one JSON shape: `{code, detail, errors}`.

Try every model with forms and charts in the [playground](ui)."""
ERROR_REF = {"$ref": "#/components/schemas/ErrorResponse"}
CORS_ALLOW_HEADERS = ("Authorization", "X-API-Key", "Content-Type", "Prefer", "If-None-Match", "X-Request-ID")
CORS_EXPOSE_HEADERS = (
    "Location",
    "ETag",
    "X-Request-ID",
    "Retry-After",
    "Preference-Applied",
    "RateLimit-Limit",
    "RateLimit-Remaining",
    "RateLimit-Reset",
    "X-Model-Version",
    "Content-Disposition",
)
UNTRACED_URLS = "/health/(live|ready)$,/metrics$"


async def _load_resources(settings: Settings, store: ResourceStore, names: list[str]) -> None:
    """Load the data `names` at once, each on its own thread (on a first start the model store's
    verifying child process runs while the dataset's CSV files are parsed)."""
    await asyncio.gather(*(_load_resource(settings, store, name) for name in names))


async def _load_resource(settings: Settings, store: ResourceStore, name: str) -> None:
    if store.state(name).state == READY:  # loaded before the process was forked (api_app.serve)
        return
    loader = LOADERS.get(name)
    if loader is None:
        store.set_failed(name, f"no loader for data {name!r}; known: {', '.join(sorted(LOADERS))}")
        return
    started = time.perf_counter()
    try:
        store.set_ready(name, await asyncio.to_thread(loader, settings))
        log.info("data %s loaded in %.2f s", name, time.perf_counter() - started)
    except DatasetError as exc:
        log.error("data %s failed to load: %s", name, exc)
        store.set_failed(name, str(exc))
    except Exception as exc:
        log.exception("data %s failed to load", name)
        store.set_failed(name, f"{type(exc).__name__}: {exc}")


def _resources(package: DiscoveredPackage, store: ResourceStore) -> Resources | None:
    """The package's loaded resources, or None while one is not loaded."""
    if not all(store.state(name).state == READY for name in package.required_resources):
        return None
    return {name: store.get(name) for name in package.required_resources}


async def _warm_up(
    discovery: Discovery,
    store: ResourceStore,
    warmed: set[str],
    compute_warmed: set[str],
    processes: ProcessPool,
) -> bool:
    """Run the models' optional COMPUTE_WARMUP where the compute processes are forked from
    (`ProcessPool.warm_up`: in a new zygote, which the compute processes are then forked from), then
    each model's WARMUP here once its resources are loaded, unless they ran before this process was
    forked (`warmed`, `compute_warmed`: api_app.serve); a failure only costs speed. In that order, so
    that a WARMUP that hands work to a compute process (an artifact model checking the pipelines they
    score) finds one that holds the libraries and the pipelines already. Whether any ran."""
    pending = [p for p in discovery.mounted if p.compute_warmup is not None and p.name not in compute_warmed]
    compute_warmed.update(p.name for p in pending)
    if pending:
        await asyncio.to_thread(processes.warm_up, functools.partial(compute_warm_up, pending, store))
    ran = bool(pending)
    for package in discovery.mounted:
        if package.warmup is None or package.name in warmed:
            continue
        resources = _resources(package, store)
        if resources is not None:
            ran = True
            await asyncio.to_thread(package.warm_up, "warm-up", resources, otherwise="it serves without it")
        warmed.add(package.name)
    return ran


def compute_warm_up(packages: list[DiscoveredPackage], store: ResourceStore) -> None:
    """The COMPUTE_WARMUP of `packages` whose resources are loaded, with the data as it is now (runs
    in the zygote, again in each new one after the data changed)."""
    for package in packages:
        resources = _resources(package, store)
        if resources is not None:
            package.warm_up("compute warm-up", resources, otherwise="it computes without it")


async def _start_up(
    app: FastAPI,
    settings: Settings,
    discovery: Discovery,
    store: ResourceStore,
    needed: list[str],
    processes: ProcessPool,
) -> None:
    """Load the data (artifacts verified, not deserialized) and fork the compute processes: then the
    app is ready. The models' warm-ups follow in the background (COMPUTE_WARMUP in a new zygote:
    libraries, caches, the compute processes forked again from it to inherit them; then WARMUP here:
    artifacts, catalogues); a request that needs something meanwhile loads it itself (an artifact load
    in progress is waited for)."""
    started = time.perf_counter()
    await _load_resources(settings, store, needed)
    await asyncio.to_thread(processes.refresh)
    app.state.computing = True
    log.info("compute processes started; start-up done in %.2f s", time.perf_counter() - started)
    # Without keys to look up, the audit database is brought to its schema (Alembic) after readiness;
    # the records of the first requests wait in memory until then.
    app.state.audit.start()
    if await _warm_up(discovery, store, app.state.warmed, app.state.compute_warmed, processes):
        log.info("warm-ups done (compute processes forked again after the compute warm-ups)")
    else:
        log.info("warm-ups done (none to run)")
    if settings.machine_speed_probe:
        HOST.measure_in_background(
            functools.partial(_probe_unit, processes, settings.compute_timeout_seconds)
        )


def _probe_unit(processes: ProcessPool, timeout: float) -> float:
    """This host's machine unit, measured in a compute process (`common.machine_speed.probe`)."""
    answer = asyncio.run(processes.run(Call.of(probe, None), timeout))
    return float(json.loads(answer))


def _compute_processes(settings: Settings, store: ResourceStore) -> ProcessPool:
    """Compute processes forked from this one once the data is loaded (they share it), or spawned
    where the platform cannot fork (each then loads the data it is asked for)."""
    isolation = settings.effective_compute_isolation
    can_fork = "fork" in multiprocessing.get_all_start_methods()
    return ProcessPool(
        settings.compute_workers,
        settings.compute_queue_size,
        store.get if can_fork else DataLoader(settings),
        isolation,
        start_method="fork" if can_fork else "spawn",
        scoring_workers=settings.effective_compute_scoring_workers,
    )


def _lifespan(
    settings: Settings, discovery: Discovery, store: ResourceStore, tracing: "TracerProvider | None"
) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if tracing is not None:
            install(tracing)
        pool = ComputePool(
            settings.compute_workers, settings.compute_queue_size, settings.compute_timeout_seconds
        )
        install_pool(pool)
        processes = app.state.processes = _compute_processes(settings, store)
        install_processes(processes)
        needed = sorted({name for p in discovery.mounted for name in p.required_resources})
        for name in needed:
            store.expect(name)
        app.state.loading = asyncio.create_task(_start_up(app, settings, discovery, store, needed, processes))
        await app.state.jobs.start()
        if settings.auth_enabled:  # keys are looked up from the first request: the schema must be there
            await asyncio.to_thread(app.state.audit.flush)  # brings the database to the current schema
            app.state.audit.start()
        metrics_server = MetricsServer(app, settings.metrics_port)
        await metrics_server.start()
        try:
            yield
        finally:
            await metrics_server.stop()
            await app.state.access.close()
            await asyncio.to_thread(app.state.audit.stop)
            app.state.database.dispose()
            await app.state.jobs.stop()
            metrics.process_exit()
            app.state.loading.cancel()
            uninstall_pool(pool)
            uninstall_processes(processes)
            pool.shutdown()
            await asyncio.to_thread(processes.shutdown)
            if tracing is not None:
                uninstall(tracing)

    return lifespan


def _openapi(app: FastAPI, settings: Settings) -> Callable[[], dict[str, Any]]:
    """OpenAPI with the real error shape: every operation documents 4XX/5XX as ErrorResponse."""

    def build() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(
            title=app.title,
            version=app.version,
            description=app.description,
            routes=app.routes,
            tags=app.openapi_tags,
        )
        error_content = {"application/json": {"schema": ERROR_REF}}
        for operations in schema.get("paths", {}).values():
            for operation in operations.values():
                responses = operation.setdefault("responses", {})
                responses["422"] = {
                    "description": "Invalid input; `detail` says what is valid.",
                    "content": error_content,
                }
                responses.setdefault("4XX", {"description": "Client error", "content": error_content})
                responses.setdefault(
                    "5XX", {"description": "Server error or unavailable", "content": error_content}
                )
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components.pop("HTTPValidationError", None)
        components.pop("ValidationError", None)
        error_schema = ErrorResponse.model_json_schema(ref_template="#/components/schemas/{model}")
        components.update(error_schema.pop("$defs", {}))
        components["ErrorResponse"] = error_schema
        document_security(schema, settings, error_content)
        app.openapi_schema = schema
        return schema

    return build


def create_app(
    settings: Settings | None = None,
    models_package: str = "models",
    span_exporter: "SpanExporter | None" = None,
) -> FastAPI:
    """The app. It traces requests when OTEL_EXPORTER_OTLP_ENDPOINT is set (or a test passes its own
    `span_exporter`); otherwise it installs no tracing at all."""
    settings = settings or get_settings()
    configure_logging(settings)
    register_context(compute_context, resumed_compute)
    discovery = discover(settings.model_service, models_package)
    store = ResourceStore()
    tracing = build_tracer_provider(settings, "sids-api", span_exporter)
    app = FastAPI(
        title="SIDS ML Backend",
        version=VERSION,
        description=DESCRIPTION,
        lifespan=_lifespan(settings, discovery, store, tracing),
        dependencies=[Depends(authorize)],
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.discovery = discovery
    app.state.resources = store
    app.state.computing = False
    app.state.warmed = set()
    app.state.compute_warmed = set()
    app.state.model_prefixes = {p.mounted_router.prefix: p.name for p in discovery.mounted}
    app.state.jobs, app.state.cache = build_jobs(settings, lambda: app.state.processes)
    app.state.flights = {}
    database_url = settings.effective_database_url
    app.state.database = make_engine(database_url)
    app.state.keys = KeyStore(app.state.database, settings.api_key_cache_seconds)
    app.state.access = AccessControl(settings, app.state.keys)
    app.state.audit = AuditWriter(
        app.state.database,
        settings.state_dir / "audit-spool.jsonl",
        settings.audit_flush_seconds,
        settings.audit_retention_days,
        prepare=lambda: upgrade_to_head(database_url),
    )

    app.include_router(routes.router)
    docs.install(app)
    app.include_router(jobs.router)
    app.include_router(metrics.router)
    app.include_router(audit_routes.router)
    app.include_router(key_admin.router)
    for package in discovery.mounted:
        app.include_router(package.mounted_router)
    playground.install(app)
    error_handlers.install(app)
    app.add_middleware(CachedAnswers)
    app.add_middleware(RequestGuard, max_body_bytes=settings.max_body_bytes)
    app.add_middleware(AuditMiddleware, store_bodies=settings.audit_store_bodies)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=list(settings.cors_origins),
        allow_methods=list(ALLOWED_METHODS),
        allow_headers=list(CORS_ALLOW_HEADERS),
        expose_headers=list(CORS_EXPOSE_HEADERS),
        max_age=600,
    )
    app.add_middleware(SecurityHeaders)
    app.add_middleware(metrics.MetricsMiddleware, prefixes=app.state.model_prefixes)
    if tracing is not None:
        from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

        FastAPIInstrumentor.instrument_app(
            app,
            tracer_provider=tracing,
            excluded_urls=UNTRACED_URLS,
            server_request_hook=tag_process,
            exclude_spans=["receive", "send"],
        )
    # FastAPI's documented way to customise the schema is to replace the app's `openapi` method.
    app.openapi = _openapi(app, settings)  # type: ignore[method-assign]
    return app

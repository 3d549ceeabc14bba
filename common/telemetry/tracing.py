"""OpenTelemetry tracing: a provider only when there is somewhere to send spans, child spans for the
stages that cost time, and trace context carried with a job to another thread or process.

The provider is this module's, not OpenTelemetry's global one (which can be set once per process),
so an app or a test can install its own and remove it again. Without one, `span` yields at once.
"""

import contextlib
import os
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace

from common.settings import Settings
from common.telemetry.context import bind, current_model, current_request_id

if TYPE_CHECKING:  # the SDK is imported only when tracing is on (`build_tracer_provider`)
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter

T = TypeVar("T")
TRACER_NAME = "sids"
TRACES_PATH = "/v1/traces"
PID = "process.pid"

_provider: "TracerProvider | None" = None
_tracer: trace.Tracer | None = None


def build_tracer_provider(
    settings: Settings, service: str, exporter: "SpanExporter | None" = None
) -> "TracerProvider | None":
    """A provider exporting to `exporter`, or over OTLP/HTTP to OTEL_EXPORTER_OTLP_ENDPOINT; None
    when neither is given (tracing off, nothing installed, no cost)."""
    if exporter is None:
        if not settings.otel_exporter_otlp_endpoint:
            return None
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter(endpoint=settings.otel_exporter_otlp_endpoint.rstrip("/") + TRACES_PATH)
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: settings.otel_service_name or service}))
    provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider


def tag_process(span: trace.Span, scope: dict[str, Any]) -> None:
    """Server-request hook: which process (uvicorn worker) served the request."""
    if span.is_recording():
        span.set_attribute(PID, os.getpid())


def install(provider: "TracerProvider | None") -> None:
    """Make `provider` the one `span` and `resumed` record to (None: tracing off)."""
    global _provider, _tracer
    _provider = provider
    _tracer = provider.get_tracer(TRACER_NAME) if provider is not None else None


def installed() -> "TracerProvider | None":
    return _provider


def uninstall(provider: "TracerProvider") -> None:
    """Remove `provider` if it is still the installed one, after sending what it holds."""
    if _provider is provider:
        install(None)
    provider.shutdown()


def flush(timeout_millis: int = 5000) -> None:
    """Send the spans buffered so far (a forked work horse ends with `os._exit`, which would lose them)."""
    if _provider is not None:
        _provider.force_flush(timeout_millis)


@contextlib.contextmanager
def span(name: str, **attributes: Any) -> Iterator[trace.Span | None]:
    """A child span of the current one for a stage of the work; nothing when tracing is off."""
    tracer = _tracer
    if tracer is None:
        yield None
        return
    with tracer.start_as_current_span(name, attributes=_clean(attributes)) as current:
        yield current


def set_attributes(**attributes: Any) -> None:
    """Set attributes on the current span (e.g. whether a cache was hit); nothing when tracing is off."""
    if _tracer is not None:
        trace.get_current_span().set_attributes(_clean(attributes))


def _clean(attributes: dict[str, Any]) -> dict[str, Any]:
    return {f"sids.{key}": value for key, value in attributes.items() if value is not None}


def carrier() -> dict[str, Any]:
    """The trace context, request id and model of the work in hand, and the time now: what a job
    takes along to the thread or process that will run it (plain JSON data)."""
    found: dict[str, Any] = {"queued_at": time.time()}
    propagate.inject(found)
    if (request_id := current_request_id()) is not None:
        found["request_id"] = request_id
    if (model := current_model()) is not None:
        found["model"] = model
    return found


@contextlib.contextmanager
def resumed(carried_context: dict[str, Any] | None, waited: str | None) -> Iterator[None]:
    """Continue the work of `carried_context` here: its trace becomes the current one (so log lines
    carry its trace id even where tracing is off), its request id and model are bound, and the time
    since it was queued is recorded as a span named `waited`."""
    found = carried_context or {}
    if waited is None:
        found = {k: v for k, v in found.items() if k != "queued_at"}
    token = otel_context.attach(propagate.extract(found)) if "traceparent" in found else None
    try:
        with bind(found.get("request_id"), found.get("model")):
            queued_at = _seconds(found.get("queued_at"))
            if _tracer is not None and waited is not None and queued_at is not None:
                _tracer.start_span(
                    waited, start_time=int(queued_at * 1e9), attributes={PID: os.getpid()}
                ).end()
            yield
    finally:
        if token is not None:
            otel_context.detach(token)


def _seconds(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def compute_context() -> dict[str, str]:
    """`carrier()` as strings, for `common.calls.Call.context` (a call to a compute process)."""
    return {key: str(value) for key, value in carrier().items()}


def resumed_compute(context: dict[str, str]) -> contextlib.AbstractContextManager[None]:
    """`resumed` for a call in a compute process: its wait for a free process is `compute.queue_wait`."""
    return resumed(context, "compute.queue_wait")


def carried(fn: Callable[..., T], waited: str | None = None) -> Callable[..., T]:
    """`fn` wrapped to run in the calling context wherever it is later called (another thread);
    the time until then is recorded as a span named `waited` (if named)."""
    taken = carrier()

    def run(*args: Any, **kwargs: Any) -> T:
        with resumed(taken, waited):
            return fn(*args, **kwargs)

    return run

"""Logging format and tracing, set up explicitly by the entry points (the app factory and
`python -m api_app.worker`); importing this package configures nothing.

- `configure_logging(settings)`: text or one JSON object per line (LOG_FORMAT), with the request id,
  trace id and model of the work in hand on every line.
- `build_tracer_provider(settings, service)` / `install`: OpenTelemetry with an OTLP/HTTP exporter
  when OTEL_EXPORTER_OTLP_ENDPOINT is set, nothing otherwise.
- `span(name)`: a child span for a stage that costs time (free when tracing is off).
- `carrier()` / `resumed(carrier, wait_span)`: carry trace and log context with a job to another
  thread or process (Redis queue, compute pool) and record how long it waited;
  `compute_context` / `resumed_compute` are the same as hooks of `common.calls` (compute processes).
"""

from common.telemetry.context import bind, bind_for_request, current_model, current_request_id
from common.telemetry.logs import configure_logging
from common.telemetry.tracing import (
    build_tracer_provider,
    carried,
    carrier,
    compute_context,
    flush,
    install,
    installed,
    resumed,
    resumed_compute,
    set_attributes,
    span,
    tag_process,
    uninstall,
)

__all__ = [
    "bind",
    "bind_for_request",
    "build_tracer_provider",
    "carried",
    "carrier",
    "compute_context",
    "configure_logging",
    "current_model",
    "current_request_id",
    "flush",
    "install",
    "installed",
    "resumed",
    "resumed_compute",
    "set_attributes",
    "span",
    "tag_process",
    "uninstall",
]

"""Logging format and tracing, set up explicitly by the entry points (the app factory and
`python -m api_app.worker`); importing this package configures nothing.

- `configure_logging(settings)`: text or one JSON object per line (LOG_FORMAT), with the request id,
  trace id and model of the work in hand on every line.
- `build_tracer_provider(settings, service)` / `install`: OpenTelemetry with an OTLP/HTTP exporter
  when OTEL_EXPORTER_OTLP_ENDPOINT is set, nothing otherwise.
- `span(name)`: a child span for a stage that costs time (free when tracing is off).
- `carrier()` / `resumed(carrier, wait_span)`: carry trace and log context with a job to another
  thread or process (Redis queue, compute pool) and record how long it waited.
"""

from common.telemetry.context import bind, current_model, current_request_id
from common.telemetry.logs import configure_logging
from common.telemetry.tracing import (build_tracer_provider, carried, carrier, flush, install, installed,
                                      resumed, set_attributes, span, uninstall)

__all__ = ["bind", "build_tracer_provider", "carried", "carrier", "configure_logging", "current_model",
           "current_request_id", "flush", "install", "installed", "resumed", "set_attributes", "span",
           "uninstall"]

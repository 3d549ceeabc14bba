"""LOG_FORMAT: `text` for people, `json` (one object per line) for log pipelines.

Every line carries the request id, trace id and model of the work in hand when there is one; lines
about a finished request or job add route, method, status and duration_ms (given as `extra`).
"""

import logging
import sys
from typing import TextIO

from opentelemetry import trace
from pythonjsonlogger.core import LogData
from pythonjsonlogger.json import JsonFormatter

from common.settings import Settings

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s%(context)s: %(message)s"
JSON_FIELDS = "{levelname}{name}{message}"
RENAMED = {"levelname": "level", "name": "logger"}
UVICORN_LOGGERS = ("uvicorn", "uvicorn.error")
HANDLER_NAME = "sids"


class ContextFilter(logging.Filter):
    """Adds request_id, trace_id, span_id and model (when known) to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        from common.telemetry.context import current_model, current_request_id

        found = {"request_id": current_request_id(), "model": current_model()}
        span_context = trace.get_current_span().get_span_context()
        if span_context.is_valid:
            found["trace_id"] = format(span_context.trace_id, "032x")
            found["span_id"] = format(span_context.span_id, "016x")
        for key, value in found.items():
            if value is not None and not hasattr(record, key):
                setattr(record, key, value)
        context = "".join(
            f" {key}={getattr(record, key)}"
            for key in ("request_id", "trace_id")
            if getattr(record, key, None)
        )
        # An extra field, set the way `logging` sets those given as `extra`.
        record.__dict__["context"] = f" [{context.strip()}]" if context else ""
        return True


class JsonLines(JsonFormatter):
    """python-json-logger's formatter without the text-only `context` field."""

    def process_log_record(self, log_data: LogData) -> LogData:
        log_data.pop("context", None)
        return log_data


def formatter(log_format: str) -> logging.Formatter:
    if log_format == "json":
        return JsonLines(JSON_FIELDS, style="{", rename_fields=RENAMED, timestamp="time")
    return logging.Formatter(TEXT_FORMAT)


def configure_logging(settings: Settings, stream: TextIO | None = None) -> None:
    """One handler on the root logger in the chosen format (replacing an earlier one, or a plain
    stream handler such as `logging.basicConfig`'s; handlers of test tools stay). In JSON mode uvicorn's own lines go
    through it too, and its access log is silenced (the app logs every request with more fields)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(formatter(settings.effective_log_format))
    handler.addFilter(ContextFilter())
    handler.set_name(HANDLER_NAME)
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == HANDLER_NAME or type(h) is logging.StreamHandler]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(settings.log_level)
    if settings.effective_log_format == "json":
        for name in UVICORN_LOGGERS:
            logger = logging.getLogger(name)
            logger.handlers.clear()
            logger.propagate = True
        logging.getLogger("uvicorn.access").disabled = True

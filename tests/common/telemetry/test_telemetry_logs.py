"""LOG_FORMAT: JSON lines with the request's id, trace id, model, route, status and duration; text by
default in development; an incoming X-Request-ID is kept and a new one made when absent."""

import io
import json
import logging

import pytest
from fastapi.testclient import TestClient

from api_app.factory import create_app
from common.settings import Settings
from common.telemetry import bind, configure_logging
from helpers.app import make_settings, wait_ready


@pytest.fixture
def restore_logging():
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
    for handler in handlers:
        if handler not in root.handlers:
            root.addHandler(handler)
    root.setLevel(level)
    logging.getLogger("uvicorn.access").disabled = False


def test_format_defaults_to_text_in_development_and_json_elsewhere():
    assert Settings(_env_file=None).effective_log_format == "text"
    assert Settings(_env_file=None, environment="test").effective_log_format == "json"
    assert (
        Settings(_env_file=None, environment="development", log_format="JSON").effective_log_format == "json"
    )
    with pytest.raises(ValueError):
        Settings(_env_file=None, log_format="xml")


def test_json_lines_carry_the_bound_context_and_exceptions(restore_logging):
    stream = io.StringIO()
    configure_logging(Settings(_env_file=None, log_format="json"), stream)
    log = logging.getLogger("sids.test")
    with bind(request_id="req-1", model="twolvlImp"):
        log.info("done %s", "here", extra={"route": "/twolvlImp/predict", "status": 200, "duration_ms": 1.5})
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        log.exception("failed")
    first, second = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert first == {
        **first,
        "level": "INFO",
        "logger": "sids.test",
        "message": "done here",
        "request_id": "req-1",
        "model": "twolvlImp",
        "route": "/twolvlImp/predict",
        "status": 200,
        "duration_ms": 1.5,
    }
    assert first["time"].endswith("+00:00") and "context" not in first
    assert (
        second["level"] == "ERROR"
        and "RuntimeError: boom" in second["exc_info"]
        and "request_id" not in second
    )
    assert logging.getLogger("uvicorn.access").disabled, "the app's access line replaces uvicorn's"


def test_text_lines_show_the_request_id(restore_logging):
    stream = io.StringIO()
    configure_logging(Settings(_env_file=None), stream)
    with bind(request_id="req-2"):
        logging.getLogger("sids.test").warning("slow")
    line = stream.getvalue().strip()
    assert line.endswith("WARNING sids.test [request_id=req-2]: slow"), line


def test_every_request_is_logged_once_with_its_kept_or_new_request_id(restore_logging):
    app = create_app(make_settings(model_service=("sampleapi",), log_format="json"))
    stream = io.StringIO()
    with TestClient(app) as client:
        wait_ready(client)
        configure_logging(app.state.settings, stream)
        kept = client.post(
            "/sampleapi/predict",
            json={"indicator": "wdi-EG.ELC.ACCS.ZS", "year": "2013"},
            headers={"X-Request-ID": "dashboard-42"},
        )
        made = client.get("/sampleapi/predict")
    assert kept.headers["x-request-id"] == "dashboard-42"
    assert len(made.headers["x-request-id"]) == 32 and made.status_code == 405
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    access = [line for line in lines if line["logger"] == "sids.access"]
    assert [(a["request_id"], a["route"], a["status"]) for a in access] == [
        ("dashboard-42", "/sampleapi/predict", 200),
        (made.headers["x-request-id"], "/sampleapi/predict", 405),
    ]
    assert (
        access[0]["model"] == "sampleapi" and access[0]["method"] == "POST" and access[0]["duration_ms"] > 0
    )

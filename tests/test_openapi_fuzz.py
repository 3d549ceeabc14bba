"""Property-based fuzzing of the whole OpenAPI schema, in process: no 5xx, responses match the schema.

It covers every model that is mounted, so each new model is held to it automatically.
"""

import time

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.python.asgi import get_client
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

from api_app.factory import create_app
from conftest import READY_TIMEOUT, make_settings

app = create_app(make_settings())
schema = schemathesis.openapi.from_asgi("/openapi.json", app)


def wait_until_loaded() -> None:
    """Start the app's lifespan (schemathesis keeps it running) and wait until data is loaded."""
    client = get_client(app)
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        report = client.get("http://testserver/health/ready").json()
        states = [c["state"] for c in [*report["models"].values(), *report["data"].values()]]
        if "loading" not in states:
            assert report["status"] == "ready", report
            return
        time.sleep(0.1)
    raise AssertionError("the app did not finish loading")


def test_app_is_ready_before_fuzzing():
    wait_until_loaded()


def not_a_server_error(ctx, response, case):
    """Our own check, so the message shows the request and the error body."""
    if response.status_code >= 500:
        raise AssertionError(f"{case.method} {case.formatted_path} -> {response.status_code}: "
                             f"{response.text[:500]}")


@schema.parametrize()
@settings(max_examples=25, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
def test_no_server_errors_and_schema_conformant_responses(case):
    wait_until_loaded()
    case.call_and_validate(checks=[not_a_server_error, response_schema_conformance,
                                   content_type_conformance])

"""Property-based fuzzing of the whole OpenAPI schema, in process: no 5xx, responses match the schema.

It covers every model that is mounted, so each new model is held to it automatically. Endpoints that
train models on valid input (seconds per request) get schema-violating input only; their valid-input
behaviour is tested by their model's own tests.
"""

import time

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import GenerationMode
from schemathesis.python.asgi import get_client
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

from api_app.factory import create_app
from helpers.app import READY_TIMEOUT, make_settings
from helpers.hypothesis_lambdas import guard_lambda_descriptions

guard_lambda_descriptions()

TRAINING_ENDPOINTS = r"^/twolvlImp/(predict|backtest)$|^/statimpute/backtest$"
REQUEST_TIMEOUT = 120

app = create_app(make_settings())
schema = schemathesis.openapi.from_asgi("/openapi.json", app).exclude(path_regex=TRAINING_ENDPOINTS)
training = schemathesis.openapi.from_asgi("/openapi.json", app).include(path_regex=TRAINING_ENDPOINTS)
training.config.generation.update(modes=[GenerationMode.NEGATIVE])
for fuzzed in (schema, training):
    fuzzed.config.update(request_timeout=REQUEST_TIMEOUT)


def wait_until_loaded() -> None:
    """Start the app's lifespan and wait until its data is loaded.

    The schemathesis plugin ends ASGI lifespans after every test, so each test starts it again
    (the data itself is cached per process, so reloading is quick)."""
    with get_client(app) as client:
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            report = client.get("http://testserver/health/ready").json()
            states = [c["state"] for c in [*report["models"].values(), *report["data"].values()]]
            if "loading" not in states:
                assert report["status"] == "ready", report
                return
            time.sleep(0.05)
    raise AssertionError(f"the app did not finish loading: {report}")


def test_app_is_ready_before_fuzzing():
    wait_until_loaded()


def not_a_server_error(ctx, response, case):
    """Our own check, so the message shows the request and the error body."""
    if response.status_code >= 500:
        raise AssertionError(
            f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text[:500]}"
        )


CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance]
FUZZ_SETTINGS = settings(
    max_examples=25, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck)
)


@schema.parametrize()
@FUZZ_SETTINGS
def test_no_server_errors_and_schema_conformant_responses(case):
    wait_until_loaded()
    case.call_and_validate(checks=CHECKS)


@training.parametrize()
@FUZZ_SETTINGS
def test_training_endpoints_with_invalid_input(case):
    wait_until_loaded()
    case.call_and_validate(checks=CHECKS)

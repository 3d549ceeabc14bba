"""Every route in the OpenAPI schema needs the scope its documentation names: without credentials it is
refused (401), with a key lacking that scope it is refused (403), with that scope alone it gets through."""

import re

import pytest
from fastapi.testclient import TestClient

from api_app.factory import create_app
from common.settings import SCOPES
from helpers.app import make_key, make_settings

PUBLIC = {"/health/live", "/health/ready", "/openapi.json", "/docs", "/redoc"}
SAMPLE_BODY = {"indicator": "wdi-EG.ELC.ACCS.ZS", "year": "2012"}


@pytest.fixture(scope="module")
def closed_app(tmp_path_factory):
    """Every model, AUTH_MODE=on, no anonymous scopes, generous limits (data loading is not awaited:
    the access check comes before any model work)."""
    settings = make_settings(
        auth_mode="on",
        anonymous_scopes=(),
        state_dir=tmp_path_factory.mktemp("state"),
        rate_limit_authenticated="100000/minute",
        heavy_concurrency_per_caller=1000,
    )
    with TestClient(create_app(settings)) as client:
        yield client


@pytest.fixture(scope="module")
def operations(closed_app):
    schema = closed_app.get("/openapi.json").json()
    found = [
        (method.upper(), path, op) for path, ops in schema["paths"].items() for method, op in ops.items()
    ]
    assert len(found) > 40
    return found


@pytest.fixture(scope="module")
def keys(closed_app):
    """A key per scope, and per scope a key holding every other scope."""
    app = closed_app.app
    return {
        scope: (make_key(app, scope), make_key(app, *[s for s in SCOPES if s != scope])) for scope in SCOPES
    }


def concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "0123456789abcdef0123456789abcdef", path)


def send(client, method: str, path: str, key: str | None = None):
    headers = {"X-API-Key": key} if key else {}
    if method == "GET":
        return client.get(concrete(path), headers=headers)
    return client.post(concrete(path), json=SAMPLE_BODY, headers=headers)


def test_security_schemes_let_swagger_authorize(closed_app):
    schema = closed_app.get("/openapi.json").json()
    schemes = schema["components"]["securitySchemes"]
    assert schemes["ApiKeyAuth"] == {
        **schemes["ApiKeyAuth"],
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
    }
    assert schemes["BearerAuth"]["scheme"] == "bearer"
    assert "persistAuthorization" in closed_app.get("/docs").text


def test_every_operation_documents_its_scope(operations):
    for method, path, operation in operations:
        scope = operation["x-required-scope"]
        if path in PUBLIC:
            assert scope is None and operation["security"] == [], path
            continue
        assert scope in SCOPES, (method, path)
        assert f"`{scope}`" in operation["description"]
        assert {"401", "403", "429"} <= set(operation["responses"])
        # nothing that changes state or costs CPU is public or merely `read`
        if method == "POST":
            assert scope in ("compute", "admin"), (method, path)
        # no anonymous access: the documented requirements are keys or tokens only
        assert {} not in operation["security"]


def test_every_route_needs_its_documented_scope(closed_app, operations, keys):
    checked = 0
    for method, path, operation in operations:
        scope = operation["x-required-scope"]
        if scope is None:
            assert send(closed_app, method, path).status_code not in (401, 403), path
            continue
        anonymous = send(closed_app, method, path)
        assert anonymous.status_code == 401, (method, path, anonymous.text)
        assert anonymous.json()["code"] == "unauthorized" and scope in anonymous.json()["detail"]
        with_key, without_scope = keys[scope]
        lacking = send(closed_app, method, path, without_scope)
        assert lacking.status_code == 403, (method, path, lacking.text)
        granted = send(closed_app, method, path, with_key)
        assert granted.status_code not in (401, 403), (method, path, granted.status_code, granted.text)
        checked += 1
    assert checked > 40


def test_admin_routes_are_admin_only(operations):
    admin = {(m, p) for m, p, op in operations if op["x-required-scope"] == "admin"}
    assert {("GET", "/audit"), ("GET", "/keys"), ("POST", "/keys"), ("GET", "/metrics")} <= admin
    assert {(m, p) for m, p in admin if p.endswith("/reload")}, "model reloads need admin"

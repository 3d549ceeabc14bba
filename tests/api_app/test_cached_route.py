"""Cached answers served from the raw request bytes (`api_app.cached_route.CachedAnswerRoute`): the
same answer and ETag as the full path, no second validation, and access checks, rate limits, 415 and
422 exactly as on the full path."""

import contextlib
import json

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from api_app.audit.middleware import body_hash
from api_app.factory import create_app
from helpers.app import make_key, make_settings, models_package

ECHO = """
from fastapi import APIRouter, Request
from pydantic import Field, field_validator
from api_app.cached_route import CachedAnswerRoute
from api_app.run_model import run_model
from common.requests import ModelRequest

router = APIRouter(prefix="/echotest", route_class=CachedAnswerRoute)
VALIDATED = []


class Echo(ModelRequest):
    value: int = Field(ge=0, le=100)

    @field_validator("value")
    @classmethod
    def count(cls, value: int) -> int:
        VALIDATED.append(value)
        return value


def echo(body, resource, progress=None):
    return {"value": body.value, "squared": body.value**2}


@router.post("/predict")
async def predict(request: Request, body: Echo):
    return await run_model(request, echo, body)
"""
BODY = b'{"value": 7}'
JSON = {"Content-Type": "application/json"}


@pytest.fixture
def echo_package(tmp_path, monkeypatch):
    return models_package(tmp_path, monkeypatch, "cachedroute_models", {"echotest": ECHO})


@contextlib.contextmanager
def app_client(package: str, state_dir, **overrides):
    settings = make_settings(state_dir=state_dir, compute_isolation="thread", **overrides)
    with TestClient(create_app(settings, models_package=package)) as client:
        yield client


def validations(package: str) -> list[int]:
    return __import__(f"{package}.echotest", fromlist=["VALIDATED"]).VALIDATED


def test_a_repeated_request_is_answered_from_its_bytes_without_validating_again(echo_package, tmp_path):
    with app_client(echo_package, tmp_path) as client:
        first = client.post("/echotest/predict", content=BODY, headers=JSON)
        assert first.status_code == 200 and first.json() == {"value": 7, "squared": 49}
        validated = len(validations(echo_package))
        repeats = [client.post("/echotest/predict", content=BODY, headers=JSON) for _ in range(3)]
        assert [r.content for r in repeats] == [first.content] * 3
        assert {r.headers["etag"] for r in repeats} == {first.headers["etag"]}
        assert all(r.headers["x-request-id"] and r.headers["content-security-policy"] for r in repeats)
        assert len(validations(echo_package)) == validated  # served without validating
        not_modified = client.post(
            "/echotest/predict", content=BODY, headers={**JSON, "If-None-Match": first.headers["etag"]}
        )
        assert not_modified.status_code == 304 and not_modified.headers["etag"] == first.headers["etag"]
        # other bytes of the same request take the full path, and hit the result cache there
        spaced = client.post("/echotest/predict", content=b'{ "value" : 7 }', headers=JSON)
        assert spaced.content == first.content and len(validations(echo_package)) == validated + 1


def test_invalid_bodies_and_other_content_types_still_fail(echo_package, tmp_path):
    with app_client(echo_package, tmp_path) as client:
        assert client.post("/echotest/predict", content=BODY, headers=JSON).status_code == 200
        assert client.post("/echotest/predict", content=BODY, headers=JSON).status_code == 200
        wrong_type = client.post("/echotest/predict", content=BODY, headers={"Content-Type": "text/plain"})
        assert wrong_type.status_code == 415
        too_big = client.post("/echotest/predict", content=b'{"value": 700}', headers=JSON)
        assert too_big.status_code == 422 and too_big.json()["code"]
        unknown = client.post("/echotest/predict", content=b'{"value": 7, "valeu": 1}', headers=JSON)
        assert unknown.status_code == 422


def test_access_checks_and_rate_limits_apply_to_cached_answers(echo_package, tmp_path):
    with app_client(
        echo_package,
        tmp_path,
        auth_mode="on",
        anonymous_scopes=("read",),
        rate_limit_authenticated="3/minute",
        rate_cost_compute=1,
    ) as client:
        with_key = {**JSON, "X-API-Key": make_key(client.app, "compute")}
        read_only = {**JSON, "X-API-Key": make_key(client.app, "read")}
        assert client.post("/echotest/predict", content=BODY, headers=with_key).status_code == 200
        assert client.post("/echotest/predict", content=BODY, headers=JSON).status_code == 401
        assert client.post("/echotest/predict", content=BODY, headers=read_only).status_code == 403
        assert client.post("/echotest/predict", content=BODY, headers=with_key).status_code == 200
        assert client.post("/echotest/predict", content=BODY, headers=with_key).status_code == 200
        limited = client.post("/echotest/predict", content=BODY, headers=with_key)
        assert limited.status_code == 429 and json.loads(limited.content)["code"] == "rate_limited"


def _metric(text: str, name: str, **labels: str) -> float:
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items())
    )


def test_cached_answers_get_every_middleware_headers_metrics_and_audit(echo_package, tmp_path):
    """Answered before routing, a cached answer still carries the request id, the security and CORS
    headers, is counted and timed under its route template, and audited like the full path's."""
    origin = "https://dashboard.example.org"
    with app_client(echo_package, tmp_path, cors_origins=(origin,)) as client:
        first = client.post("/echotest/predict", content=BODY, headers={**JSON, "X-Request-ID": "req-full"})
        validated = len(validations(echo_package))
        before = client.get("/metrics").text
        repeat = client.post(
            "/echotest/predict", content=BODY, headers={**JSON, "X-Request-ID": "req-known", "Origin": origin}
        )
        fresh_id = client.post("/echotest/predict", content=BODY, headers=JSON)
        after = client.get("/metrics").text
        assert len(validations(echo_package)) == validated  # both answered from their bytes
        assert repeat.content == first.content and repeat.headers["etag"] == first.headers["etag"]
        assert repeat.headers["x-request-id"] == "req-known"
        assert len(fresh_id.headers["x-request-id"]) == 32
        for name in first.headers:
            if name not in ("x-request-id", "content-length", "date", "vary", "access-control-allow-origin"):
                assert repeat.headers[name] == first.headers[name], name
        assert repeat.headers["x-content-type-options"] == "nosniff"
        assert repeat.headers["content-security-policy"] == "default-src 'none'; frame-ancestors 'none'"
        assert repeat.headers["access-control-allow-origin"] == origin and "Origin" in repeat.headers["vary"]
        labels = {"route": "/echotest/predict", "method": "POST", "status": "200"}
        assert (
            _metric(after, "sids_http_requests_total", **labels)
            - _metric(before, "sids_http_requests_total", **labels)
            == 2
        )
        timed = "sids_model_request_duration_seconds_count"
        assert (
            _metric(after, timed, model="echotest", kind="predict")
            - _metric(before, timed, model="echotest", kind="predict")
            == 2
        )

        records = {
            r["request_id"]: r for r in client.get("/audit", params={"model": "echotest"}).json()["items"]
        }
        full, known = records["req-full"], records["req-known"]
        assert (known["event"], known["route"], known["method"], known["status"]) == (
            "model_call",
            "/echotest/predict",
            "POST",
            200,
        )
        for name in ("caller", "caller_kind", "scope", "model", "body_hash", "result_summary"):
            assert known[name] == full[name], name
        assert known["body_hash"] == body_hash(BODY)
        assert json.loads(known["result_summary"]) == {
            "bytes": len(first.content),
            "type": "application/json",
            "keys": ["squared", "value"],
        }


def test_refused_cached_answers_are_audited_and_rate_limit_headers_sent(echo_package, tmp_path):
    with app_client(
        echo_package,
        tmp_path,
        auth_mode="on",
        anonymous_scopes=("read",),
        rate_limit_authenticated="50/minute",
    ) as client:
        with_key = {**JSON, "X-API-Key": make_key(client.app, "compute")}
        admin = {"X-API-Key": make_key(client.app, "admin")}
        assert client.post("/echotest/predict", content=BODY, headers=with_key).status_code == 200
        validated = len(validations(echo_package))
        known = client.post("/echotest/predict", content=BODY, headers={**with_key, "X-Request-ID": "req-ok"})
        assert known.status_code == 200 and len(validations(echo_package)) == validated
        assert int(known.headers["ratelimit-remaining"]) < int(known.headers["ratelimit-limit"])
        assert known.headers["cache-control"] == "no-store"  # an authenticated answer
        refused = client.post("/echotest/predict", content=BODY, headers={**JSON, "X-Request-ID": "req-anon"})
        assert refused.status_code == 401 and refused.json()["code"] == "unauthorized"
        assert refused.headers["www-authenticate"] and refused.headers["x-request-id"] == "req-anon"
        assert refused.headers["x-content-type-options"] == "nosniff"
        records = {
            r["request_id"]: r
            for r in client.get("/audit", params={"model": "echotest"}, headers=admin).json()["items"]
        }
        assert records["req-ok"]["event"] == "model_call" and records["req-ok"]["caller_kind"] == "key"
        denied = records["req-anon"]
        assert (denied["event"], denied["route"], denied["status"], denied["detail"]) == (
            "denied",
            "/echotest/predict",
            401,
            "missing_scope:compute",
        )


def test_large_and_chunked_bodies_are_known_by_their_bytes_too(echo_package, tmp_path):
    """A body over the inline limit is hashed off the event loop; a chunked body (no Content-Length)
    is read whole before it is looked up, and a different one still takes the full path."""
    padded = b'{"value": 9' + b" " * 70_000 + b"}"
    with app_client(echo_package, tmp_path) as client:
        first = client.post("/echotest/predict", content=padded, headers=JSON)
        assert first.status_code == 200 and first.json() == {"value": 9, "squared": 81}
        validated = len(validations(echo_package))
        assert client.post("/echotest/predict", content=padded, headers=JSON).content == first.content
        assert len(validations(echo_package)) == validated

        def chunks(body: bytes):
            yield body[:5]
            yield body[5:]

        assert client.post("/echotest/predict", content=chunks(BODY), headers=JSON).status_code == 200
        validated = len(validations(echo_package))
        chunked = client.post("/echotest/predict", content=chunks(BODY), headers=JSON)
        assert chunked.json() == {"value": 7, "squared": 49} and len(validations(echo_package)) == validated
        other = client.post("/echotest/predict", content=chunks(b'{"value": 8}'), headers=JSON)
        assert other.json() == {"value": 8, "squared": 64} and len(validations(echo_package)) == validated + 1


def test_without_a_result_cache_every_request_takes_the_full_path(echo_package, tmp_path):
    with app_client(echo_package, tmp_path, cache_max_entries=0) as client:
        validated = len(validations(echo_package))
        for _ in range(2):
            assert client.post("/echotest/predict", content=BODY, headers=JSON).status_code == 200
        assert len(validations(echo_package)) == validated + 2  # no result cache: every request validated

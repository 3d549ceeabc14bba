"""Cached answers served from the raw request bytes (`api_app.cached_route.CachedAnswerRoute`): the
same answer and ETag as the full path, no second validation, and access checks, rate limits, 415 and
422 exactly as on the full path."""

import contextlib
import json

import pytest
from fastapi.testclient import TestClient

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
